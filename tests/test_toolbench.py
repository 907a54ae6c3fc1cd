"""ToolBench answer files: one JSON document per query, one record per trajectory of `train_messages`.

One raw document yields several raw records (`ShapeAdapter.split`, read by `readers.json_document`), so
every reader of files (lint, the build's raw rows, mask) counts trajectories, with distinct ids and lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curate.build.raw import KIND_VALUE, RawRows, raw_record
from curate.lint import Linter
from curate.readers import RecordReader
from curate.readers.json_document import element_lines

WEATHER = {"name": "realtime_weather_api_for_weatherapi_com",
           "description": "This is the subfunction for tool \"weatherapi_com\", you can use this tool.",
           "parameters": {"type": "object",
                          "properties": {"q": {"type": "string", "description": "Query", "example_value": "London"}},
                          "required": ["q"], "optional": []}}
FINISH = {"name": "Finish", "description": "If you believe that you have obtained a result that can answer the task, "
          "please call this function to provide the final answer.",
          "parameters": {"type": "object",
                         "properties": {"return_type": {"type": "string",
                                                        "enum": ["give_answer", "give_up_and_restart"]},
                                        "final_answer": {"type": "string"}},
                         "required": ["return_type"]}}
SYSTEM = {"role": "system", "content": "You are AutoGPT, you can use many tools(functions) to do the following task."}
USER = {"role": "user", "content": "\nWhat's the weather in London?\nBegin!\n"}


def assistant(name: str, arguments: dict[str, Any], thought: str | None = None) -> dict[str, Any]:
    return {"role": "assistant", "content": thought,
            "function_call": {"name": name, "arguments": json.dumps(arguments, indent=2)}}


CALL = assistant(WEATHER["name"], {"q": "London"}, "I will get the current weather in London.")
RESULT = {"role": "function", "name": WEATHER["name"],
          "content": "{\"error\": \"\", \"response\": \"{'current': {'temp_c': 21.0}}\"}"}


def answer_file(finish: dict[str, Any] | None = None, **answer: Any) -> dict[str, Any]:
    done = assistant("Finish", finish or {"return_type": "give_answer", "final_answer": "It is 21°C in London."})
    trajectories = [[SYSTEM, USER, CALL], [SYSTEM, USER, CALL, RESULT, done]]
    generation = {"valid_data": True, "query_count": 3, "total_tokens": 5345, "final_answer": "",
                  "finish_type": "give_answer", "function": [WEATHER, FINISH], "chain": [],
                  "train_messages": trajectories, "query": "What's the weather in London?", **answer}
    return {"win": True, "tree": {"size": 7, "max_length": 7, "tree": {"node_type": "Action Input",
                                                                        "description": "\"train_messages\": [",
                                                                        "children": []}},
            "forward_args": {"single_chain_max_step": 12}, "compare_candidates": [], "answer_generation": generation}


def write(path: Path, doc: dict[str, Any], indent: int | None = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=indent), encoding="utf-8")
    return path


def trajectory_lines(path: Path) -> list[int]:
    """The lines of the `[` opening each trajectory, as a person finds them in the file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == '"train_messages": [')
    depth = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    return [i + 1 for i, line in enumerate(lines) if i > start and line in (" " * depth + "[", " " * depth + "{")]


def test_each_trajectory_is_a_record_with_its_id_line_and_the_file_tools(tmp_path: Path) -> None:
    path = write(tmp_path / "G1_answer" / "10_DFS_woFilter_w2.json", answer_file())
    results = list(RecordReader().read(path))
    assert [r.record_id for r in results] == ["G1_answer/10_DFS_woFilter_w2-0", "G1_answer/10_DFS_woFilter_w2-1"]
    assert [r.raw.line for r in results] == trajectory_lines(path) and len(set(trajectory_lines(path))) == 2
    first, second = (r.record for r in results)
    assert first is not None and second is not None
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert second.messages[3].name == WEATHER["name"]
    assert [c.function.name for c in second.messages[4].tool_calls or []] == ["Finish"]
    assert [t.function.name for t in second.tools or []] == [WEATHER["name"], "Finish"]
    assert second.meta == {"source": "toolbench", "trajectory": 1, "trajectories": 2, "finish_type": "give_answer"}


def test_ids_keep_answer_groups_apart_however_the_path_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 ) -> None:
    for group in ("G1_answer", "G2_answer"):
        write(tmp_path / "answer" / group / "10_DFS_woFilter_w2.json", answer_file())
    linter = Linter()
    assert list(linter.lint_path(tmp_path / "answer")) == []  # no duplicate id (RS004)
    assert linter.stats.records == 4
    monkeypatch.chdir(tmp_path / "answer" / "G2_answer")
    assert [r.record_id for r in RecordReader().read("10_DFS_woFilter_w2.json")] == [
        "G2_answer/10_DFS_woFilter_w2-0", "G2_answer/10_DFS_woFilter_w2-1"]


