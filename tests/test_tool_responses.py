"""Hermes writes the results of parallel calls as one tool turn of several `<tool_response>` blocks
(Hermes-Function-Calling's `functioncall.py`): read as one tool message per block, they pair with their calls.
A result wrapped in its `<tool_response>` tags is read without them: the renderer writes the tags, once."""

from __future__ import annotations

import json
from pathlib import Path

from curate import readers
from curate.lint import Linter
from curate.readers import adapt
from curate.records import Trajectory

CALLS = ('<tool_call>\n{"name": "track_order", "arguments": {"order_id": "A1"}}\n</tool_call>\n'
         '<tool_call>\n{"name": "track_order", "arguments": {"order_id": "B2"}}\n</tool_call>')
RESULTS = ('<tool_response>\n{"name": "track_order", "content": {"status": "shipped"}}\n</tool_response>\n'
           '<tool_response>\n{"name": "track_order", "content": {"status": "delayed"}}\n</tool_response>\n')
TOOLS = [{"type": "function", "function": {"name": "track_order", "parameters": {
    "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]


def line(results: str) -> bytes:
    return json.dumps({"tools": TOOLS, "messages": [
        {"role": "user", "content": "Where are orders A1 and B2?"}, {"role": "assistant", "content": CALLS},
        {"role": "tool", "content": results}, {"role": "assistant", "content": "A1 shipped; B2 is delayed."}]}).encode()


FIRST = '{"name": "track_order", "content": {"status": "shipped"}}'
SECOND = '{"name": "track_order", "content": {"status": "delayed"}}'


def test_several_blocks_are_one_tool_message_each_without_their_tags() -> None:
    record = Trajectory.model_validate(adapt(json.loads(line(RESULTS))))
    assert [m.role for m in record.messages] == ["user", "assistant", "tool", "tool", "assistant"]
    assert [record.messages[2].content, record.messages[3].content] == [FIRST, SECOND]
    assert readers.canonical_record(line(RESULTS)) is None  # the one-pass path leaves it to adaptation


def test_one_wrapped_result_is_unwrapped_and_text_around_the_blocks_stays_whole() -> None:
    one = RESULTS.split("\n<tool_response>")[0]
    record = Trajectory.model_validate(adapt(json.loads(line(one))))
    assert [m.content for m in record.messages if m.role == "tool"] == [FIRST]
    assert readers.canonical_record(line(one)) is None
    for results in ("Both looked up:\n" + RESULTS, RESULTS + "done", RESULTS[:-20]):
        record = Trajectory.model_validate(adapt(json.loads(line(results))))
        assert [m.content for m in record.messages if m.role == "tool"] == [results]


def test_a_wrapped_result_is_rendered_in_one_pair_of_tags() -> None:
    from curate.render import render_chatml

    record = Trajectory.model_validate(adapt(json.loads(line(RESULTS))))
    text = render_chatml(record).text
    assert text.count("<tool_response>") == 2 == text.count("</tool_response>")
    assert f"<tool_response>\n{FIRST}\n</tool_response>" in text


def test_the_results_of_parallel_calls_pair_with_them(tmp_path: Path) -> None:
    path = tmp_path / "hermes.jsonl"
    path.write_bytes(line(RESULTS) + b"\n")
    assert [f.code for f in Linter().lint_path(path)] == []


def test_a_hermes_result_naming_another_tool_is_tc012(tmp_path: Path) -> None:
    """Hermes results carry `{"name": …, "content": …}`: that name is the message's, checked against the call."""
    wrong = RESULTS.replace('"track_order", "content": {"status": "delayed"}', '"get_weather", "content": {}')
    path = tmp_path / "hermes.jsonl"
    path.write_bytes(line(wrong) + b"\n")
    findings = list(Linter().lint_path(path))
    assert [(f.code, f.message_index) for f in findings] == [("TC012", 3)]
    assert "`get_weather`" in findings[0].message and "`track_order`" in findings[0].message


def test_blocks_of_a_message_naming_its_call_stay_one_result_without_tags() -> None:
    """A tool message with its own `tool_call_id` answers one call: its blocks are that result's parts."""
    from curate.render import render_chatml

    data = json.loads(line(RESULTS))
    data["messages"][1] = {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "track_order", "arguments": {"order_id": "A1"}}}]}
    data["messages"][2]["tool_call_id"] = "c1"
    record = Trajectory.model_validate(adapt(data))
    assert [m.content for m in record.messages if m.role == "tool"] == [f"{FIRST}\n{SECOND}"]
    text = render_chatml(record).text
    assert text.count("<tool_response>") == 1 == text.count("</tool_response>")
