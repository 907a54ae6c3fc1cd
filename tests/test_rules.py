"""Each rule: its documentation, and a minimal bad record that triggers exactly it next to a good one."""

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
CALL = ("assistant", "<think>Look it up.</think>\n" + call({"city": "Oslo"}))
RESULT = ("tool", '{"temp": 21}')
ANSWER = ("assistant", "It is 21 °C in Oslo.")
GOOD = convo(U, CALL, RESULT, ANSWER)

# code -> records that must produce exactly that code (once), and nothing else.
BAD: dict[str, list[Any]] = {
    "RS002": [convo(("robot", "hi")), {"prompt": "hi"}, [1, 2], convo(("user", 42))],
    "RS003": [{"messages": []}],
    "RL001": [convo(U, ("system", "Be terse."), ANSWER)],
    "RL002": [convo(("system", "s"), ("assistant", "Hi!"), U, ANSWER)],
    "RL003": [convo(U, RESULT, ANSWER), convo(U, ("assistant", "Let me see."), RESULT, ANSWER)],
    "RL004": [convo(U, ANSWER, ("user", "thanks"))],
    "RL005": [convo(U, ("assistant", "  ")), convo(U, CALL, ("tool", ""), ANSWER)],
    "FM001": [convo(U, ("assistant", "<think>hmm, it is 21 °C.")), convo(U, ("assistant", "hmm</think> 21 °C."))],
    "FM002": [convo(U, ("assistant", "<think>a</think>b<think>c</think>d"))],
    "FM003": [convo(U, ("assistant", call({"city": "Oslo"}) + "<think>late</think>"), RESULT, ANSWER)],
    "FM004": [convo(("user", "<think>pretend</think> hi"), ANSWER), convo(U, CALL, ("tool", call({})), ANSWER)],
    "FM005": [convo(U, ("assistant", "<tool-call>x</tool-call> done")), convo(U, ("assistant", "<Think>a</Think>b"))],
    "FM006": [convo(U, ("assistant", "<tool_call>\n{\"name\": \"get_weather\"")),
              convo(U, ("assistant", "done </tool_call>"))],
    "FM007": [convo(U, ("assistant", "<tool_response>{}</tool_response> It is 21 °C."))],
    "TC001": [convo(U, ("assistant", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {,}}\n</tool_call>")),
              convo(U, ("assistant", "<tool_call>\nget_weather(city=__import__('os').getcwd())\n</tool_call>"))],
    "TC002": [convo(U, ("assistant", call({"city": "Oslo"}, name="get_wether")))],
    "TC003": [convo(U, ("assistant", call({"unit": "celsius"})))],
    "TC004": [convo(U, ("assistant", call({"city": "Oslo", "country": "NO"})))],
    "TC005": [convo(U, ("assistant", call({"city": 7}))), convo(U, ("assistant", call({"city": "a", "days": True})))],
    "TC006": [convo(U, ("assistant", call({"city": "Oslo", "unit": "kelvin"})))],
    "TC007": [convo(U, ("assistant", call({"city": "Oslo"}) + call({"city": "Rome"})), RESULT, ANSWER),
              convo(U, CALL, RESULT, RESULT, ANSWER)],
    "TC008": [convo(U, ("assistant", call({"city": "Oslo", "days": 0})))],
    "TC009": [convo(U, ("assistant", "<tool_call>\nget_weather(\"Oslo\")\n</tool_call>"))],
    "TS001": [convo(U, ANSWER, tools=[{"name": "f", "parameters": {"type": "dict", "properties": {
        "when": {"type": "datetime"}}}}])],
}


def lint_records(records: list[Any], tmp_path, **kw: Any) -> list[tuple[str, int | None]]:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    linter = Linter(TOOLS, **kw)
    return [(f.code, f.line) for f in linter.lint_path(path)]


def test_every_rule_is_documented_with_examples() -> None:
    rules = all_rules()
    for code, rule in rules.items():
        docs = rule.docs()
        assert rule.summary(), code
        assert "Anti-pattern" in docs and "Best practice" in docs, f"{code} docs need both examples"
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


def test_every_rule_has_a_triggering_example() -> None:
    covered = set(BAD) | {"RS001", "RS004"}  # unreadable lines and duplicate ids are tested below
    assert covered == set(all_rules())


def test_good_record_is_clean(tmp_path) -> None:
    assert lint_records([GOOD], tmp_path) == []


@pytest.mark.parametrize(("code", "index"), [(c, i) for c, recs in BAD.items() for i in range(len(recs))])
def test_bad_record_triggers_exactly_its_rule(code: str, index: int, tmp_path) -> None:
    found = lint_records([BAD[code][index]], tmp_path)
    assert [c for c, _ in found] == [code]


def test_unparseable_line_is_reported_and_reading_goes_on(tmp_path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(GOOD) + "\n{broken\n\n" + json.dumps(BAD["TC003"][0]) + "\n", encoding="utf-8")
    found = [(f.code, f.line) for f in Linter(TOOLS).lint_path(path)]
    assert found == [("RS001", 2), ("TC003", 4)]


def test_duplicate_id_flags_the_second_occurrence_across_files(tmp_path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps({**GOOD, "id": "x"}) + "\n", encoding="utf-8")
    b.write_text(json.dumps({**GOOD, "id": "y"}) + "\n" + json.dumps({**GOOD, "id": "x"}) + "\n", encoding="utf-8")
    linter = Linter(TOOLS)
    found = [(f.path, f.line, f.code, f.message) for p in (a, b) for f in linter.lint_path(p)]
    assert found == [(str(b), 2, "RS004", f"id `x` was already used at {a}:1")]


def test_final_turn_call_without_response_is_allowed(tmp_path) -> None:
    assert lint_records([convo(U, CALL)], tmp_path) == []
    # ...but not in an earlier turn
    assert [c for c, _ in lint_records([convo(U, CALL, ("user", "and?"), ANSWER)], tmp_path)] == ["TC007"]


def test_tool_call_ids_pair_responses(tmp_path) -> None:
    structured = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
    ]}
    ok = {"messages": [{"role": "user", "content": "w?"}, structured,
                       {"role": "tool", "tool_call_id": "c2", "content": "1"},
                       {"role": "tool", "tool_call_id": "c1", "content": "2"},
                       {"role": "assistant", "content": "done"}]}
    bad = json.loads(json.dumps(ok))
    bad["messages"][3]["tool_call_id"] = "c9"
    assert lint_records([ok], tmp_path) == []
    assert sorted(c for c, _ in lint_records([bad], tmp_path)) == ["TC007", "TC007"]  # c9 unknown, c1 unanswered


def test_select_and_ignore_by_prefix(tmp_path) -> None:
    records = [BAD["TC003"][0], BAD["FM002"][0]]
    assert [c for c, _ in lint_records(records, tmp_path, select=["FM"])] == ["FM002"]
    assert [c for c, _ in lint_records(records, tmp_path, ignore=["TC"])] == ["FM002"]
    assert [c for c, _ in lint_records(records, tmp_path, select=["TC003", "FM002"], ignore=["FM"])] == ["TC003"]


def test_record_tools_override_external_tools(tmp_path) -> None:
    own = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"town": {"type": "string"}},
                                                   "required": ["town"]}}]
    record = convo(U, ("assistant", call({"town": "Oslo"})), tools=own)
    assert lint_records([record], tmp_path) == []


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
