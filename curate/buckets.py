"""Capability buckets and length buckets: what a trajectory exercises, and how long it is.

Every record gets **all** the capability signals that hold for it (a sorted list of bucket names)
and **one** primary bucket: the first signal in the precedence. The rules are declarative
(`DEFAULT_RULES`, a `dict[str, BucketRule]`: regular expressions over role texts and tool names,
counts of calls and rounds); `[buckets]` in a build config replaces them. Regular expressions use
the `regex` module and are compiled once (and shared between `Bucketer`s); call counts are taken once
per record with `curate.toolcalls.parse_message_calls`, the one place calls are parsed, and each
text a rule searches is joined once per record, only for the roles some rule asks for.

Default buckets:

- `error_recovery`: a tool result reports an error (JSON with a non-empty `error` key, or text
  matching one of `DEFAULT_ERROR_PATTERNS`) and a call follows it.
- `long_context`: the message contents hold at least 12,000 characters.
- `refusal`: no call is made and the assistant declines in so many words (`REFUSAL_PATTERNS`), in
  English or Chinese. It counts: declining to do something ("I can't help with that", "I'm unable to
  provide…", "I won't be able to book…", "I must decline", "我不能帮助你…", "我无法提供…"); saying it lacks
  the capability ("I don't have the capability to…", "As an AI language model, I am not able to…",
  "作为AI，我无法…"); an apology followed by I can't ("I'm sorry, but I can't.", "抱歉，我无法…",
  "很抱歉，我不能…"). It does not count: a failure reported ("I'm unable to find that file", "Sorry, I
  can't see an attachment"), uncertainty ("我无法确定，让我查一下": I can't be sure, let me check), or
  idioms ("I can't wait to help!", "I can't help but notice"). A conversation that calls a tool is never a
  refusal, whatever it says ("I'm unable to find that file, let me search again" and a call).
- `code`: the assistant writes code (a fence with a language other than json/text, or a line
  starting `def`, `class`, `function`, `import`), or every call goes to a code-running tool
  (`run_python`, `execute_code`, `code_interpreter`, …).
- `math`: every call goes to a calculator-like tool (`calculator`, `calc`, `math_eval`, …), or no
  call is made and the user asks for a calculation (an arithmetic expression, "times", "%",
  "calculate", "work out", …).
- `structured`: the last assistant answer is a JSON object or array (a ```json fence allowed).
- `parallel`: some assistant turn makes two or more calls.
- `multi_step`: two or more rounds of calls (a round: an assistant turn with at least one call).
- `single_call`: exactly one call in the whole conversation.
- `chat`: no call and no other signal.
- `other`: the fallback when no rule holds (not a rule; always available).

Precedence (`DEFAULT_PRECEDENCE`), first wins:

    error_recovery > long_context > refusal > code > math > structured
        > parallel > multi_step > single_call > chat > other

Why this order:

1. *What* an example teaches comes before *how* it calls tools. Content buckets (error recovery,
   long context, refusal, code, math, structured output) are rare and are what a mix must not
   lose; the shapes of tool use (parallel, multi-step, single call) are common and every content
   bucket with calls has one of them as a signal anyway, so it stays visible in `signals`.
2. Content rules are narrow so that winning never hides a tool-use shape behind an incidental
   keyword: `math` and `code` hold for conversations with calls only when *every* call goes to a
   calculator or code tool (a currency conversion followed by a division stays `multi_step`), and
   their text conditions apply to conversations without calls.
3. Among content buckets, rarer, harder and more reliable signals first: `error_recovery` always
   co-occurs with `multi_step` and is the behaviour most worth protecting; `long_context` is a
   hard structural fact (12,000 characters) that a document's percentages or an "I cannot find…"
   must not override; `refusal` is safety-critical and, with no calls by definition, only competes
   with the other no-call buckets; writing code is a harder skill than arithmetic; a JSON answer is
   a format constraint on top of whatever else the record does.
4. Among shapes, more complex first: parallel > multi_step > single_call. `chat` is what remains
   without calls (an `alone` rule: it holds only when no other rule does). With the default rules
   every record has a signal (it calls tools once, in parallel, in rounds, or not at all), so
   `other` only shows up with custom rules.

Length buckets (`length_edges`, `length_bucket`) split token counts at edges: given explicitly, or
taken from quantiles of the counts (default quartiles). With edges `[256, 512, 1024, 2048]` the
names are `"<256"`, `"256-511"`, `"512-1023"`, `"1024-2047"`, `">=2048"`: ranges are inclusive and
name whole tokens, so every count has exactly one name.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import regex
from pydantic import Field, model_validator

from curate.config import ConfigError, ConfigSection
from curate.records import Role, Trajectory
from curate.toolcalls import OPEN_TAG, load_json, may_hold_calls, parse_message_calls

FALLBACK = "other"
"""The bucket of a record no rule describes; not a rule, so it cannot be removed or redefined."""

CHARS_PER_TOKEN = 4
"""Estimate for `min_tokens` when the caller passes no token count: ceil(characters / 4)."""

DEFAULT_ERROR_PATTERNS: list[str] = [
    r"\A\s*(?:<tool_response>\s*)?(?i:error|exception|failed|failure|fatal)\b",  # a result that says so first
    r"Traceback \(most recent call last\)",
    r"\b[A-Z]\w*(?:Error|Exception):",  # NameError: …, requests.HTTPException: …
    r'"exit_code"\s*:\s*[1-9]',  # a process that failed
    r'"(?:status|status_code|code)"\s*:\s*"?[45]\d\d\b',  # HTTP errors
    r"\b(?i:no such file or directory|permission denied|rate limit exceeded|timed out|service unavailable)\b",
]
"""Tool results that report an error in text, any of these (JSON with an `error` key counts without them).

