"""The rules as a set: documentation, stable codes, selection, the linter's shortcuts (skip flags, plain calls)
and how call rules plug in. Each rule's own cases and examples are in `tests/test_rule_cases.py`."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.lint import Linter
from curate.readers import RecordReader
from curate.records import Trajectory
from curate.rules import all_rules
from curate.rules.base import CallRule, CheckedCall, RecordContext, _is_clean_sequence, call_rules
from curate.validate import ErrorKind

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
            },
            "required": ["city"],
        },
    },
}]


def call(args: dict[str, Any], name: str = "get_weather") -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


def convo(*turns: tuple[str, str | None], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


U = ("user", "Weather in Oslo?")
ANSWER = ("assistant", "It is 21 °C in Oslo.")


def lint_records(records: list[Any], tmp_path, **kw: Any) -> list[tuple[str, int | None]]:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    linter = Linter(TOOLS, **kw)
    return [(f.code, f.line) for f in linter.lint_path(path)]


def test_every_rule_is_documented() -> None:
    for code, rule in all_rules().items():
        assert rule.summary(), code
        assert rule.name and rule.group and rule.severity in ("error", "warning")


def test_tool_call_codes_are_stable() -> None:
    names = {c: r.name for c, r in all_rules().items() if c.startswith("TC")}
    assert names["TC001"] == "unparseable-tool-call"
    assert names["TC002"] == "unknown-tool"
    assert names["TC003"] == "missing-required-argument"
    assert names["TC004"] == "unexpected-argument"
    assert names["TC005"] == "argument-type-mismatch"
    assert names["TC006"] == "value-not-in-enum"
    assert names["TC007"] == "unpaired-call-response"


def test_select_and_ignore_by_prefix(tmp_path) -> None:
    records = [convo(U, ("assistant", call({"unit": "celsius"}))),  # TC003
               convo(U, ("assistant", "<think>a</think>b<think>c</think>d"))]  # FM002
    assert [c for c, _ in lint_records(records, tmp_path, select=["FM"])] == ["FM002"]
    assert [c for c, _ in lint_records(records, tmp_path, ignore=["TC"])] == ["FM002"]
    assert [c for c, _ in lint_records(records, tmp_path, select=["TC003", "FM002"], ignore=["FM"])] == ["TC003"]


def test_reader_shapes_lint_alike(tmp_path) -> None:
    sharegpt = {"conversations": [{"from": "human", "value": "Weather in Oslo?"},
                                  {"from": "function_call", "value": json.dumps({"name": "get_weather",
                                                                                 "arguments": {"city": 3}})}]}
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(sharegpt) + "\n", encoding="utf-8")
    results = list(RecordReader().read(path))
    assert results[0].record is not None
    assert [f.code for f in Linter(TOOLS).lint_path(path)] == ["TC005"]


# --- the linter's skip flags never change what it reports --------------------------------------------

def test_plain_roles_are_the_roles_the_regex_takes() -> None:
    """`roles_plain` tests strings, not a regex; every role sequence of up to 6 turns agrees with it."""
    names = {"s": "system", "u": "user", "a": "assistant", "t": "tool"}
    for n in range(7):
        for letters in itertools.product("suat", repeat=n):
            record = Trajectory(messages=[{"role": names[c], "content": "x"} for c in letters])
            ctx = RecordContext("p", 1, None, record)
            assert ctx.roles_plain == bool(re.fullmatch(r"s?u[uat]*a", "".join(letters))), letters


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "<b>"]),
                max_size=8))
def test_clean_tag_sequence_is_the_regex_sequence(tags: list[str]) -> None:
    """`tags_clean` compares tag lists; it takes the sequences the regex over their joined text takes."""
    expected = re.fullmatch(r"(?:<think></think>)?(?:<tool_call></tool_call>)*", "".join(tags)) is not None
    assert _is_clean_sequence(tags) == expected


def _all_findings(path: Any, skip: bool) -> list[tuple[Any, ...]]:
    linter = Linter(TOOLS, skip=skip)
    return [(f.line, f.code, f.message_index, f.message, f.excerpt) for f in linter.lint_path(path)]


def test_skip_flags_keep_the_sample_corpus_findings() -> None:
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "raw.jsonl"
    fast = _all_findings(sample, skip=True)
    assert fast == _all_findings(sample, skip=False)
    assert len(fast) > 250  # the planted defects are there to be found


_PIECES = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>",
           "<tool-call>", "< think >", "<Think>", "<toolcall/>", "<b>", "a < b", ">", "<", " text ",
           json.dumps({"name": "get_weather", "arguments": {"city": "Oslo"}}),
           json.dumps({"name": "get_weather", "arguments": {"city": 3, "x": 1}}), "get_weather(city='Oslo')",
           "get_weather('Oslo')", "get_weather('Oslo', 'kelvin', 2, 4, city='Rome')", "get_wether(1)", "f(x=y)"]


def _soup() -> Any:
    content = st.lists(st.sampled_from(_PIECES), max_size=8).map("".join)
    message = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool"]),
                                     "content": content})
    return st.lists(message, max_size=6).map(lambda ms: {"messages": ms})


def test_skip_flags_keep_findings_on_random_records(tmp_path) -> None:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(records=st.lists(_soup(), min_size=1, max_size=5))
    def check(records: list[Any]) -> None:
        path = tmp_path / "soup.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        assert _all_findings(path, skip=True) == _all_findings(path, skip=False)

    check()


def test_plain_calls_skipped_by_call_rules_keep_findings(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`skip_plain_calls` is a promise: asking those rules about every call finds nothing more."""
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(records=st.lists(_soup(), min_size=1, max_size=5))
    def check(records: list[Any]) -> None:
        path = tmp_path / "soup.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        skipping = _all_findings(path, skip=True)
        with monkeypatch.context() as m:
            m.setattr(call_rules(), "every_call", call_rules().checking)
            assert _all_findings(path, skip=True) == skipping

    check()


