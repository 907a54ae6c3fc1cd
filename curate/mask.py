"""Assistant-only loss masks: `input_ids`, `labels` (-100 where nothing is learnt) and `attention_mask`.

Masks are right by construction: the renderer gives character spans for every message and for every
segment of an assistant turn (think, tool call, answer, end-of-turn); the fast tokenizer's offsets
map those spans onto tokens; a token is trained only when every character it covers is trained.
They are then proven right, example by example (`audit`): the trained tokens decode to exactly the
assistant text the policy selects plus the end-of-turn tokens, and no trained token lies outside an
assistant turn. Any failure stops the run with the example and the offending tokens.

Two ways to get spans:

- the built-in ChatML renderer (`curate.render`), used when the tokenizer's chat template is the
  built-in one, or when asked for with `template="chatml"`;
- the tokenizer's own chat template: `{% generation %}` spans where the template has them, else
  each assistant turn's span found by rendering prefixes (the conversation up to the turn with a
  generation prompt, then with the turn), which requires the template to be prefix-stable. Where it
  is not (templates that drop earlier `<think>` blocks), each assistant turn is rendered as the
  last turn of its own prefix and becomes its own example ("per_turn"), and the output says so.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from curate.records import Trajectory
from curate.render import (
    CHATML_TEMPLATE,
    IM_END,
    IM_START,
    Rendered,
    earlier_turns,
    normalise_arguments,
    render_chatml,
    segment_assistant,
    tool_spec_json,
)
from curate.toolcalls import CallStyle, canonical_calls
from curate.toolset import declared_in_prompt

IGNORE = -100
MAX_NOTES = 20
"""Dropped examples named in the notes per reason and batch (all are counted)."""
SEGMENTS = ("think", "tool_call", "answer", "eot")
_CODE = {"think": 1, "tool_call": 2, "answer": 3, "eot": 4}
_GENERATION_RE = re.compile(r"\{%-?\s*generation\s*-?%\}")


class MaskPolicy(BaseModel):
    """What is trained. Recorded in the output next to every masked set."""

    model_config = ConfigDict(extra="forbid")

    turns: Literal["all", "last"] = Field("all", description="train every assistant turn, or the last one only")
    think: Literal["keep", "drop", "mask"] = Field(
        "keep", description="earlier-turn <think> blocks (turns before the last user turn): keep and train, "
        "drop from the text (as templates that strip them at inference do), or keep but do not train")
    max_length: int | None = Field(None, ge=8, description="longest example in tokens; None: no limit")
    truncation: Literal["drop", "cut_front"] = Field(
        "drop", description="an example over max_length is dropped, or whole turns are cut from the front")
    template: Literal["model", "chatml", "auto", "tokenizer"] = Field(
        "model", description="model: the tokenizer's own chat template (rendered by the built-in ChatML renderer "
        "when it is the built-in one; `auto` is its former name), checked first to show tools, calls, results "
        "and trained reasoning (`curate.templates`); chatml: the built-in Hermes/Qwen2.5 ChatML renderer with "
        "the tokenizer, its protocol tokens added when missing; tokenizer: the tokenizer's template, always "
        "through Jinja")
    calls: CallStyle = Field(
        "canonical", description="calls written as ReAct steps, Python-style call lists or Python dict literals: "
        "rewritten as <tool_call> JSON (canonical; the ReAct thought as <think>, a Finish final answer as the "
        "answer), or trained as written (as-written: a ReAct thought is then text that `think` does not drop, "
        "though `mask` masks it). The system prompt is never rewritten: one that describes the written format "
        "then describes another than the calls'")


class MaskError(ValueError):
    """A problem with the tokenizer or template that makes masking impossible, with what to do."""


@dataclass(slots=True)
class MaskedExample:
    id: str | None
    input_ids: list[int]
    labels: list[int]
    attention_mask: list[int]
    counts: dict[str, int]
    """Trained tokens per segment (think, tool_call, answer, eot) and masked tokens ("masked")."""
    method: str
    """How spans were found: chatml, generation, prefix or per_turn."""


@dataclass(slots=True)
class AuditFailure:
    id: str | None
    reason: str
    tokens: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MaskResult:
    examples: list[MaskedExample]
    dropped: Counter[str]
    failures: list[AuditFailure]
    notes: list[str]


# --- spans -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Spans:
    """Rendered text with the trained character ranges and the assistant turns' ranges."""

    text: str
    trained: list[tuple[int, int, str]]  # (start, end, segment kind), sorted, disjoint
    assistant: list[tuple[int, int]]  # whole assistant turns (header excluded)
    expected: str  # what the trained tokens must decode to