Separate patterns rather than one alternation: the `regex` module finds each one's literal text fast,
and an alternation of them several times slower."""

# Tool names are matched by segment (`run_python`, `tools.calculator`, `math_eval`), so that a
# `postal_code` or `calculate_shipping` tool is not taken for a code or calculator tool.
_SEG_START = r"(?:^|[._\-])"
_SEG_END = r"(?:$|[._\-])"
MATH_TOOL_PATTERN = rf"(?i){_SEG_START}(?:calc|calculator|math|maths|arithmetic|wolfram\w*){_SEG_END}"
CODE_TOOL_PATTERN = (
    rf"(?i){_SEG_START}(?:python|python3|ipython|jupyter|interpreter|code_interpreter|execute_code|run_code|"
    rf"exec_code|exec|sandbox|shell|bash|repl){_SEG_END}"
)

_CODE_LINE = (
    r"[ \t]*(?:(?:def|class)[ \t]+\w+[ \t]*[(:]|(?:async[ \t]+)?function[ \t]+\w+[ \t]*\("
    r"|import[ \t]+[\w.]+|from[ \t]+[\w.]+[ \t]+import[ \t]+\w)"
)

# A refusal: the assistant declines the request, or says it lacks the capability, in so many words (see
# `REFUSAL_PATTERNS`). Case-sensitive on purpose: the `regex` module scans a case-folded pattern far slower, and
# `\bI` eight times faster than `\b[Ii]` (every word starting with i is a candidate), so a lowercase "i can't"
# is not caught (assistants write "I"). `['’]` takes the curly apostrophe (U+2019) as well as the straight one.
# A few patterns, each with a literal start the `regex` module finds fast (one alternation of them all is slower
# on long texts, many patterns slower on short ones: each search has a cost).
_NOT = (r"(?:\s+(?:can(?:no|['’])t|cannot|won['’]t|will\s+not|(?:won['’]t|will\s+not)\s+be\s+able\s+to"
        r"|am\s+(?:unable|not\s+able|not\s+going|not\s+allowed|not\s+permitted)\s+to)"
        r"|['’]m\s+(?:unable|not\s+able|not\s+going|not\s+allowed|not\s+permitted)\s+to)")
"""After `I`: ` can't`, ` cannot`, ` won't`, ` will not (be able to)`, ` am / 'm unable to`, `not able to`, `not going
to`, `not allowed to`, `not permitted to`."""
_IDIOM = r"(?!\s+(?:wait|believe|stress|emphasi[sz]e|thank|overstate|agree)\b)"
"""I can't wait, I can't believe, I cannot stress enough, I can't thank you enough, I couldn't agree more."""
_DECLINED = (r"(?:help(?!\s+(?:but|feeling|thinking|noticing|wondering)\b)|assist|provide|do|comply|support|share"
             r"|give|write|create|fulfil+|perform|book|order|access|browse|generate|complete|process|send|answer"
             r"|engage|offer|discuss|continue|proceed|participate|facilitate|recommend|endorse)\b")
"""What a refusal declines to do (`I'm unable to find that file` reports a failed search: not a refusal)."""

REFUSAL_PATTERNS: list[str] = [
    # everything starting with `I` (or a careless `i`), one pattern (fewer searches: most texts are short):
    # I can't help / I'm unable to provide / I won't be able to book … (up to two words between);
    # I don't have the capability / the ability / access to …; I'm not capable of …; I must decline /
    # I have to refuse / I'll have to decline
    rf"\b[Ii](?:{_NOT}{_IDIOM}(?:\s+\w+){{0,2}}?\s+{_DECLINED}"
    r"|\s+(?:do\s+not|don['’]t)\s+have\s+(?:the\s+)?(?:ability|capability|capabilities|capacity|means|access"
    r"|permission|functionality)\b"
    r"|(?:\s+am|['’]m)\s+not\s+(?:capable\s+of|designed\s+to|programmed\s+to)\b"
    r"|(?:\s+(?:have|need)\s+to|\s+must|['’]ll\s+have\s+to|\s+will\s+have\s+to)\s+(?:\w+\s+)?(?:decline|refuse)\b)",
    # I'm sorry, but I can't. / I'm afraid I can't. / As an AI language model, I am not able to … (whatever
    # follows, but a failure reported: sorry, I can't find / see / tell)
    rf"\b(?:[Ss]orry|[Aa]pologi[sz]e|[Aa]fraid|[Aa]s\s+an\s+AI)\b[^.!?\n]{{0,60}}?\b[Ii]{_NOT}{_IDIOM}(?!\s+(?:find|locate"
    r"|see|understand|hear|read|open|load|reach|connect|tell|remember|recall)\b)",
    r"\b[Nn]ot\s+(?:able\s+to\s+(?:help|assist)|something\s+I(?:['’]ll|\s+will|\s+can)\s+help)\b",
    # 抱歉，我无法提供… / 对不起，我无法… / 很抱歉，我不能… (an apology, then I can't: whatever follows)
    r"(?:抱歉|对不起|不好意思|很遗憾)[^。！？!?\n]{0,12}?我(?:无法|不能|不可以|没办法|没有办法|不会|恐怕)",
    # 我不能帮助你… / 我无法为您提供… (I can't, then what it declines: 我无法确定 "I can't tell" is not a refusal);
    # 我必须拒绝 (I must decline)
    r"我(?:(?:无法|不能|不可以|没办法|没有办法|不会|拒绝)(?:为|给|向)?(?:你|您)?(?:帮|提供|协助|回答|满足|完成|执行|处理"
    r"|支持|参与|透露|分享|生成|编写|告诉|做这|这样做)|(?:必须|只能|不得不)(?:拒绝|婉拒))",
    r"恕我(?:无法|不能)",
    r"作为(?:一个|一名)?(?:AI|人工智能)[^。！？\n]{0,12}?我(?:无法|不能|没有)",  # 作为一个AI语言模型，我无法…
]
"""The `refusal` rule's patterns, any of them (see the module docstring for what counts as a refusal)."""