# --- call rules: one file each, one parse and one validation per call ----------------------------------

def test_every_argument_error_kind_is_reported_by_one_call_rule() -> None:
    kinds = call_rules().by_error_kind
    assert sorted(kinds) == sorted(ErrorKind.__args__)
    assert {kind: rule.code for kind, rule in kinds.items()} == {
        "missing": "TC003", "unexpected": "TC004", "type": "TC005", "enum": "TC006", "constraint": "TC008"}


@pytest.fixture
def fresh_call_rules() -> Any:
    call_rules.cache_clear()
    yield
    call_rules.cache_clear()


class TC099(CallRule):
    """An argument is an empty string.

    **Anti-pattern**::

        {"name": "get_weather", "arguments": {"city": ""}}

    **Best practice**::

        {"name": "get_weather", "arguments": {"city": "Oslo"}}
    """

    code = "TC099"
    name = "empty-string-argument"

    def check_call(self, call: CheckedCall) -> Any:
        for key, value in call.arguments.items():
            if value == "":
                yield f"argument `{key}` of `{call.name}` is empty"


def test_a_new_call_rule_is_one_class(tmp_path, monkeypatch: pytest.MonkeyPatch, fresh_call_rules: None) -> None:
    """A call rule registered beside the others is asked about every call (plain ones too, as it does not
    set `skip_plain_calls`), positional values mapped in, and reports like the others."""
    monkeypatch.setitem(all_rules(), "TC099", TC099)
    records = [convo(U, ("assistant", call({"city": ""}))),
               convo(U, ("assistant", "<tool_call>\nget_weather('')\n</tool_call>")),
               convo(U, ("assistant", call({"city": "Oslo"})))]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    found = [(f.line, f.code, f.message) for f in Linter(TOOLS).lint_path(path)]
    assert found == [(1, "TC099", "argument `city` of `get_weather` is empty"),
                     (2, "TC009", "positional arguments in the call to `get_weather`: write them by name (city=…)"),
                     (2, "TC099", "argument `city` of `get_weather` is empty")]


def test_an_argument_error_kind_without_a_rule_fails_at_once(monkeypatch: pytest.MonkeyPatch,
                                                               fresh_call_rules: None) -> None:
    monkeypatch.setattr(all_rules()["TC006"], "argument_errors", frozenset())
    with pytest.raises(RuntimeError, match="no call rule reports enum argument errors"):
        call_rules()
    monkeypatch.setattr(all_rules()["TC006"], "argument_errors", frozenset({"enum", "type"}))
    call_rules.cache_clear()
    with pytest.raises(RuntimeError, match="TC006 and TC005 both report `type`"):
        call_rules()


def test_readme_rules_table_lists_every_rule_with_its_name_and_severity() -> None:
    """The README's rule table is what users read first: it must name every rule as the code does."""
    import re
    from pathlib import Path

    from curate.rules import all_rules

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = {m[1]: (m[2], m[3]) for m in re.finditer(r"^\| ([A-Z]{2}\d{3}) \| ([a-z-]+) \| (error|warning) \|",
                                                      readme, re.MULTILINE)}
    rules = {code: (r.name, r.severity) for code, r in all_rules().items()}
    assert table == rules
