"""Evaluation by generation: prompt a model with eval conversations and score what it writes.

For each capability bucket, up to M eval records are picked (seeded, independent of file order).
The prompt is the conversation up to an assistant turn, rendered with the tokenizer's own chat
template and its generation prompt (the same rendering `curate mask` trains on). The model then
writes the turn twice over: once greedily, scored for protocol and accuracy (`curate_train.scoring`), and
n times at a temperature, for diversity and pass@k (`curate_train.metrics`). Generation stops at the
end-of-turn token; prompts are batched with left padding.

torch is imported only inside `evaluate_generation`; choosing prompts and summarising scores are
plain functions that tests run without a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from curate.mask import TemplateSpans, end_of_turn_token, template_messages
from curate.records import Message, Trajectory
from curate.render import assistant_body
from curate.terminal import progress
from curate.toolcalls import parse_message_calls
from curate_train.distributed import Processes
from curate_train.metrics import (
    BucketMetrics,
    GenerationEval,
    GenerationExample,
    GenerationSettings,
    diversity,
    mean_or_none,
    mean_pass_at_k,
    pass_at_ks,
)
from curate_train.scoring import TurnScore, TurnScorer

Turns = Literal["last", "last_and_call"]
NO_BUCKET = "(no bucket)"


@dataclass(slots=True)
class EvalPrompt:
    """One conversation cut before the assistant turn the model must write."""

    id: str | None
    bucket: str
    messages: list[dict[str, Any]]
    """The conversation before the turn, as plain dicts for the chat template."""
    tools: list[dict[str, Any]] | None
    reference: Message


@dataclass(slots=True)
class PromptResult:
    """What the model wrote for one prompt, scored."""

    prompt: EvalPrompt
    greedy: str
    stopped: bool
    """The greedy output ended with the end-of-turn (or eos) token, not at `max_new_tokens`."""
    score: TurnScore
    samples: list[str] = field(default_factory=list)
    sample_passed: list[bool] = field(default_factory=list)


def cache_kwarg(fn: Any) -> str:
    """The name `fn` (a model's `forward`, `generate`) takes a cache by: `cache` where transformers has renamed
    `past_key_values` (5.2x deprecates the old name, with a FutureWarning at every call, and later versions
    remove it), else the old name. Read from the rename `fn` declares (its `deprecate_kwarg` wrappers), not
    from a version number: each model class's `forward` is renamed on its own schedule."""
    import inspect

    while fn is not None:
        try:
            names = inspect.getclosurevars(fn).nonlocals
        except TypeError:  # a builtin or a callable without a closure
            names = {}
        if names.get("old_name") == "past_key_values" and isinstance(names.get("new_name"), str):
            return str(names["new_name"])
        fn = getattr(fn, "__wrapped__", None)
    return "past_key_values"


def _output_cache(output: Any) -> Any:
    """The cache a forward pass returned, under its current name or the old one."""
    fields = getattr(type(output), "__dataclass_fields__", {})
    return output.cache if "cache" in fields else output.past_key_values


def _has_calls(message: Message) -> bool:
    return bool(parse_message_calls(message, 0))


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()


def select_prompts(eval_rows: Iterable[Mapping[str, Any]], prompts_per_bucket: int, seed: int, *,
                   turns: Turns = "last", tools_fallback: Sequence[Mapping[str, Any]] | None = None
                   ) -> dict[str, list[EvalPrompt]]:
    """Up to `prompts_per_bucket` records per bucket, as prompts, in a seeded order.

    Records are ranked by a hash of (seed, id), so the choice does not depend on file order and
    is the same for every checkpoint of a run. `turns="last"` prompts for each record's last
    assistant turn; `"last_and_call"` also for its last turn with tool calls when that is an
    earlier one (agent records mostly end on a plain answer, so "last" alone rarely measures
    tool calling). Records without an assistant turn are skipped. Records without `tools` get
    `tools_fallback` (the `--tools` of the build).
    """
    by_bucket: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for index, row in enumerate(eval_rows):
        if not any(isinstance(m, Mapping) and m.get("role") == "assistant" for m in row.get("messages") or ()):
            continue
        key = str(row.get("id")) if row.get("id") is not None else f"#{index}"
        by_bucket.setdefault(str(row.get("bucket") or NO_BUCKET), []).append((_rank(seed, key), row))
    out: dict[str, list[EvalPrompt]] = {}
    for bucket in sorted(by_bucket):
        chosen = sorted(by_bucket[bucket], key=lambda item: item[0])[: max(prompts_per_bucket, 0)]
        out[bucket] = [p for _, row in chosen for p in _prompts_of(row, bucket, turns, tools_fallback)]
    return out


def _prompts_of(row: Mapping[str, Any], bucket: str, turns: Turns,
                tools_fallback: Sequence[Mapping[str, Any]] | None) -> list[EvalPrompt]:
    data = {k: v for k, v in row.items() if k in ("id", "messages", "tools")}
    if not data.get("tools") and tools_fallback:
        data["tools"] = list(tools_fallback)
    traj = Trajectory.model_validate(data)
    assistant = [i for i, m in enumerate(traj.messages) if m.role == "assistant"]
    targets = [assistant[-1]]
    if turns == "last_and_call":
        with_calls = [i for i in assistant if _has_calls(traj.messages[i])]
        if with_calls and with_calls[-1] != assistant[-1]:
            targets.insert(0, with_calls[-1])
    messages, tools = template_messages(traj)
    return [EvalPrompt(traj.id, bucket, messages[:i], tools, traj.messages[i]) for i in targets]


def summarise(results: Sequence[PromptResult], n_samples: int, examples: int = 3) -> BucketMetrics:
    """Per-bucket metrics from scored prompts; a metric with nothing to measure is None, with why."""
    missing: dict[str, str] = {}
    prompts = len(results)
    if not prompts:
        reason = "no eval prompt in this bucket"
        missing = {k: reason for k in ("format_accuracy", "stop_rate", "parse_rate", "schema_valid_rate",
                                       "tool_name_accuracy", "arg_match", "tool_call_accuracy", "answer_match",
                                       "unique_ratio", "pairwise_ratio", "distinct_1", "distinct_2", "pass_at_k")}
        return BucketMetrics(prompts=0, samples=0, missing=missing)

    scores = [r.score for r in results]
    blocks = sum(s.blocks for s in scores)
    parsed = sum(s.parsed for s in scores)
    with_calls = [s for s in scores if s.reference_calls]
    without_calls = [s for s in scores if not s.reference_calls]
    ref_calls = sum(s.reference_calls for s in with_calls)

    def rate(num: float, den: float, metric: str, why: str) -> float | None:
        if den:
            return num / den
        missing[metric] = why
        return None

    no_ref_calls = "no prompt's reference turn holds a tool call"
    metrics: dict[str, Any] = {
        "format_accuracy": sum(s.format_ok for s in scores) / prompts,
        "stop_rate": sum(r.stopped for r in results) / prompts,
        "parse_rate": rate(parsed, blocks, "parse_rate", "the greedy outputs hold no <tool_call> block"),
        "schema_valid_rate": rate(sum(s.schema_valid for s in scores), parsed, "schema_valid_rate",
                                  "no greedy tool call parsed"),
        "tool_name_accuracy": rate(sum(bool(s.names_match) for s in with_calls), len(with_calls),
                                   "tool_name_accuracy", no_ref_calls),
        "arg_match": rate(sum(s.matched_calls for s in with_calls), ref_calls, "arg_match", no_ref_calls),
        "tool_call_accuracy": rate(sum(bool(s.calls_match) for s in with_calls), len(with_calls),
                                   "tool_call_accuracy", no_ref_calls),
        "answer_match": rate(sum(bool(s.answer_match) for s in without_calls), len(without_calls),
                             "answer_match", "every prompt's reference turn calls tools"),
    }

    samples = sum(len(r.samples) for r in results)
    sampled = [r for r in results if r.samples]
    div = [diversity(r.samples) for r in sampled]
    for name in ("unique_ratio", "pairwise_ratio", "distinct_1", "distinct_2"):
        metrics[name] = mean_or_none(getattr(d, name) for d in div)
        if metrics[name] is None:
            if n_samples < 2 and name in ("unique_ratio", "pairwise_ratio"):
                missing[name] = f"{n_samples} sample(s) per prompt; diversity needs at least 2"
            elif not sampled:
                missing[name] = "no sampled outputs"
            else:
                missing[name] = "the sampled outputs hold no word n-gram (empty or too short)"
    per_prompt = [pass_at_ks(len(r.samples), sum(r.sample_passed)) for r in sampled]
    metrics["pass_at_k"] = mean_pass_at_k(per_prompt)
    if not metrics["pass_at_k"]:
        missing["pass_at_k"] = "no sampled outputs"

    shown = [GenerationExample(id=r.prompt.id, reference=assistant_body(r.prompt.reference), output=r.greedy,
                               format_ok=r.score.format_ok, passed=r.score.passed, problems=r.score.problems[:5])
             for r in results[:examples]]
    return BucketMetrics(prompts=prompts, samples=samples, prompts_with_calls=len(with_calls), missing=missing,
                         examples=shown, **metrics)


def summarise_all(results_by_bucket: Mapping[str, Sequence[PromptResult]], settings: GenerationSettings,
                  examples: int = 3) -> GenerationEval:
    """Per-bucket metrics and the overall ones (pooled over every prompt, so big buckets weigh more)."""
    buckets = {b: summarise(rs, settings.n_samples, examples) for b, rs in sorted(results_by_bucket.items())}
    pooled = [r for rs in results_by_bucket.values() for r in rs]
    overall = summarise(pooled, settings.n_samples, examples=0)
    return GenerationEval(settings=settings, overall=overall, buckets=buckets)


def evaluate_generation(model: Any, tokenizer: Any, eval_rows: Iterable[Mapping[str, Any]], *,
                        prompts_per_bucket: int, n_samples: int, temperature: float = 0.7, max_new_tokens: int,
                        seed: int, tools_fallback: Sequence[Mapping[str, Any]] | None = None,
                        batch_size: int = 4, turns: Turns = "last", examples: int = 3,
                        processes: Processes | None = None) -> GenerationEval:
    """Generate for up to `prompts_per_bucket` eval records per bucket and score the outputs.

    One greedy output per prompt gives the accuracy metrics; `n_samples` outputs at `temperature`
    (seeded, pure temperature sampling: no top-k/top-p, no repetition penalty, whatever the
    model's generation config says) give diversity and pass@k. The global RNG state and the
    model's train/eval mode are restored afterwards, so evaluating mid-training does not change
    the training run. Raises `curate.mask.MaskError` when the tokenizer has no chat template.

    `batch_size`: prompts per forward pass, left-padded (the n samples of a prompt always decode
    together). On CPU a padded batch cannot use the fused causal attention kernel for its long
    prompt, so small batches are often as fast there; on a GPU larger ones pay. Sampling is
    reproducible for a given seed and batch size. `turns`: see `select_prompts`. `examples`:
    greedy outputs kept per bucket for the report.

    `processes` (a run of N processes, `curate_train.distributed`): every process must call this; each one
    generates every N-th batch of prompts and the outputs are gathered, so every process returns the
    metrics one process would (batches are seeded one by one, whoever runs them).
    """
    import torch

    settings = GenerationSettings(prompts_per_bucket=prompts_per_bucket, n_samples=n_samples, temperature=temperature,
                                  max_new_tokens=max_new_tokens, seed=seed, turns=turns)
    chosen = select_prompts(eval_rows, prompts_per_bucket, seed, turns=turns, tools_fallback=tools_fallback)
    prompts = [p for ps in chosen.values() for p in ps]
    template = TemplateSpans(tokenizer)
    texts = [template.render(p.messages, p.tools, add_generation_prompt=True)[0] for p in prompts]

    generator = _Generator(model, tokenizer, max_new_tokens, batch_size)
    device = generator.device
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=fork_devices):
            greedy, sampled = generator.run(texts, n_samples, temperature, seed, processes)
    finally:
        model.train(was_training)
    if processes is not None and processes.distributed:  # every process gets every output
        mine = [i for batch in processes.shard(generator.batches(texts)) for i in batch]
        for part in processes.gather({i: (greedy[i], sampled[i]) for i in mine}):
            for i, (text, samples) in part.items():
                greedy[i], sampled[i] = text, samples

    scorer = TurnScorer()
    results: dict[str, list[PromptResult]] = {b: [] for b in chosen}
    for p, (text, stopped), samples in zip(prompts, greedy, sampled, strict=True):
        score = scorer.score(text, p.reference, p.tools, stopped=stopped)
        passed = [scorer.score(s, p.reference, p.tools, stopped=ended).passed for s, ended in samples]
        results[p.bucket].append(PromptResult(p, text, stopped, score, [s for s, _ in samples], passed))
    return summarise_all(results, settings, examples)