# --- the config sections: [buckets] and [length] of a build config ---------------------------------------

MAX_LENGTH_BUCKETS = 64
MAX_TOKENS = 2**31 - 1
"""Token counts are stored as int32."""


class BucketRule(ConfigSection):
    """A capability signal: every condition given must hold (unset conditions are ignored).

    `any_of` adds alternatives: the rule holds when its own conditions hold and at least one
    alternative does. Regular expressions use the `regex` module and are compiled once, when a
    `curate.buckets.Bucketer` is built (an invalid one is a `BucketConfigError` naming the rule).
    """

    pattern: str | list[str] | None = Field(
        None, description="a `regex` pattern searched in the texts of `roles`, or a list: any of them "
        "(several simple patterns search faster than one alternation in the `regex` module)")
    roles: list[Role] = Field(default_factory=lambda: ["user", "assistant"])
    tool_pattern: str | None = Field(
        None, description="a `regex` pattern searched in the names of the tools called")
    tools_match: Literal["any", "all"] = Field(
        "any", description="`tool_pattern` must match one called tool (`any`) or every call, at least one (`all`)")
    min_calls: int | None = Field(None, ge=0)
    max_calls: int | None = Field(None, ge=0)
    min_rounds: int | None = Field(None, ge=0, description="a round: an assistant turn with at least one call")
    max_rounds: int | None = Field(None, ge=0)
    min_parallel: int | None = Field(None, ge=1, description="most calls in one assistant turn at least this")
    tool_error_then_call: bool | None = Field(
        None, description="a tool result reporting an error (JSON with an `error` key, or text matching "
        "`error_pattern`) followed by another call")
    error_pattern: str | list[str] | None = Field(
        None, description="a pattern or a list (any of them); default: curate.buckets.DEFAULT_ERROR_PATTERNS")
    min_chars: int | None = Field(None, ge=0, description="characters of all message contents at least this")
    min_tokens: int | None = Field(
        None, ge=0, description="tokens at least this (counted by the caller, else estimated from characters)")
    no_tools: bool | None = Field(None, description="the conversation makes no tool call")
    final_json: bool | None = Field(
        None, description="the last assistant answer is a JSON object or array (a ```json fence allowed)")
    alone: bool | None = Field(
        None, description="a fallback: holds only when no rule without `alone` holds")
    any_of: list[BucketRule] = Field(default_factory=list, description="alternatives; at least one must hold")


