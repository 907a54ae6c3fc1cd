"""Score one generated assistant turn against the reference turn.

Everything protocol-related is the linter's own: tags are checked by running the format rules
(FM001-FM003, FM005-FM007) on a one-message trajectory, calls are found and parsed by
`curate.toolcalls`, and arguments are validated by `curate.validate` through the same
`RecordContext` the linter uses. So a change to how a tool call is parsed changes lint and
evaluation alike, and there is no second parser here.

What is added is the comparison with the reference, BFCL-style (bfcl_eval's AST checker):

- a call matches when the names are equal, every required parameter is present, no argument is
  given that the reference does not give, and every value equals the reference's after
  normalisation; an argument the reference gives may be left out only when it is optional and the
  reference passes the schema's own `default` (BFCL's "" among the acceptable values);
- strings are compared as BFCL's `standardize_string` does: case-folded, with whitespace and the
  characters `,./-_*^` removed and `'` read as `"` ("April 1, 2024" == "april 1 2024");
- numbers compare by value (1 == 1.0: BFCL accepts an int for a float parameter), booleans only
  with booleans; lists compare in order, element by element (BFCL's `list_checker`); dicts
  compare key by key, recursively;
- parallel calls match as a multiset, in any order (BFCL's `parallel_function_checker_no_order`),
  with a maximum matching so that the order of the reference never decides;
- a reference turn without calls is matched on its answer: `<think>` blocks dropped, case-folded,
  punctuation removed (thousands separators too, decimal points kept), whitespace collapsed, then
  exact equality.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from curate.records import FunctionSpec, Message, ToolSpec, Trajectory
from curate.render import assistant_body
from curate.rules import all_rules
from curate.rules.base import RecordContext, Rule, ToolRegistry
from curate.toolcalls import ParsedCall, parse_message_calls
from curate.validate import CompiledTool, SchemaCache

FORMAT_RULES = ("FM001", "FM002", "FM003", "FM005", "FM006", "FM007")
"""The lint rules that make up format accuracy, besides the end-of-turn token (`TurnScorer.score`):
balanced `<think>` (FM001) and `<tool_call>` (FM006) tags, one think block (FM002) before any call
(FM003), no near-miss tags (FM005), no tool results written by the model (FM007). FM004 is about
tags in user and tool turns, which a generated turn does not have."""

_SCHEMA_OK_CODES = frozenset({"TC009"})
"""Call issues that leave a call schema-valid: positional arguments (TC009) are a style warning; the
validator maps them onto the parameters and checks them all the same."""

_BFCL_STRIP = re.compile(r"[\s,./\-_*^]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_POINT = "\x00"  # stands for a decimal point while punctuation is removed
_NO_DEFAULT = object()


def normalise_string(text: str) -> str:
    """A string argument as BFCL compares it: case-folded, whitespace and `,./-_*^` removed, ' as "."""
    return _BFCL_STRIP.sub("", text.casefold()).replace("'", '"')


def normalise_value(value: Any) -> Any:
    """An argument value with every string in it normalised (`normalise_string`), for comparison."""
    if isinstance(value, str):
        return normalise_string(value)
    if isinstance(value, dict):
        return {k: normalise_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise_value(v) for v in value]
    return value