class _Generator:
    """Batched generation with left padding, stopping at the end-of-turn token.

    The prompt is run through the model once per batch; its key/value cache then serves the greedy
    output and, repeated n times, the n samples. Prompts are long next to the outputs (tool specs,
    earlier turns), so this saves n of every n + 1 prompt passes, with the same outputs as calling
    `generate` on the whole prompt each time (a test checks it).
    """

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int, batch_size: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        from transformers.generation.utils import GenerationMixin

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.forward_cache = cache_kwarg(type(base).forward)
        self.generate_cache = cache_kwarg(GenerationMixin.generate)
        self.max_new_tokens = max_new_tokens
        self.batch_size = max(1, batch_size)
        eot = tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer))
        eos = tokenizer.eos_token_id
        self.stop_ids = sorted({i for i in (eot, eos) if isinstance(i, int)})
        pad = tokenizer.pad_token_id
        self.pad_id = pad if isinstance(pad, int) else self.stop_ids[0]
        self.device = next(model.parameters()).device
        self.config = getattr(model, "config", None)

    def batches(self, texts: Sequence[str]) -> list[list[int]]:
        """Indices of `texts` per batch: similar lengths together (less padding), in a fixed order."""
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
        return [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]

    def run(self, texts: Sequence[str], n_samples: int, temperature: float, seed: int,
            processes: Processes | None = None) -> tuple[list[tuple[str, bool]], list[list[tuple[str, bool]]]]:
        """For every text: the greedy output and `n_samples` sampled ones, each as (text up to the stop
        token, whether it stopped). Each batch is seeded from `seed` and its place in `batches`, so
        outputs are reproducible for a seed and a batch size, whichever process runs the batch. With
        `processes`, only this process's share of the batches is run (the rest stays empty)."""
        import copy

        import torch
        from transformers import DynamicCache, GenerationConfig

        common = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": 1.0, "eos_token_id": self.stop_ids,
                  "pad_token_id": self.pad_id, "use_cache": True}
        greedy_config = GenerationConfig(do_sample=False, num_beams=1, **common)
        sample_config = GenerationConfig(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, **common)
        # Results go back in the callers' order.
        batches = list(enumerate(self.batches(texts)))
        greedy: list[tuple[str, bool]] = [("", False)] * len(texts)
        samples: list[list[tuple[str, bool]]] = [[] for _ in texts]
        mine = processes.shard(batches) if processes is not None else batches
        with progress("generating (prompts)", total=sum(len(idx) for _, idx in mine),
                      enabled=processes is None or processes.is_main) as bar:
            for number, idx in mine:
                torch.manual_seed(seed * 1_000_003 + number)  # a stream per (seed, batch), not seed + batch overlaps
                enc = self.tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, padding_side="left",
                                     add_special_tokens=False)
                ids, mask = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
                width = ids.shape[1]
                with torch.no_grad():
                    cache = None
                    if width > 1:  # the prompt but its last token; `generate` feeds that one itself
                        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
                        cache = _output_cache(self.model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1],
                                                         position_ids=positions[:, :-1], use_cache=True,
                                                         **{self.forward_cache: DynamicCache(config=self.config)}))
                    out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=greedy_config,
                                              **{self.generate_cache: copy.deepcopy(cache) if n_samples > 0 else cache})
                    for j, i in enumerate(idx):
                        greedy[i] = self._decode(out[j, width:].tolist())
                    if n_samples > 0:
                        if cache is not None:
                            cache.batch_repeat_interleave(n_samples)
                        out = self.model.generate(input_ids=ids.repeat_interleave(n_samples, 0),
                                                  attention_mask=mask.repeat_interleave(n_samples, 0),
                                                  generation_config=sample_config, **{self.generate_cache: cache})
                        rows = out[:, width:].tolist()
                        for j, i in enumerate(idx):
                            samples[i] = [self._decode(r) for r in rows[j * n_samples : (j + 1) * n_samples]]
                bar.advance(len(idx))
        return greedy, samples

    def _decode(self, ids: list[int]) -> tuple[str, bool]:
        # Special tokens stay: <think> and <tool_call> are special tokens of many tokenizers.
        stop = next((k for k, t in enumerate(ids) if t in self.stop_ids), None)
        kept = ids if stop is None else ids[:stop]
        return self.tokenizer.decode(kept, skip_special_tokens=False).strip(), stop is not None