class BucketConfig(ConfigSection):
    """`[buckets]` of a build config: the capability rules and their precedence."""

    rules: dict[str, BucketRule] | None = None
    """Replaces the default rules when given (see curate.buckets.DEFAULT_RULES)."""
    precedence: list[str] | None = None
    """Bucket names, first wins; every rule must be named (`other`, the fallback, may be). Default:
    curate.buckets.DEFAULT_PRECEDENCE for the default rules, the order of `rules` for custom ones."""


class LengthConfig(ConfigSection):
    """`[length]` of a build config: where length buckets split, given or taken from quantiles."""

    edges: list[int] | None = Field(
        None, max_length=MAX_LENGTH_BUCKETS,
        description=f"token counts where length buckets split: increasing, 1 to {MAX_TOKENS}")
    quantiles: list[float] | None = Field(None, max_length=MAX_LENGTH_BUCKETS)

    @model_validator(mode="after")
    def _one_of(self) -> LengthConfig:
        if self.edges is not None and self.quantiles is not None:
            raise ValueError("give either `edges` or `quantiles`, not both")
        if self.edges is not None:
            for e in self.edges:
                if not 1 <= e <= MAX_TOKENS:
                    raise ValueError(f"`edges`: {e} is not a token count from 1 to {MAX_TOKENS}")
        if self.edges is not None and sorted(set(self.edges)) != self.edges:
            raise ValueError("`edges` must be strictly increasing")
        if self.quantiles is not None and not all(0 < q < 1 for q in self.quantiles):
            raise ValueError("`quantiles` must lie strictly between 0 and 1")
        return self


# --- the default rules -----------------------------------------------------------------------------------

DEFAULT_RULES: dict[str, BucketRule] = {
    "error_recovery": BucketRule(tool_error_then_call=True),
    "long_context": BucketRule(min_chars=12_000),
    "refusal": BucketRule(roles=["assistant"], max_calls=0, pattern=REFUSAL_PATTERNS),
    "code": BucketRule(
        any_of=[
            BucketRule(
                roles=["assistant"],
                pattern=[
                    r"(?m)^[ \t]*```[ \t]*(?!(?:json|jsonc|text|txt|markdown|md|plain)\b)[A-Za-z][\w+#.\-]*[ \t]*$",
                    # a line starting a definition or an import; `\n` and `\A` rather than `(?m)^`,
                    # which the `regex` module scans for several times slower
                    rf"\n{_CODE_LINE}",
                    rf"\A{_CODE_LINE}",
                ],
            ),
            BucketRule(tool_pattern=CODE_TOOL_PATTERN, tools_match="all"),
        ]
    ),
    "math": BucketRule(
        any_of=[
            BucketRule(tool_pattern=MATH_TOOL_PATTERN, tools_match="all"),
            BucketRule(
                roles=["user"],
                max_calls=0,
                pattern=(
                    r"\d(?:\s*%"  # 15%
                    r"|\s*(?:[+*×÷^]|\*\*)\s*\(?\s*\d"  # 3 * 4, 2^10, 5×6
                    r"|\s+[-/x]\s+\(?\d"  # 7 - 2, 9 / 3, 3 x 11 (spaced: not a date, a path or a size)
                    r"|\s*x\s*\d+\s*\?"  # 3x11?
                    r"|\s+(?:times|plus|minus|divided\s+by|multiplied\s+by|squared|cubed)\b)"
                    r"|\b(?i:per\s*cent|percent(?:age)?|calculate|compute|work\s+out|evaluate|solve|square\s+root"
                    r"|factorial|sum\s+of|product\s+of)\b"
                ),
            ),
        ]
    ),
    "structured": BucketRule(final_json=True),
    "parallel": BucketRule(min_parallel=2),
    "multi_step": BucketRule(min_rounds=2),
    "single_call": BucketRule(min_calls=1, max_calls=1),
    "chat": BucketRule(no_tools=True, alone=True),
}
"""The default capability rules; `[buckets] rules` in a build config replaces them all."""