def test_a_clean_file_lints_clean_and_counts_its_trajectories(tmp_path: Path) -> None:
    path = write(tmp_path / "10_DFS_woFilter_w2.json", answer_file())
    linter = Linter()
    assert list(linter.lint_path(path)) == []
    assert linter.stats.records == 2


def test_calls_to_finish_are_checked_against_its_spec(tmp_path: Path) -> None:
    path = write(tmp_path / "G2_answer" / "3_DFS_woFilter_w2.json", answer_file({"return_type": "give_up"}))
    (finding,) = Linter().lint_path(path)
    assert (finding.code, finding.line, finding.record_id, finding.message_index) == (
        "TC006", trajectory_lines(path)[1], "G2_answer/3_DFS_woFilter_w2-1", 4)


def test_an_answer_file_with_no_trajectory_gives_no_record(tmp_path: Path) -> None:
    failed = answer_file(valid_data=False)
    del failed["answer_generation"]["train_messages"]
    write(tmp_path / "a" / "1_DFS_woFilter_w2.json", failed)
    write(tmp_path / "b" / "2_CoT@1.json", answer_file(valid_data=False, train_messages=[]))
    linter = Linter()
    assert list(linter.lint_path(tmp_path)) == []
    assert linter.stats.records == 0


def test_an_answer_file_on_one_line_is_split_too(tmp_path: Path) -> None:
    path = write(tmp_path / "G1_answer" / "10_DFS_woFilter_w2.json", answer_file(), indent=None)
    results = list(RecordReader().read(path))
    assert [(r.record_id, r.raw.line) for r in results] == [("G1_answer/10_DFS_woFilter_w2-0", 1),
                                                            ("G1_answer/10_DFS_woFilter_w2-1", 1)]


def test_an_answer_document_as_a_json_lines_line_says_how_to_read_it(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps(answer_file()) + "\n", encoding="utf-8")
    (result,) = RecordReader().read(path)
    assert result.record is None
    assert "is read as one record per trajectory only when it is a .json file of its own" in result.shape_errors[0][1]


def test_a_malformed_trajectory_is_one_finding_at_its_line(tmp_path: Path) -> None:
    doc = answer_file()
    doc["answer_generation"]["train_messages"].insert(1, {"role": "user"})
    path = write(tmp_path / "G3_answer" / "7_DFS_woFilter_w2.json", doc)
    findings = list(Linter().lint_path(path))
    assert [(f.code, f.record_id) for f in findings] == [("RS002", "G3_answer/7_DFS_woFilter_w2-1")]
    assert findings[0].line == trajectory_lines(path)[1]  # the `{` of the object in the place of a list


def test_the_build_reads_one_raw_row_per_trajectory(tmp_path: Path) -> None:
    path = write(tmp_path / "data" / "10_DFS_woFilter_w2.json", answer_file())
    rows = RawRows()
    got = list(rows((str(tmp_path / "data"),)))
    assert rows.rows == 2 and [r["kind"] for r in got] == [KIND_VALUE, KIND_VALUE]
    again = [RecordReader().read_record(raw_record(str(path), r["line"], r["kind"], r["payload"])) for r in got]
    assert [(r.record_id, r.raw.line) for r in again] == [(r.record_id, r.raw.line) for r in RecordReader().read(path)]


def test_element_lines_follow_the_json_structure_not_the_text() -> None:
    text = ('{\n "a": "\\"b\\": [",\n "b": [1,\n  2],\n "b": [\n  {"x": [\n   3]},\n  [],\n  "s"\n ],\n'
            ' "c": [[0], [\n  1]]\n}\n')
    assert element_lines(text, ("b",), 3) == [6, 8, 9]  # the last `b`, as decoding keeps it
    assert element_lines(text, ("c", 1), 1) == [12]
    assert element_lines(text, ("missing",), 2) == [1, 1]
    # with the decoded value, the array is found where its key is written, and only where it decodes the same
    value = json.loads(text)
    assert element_lines(text, ("b",), 3, value) == [6, 8, 9]
    nested = '{\n "tree": {"b": [\n  1]},\n "b": [\n  1]\n}\n'
    assert element_lines(nested, ("b",), 1, json.loads(nested)) == [5]  # `b` written twice: the walk
    assert element_lines(nested, ("tree", "b"), 1, json.loads(nested)) == [3]
