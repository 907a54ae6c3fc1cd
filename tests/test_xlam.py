"""xLAM / APIGen rows: read as a user turn and one assistant turn of structured calls, checked in their dialect."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from curate.lint import Linter
from curate.readers import RecordReader, ShapeError, adapt, normalise_tools
from tests.conftest import write_jsonl

GIVEAWAYS = {"name": "live_giveaways_by_type",
             "description": "Retrieve live giveaways from the GamerPower API based on the specified type.",
             "parameters": {"type": {"description": "The type of giveaways to retrieve (e.g., game, loot, beta).",
                                     "type": "str", "default": "game"}}}
PASSWORD = {"name": "generate_password", "description": "Generates a random password.",
            "parameters": {"length": {"description": "The length of the password. Defaults to 12.",
                                      "type": "int, optional", "default": 12},
                           "include_special": {"description": "Whether to include special characters.",
                                               "type": "bool, optional", "default": True}}}
MEDIAN = {"name": "calculate_median", "description": "Calculates the median of a list of numbers.",
          "parameters": {"numbers": {"description": "The list of numbers.", "type": "List[Union[int, float]]"}}}


def row(answers: Any, tools: Any, rid: Any = 0, as_text: bool = True) -> dict[str, Any]:
    return {"id": rid, "query": "Where can I find live giveaways for beta access and games?",
            "answers": json.dumps(answers) if as_text else answers, "tools": json.dumps(tools) if as_text else tools}


@pytest.mark.parametrize("as_text", [True, False])
def test_a_row_is_a_query_and_one_turn_of_calls(as_text: bool) -> None:
    answers = [{"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
               {"name": "live_giveaways_by_type", "arguments": {"type": "game"}}]
    out = adapt(row(answers, [GIVEAWAYS], as_text=as_text))
    assert out["id"] == "0"
    assert out["messages"] == [
        {"role": "user", "content": "Where can I find live giveaways for beta access and games?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "live_giveaways_by_type", "arguments": {"type": "beta"}}},
            {"type": "function", "function": {"name": "live_giveaways_by_type", "arguments": {"type": "game"}}}]}]
    assert out["tools"] == [{"type": "function", "function": GIVEAWAYS}]


@pytest.mark.parametrize(("answers", "message"), [
    ("[{\"name\": ", "`answers` is a string that is not valid JSON"),
    ({"name": "f"}, "`answers` must be a list of calls (or JSON text holding one), got object"),
])
def test_answers_that_are_no_list_of_calls(answers: Any, message: str) -> None:
    with pytest.raises(ShapeError, match=re.escape(message)) as e:
        adapt({"query": "?", "answers": answers, "tools": "[]"})
    assert e.value.message_index == 1


def lint(tmp_path: Path, records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    path = write_jsonl(tmp_path / "xlam.jsonl", records)
    linter = Linter()
    return [(f.code, f.message) for f in linter.lint_path(path)]


def test_calls_are_checked_in_the_dialect(tmp_path: Path) -> None:
    good = [
        row([{"name": "live_giveaways_by_type", "arguments": {"type": "beta"}}], [GIVEAWAYS], 0),
        row([{"name": "live_giveaways_by_type", "arguments": {}}], [GIVEAWAYS], 1),  # the default is taken
        row([{"name": "generate_password", "arguments": {}}], [PASSWORD], 2),  # `, optional`: may be left out
        row([{"name": "calculate_median", "arguments": {"numbers": [1, 2.5, 3]}}], [MEDIAN], 3),
    ]
    assert lint(tmp_path, good) == []
    bad = [
        row([{"name": "generate_password", "arguments": {"length": "12"}}], [PASSWORD], 0),
        row([{"name": "calculate_median", "arguments": {}}], [MEDIAN], 1),
        row([{"name": "calculate_median", "arguments": {"numbers": [1, "2"]}}], [MEDIAN], 2),
        row([{"name": "generate_password", "arguments": {"size": 8}}], [PASSWORD], 3),
    ]
    assert lint(tmp_path, bad) == [
        ("TC005", 'argument `length` of `generate_password`: expected integer, got string "12"'),
        ("TC003", "missing required argument `numbers` in the call to `calculate_median`"),
        ("TC005", 'argument `numbers[1]` of `calculate_median`: expected number, got string "2"'),
        ("TC004", "unexpected argument `size` (known: include_special, length) in the call to `generate_password`"),
    ]


def test_a_row_read_from_a_file(tmp_path: Path) -> None:
    answers = [{"name": "live_giveaways_by_type", "arguments": {"type": "loot"}}]
    path = write_jsonl(tmp_path / "xlam.jsonl", [row(answers, [GIVEAWAYS], 7)])
    (result,) = RecordReader().read(path)
    assert result.record is not None and result.record_id == "7"
    (call,) = result.record.messages[1].tool_calls or []
    assert (call.function.name, call.function.arguments) == ("live_giveaways_by_type", {"type": "loot"})


def test_bare_specs_with_parameters_as_json_text() -> None:
    spec = {**MEDIAN, "parameters": json.dumps(MEDIAN["parameters"])}
    assert normalise_tools([spec]) == [{"type": "function", "function": MEDIAN}]