DEFAULT_PRECEDENCE: tuple[str, ...] = (
    "error_recovery", "long_context", "refusal", "code", "math", "structured",
    "parallel", "multi_step", "single_call", "chat", FALLBACK,
)
"""First wins; see the module docstring for the reasoning."""


class BucketConfigError(ConfigError):
    """A bucket configuration a person has to fix; names the rule and the key at fault."""


@dataclass(frozen=True, slots=True)
class BucketAssignment:
    """A record's primary bucket, every signal that holds (sorted), and its call counts."""

    bucket: str
    signals: list[str]
    calls: int
    rounds: int
    max_parallel: int


# --- one record's traits, computed once and lazily ----------------------------------------------

_FENCE_RE = regex.compile(r"\A```[ \t]*(?:json\w*)?[ \t]*\n(.*)\n[ \t]*```\Z", regex.DOTALL | regex.IGNORECASE)
_WRAPPER_RE = regex.compile(r"\A\s*<tool_response>\s*(.*?)\s*</tool_response>\s*\Z", regex.DOTALL)


Patterns = tuple[regex.Pattern[str], ...]
"""Compiled patterns of one condition: it holds when any of them is found."""


def _found(patterns: Patterns, text: str) -> bool:
    for p in patterns:  # noqa: SIM110 - a plain loop: no generator per search
        if p.search(text) is not None:
            return True
    return False


class RecordTraits:
    """What the rules ask about one record: counts in one pass up front, texts and checks on first use."""

    __slots__ = ("_error_then_call", "_final_json", "_texts", "call_at", "calls", "chars", "max_parallel",
                 "n_tokens", "names", "rounds", "traj")

    def __init__(self, traj: Trajectory, n_tokens: int | None) -> None:
        self.traj = traj
        self.n_tokens = n_tokens
        self.calls = self.rounds = self.max_parallel = self.chars = 0
        self.names: list[str] = []
        """Names of the tools called, in order (an unparseable call without a name as "")."""
        self.call_at: list[int] = []
        """Indices of the messages that make calls."""
        self._texts: dict[tuple[str, ...], str] = {}
        self._final_json: bool | None = None
        self._error_then_call: dict[Patterns, bool] | None = None
        chars = 0
        for i, m in enumerate(traj.messages):
            content = m.content
            if content:
                chars += len(content)
            if m.role == "assistant" and may_hold_calls(m):  # ReAct steps and call lists count too
                calls = parse_message_calls(m, i)
                if calls:
                    n = len(calls)
                    self.calls += n
                    self.rounds += 1
                    if n > self.max_parallel:
                        self.max_parallel = n
                    self.names.extend([c.name or "" for c in calls])
                    self.call_at.append(i)
        self.chars = chars
        """Characters of all message contents."""

    def text(self, roles: tuple[str, ...]) -> str:
        """The contents of the messages with these roles, joined by newlines."""
        text = self._texts.get(roles)
        if text is None:
            text = "\n".join([m.content for m in self.traj.messages if m.content and m.role in roles])
            self._texts[roles] = text
        return text

    def tokens(self) -> int:
        return self.n_tokens if self.n_tokens is not None else math.ceil(self.chars / CHARS_PER_TOKEN)

    def final_json(self) -> bool:
        if self._final_json is None:
            self._final_json = _final_answer_is_json(self.traj)
        return self._final_json

    def error_then_call(self, error_res: Patterns) -> bool:
        if len(self.call_at) < 2:  # an error must follow one call and precede another
            return False
        if self._error_then_call is None:
            self._error_then_call = {}
        found = self._error_then_call.get(error_res)
        if found is None:
            found = any(
                m.role == "tool" and m.content and _reports_error(m.content, error_res)
                for m in self.traj.messages[self.call_at[0] + 1 : self.call_at[-1]]
            )
            self._error_then_call[error_res] = found
        return found