def selected_turns(traj: Trajectory, policy: MaskPolicy) -> list[int]:
    """Indices of the assistant messages whose text is trained under the policy."""
    turns = [i for i, m in enumerate(traj.messages) if m.role == "assistant" and m.train is not False]
    if policy.turns == "last":
        turns = turns[-1:]
    return turns


def chatml_spans(traj: Trajectory, policy: MaskPolicy) -> Spans:
    rendered: Rendered = render_chatml(traj, think="drop" if policy.think == "drop" else "keep")
    trained_turns = set(selected_turns(traj, policy))
    masked_think = earlier_turns(traj.messages) if policy.think == "mask" else set()
    trained: list[tuple[int, int, str]] = []
    assistant: list[tuple[int, int]] = []
    for span in rendered.messages:
        if span.role != "assistant":
            continue
        assert span.eot is not None
        assistant.append((span.content_start, span.eot[1]))
        if span.index not in trained_turns:
            continue
        after_masked = False
        for seg in span.segments:
            if seg.kind == "think" and span.index in masked_think:
                after_masked = True
                continue
            start = _skip_space(rendered.text, seg.start, seg.end) if after_masked else seg.start
            trained.append((start, seg.end, seg.kind))
            after_masked = False
        trained.append((span.eot[0], span.eot[1], "eot"))
    trained = [t for t in trained if t[1] > t[0]]
    return Spans(rendered.text, trained, assistant, "".join(rendered.text[s:e] for s, e, _ in trained))


def _skip_space(text: str, start: int, end: int) -> int:
    """Whitespace after an untrained part stays untrained: the tokenizer may merge it with that part."""
    while start < end and text[start].isspace():
        start += 1
    return start


