"""What every lint rule shares: the `Rule` base class and the per-record `RecordContext`.

A rule is a small class in a file of its own (sqlfluff style): its docstring is the user
documentation (why it matters, an **Anti-pattern** and a **Best practice**), `code` is stable
forever, and `check` yields findings for one record. Work several rules need (parsing tool calls,
scanning tags, validating arguments) is done once per record by the context and cached there.

Two kinds of rules have a base class of their own:

- `CallRule`: the rules about one tool call (TC001-TC006, TC008, TC009). Each call is parsed once
  (`curate.toolcalls`), its tool looked up and its arguments validated once (`curate.validate`), and
  every call rule reads that one `CheckedCall` (`RecordContext.call_issues`).
- `CrossRecordRule`: the rules whose findings depend on earlier records of the run (RS004, TS001), in two
  halves: what one record shows (`observe`, wherever the record is linted) and the decision in input order
  (`decide`, in the one place that sees every record: `curate.lint.CrossRecordRules`).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, get_args

from curate.records import Finding, FunctionSpec, Message, Severity, Trajectory
from curate.toolcalls import NON_CANONICAL, OPEN_TAG, Blocks, ParsedCall, find_blocks, parse_message_calls
from curate.validate import ArgumentError, CompiledTool, ErrorKind, PatternClock, SchemaCache

# Tag-like tokens near the protocol's own tags: `<tool-call>`, `<toolcall>`, `< think >`, `<Think>`, ...
TAG_RE = re.compile(
    r"<\s*/?\s*(?:tool[\s_-]*calls?|think(?:ing)?|tool[\s_-]*responses?)\s*/?\s*>", re.IGNORECASE
)
# Candidates for TAG_RE: short `<...>` runs (a tag is at most ~30 characters even with stray spaces).
_ANGLE_RE = re.compile(r"<[^<>]{1,40}>")
CANONICAL_TAGS = frozenset({
    "<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
})
_THINK_PAIR = ["<think>", "</think>"]
_CALL_PAIR = ["<tool_call>", "</tool_call>"]

MAX_FINDINGS_PER_CALL = 50
"""Issues listed for one tool call; past it, one closing issue per code says how many more there were."""
MAX_FINDINGS_PER_RECORD = 200
"""Findings listed for one record (see `curate.lint.cap_findings`)."""


class cached:
    """A per-instance cached attribute without the lock `functools.cached_property` takes in 3.11
    on every first access (several per record, on the linter's hot path)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.name = fn.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


@dataclass(slots=True)
class Tag:
    text: str
    start: int

    @property
    def canonical(self) -> bool:
        return self.text in CANONICAL_TAGS


@dataclass(slots=True)
class CallTurn:
    """An assistant turn that made calls, the tool messages right after it, and which response answers which call.

    Responses pair with calls by `tool_call_id` when every call and every response carries one, else in order
    (the one pairing TC007 and TC012 read: `RecordContext.call_turns`)."""

    index: int
    """The assistant message's index."""
    calls: list[ParsedCall]
    responses: list[int]
    """The indices of the tool messages right after the turn."""
    by_id: bool
    """Paired by `tool_call_id` (else in order)."""
    pairs: list[tuple[ParsedCall, int]]
    """Each answered call and the index of its response."""
    unasked: list[int]
    """Responses that answer no call of the turn: an id no call has, or, in order, those past the last call."""
    unanswered: list[ParsedCall]
    """Calls without a response, in call order."""
    final: bool
    """The record ends on this turn, with no response (how single-step examples end)."""


def pair_calls(index: int, calls: list[ParsedCall], messages: list[Message], end: int) -> CallTurn:
    """The `CallTurn` of the assistant message at `index`, whose tool responses are `messages[index + 1:end]`."""
    responses = list(range(index + 1, end))
    final = end == len(messages) and not responses
    ids = [messages[k].tool_call_id for k in responses]
    if not (responses and all(c.id for c in calls) and all(ids)):
        return CallTurn(index, calls, responses, False, list(zip(calls, responses, strict=False)),
                        responses[len(calls):], calls[len(responses):], final)
    waiting = list(calls)
    pairs: list[tuple[ParsedCall, int]] = []
    unasked: list[int] = []
    for k, rid in zip(responses, ids, strict=True):
        w = next((w for w, c in enumerate(waiting) if c.id == rid), -1)
        if w < 0:
            unasked.append(k)
        else:
            pairs.append((waiting.pop(w), k))
    return CallTurn(index, calls, responses, True, pairs, unasked, waiting, final)


@dataclass(slots=True)
class CallIssue:
    """A finding about one call, computed once and reported by the rule owning `code`."""

    code: str
    call: ParsedCall
    message: str


@dataclass(slots=True)
class CheckedCall:
    """One tool call as the call rules see it: parsed once, its tool looked up and its arguments validated once."""

    parsed: ParsedCall
    """What the one tool-call parser (`curate.toolcalls`) made of the call; `parsed.error` when it could not."""
    tool: CompiledTool | None
    """The tool the call names (the record's own, else `--tools`); None when it did not parse or names none."""
    tools: ToolRegistry
    """Every tool the record may call (for suggestions)."""
    arguments: dict[str, Any]
    """The named arguments, with the positional values mapped in (a value given both ways keeps its name's)."""
    mapped: list[tuple[str, Any]]
    """The positional values by the parameter they map onto, in the schema's order (empty without a tool)."""
    errors: list[ArgumentError]
    """What the validator (`curate.validate`) finds wrong with `arguments`, in its order; empty without a tool."""

    @property
    def name(self) -> str | None:
        return self.parsed.name


class ToolRegistry:
    """`curate.toolset.ToolSet`'s decision (a record's own tools by name first, then `--tools`), compiled.

    `external` holds the `--tools` specs compiled once per run (`Linter` builds it from its `ToolSet`); the
    record's own specs are compiled through the shared cache, only when a call or a rule asks for them.
    `tests/test_toolset.py` holds lint and export to the same decision.
    """

    def __init__(self, record_tools: list[FunctionSpec], external: dict[str, CompiledTool],
                 cache: SchemaCache) -> None:
        self.external = external
        self.own = {spec.name: spec for spec in record_tools}
        self._cache = cache
        self._compiled: dict[str, CompiledTool] = {}
        self._names: tuple[str, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every tool name the record may call, its own first (made once: suggestions ask per unknown call)."""
        if self._names is None:
            self._names = tuple(dict.fromkeys([*self.own, *self.external])) if self.own else tuple(self.external)
        return self._names

    def get(self, name: str) -> CompiledTool | None:
        spec = self.own.get(name)
        if spec is None:
            return self.external.get(name)
        tool = self._compiled.get(name)
        if tool is None:
            tool = self._compiled[name] = self._cache.compile_function(spec)
        return tool

    def suggest(self, name: str) -> str | None:
        return closest_name(name, self.names)


@functools.lru_cache(maxsize=4096)
def closest_name(name: str, names: tuple[str, ...]) -> str | None:
    """The known name most like `name`, or None when none is at least 60% alike.

    Likeness is rapidfuzz's `ratio` (normalised InDel similarity, `2 * matches / total length`, what difflib's
    ratio approximates), the first of equally alike names winning; compiled code, so a 10,000-tool list
    costs a millisecond or two a name. Cached: a corpus that misnames a tool usually misnames it the same way
    in many records."""
    from rapidfuzz import fuzz, process  # here: most lint runs never ask, and the import costs 5 ms

    best = process.extractOne(name, names, scorer=fuzz.ratio, score_cutoff=60)
    return best[0] if best else None


class RecordContext:
    """One record as the rules see it, with the shared analysis cached.

    `record` is None for a record that could not be read or adapted (only rules with `needs_record = False`
    see those), and in a `CrossRecordRule.decide`, which may only learn where the record is."""

    def __init__(self, path: str, line: int, record_id: str | None, record: Trajectory | None,
                 tools: ToolRegistry | None = None, read_error: str | None = None,
                 shape_errors: list[tuple[int | None, str]] | None = None) -> None:
        self.path = path
        self.line = line
        self.record_id = record_id
        self.record = record
        self.tools = tools
        self.read_error = read_error
        self.shape_errors = shape_errors or []

    def finding(self, rule: Rule, message: str, message_index: int | None = None,
                excerpt: str | None = None) -> Finding:
        return Finding(
            path=self.path, line=self.line, record_id=self.record_id, message_index=message_index,
            code=rule.code, severity=rule.severity, message=printable(message),
            excerpt=printable(shorten(excerpt)) if excerpt else None,
        )

    @cached
    def calls(self) -> list[list[ParsedCall]]:
        """Parsed tool calls per message (empty for non-assistant messages)."""
        assert self.record is not None
        return [
            parse_message_calls(m, i, self.blocks(i) if m.content and OPEN_TAG in m.content else None)
            if m.role == "assistant" else []
            for i, m in enumerate(self.record.messages)
        ]

    @cached
    def tags_clean(self) -> bool:
        """True when no format rule (FM001-FM007) can fire on this record: every assistant turn's
        tags are exactly `<think></think>` at most once and first, then whole `<tool_call>` blocks,
        and no user or tool turn holds a tag `_scan_tags` would report (system prompts may describe
        the protocol: FM004 exempts them, and the other rules read assistant turns only). The common
        case, decided from the tag texts alone (a C-level `findall`, no positions), so clean records
        skip the tag scan."""
        assert self.record is not None
        for m in self.record.messages:
            content = m.content
            if not content or "<" not in content:
                continue
            role = m.role
            if role != "assistant":
                if role != "system" and _scan_tags(content, role):  # plain substring tests first, as FM004
                    return False
                continue
            found = _ANGLE_RE.findall(content)
            if not found or _is_clean_sequence(found):
                continue
            tags = [t for t in found if t in CANONICAL_TAGS or TAG_RE.fullmatch(t)]
            if not _is_clean_sequence(tags):
                return False
        return True

    @cached
    def call_turns(self) -> list[CallTurn]:
        """Every assistant turn that made calls, with its tool responses paired to its calls (`CallTurn`)."""
        assert self.record is not None
        messages = self.record.messages
        n = len(messages)
        turns: list[CallTurn] = []
        i = 0
        while i < n:
            calls = self.calls[i]
            if not calls:
                i += 1
                continue
            j = i + 1
            while j < n and messages[j].role == "tool":
                j += 1
            turns.append(pair_calls(i, calls, messages, j))
            i = j
        return turns

    @cached
    def roles(self) -> str:
        """The first letter of each message's role (s, u, a, t), for role checks as string tests."""
        assert self.record is not None
        return "".join([m.role[0] for m in self.record.messages])

    @cached
    def roles_plain(self) -> bool:
        """True when the roles run system? user … assistant: no system turn after the first message,
        the first non-system turn is a user's and the last turn is the assistant's. RL001, RL002,
        RL004 and RS003 have nothing to say on such records. (`s?u[uat]*a` as a regex, in string
        tests that cost a tenth of a regex call.)"""
        roles = self.roles
        rest = roles[1:] if roles.startswith("s") else roles
        return len(rest) >= 2 and rest[0] == "u" and rest[-1] == "a" and "s" not in rest

    @cached
    def no_call_issues(self) -> bool:
        """True when the per-call rules (TC001-TC006, TC008, TC009) have nothing to report."""
        return not self.call_issues

    @cached
    def calls_canonical(self) -> bool:
        """True when TC010 and TC011 have nothing to report: no call is written in another syntax than
        `<tool_call>` JSON (`curate.toolcalls.NON_CANONICAL`) or with nothing in it, and no assistant turn
        without calls ends with `]` (which an empty call list `[]` does)."""
        assert self.record is not None
        for calls, m in zip(self.calls, self.record.messages, strict=True):
            if calls:
                for call in calls:
                    if call.syntax in NON_CANONICAL or call.empty:
                        return False
            elif m.role == "assistant" and m.content and m.content.rstrip()[-1:] == "]":
                return False
        return True

    @cached
    def _tags(self) -> list[list[Tag]]:
        assert self.record is not None
        return [_scan_tags(msg.content, msg.role) for msg in self.record.messages]

    @cached
    def tagged_assistant(self) -> list[tuple[int, Message, list[Tag]]]:
        """(index, message, tags) of the assistant messages that hold any protocol-like tag."""
        assert self.record is not None
        return [(i, m, t) for i, (m, t) in enumerate(zip(self.record.messages, self._tags, strict=True))
                if t and m.role == "assistant"]

    @cached
    def tagged_other(self) -> list[tuple[int, Message, list[Tag]]]:
        """(index, message, tags) of the other messages that hold an exact assistant tag."""
        assert self.record is not None
        return [(i, m, t) for i, (m, t) in enumerate(zip(self.record.messages, self._tags, strict=True))
                if t and m.role != "assistant"]

    def blocks(self, message_index: int) -> Blocks:
        cache = self.__dict__.setdefault("_blocks", {})
        found = cache.get(message_index)
        if found is None:
            assert self.record is not None
            found = cache[message_index] = find_blocks(self.record.messages[message_index].content or "")
        return found

    @cached
    def call_issues(self) -> list[CallIssue]:
        """Every per-call issue of the record (all `CallRule`s, selected or not), in message order; at most
        `MAX_FINDINGS_PER_CALL` per call, then one closing issue per code saying how many more there were.
        Pattern searches of all the record's calls share one `PatternClock`."""
        issues: list[CallIssue] = []
        clock = PatternClock()
        rules = call_rules()
        for calls in self.calls:
            for call in calls:
                found = self._check_call(call, clock, rules)
                issues.extend(found if len(found) <= MAX_FINDINGS_PER_CALL else _cap_call_issues(found))
        return issues

    def _check_call(self, call: ParsedCall, clock: PatternClock | None = None,
                    rules: CallRules | None = None) -> list[CallIssue]:
        """The issues of one call, uncapped: each call rule's `check_call` in rule order, then the validator's
        errors in its order, each reported by the rule whose `argument_errors` names its kind."""
        assert self.tools is not None
        if rules is None:
            rules = call_rules()
        tool = self.tools.get(call.name) if call.error is None and call.name is not None else None
        if tool is None and call.finish:
            return []  # ToolBench's `Finish` in a record that declares no such tool: the final answer, not a call
        arguments = call.arguments or {}
        mapped: list[tuple[str, Any]] = []
        if tool is not None and call.positional:
            arguments = dict(arguments)  # the positional values are mapped in
            mapped = list(zip(tool.param_order, call.positional, strict=False))
            for key, value in mapped:
                arguments.setdefault(key, value)
        errors = tool.validate(arguments, clock) if tool is not None else []
        plain = tool is not None and not call.positional
        asked = rules.every_call if plain else rules.checking
        if not asked and not errors:
            return []  # the common case: a call the rules have nothing to say about
        checked = CheckedCall(call, tool, self.tools, arguments, mapped, errors)
        issues = [CallIssue(rule.code, call, message) for rule in asked for message in rule.check_call(checked)]
        for err in errors:
            rule = rules.by_error_kind[err.kind]
            issues.append(CallIssue(rule.code, call, rule.argument_message(checked, err)))
        return issues


def _cap_call_issues(issues: list[CallIssue]) -> list[CallIssue]:
    """The first `MAX_FINDINGS_PER_CALL` issues of one call, then one per code for those left out."""
    if len(issues) <= MAX_FINDINGS_PER_CALL:
        return issues
    kept = issues[:MAX_FINDINGS_PER_CALL]
    left = Counter(issue.code for issue in issues[MAX_FINDINGS_PER_CALL:])
    call = issues[0].call
    for code, n in sorted(left.items()):
        kept.append(CallIssue(code, call, f"… and {n:,} more finding{'s' * (n != 1)} like this in this call "
                              f"(at most {MAX_FINDINGS_PER_CALL} are listed per call)"))
    return kept


def _is_clean_sequence(tags: list[str]) -> bool:
    """Whether the tags of an assistant turn run `(<think></think>)?(<tool_call></tool_call>)*`: at
    most one think block, first, then whole calls (list comparisons, cheaper than a regex call)."""
    if tags[:2] == _THINK_PAIR:
        tags = tags[2:]
    return tags == _CALL_PAIR * (len(tags) // 2)


def _scan_tags(content: str | None, role: str) -> list[Tag]:
    """Protocol-like tags of one message. Outside assistant turns only exact assistant tags matter
    (FM004), so long user documents and tool results are scanned with plain substring tests first."""
    if not content or "<" not in content:
        return []
    if role != "assistant" and "<think>" not in content and "</think>" not in content \
            and "tool_call>" not in content:
        return []
    tags = []
    for m in _ANGLE_RE.finditer(content):
        text = m.group(0)
        if text in CANONICAL_TAGS or TAG_RE.fullmatch(text):
            tags.append(Tag(text, m.start()))
    return tags


def printable(text: str) -> str:
    """Text any reporter can write: unpaired surrogates (valid in JSON escapes, not in UTF-8) escaped."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


_LEADING_SPACE = re.compile(r"\s*")


def shorten(text: str, limit: int = 100) -> str:
    """One line of at most `limit` characters, for excerpts: stripped, `\r` dropped, newlines shown as ⏎.

    Work is proportional to the excerpt, not to `text` (each finding of a huge call takes an excerpt of
    it): a long text is cut to a window first, widened only while the window cannot decide the result."""
    if len(text) <= 4 * limit:
        return _shorten_whole(text, limit)
    start = _LEADING_SPACE.match(text).end()  # type: ignore[union-attr]  # `\s*` always matches
    size = 2 * limit
    while start + size < len(text):
        # `text` goes on past the window, so the stripped text holds the window up to its last non-space
        # character: that decides the excerpt once it is over `limit` characters without `\r`.
        window = text[start:start + size].rstrip().replace("\r", "").replace("\n", "⏎")
        if len(window) > limit:
            return window[: limit - 1] + "…"
        size *= 2
    return _shorten_whole(text[start:], limit)


def _shorten_whole(text: str, limit: int) -> str:
    text = text.strip().replace("\r", "").replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Rule:
    """Base class of lint rules. Subclasses set the class attributes and implement `check`.

    The docstring is the rule's documentation (`curate rule CODE`): a summary line, why it matters, then an
    **Anti-pattern** and a **Best practice**, each with an example in a `::` block. The examples are linted
    by `tests/test_rule_cases.py` (the rule must fire on the first, not on the second), so they are data:

    - JSON: a block that is one JSON value is one record; otherwise each line is a JSON Lines line, as written;
    - a conversation: turns `role: content`, one a line or separated by `→`; a content in double quotes is a
      JSON string, any other is the text as written, and a line starting with no role continues the turn.
      `tools: [...]` gives the record's tools as JSON; the Best practice keeps the Anti-pattern's tools
      unless it gives its own;
    - anything else: one assistant turn, answering a user's request.

    Test cases beside the rule (`CODE.yml`) say exactly what it reports.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    group: ClassVar[str]
    severity: ClassVar[Severity] = "error"
    needs_record: ClassVar[bool] = True
    """False for rules about records that could not be read or adapted (RS001, RS002)."""
    skip_when: ClassVar[str | None] = None
    """Name of a boolean `RecordContext` attribute that, when true for a record, proves this rule
    has nothing to report on it: the linter then doesn't run the rule. Each flag is computed once
    per record and shared by the rules naming it; `Linter(skip=False)` runs every rule anyway, and
    a test holds both modes to the same findings."""
    cross_record: ClassVar[bool] = False
    """True for a `CrossRecordRule`: its findings depend on earlier records, so it keeps state."""

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        doc = inspect.getdoc(cls) or ""
        return doc.split("\n", 1)[0]

    @classmethod
    def docs(cls) -> str:
        return inspect.getdoc(cls) or ""


class CrossRecordRule(Rule):
    """A rule whose findings on a record depend on the records before it in the run: it keeps state.

    Records may be linted in several processes (`curate lint --jobs`, the build's workers), and only one
    place sees them all in input order, so the rule comes in two halves:

    - `observe(ctx)`: what the rule needs of one readable record, from that record alone; it may run in any
      process, so it keeps no state between records and returns something small and picklable (None when
      there is nothing to note, the common case).
    - `decide(ctx, observed)`: the record's findings given every record before it, called for each readable
      record in input order by `curate.lint.CrossRecordRules`, whose instance alone keeps the state. There
      `ctx` may only say where the record is (`path`, `line`, `record_id`): all else comes in `observed`.

    `check` runs both on one record, for a caller that lints every record of the run in order itself.
    """

    cross_record = True

    def observe(self, ctx: RecordContext) -> Any:
        """What `decide` needs of this record beyond where it is (nothing by default)."""
        return None

    def decide(self, ctx: RecordContext, observed: Any) -> Iterable[Finding]:
        """This record's findings, given every record before it (called once per readable record, in input order)."""
        raise NotImplementedError

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        return iter(self.decide(ctx, self.observe(ctx)))


class CallRule(Rule):
    """A rule about one tool call at a time; it reports in either or both of two ways.

    - `check_call` yields the message of each problem the rule finds in a `CheckedCall`. Every call is
      asked, unless the rule sets `skip_plain_calls`.
    - `argument_errors` names the kinds of validator errors (`curate.validate.ArgumentError.kind`) the rule
      reports, each worded by `argument_message`. Each kind has exactly one rule.

    A call's issues are the `check_call` messages in rule order, then the validator's errors in its order;
    the first `MAX_FINDINGS_PER_CALL` are kept (`RecordContext.call_issues`).
    """

    group = "tool-calls"
    skip_when = "no_call_issues"
    argument_errors: ClassVar[frozenset[str]] = frozenset()
    skip_plain_calls: ClassVar[bool] = False
    """True when `check_call` never reports a plain call: one that parsed, names a known tool and passes no
    positional values. Such calls, most of them, are then not handed to it."""

    def check_call(self, call: CheckedCall) -> Iterator[str]:
        """The messages of this rule's problems in `call` (none by default)."""
        return iter(())

    def argument_message(self, call: CheckedCall, err: ArgumentError) -> str:
        """The message for a validator error of one of `argument_errors`: where in the arguments, and what."""
        where = f"argument `{err.path}`" if err.path else "the arguments"
        return f"{where} of `{call.name}`: {err.message}"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        for issue in ctx.call_issues:
            if issue.code == self.code:
                yield ctx.finding(self, issue.message, issue.call.message_index, issue.call.raw)


class CallRules:
    """Every `CallRule`, selected or not (a call's issues, and so its cap, are the same whatever is selected)."""

    def __init__(self, rules: list[CallRule]) -> None:
        self.checking = [r for r in rules if type(r).check_call is not CallRule.check_call]
        """The rules with a `check_call`, in code order."""
        self.every_call = [r for r in self.checking if not r.skip_plain_calls]
        """Those asked about plain calls too."""
        self.by_error_kind: dict[str, CallRule] = {}
        for rule in rules:
            for kind in rule.argument_errors:
                if kind in self.by_error_kind:
                    raise RuntimeError(f"{rule.code} and {self.by_error_kind[kind].code} both report "
                                       f"`{kind}` argument errors: give the kind to one of them")
                self.by_error_kind[kind] = rule
        unclaimed = [kind for kind in get_args(ErrorKind) if kind not in self.by_error_kind]
        if unclaimed:
            raise RuntimeError(f"no call rule reports {', '.join(unclaimed)} argument errors: name the kind in "
                               "one rule's `argument_errors`")


@functools.cache
def call_rules() -> CallRules:
    """The call rules of `curate.rules.all_rules`, one instance each (call rules keep no state)."""
    from curate.rules import all_rules  # here: the rule modules import this one

    return CallRules([cls() for cls in all_rules().values() if issubclass(cls, CallRule)])