def _reports_error(content: str, error_res: Patterns) -> bool:
    if '"error' in content:
        m = _WRAPPER_RE.match(content)
        value, err = load_json(m.group(1) if m else content.strip())
        if err is None and isinstance(value, dict) and (value.get("error") or value.get("errors")):
            return True
    return _found(error_res, content)


def _final_answer_is_json(traj: Trajectory) -> bool:
    for m in reversed(traj.messages):
        if m.role != "assistant":
            continue
        text = m.content or ""
        if m.tool_calls or OPEN_TAG in text:
            return False  # the conversation ends on a call, not an answer
        end_think = text.rfind("</think>")
        if end_think >= 0:
            text = text[end_think + len("</think>") :]
        text = text.strip()
        if not text or text[0] not in "{[`":
            return False
        if text[0] == "`":
            fence = _FENCE_RE.match(text)
            if fence is None:
                return False
            text = fence.group(1).strip()
            if not text or text[0] not in "{[":
                return False
        value, err = load_json(text)
        return err is None and isinstance(value, (dict, list))
    return False


# --- compiled rules ----------------------------------------------------------------------------


Condition = Callable[[RecordTraits], bool]
"""One condition of a bucket rule: true when a record's traits meet it."""


class _Rule:
    """One `BucketRule`, validated and compiled into a list of checks, cheapest first."""

    __slots__ = ("alone", "checks", "cost")

    def __init__(self, rule: BucketRule, where: str, nested: bool = False) -> None:
        if nested and rule.alone:
            raise BucketConfigError(f"{where}: `alone` is only allowed on a rule, not inside `any_of`")
        self.alone = bool(rule.alone)
        pattern = _compile(rule.pattern, where, "pattern")
        roles = tuple(sorted(set(rule.roles)))
        if pattern is not None and not roles:
            raise BucketConfigError(f"{where}: `pattern` needs at least one role in `roles`")
        tool_res = _compile(rule.tool_pattern, where, "tool_pattern")
        min_calls, max_calls = rule.min_calls, rule.max_calls
        if rule.no_tools is True:
            max_calls = 0
        elif rule.no_tools is False:
            min_calls = max(min_calls or 0, 1)
        for lo, hi, what in ((min_calls, max_calls, "calls"), (rule.min_rounds, rule.max_rounds, "rounds")):
            if lo is not None and hi is not None and lo > hi:
                raise BucketConfigError(f"{where}: `min_{what}` ({lo}) is above `max_{what}` ({hi}): nothing matches")
        error_res = None
        if rule.tool_error_then_call is not None:
            error_res = _compile(rule.error_pattern or DEFAULT_ERROR_PATTERNS, where, "error_pattern")
        elif rule.error_pattern is not None:
            raise BucketConfigError(f"{where}: `error_pattern` is only used with `tool_error_then_call`")
        alternatives = [_Rule(alt, f"{where}, any_of[{i}]", nested=True) for i, alt in enumerate(rule.any_of)]

        checks: list[Condition] = []
        if min_calls is not None:
            checks.append(lambda f: f.calls >= min_calls)
        if max_calls is not None:
            checks.append(lambda f: f.calls <= max_calls)
        if rule.min_rounds is not None:
            checks.append(lambda f, n=rule.min_rounds: f.rounds >= n)
        if rule.max_rounds is not None:
            checks.append(lambda f, n=rule.max_rounds: f.rounds <= n)
        if rule.min_parallel is not None:
            checks.append(lambda f, n=rule.min_parallel: f.max_parallel >= n)
        if rule.min_chars is not None:
            checks.append(lambda f, n=rule.min_chars: f.chars >= n)
        if rule.min_tokens is not None:
            checks.append(lambda f, n=rule.min_tokens: f.tokens() >= n)
        if tool_res is not None:
            checks.append(_tool_check(tool_res[0], every=rule.tools_match == "all"))
        if rule.final_json is not None:
            checks.append(lambda f, want=rule.final_json: f.final_json() == want)
        if error_res is not None:
            checks.append(lambda f, want=rule.tool_error_then_call: f.error_then_call(error_res) == want)
        if pattern is not None:
            if len(pattern) == 1:
                checks.append(lambda f, search=pattern[0].search: search(f.text(roles)) is not None)
            else:
                checks.append(lambda f: _found(pattern, f.text(roles)))
        if alternatives:
            alternatives.sort(key=lambda alt: alt.cost)  # any order gives the same answer; cheap first
            checks.append(_any_check(alternatives))
        if not checks:
            raise BucketConfigError(f"{where}: the rule has no condition, so it would match every record")
        self.checks = tuple(checks)
        self.cost = (pattern is not None or error_res is not None or rule.final_json is not None,
                     any(alt.cost[0] for alt in alternatives))
        """Rough cost for ordering alternatives: texts searched or not."""

    def holds(self, f: RecordTraits) -> bool:
        """Whether every condition holds."""
        for check in self.checks:  # noqa: SIM110 - a plain loop: no generator per rule per record
            if not check(f):
                return False
        return True