def template_messages(traj: Trajectory) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Messages and tools as plain dicts for a Jinja chat template; JSON-string arguments decoded.

    Arguments that are not JSON stay a string, given as the JSON string our renderer writes for them: templates
    write a string argument as it is (the OpenAI wire format) and anything else with `tojson`."""
    messages = []
    for m in traj.messages:
        d = m.model_dump(exclude_none=True)
        d.pop("train", None)
        for tc in d.get("tool_calls", ()):
            arguments = normalise_arguments(tc["function"]["arguments"])
            tc["function"]["arguments"] = json.dumps(arguments, ensure_ascii=False) if isinstance(
                arguments, str) else arguments
        messages.append(d)
    tools = [json.loads(tool_spec_json(t)) for t in traj.tools] if traj.tools else None
    return messages, tools


class TemplateSpans:
    """Spans from a tokenizer's own chat template."""

    def __init__(self, tokenizer: Any) -> None:
        template = getattr(tokenizer, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default") or next(iter(template.values()), None)
        if not template:
            raise MaskError(
                f"tokenizer `{getattr(tokenizer, 'name_or_path', '?')}` has no chat template: give one with "
                "a tokenizer that has it, or use --template chatml to render with the built-in ChatML template")
        self.template = template
        self.has_generation = bool(_GENERATION_RE.search(template))
        self.eot = end_of_turn_token(tokenizer)

    def render(self, messages: list[dict[str, Any]], tools: Any, add_generation_prompt: bool = False,
               generation: bool = False) -> tuple[str, list[tuple[int, int]]]:
        from transformers.utils.chat_template_utils import render_jinja_template

        if tools and messages and messages[0].get("role") == "system":  # tools its prompt lists are not shown twice
            shown = declared_in_prompt(messages[0].get("content"))
            if shown:
                tools = [t for t in tools if t.get("function", {}).get("name") not in shown] or None
        out, indices = render_jinja_template(
            [messages], tools=tools, chat_template=self.template, add_generation_prompt=add_generation_prompt,
            return_assistant_tokens_mask=generation,
        )
        return out[0], [tuple(x) for x in (indices[0] if indices else [])]

    def spans(self, traj: Trajectory, policy: MaskPolicy) -> tuple[list[Spans], str]:
        messages, tools = template_messages(traj)
        turns = selected_turns(traj, policy)
        assistant_idx = [i for i, m in enumerate(traj.messages) if m.role == "assistant"]
        try:
            if self.has_generation:
                text, gen = self.render(messages, tools, generation=True)
                if len(gen) != len(assistant_idx):
                    raise MaskError(f"the template's {{% generation %}} blocks ({len(gen)}) do not match the "
                                    f"assistant turns ({len(assistant_idx)})")
                chosen = [g for g, i in zip(gen, assistant_idx, strict=True) if i in turns]
                return [self._spans(text, chosen, gen)], "generation"
            text = self.render(messages, tools)[0]
            found: list[tuple[int, int]] = []
            stable = True
            for i in assistant_idx:
                before = self.render(messages[:i], tools, add_generation_prompt=True)[0]
                upto = self.render(messages[: i + 1], tools)[0]
                if not (upto.startswith(before) and text.startswith(upto)):
                    stable = False
                    break
                found.append((len(before), len(upto)))
            if stable:
                chosen = [f for f, i in zip(found, assistant_idx, strict=True) if i in turns]
                return [self._spans(text, chosen, found)], "prefix"
            # Not prefix-stable: every trained turn becomes the last turn of its own example.
            out = []
            for i in turns:
                before = self.render(messages[:i], tools, add_generation_prompt=True)[0]
                upto = self.render(messages[: i + 1], tools)[0]
                if not upto.startswith(before):
                    raise MaskError(f"rendering message {i} changes the text before it; the template cannot be "
                                    "masked turn by turn either")
                out.append(self._spans(upto, [(len(before), len(upto))], [(len(before), len(upto))]))
            return out, "per_turn"
        except MaskError:
            raise
        except Exception as e:  # jinja raises for roles or shapes a template rejects
            raise MaskError(f"the chat template rejected this conversation: {e}") from None

    def _spans(self, text: str, chosen: Sequence[tuple[int, int]], all_turns: Sequence[tuple[int, int]]) -> Spans:
        trained: list[tuple[int, int, str]] = []
        for start, end in chosen:
            body_end = self._eot_start(text, start, end)
            body_start = _skip_space(text, start, body_end)  # the header's newline is not the model's text
            for seg in segment_assistant(text[body_start:body_end], body_start):
                trained.append((seg.start, seg.end, seg.kind))
            trained.append((body_end, body_end + len(self.eot), "eot"))
        trained = [t for t in trained if t[1] > t[0]]
        return Spans(text, trained, list(all_turns), "".join(text[s:e] for s, e, _ in trained))

    def _eot_start(self, text: str, start: int, end: int) -> int:
        """Where the turn's end-of-turn token starts: inside the span, or right after it."""
        k = text.rfind(self.eot, start, end)
        if k < 0:
            after = len(text[end:]) - len(text[end:].lstrip())
            k = end + after if text.startswith(self.eot, end + after) else -1
        if k < 0:
            raise MaskError(f"an assistant turn of the template does not end with the end-of-turn token "
                            f"`{self.eot}`; the model would never learn to stop")
        return k


def end_of_turn_token(tokenizer: Any) -> str:
    known = set(getattr(tokenizer, "all_special_tokens", []) or []) | set(tokenizer.get_vocab())
    for candidate in (IM_END, "<|eot_id|>", "<end_of_turn>", "<|end|>", "<｜end▁of▁sentence｜>"):
        if candidate in known:
            return candidate
    eos = getattr(tokenizer, "eos_token", None)
    if eos:
        return eos
    raise MaskError("the tokenizer has no end-of-turn or eos token; set tokenizer.eos_token")


# --- tokens ------------------------------------------------------------------------------------------


class Masker:
    """Turns trajectories into masked examples for one tokenizer and policy.

    With `template="chatml"` it makes the tokenizer render ChatML first (`curate.templates.use_chatml`:
    the tokenizer itself is changed, so the model trained with it must be resized to `len(tokenizer)`).
    Whether the tokenizer's own template drops what the data holds is `check`'s question, asked by the
    commands before masking (not here: a Masker for a bare test template is still useful).
    """

    def __init__(self, tokenizer: Any, policy: MaskPolicy | None = None) -> None:
        self.tokenizer = tokenizer
        self.policy = policy or MaskPolicy()
        template = getattr(tokenizer, "chat_template", None)
        self.added_tokens: list[str] = []
        if self.policy.template == "chatml":
            from curate.templates import use_chatml

            self.added_tokens = use_chatml(tokenizer)  # the protocol tokens it lacked; the caller resizes the model
        use_chatml_renderer = self.policy.template == "chatml" or (
            self.policy.template in ("model", "auto") and template == CHATML_TEMPLATE)
        self.template = None if use_chatml_renderer else TemplateSpans(tokenizer)
        if self.template is None:
            ids = tokenizer.convert_tokens_to_ids([IM_END])
            if not ids or ids[0] is None or ids[0] == getattr(tokenizer, "unk_token_id", object()):
                raise MaskError(f"the ChatML renderer needs `{IM_END}` as a token of the tokenizer")
        self.method = "chatml" if self.template is None else ("generation" if self.template.has_generation
                                                               else "prefix")
        self._prefix_cache: dict[str, Any] = {}
        self._prefix_cache_ok = True

    def check(self) -> None:
        """Raise MaskError naming what the tokenizer's own chat template drops (tool specs, calls, results,
        trained reasoning) and the fix; nothing to check with the built-in renderer."""
        if self.template is not None:
            from curate.templates import check_template

            check_template(self.tokenizer, self.template, self.policy.think)

    def spans(self, traj: Trajectory) -> tuple[list[Spans], str]:
        if self.policy.calls == "canonical":
            traj = canonical_calls(traj)
        if self.template is None:
            return [chatml_spans(traj, self.policy)], "chatml"
        return self.template.spans(traj, self.policy)

    def mask(self, trajs: Sequence[Trajectory]) -> MaskResult:
        """Mask a batch; drops and audit failures are reported, never silently skipped."""
        dropped: Counter[str] = Counter()
        notes: list[str] = []
        items: list[tuple[Trajectory, Spans, str]] = []
        for traj in trajs:
            if not traj.messages:
                dropped["empty_conversation"] += 1
                continue
            try:
                spans, method = self.spans(traj)
            except MaskError as e:
                dropped["template_error"] += 1
                notes.append(f"record {traj.id}: {e}")
                continue
            if method == "per_turn" and not any("per_turn" in n for n in notes):
                notes.append("the chat template is not prefix-stable (it rewrites earlier turns, e.g. drops "
                             "<think>); each trained assistant turn became its own example (per_turn)")
            items.extend((traj, s, method) for s in spans)
        encodings = self.encode([s.text for _, s, _ in items])
        examples: list[MaskedExample] = []
        failures: list[AuditFailure] = []
        for (traj, spans, method), enc in zip(items, encodings, strict=True):
            example, failure = self._one(traj, spans, method, enc)
            if failure is not None:
                failures.append(failure)
            elif example is None:
                reason = "too_long" if self._too_long(enc) else "no_trained_tokens"
                dropped[reason] += 1
                if dropped[reason] <= MAX_NOTES:
                    notes.append(f"record {traj.id}: " + (
                        f"{len(enc)} tokens > max_length {self.policy.max_length}; dropped (raise --max-length, "
                        "or --truncation cut_front to cut whole turns from the front)" if reason == "too_long"
                        else "no token left to train (every assistant turn opted out, empty or cut); dropped"))
            else:
                examples.append(example)
        return MaskResult(examples, dropped, failures, notes)

    def encode(self, texts: Sequence[str], lengths_only: bool = False) -> list[Any]:
        """Encode rendered texts in one batch, each system turn once (see `Encoded`).

        `lengths_only` skips the character offsets (a third of the time): the encodings then serve
        `len` and `ids` only, which is all counting tokens needs.
        """
        backend = self.tokenizer.backend_tokenizer
        encode_batch = backend.encode_batch
        if lengths_only:  # tokenizers >= 0.20; the same ids either way
            encode_batch = getattr(backend, "encode_batch_fast", encode_batch)
        if self.template is not None or not self._prefix_cache_ok:
            return encode_batch(list(texts), add_special_tokens=False)
        cuts = [_system_turn_end(t) for t in texts]
        rests = encode_batch([t[k:] for t, k in zip(texts, cuts, strict=True)], add_special_tokens=False)
        out: list[Any] = []
        for text, k, rest in zip(texts, cuts, rests, strict=True):
            if not k:
                out.append(rest)
                continue
            prefix = text[:k]
            pre = self._prefix_cache.get(prefix)
            if pre is None:
                enc = backend.encode(prefix, add_special_tokens=False)
                pre = (enc, enc.ids)
                # Once per distinct system turn: prove that encoding it apart changes nothing.
                if backend.encode(text, add_special_tokens=False).ids != pre[1] + rest.ids:
                    self._prefix_cache_ok = False
                    return encode_batch(list(texts), add_special_tokens=False)
                if len(self._prefix_cache) >= 4096:
                    self._prefix_cache.clear()
                self._prefix_cache[prefix] = pre
            out.append(Encoded(pre[0], pre[1], k, rest))
        return out

    def count_tokens(self, trajs: Sequence[Trajectory]) -> list[int]:
        """Tokens of each rendered example, as masking sees them (for length buckets); 0 if it can't render."""
        texts: list[str] = []
        where: list[int] = []
        for i, traj in enumerate(trajs):
            if not traj.messages:
                continue
            try:
                spans, _ = self.spans(traj)
            except MaskError:
                continue
            texts.append(spans[-1].text)  # per-turn templates: the longest (last) example
            where.append(i)
        counts = [0] * len(trajs)
        for i, enc in zip(where, self.encode(texts, lengths_only=True), strict=True):
            counts[i] = len(enc)
        return counts

    def _too_long(self, enc: Any) -> bool:
        return self.policy.max_length is not None and len(enc.ids) > self.policy.max_length

    def _one(self, traj: Trajectory, spans: Spans, method: str,
             enc: Any) -> tuple[MaskedExample | None, AuditFailure | None]:
        ids = enc.ids
        if self._too_long(enc):
            if self.policy.truncation == "drop":
                return None, None
            cut = cut_front(traj)
            if cut is None:
                return None, None
            sub = self.mask([cut])
            if sub.failures:
                return None, sub.failures[0]
            return (sub.examples[0] if sub.examples else None), None
        found = token_ranges(spans, enc)
        if found is None:  # offsets the fast path can't use (e.g. trimmed whitespace): map every token
            labels, counts, problem = token_labels(spans, ids, enc.offsets)
        elif isinstance(found, tuple):
            labels, counts, problem = [], Counter(), found
        else:
            labels, counts = labels_from_ranges(ids, found)
            problem = None
        if problem is None:
            problem = audit(self.tokenizer, spans, ids, labels, enc, found if isinstance(found, list) else None)
        if problem is not None:
            reason, bad = problem
            return None, AuditFailure(traj.id, reason, self.tokenizer.convert_ids_to_tokens(bad))
        if counts["trained"] == 0:
            return None, None
        return MaskedExample(traj.id, list(ids), labels, [1] * len(ids),
                             {k: counts[k] for k in (*SEGMENTS, "masked")}, method), None


TokenRange = tuple[int, int, str]


def _system_turn_end(text: str) -> int:
    """End of a leading system turn (right after its `<|im_end|>`), 0 when there is none."""
    if not text.startswith(f"{IM_START}system"):
        return 0
    k = text.find(IM_END)
    return k + len(IM_END) if k >= 0 else 0


class Encoded:
    """The encoding of a text as a cached prefix plus the rest, with `Encoding`'s lookups.

    Added special tokens split a text before anything else is tokenized, so a system turn that ends
    with `<|im_end|>` encodes the same alone as inside the whole text: with tool specs it is most
    of every example and is shared by many, so it is encoded once. `Masker.encode` proves the
    equality once per distinct system turn and falls back to whole texts if it ever fails.
    """

    __slots__ = ("_chars", "_ids", "_n", "_prefix_ids", "prefix", "rest")

    def __init__(self, prefix: Any, prefix_ids: list[int], prefix_chars: int, rest: Any) -> None:
        self.prefix, self.rest, self._chars = prefix, rest, prefix_chars
        self._prefix_ids = prefix_ids
        self._n = len(prefix_ids)
        self._ids: list[int] | None = None

    @property
    def ids(self) -> list[int]:
        if self._ids is None:
            self._ids = self._prefix_ids + self.rest.ids
        return self._ids

    def __len__(self) -> int:
        return self._n + len(self.rest)

    @property
    def offsets(self) -> list[tuple[int, int]]:
        c = self._chars
        return self.prefix.offsets + [(s + c, e + c) for s, e in self.rest.offsets]

    def char_to_token(self, char: int) -> int | None:
        if char < self._chars:
            return self.prefix.char_to_token(char)
        t = self.rest.char_to_token(char - self._chars)
        return None if t is None else t + self._n

    def token_to_chars(self, token: int) -> tuple[int, int]:
        if token < self._n:
            return self.prefix.token_to_chars(token)
        s, e = self.rest.token_to_chars(token - self._n)
        return s + self._chars, e + self._chars


def token_ranges(spans: Spans, enc: Any) -> list[TokenRange] | tuple[str, list[int]] | None:
    """Trained token ranges from the spans' boundaries (O(spans), not O(tokens)).

    Returns the ranges; or (reason, offending ids) when a token straddles trained and masked text;
    or None when the encoding can't answer (a boundary character maps to no token).
    """
    ids = enc.ids
    n = len(ids)
    ranges: list[TokenRange] = []
    trained = spans.trained
    for k, (s, e, kind) in enumerate(trained):
        a = enc.char_to_token(s)
        b = enc.char_to_token(e - 1)
        if a is None or b is None:
            return None
        while b + 1 < n and enc.token_to_chars(b + 1)[0] < e:
            b += 1
        open_before = k == 0 or trained[k - 1][1] != s  # the character before is masked
        open_after = k == len(trained) - 1 or trained[k + 1][0] != e
        if open_before and (enc.token_to_chars(a)[0] != s or (a > 0 and enc.token_to_chars(a - 1)[1] > s)):
            return "a token straddles the start of a trained span (masked text merged into it)", [ids[a]]
        if open_after and enc.token_to_chars(b)[1] != e:
            return "a token straddles the end of a trained span (masked text merged into it)", [ids[b]]
        if ranges and a < ranges[-1][1]:
            a = ranges[-1][1]  # a token shared by two trained segments counts for the first
        ranges.append((a, b + 1, kind))
    return ranges


def labels_from_ranges(ids: Sequence[int], ranges: Sequence[TokenRange]) -> tuple[list[int], Counter[str]]:
    labels = [IGNORE] * len(ids)
    counts: Counter[str] = Counter({k: 0 for k in SEGMENTS})
    for a, b, kind in ranges:
        labels[a:b] = ids[a:b]
        counts[kind] += b - a
    counts["trained"] = sum(counts[k] for k in SEGMENTS)
    counts["masked"] = len(ids) - counts["trained"]
    return labels, counts


def cut_front(traj: Trajectory) -> Trajectory | None:
    """Drop the oldest exchange (up to the next user turn), keeping the system prompt."""
    messages = traj.messages
    start = 1 if messages and messages[0].role == "system" else 0
    users = [i for i in range(start + 1, len(messages)) if messages[i].role == "user"]
    if not users:
        return None
    return traj.model_copy(update={"messages": messages[:start] + messages[users[0]:]})


def token_labels(spans: Spans, ids: Sequence[int], offsets: Sequence[tuple[int, int]]
                 ) -> tuple[list[int], Counter[str], tuple[str, list[int]] | None]:
    """Labels from character spans: a token is trained when every character it covers is trained."""
    n_chars = len(spans.text)
    code = np.zeros(n_chars + 1, dtype=np.int8)
    for start, end, kind in spans.trained:
        code[start:end] = _CODE[kind]
    trained_prefix = np.concatenate(([0], np.cumsum(code[:n_chars] > 0)))
    off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts, ends = off[:, 0], off[:, 1]
    covered = trained_prefix[ends] - trained_prefix[starts]
    width = ends - starts
    full = (covered == width) & (width > 0)
    partial = (covered > 0) & (covered < width)
    if partial.any():
        bad = [int(ids[i]) for i in np.flatnonzero(partial)[:8]]
        return [], Counter(), ("a token straddles the boundary between trained and masked text", bad)
    ids_arr = np.asarray(ids, dtype=np.int64)
    labels = np.where(full, ids_arr, IGNORE)
    kinds = code[starts]
    counts: Counter[str] = Counter()
    for kind, c in _CODE.items():
        counts[kind] = int(np.count_nonzero(full & (kinds == c)))
    counts["trained"] = int(full.sum())
    counts["masked"] = len(ids) - counts["trained"]
    return labels.tolist(), counts, None


def audit(tokenizer: Any, spans: Spans, ids: Sequence[int], labels: Sequence[int], enc: Any,
          ranges: Sequence[TokenRange] | None = None) -> tuple[str, list[int]] | None:
    """Fail-closed check of one example; returns (reason, offending token ids) or None.

    The trained tokens must decode to exactly the selected assistant text plus end-of-turn tokens,
    and every trained token must lie inside an assistant turn.
    """
    if ranges is None:
        trained_ids = [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE]
    else:
        trained_ids = [t for a, b, _ in ranges for t in ids[a:b]]
    decoded = tokenizer.backend_tokenizer.decode(trained_ids, skip_special_tokens=False)
    if decoded != spans.expected:
        k = next((i for i, (a, b) in enumerate(zip(decoded, spans.expected, strict=False)) if a != b),
                 min(len(decoded), len(spans.expected)))
        return (f"trained tokens decode to text that differs from the selected assistant text at character {k}: "
                f"{decoded[max(0, k - 20):k + 20]!r} vs {spans.expected[max(0, k - 20):k + 20]!r}", trained_ids[:8])
    bounds = spans.assistant
    if ranges is None:  # token by token
        pieces = [(i, i + 1) for i, lab in enumerate(labels) if lab != IGNORE]
    else:  # ranges are contiguous and offsets monotonic: their ends decide
        pieces = [(a, b) for a, b, _ in ranges if b > a]
    outside = [int(ids[a]) for a, b in pieces
               if not any(lo <= enc.token_to_chars(a)[0] and enc.token_to_chars(b - 1)[1] <= hi for lo, hi in bounds)]
    if outside:
        return "trained tokens outside any assistant turn (system, user or tool text)", outside[:8]
    return None