def values_equal(a: Any, b: Any) -> bool:
    """Argument values equal after normalisation: 1 == 1.0, True is not 1, lists in order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return normalise_string(a) == normalise_string(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    return a is None and b is None


def normalise_answer(text: str) -> str:
    """An answer as compared for `answer_match`: no think block, case-folded, no punctuation,
    whitespace collapsed. Decimal points between digits are kept (117.6 is not 1176); thousands
    separators are dropped (6,951 is 6951)."""
    body = assistant_body(Message(role="assistant", content=text), drop_think=True)
    body = _DECIMAL_POINT.sub(_POINT, _THOUSANDS.sub("", body.casefold()))
    kept = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in body)
    return " ".join(kept.split()).replace(_POINT, ".")


def call_arguments(call: ParsedCall, tool: CompiledTool | None) -> dict[str, Any]:
    """The call's arguments by name: positional ones mapped onto the schema's parameter order, as
    the validator maps them (extra positional arguments, which it reports, are kept as `*N`)."""
    args = dict(call.arguments or {})
    order = tool.param_order if tool is not None else []
    for i, value in enumerate(call.positional):
        key = order[i] if i < len(order) else f"*{i}"
        args.setdefault(key, value)
    return args


def match_call(name: str | None, args: dict[str, Any], ref_name: str | None, ref_args: dict[str, Any],
               tool: CompiledTool | None) -> str | None:
    """Why a generated call does not match the reference call (BFCL rules), or None when it does.

    `tool`: the reference tool's compiled schema, for `required` and `default`; without it only the
    reference's own arguments decide.
    """
    if name != ref_name:
        return f"calls `{name}` instead of `{ref_name}`"
    schema = tool.schema if tool is not None else {}
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for key in required:
        if key not in args:
            return f"`{name}`: required argument `{key}` missing"
    for key in args:
        if key not in ref_args:
            return f"`{name}`: argument `{key}` not in the reference"
    for key, ref_value in ref_args.items():
        if key not in args:
            spec = props.get(key)
            default = spec.get("default", _NO_DEFAULT) if isinstance(spec, dict) else _NO_DEFAULT
            if key in required or default is _NO_DEFAULT or not values_equal(default, ref_value):
                return f"`{name}`: argument `{key}` missing"
        elif not values_equal(args[key], ref_value):
            return f"`{name}`: argument `{key}` is {args[key]!r}, expected {ref_value!r}"
    return None


def max_matching(matches: Sequence[Sequence[bool]]) -> int:
    """Size of a maximum matching of reference calls (rows) to generated calls (columns).

    Kuhn's augmenting paths: a greedy pass could pair a reference with the wrong one of two
    candidates (one that omits an optional default, one that spells it out) and miss a full match.
    Turns hold a handful of calls, so the cubic bound is immaterial.
    """
    owner: dict[int, int] = {}

    def augment(row: int, seen: set[int]) -> bool:
        for col, ok in enumerate(matches[row]):
            if ok and col not in seen:
                seen.add(col)
                if col not in owner or augment(owner[col], seen):
                    owner[col] = row
                    return True
        return False

    return sum(augment(r, set()) for r in range(len(matches)))


@dataclass(slots=True)
class TurnScore:
    """How one generated turn fares against its reference turn."""

    format_ok: bool
    format_problems: list[str]
    blocks: int
    """`<tool_call>` blocks in the output, unclosed ones included (they parse as nothing)."""
    parsed: int
    schema_valid: int
    reference_calls: int
    matched_calls: int
    """Reference calls matched by a distinct generated call (a maximum matching)."""
    names_match: bool | None
    """Same tool names as the reference, as a multiset; None when the reference has no calls."""
    calls_match: bool | None
    """Every reference call matched and no other call made; None when the reference has no calls."""
    answer_match: bool | None
    """Answer equal after normalisation (and no call made); None when the reference has calls."""
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """What pass@k counts: the calls all match, or (no reference calls) the answer does."""
        return bool(self.calls_match) if self.reference_calls else bool(self.answer_match)


class TurnScorer:
    """Scores generated turns; one per run, so tool schemas are compiled once across rows."""

    def __init__(self, rules: Sequence[str] = FORMAT_RULES) -> None:
        self.cache = SchemaCache()
        self.rules: list[Rule] = [all_rules()[code]() for code in rules]

    def score(self, output: str, reference: Message,
              tools: Sequence[ToolSpec | FunctionSpec | dict[str, Any]] | None = None, stopped: bool = True
              ) -> TurnScore:
        """Score `output` (the generated assistant text) against the `reference` assistant turn.

        `stopped`: whether the output ended with the end-of-turn token. A turn that never ends is a
        format failure like an unclosed tag: the end-of-turn token is part of the protocol, and
        without it a random model's tagless babble would count as well-formed.
        """
        specs = [_function_spec(t) for t in tools or ()]
        registry = ToolRegistry(specs, {}, self.cache)
        record = Trajectory(messages=[Message(role="assistant", content=output)])
        ctx = RecordContext("<generated>", 0, None, record, registry)
        problems: list[str] = []

        format_problems = [f"{f.code} {f.message}" for rule in self.rules for f in rule.check(ctx)]
        if not stopped:
            format_problems.append("no end-of-turn token: the turn never ends")
        problems.extend(format_problems)

        calls = ctx.calls[0]
        unclosed = ctx.blocks(0).unclosed if "<tool_call>" in output else 0
        invalid: set[int] = set()
        for issue in ctx.call_issues:
            if issue.code not in _SCHEMA_OK_CODES:
                invalid.add(id(issue.call))
                problems.append(f"{issue.code} {issue.message}")
        parsed = [c for c in calls if c.error is None]
        valid = [c for c in parsed if id(c) not in invalid]

        ref_calls = parse_message_calls(reference, 0)
        if not ref_calls:
            gen_answer = normalise_answer(output)
            answer_ok = not calls and not unclosed and gen_answer == normalise_answer(reference.content or "")
            if calls or unclosed:
                problems.append("calls a tool where the reference answers")
            elif not answer_ok:
                problems.append("answer differs from the reference")
            return TurnScore(not format_problems, format_problems, len(calls) + unclosed, len(parsed), len(valid),
                             0, 0, None, None, answer_ok, problems)

        ref_keyed = []
        for rc in ref_calls:
            if rc.error is not None:  # a broken reference is the data's fault: it can never be matched
                problems.append(f"reference call unreadable: {rc.error}")
            ref_tool = registry.get(rc.name) if rc.name else None
            ref_keyed.append((rc, ref_tool, call_arguments(rc, ref_tool)))
        gen_keyed = [(c.name, call_arguments(c, registry.get(c.name) if c.name else None)) for c in parsed]
        reasons: list[list[str | None]] = [
            [match_call(name, args, rc.name, ref_args, tool) if rc.error is None else "unreadable reference"
             for name, args in gen_keyed]
            for rc, tool, ref_args in ref_keyed
        ]
        matched = max_matching([[r is None for r in row] for row in reasons])
        names_ok = Counter(c.name for c in calls) == Counter(rc.name for rc in ref_calls) and not unclosed
        calls_ok = matched == len(ref_calls) == len(calls) + unclosed
        if not calls_ok:
            if len(calls) + unclosed != len(ref_calls):
                problems.append(f"{len(calls) + unclosed} calls made, {len(ref_calls)} expected")
            for (rc, _tool, _args), row in zip(ref_keyed, reasons, strict=True):
                if not row:
                    problems.append(f"no readable call where the reference calls `{rc.name}`")
                elif None not in row:  # the closest miss, for people to read
                    same_name = [r for r in row if r is not None and not r.startswith("calls `")]
                    problems.append((same_name or row)[0] or "")
        return TurnScore(not format_problems, format_problems, len(calls) + unclosed, len(parsed), len(valid),
                         len(ref_calls), matched, names_ok, calls_ok, None, problems)


def _function_spec(tool: ToolSpec | FunctionSpec | dict[str, Any]) -> FunctionSpec:
    if isinstance(tool, FunctionSpec):
        return tool
    if isinstance(tool, ToolSpec):
        return tool.function
    if "function" in tool:
        return ToolSpec.model_validate(tool).function
    return FunctionSpec.model_validate(tool)