def _any_check(alternatives: list[_Rule]) -> Condition:
    def any_holds(f: RecordTraits) -> bool:
        for alt in alternatives:  # noqa: SIM110 - a plain loop: no generator per record
            if alt.holds(f):
                return True
        return False

    return any_holds


def _tool_check(tool_re: regex.Pattern[str], every: bool) -> Condition:
    """A check on the names of the tools called; each distinct name is matched once per Bucketer."""
    seen: dict[str, bool] = {}

    def matches(name: str) -> bool:
        hit = seen.get(name)
        if hit is None:
            hit = tool_re.search(name) is not None
            if len(seen) < 10_000:  # tool names are few; a flood of made-up ones is not cached
                seen[name] = hit
        return hit

    if every:
        return lambda f: bool(f.names) and all(map(matches, f.names))
    return lambda f: any(map(matches, f.names))


def _compile(pattern: str | list[str] | None, where: str, key: str) -> Patterns | None:
    if pattern is None:
        return None
    patterns = [pattern] if isinstance(pattern, str) else pattern
    if not patterns:
        raise BucketConfigError(f"{where}: `{key}` is an empty list: give a pattern or leave `{key}` out")
    compiled = []
    for i, p in enumerate(patterns):
        try:
            compiled.append(_compiled(p))
        except regex.error as e:
            which = f"`{key}`" if isinstance(pattern, str) else f"`{key}[{i}]`"
            raise BucketConfigError(f"{where}: {which} is not a valid regular expression: {e}") from None
    return tuple(compiled)


_CACHE: dict[str, regex.Pattern[str]] = {}


def _compiled(pattern: str) -> regex.Pattern[str]:
    """Compile once per process: Bucketers built with the same rules share their patterns."""
    compiled = _CACHE.get(pattern)
    if compiled is None:
        compiled = _CACHE[pattern] = regex.compile(pattern)
    return compiled


# --- the bucketer ------------------------------------------------------------------------------


class Bucketer:
    """Assigns capability buckets with the rules and precedence of a `BucketConfig`.

    Raises `BucketConfigError` for a rule with an invalid regular expression or no condition, and
    for a precedence naming an unknown bucket, naming one twice, or leaving a rule out.
    """

    def __init__(self, cfg: BucketConfig | None = None) -> None:
        cfg = cfg or BucketConfig()
        self.cfg = cfg
        rules = DEFAULT_RULES if cfg.rules is None else cfg.rules
        if not rules:
            raise BucketConfigError("[buckets] `rules` is empty: give at least one rule, or leave `rules` out")
        if FALLBACK in rules:
            raise BucketConfigError(f"[buckets] rule `{FALLBACK}`: the name is reserved for the fallback bucket")
        self.rules: dict[str, _Rule] = {name: _Rule(rule, f"[buckets] rule `{name}`") for name, rule in rules.items()}
        if cfg.precedence is not None:
            precedence = list(cfg.precedence)
        elif cfg.rules is None:
            precedence = list(DEFAULT_PRECEDENCE)
        else:
            precedence = list(rules)
        self.precedence: tuple[str, ...] = _check_precedence(precedence, list(rules))
        self.buckets: tuple[str, ...] = (*self.precedence, FALLBACK)
        """Every bucket a record can land in, in precedence order (the fallback last)."""
        self._rank = {name: i for i, name in enumerate(self.precedence)}
        self._main = [(n, r) for n, r in self.rules.items() if not r.alone]
        self._alone = [(n, r) for n, r in self.rules.items() if r.alone]

    def __reduce__(self) -> tuple[type[Bucketer], tuple[BucketConfig]]:
        """Pickled as its config (the compiled checks are closures), for worker processes."""
        return (Bucketer, (self.cfg,))

    def assign(self, traj: Trajectory, n_tokens: int | None = None) -> BucketAssignment:
        """The record's bucket and signals; `n_tokens` feeds `min_tokens` rules (else estimated)."""
        f = RecordTraits(traj, n_tokens)
        signals = [name for name, rule in self._main if rule.holds(f)]
        if not signals:
            signals = [name for name, rule in self._alone if rule.holds(f)]
        if signals:
            signals.sort()
            bucket = min(signals, key=self._rank.__getitem__)
        else:
            signals, bucket = [FALLBACK], FALLBACK
        return BucketAssignment(bucket, signals, f.calls, f.rounds, f.max_parallel)


def _check_precedence(precedence: list[str], rules: list[str]) -> tuple[str, ...]:
    known = set(rules)
    unknown = [n for n in precedence if n not in known and n != FALLBACK]
    if unknown:
        raise BucketConfigError(
            f"[buckets] `precedence` names unknown bucket(s) {', '.join(f'`{n}`' for n in unknown)}; "
            f"the rules define {', '.join(f'`{n}`' for n in rules)} (and `{FALLBACK}`, the fallback)"
        )
    seen: set[str] = set()
    twice: set[str] = set()
    for name in precedence:
        (twice if name in seen else seen).add(name)
    if twice:
        raise BucketConfigError(
            f"[buckets] `precedence` names {', '.join(f'`{n}`' for n in sorted(twice))} more than once"
        )
    missing = [n for n in rules if n not in seen]
    if missing:
        raise BucketConfigError(
            f"[buckets] `precedence` leaves out rule(s) {', '.join(f'`{n}`' for n in missing)}: "
            "add them where they should rank"
        )
    return tuple(n for n in precedence if n != FALLBACK)


# --- length buckets ----------------------------------------------------------------------------

DEFAULT_QUANTILES = (0.25, 0.5, 0.75)


def length_edges(token_counts: Iterable[int], cfg: LengthConfig | None = None) -> list[int]:
    """Edges for `length_bucket`: `cfg.edges` as given, or quantiles of the counts (default quartiles).

    Quantile edges are rounded up to whole tokens and deduplicated, so a corpus of similar lengths
    may get fewer buckets than quantiles; no counts and no explicit edges give no edges (one bucket).
    """
    cfg = cfg or LengthConfig()
    if cfg.edges is not None:
        return list(cfg.edges)
    counts = sorted(token_counts)
    if not counts:
        return []
    quantiles = DEFAULT_QUANTILES if cfg.quantiles is None else sorted(set(cfg.quantiles))
    edges: list[int] = []
    for q in quantiles:
        edge = math.ceil(_quantile(counts, q))
        if edge > counts[0] and (not edges or edge > edges[-1]):  # an edge at the minimum names an empty bucket
            edges.append(edge)
    return edges


def _quantile(sorted_counts: Sequence[int], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of sorted values."""
    pos = q * (len(sorted_counts) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_counts) - 1)
    return sorted_counts[lo] + (sorted_counts[hi] - sorted_counts[lo]) * (pos - lo)


def length_bucket(n_tokens: int, edges: Sequence[int]) -> str:
    """The name of the length bucket of `n_tokens`: `"<e0"`, `"e0-(e1-1)"`, …, `">=eN"`; `"all"` without edges."""
    if not edges:
        return "all"
    i = bisect.bisect_right(edges, n_tokens)
    if i == 0:
        return f"<{edges[0]}"
    if i == len(edges):
        return f">={edges[-1]}"
    return f"{edges[i - 1]}-{edges[i] - 1}"


def length_bucket_names(edges: Sequence[int]) -> list[str]:
    """Every length bucket name for `edges`, shortest first (for tables and reports)."""
    if not edges:
        return ["all"]
    return [f"<{edges[0]}", *(f"{a}-{b - 1}" for a, b in itertools.pairwise(edges)), f">={edges[-1]}"]
