"""Raw glaive-function-calling-v2 rows (`system` + `chat` strings) read as canonical records and linted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.lint import Linter
from curate.readers import ReadResult, RecordReader
from tests.conftest import write_jsonl

WITH = "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"
NO_FUNCTIONS = "SYSTEM: You are a helpful assistant, with no access to external functions.\n"
CONVERT = {"name": "convert_currency", "description": "Convert amount from one currency to another",
           "parameters": {"type": "object",
                          "properties": {"amount": {"type": "number", "description": "The amount to convert"},
                                         "from_currency": {"type": "string"}, "to_currency": {"type": "string"}},
                          "required": ["amount", "from_currency", "to_currency"]}}
SYSTEM = WITH + json.dumps(CONVERT, indent=4) + "\n"
ARGS = '{"amount": 1000, "from_currency": "USD", "to_currency": "EUR"}'


def chat(*turns: str) -> str:
    return "\n\n\n".join(turns) + "\n\n\n"


def functioncall(arguments: str, name: str = "convert_currency") -> str:
    return f"<functioncall> {{\"name\": \"{name}\", \"arguments\": '{arguments}'}} <|endoftext|>"


ROW = {"system": SYSTEM, "chat": chat(
    "USER: Hi, I need to convert 1000 US dollars to Euros.",
    "ASSISTANT: Sure, let me do that for you. " + functioncall(ARGS),
    'FUNCTION RESPONSE: {"converted_amount": 850.0}',
    "ASSISTANT: 1000 US dollars is approximately 850 Euros. <|endoftext|>",
)}


def read(tmp_path: Path, *rows: dict[str, Any]) -> list[ReadResult]:
    return list(RecordReader().read(write_jsonl(tmp_path / "glaive.jsonl", list(rows))))


def lint(tmp_path: Path, *rows: dict[str, Any]) -> list[tuple[int, str, int | None]]:
    path = write_jsonl(tmp_path / "glaive.jsonl", list(rows))
    return [(f.line, f.code, f.message_index) for f in Linter().lint_path(path)]


def test_a_row_is_the_system_prompt_and_the_chat_turns(tmp_path: Path) -> None:
    (result,) = read(tmp_path, ROW)
    assert result.shape_errors == [] and result.record is not None
    messages = result.record.messages
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[0].content == SYSTEM.removeprefix("SYSTEM: ").strip()
    assert messages[2].content == "Sure, let me do that for you."
    assert [(c.function.name, c.function.arguments) for c in messages[2].tool_calls or []] == [
        ("convert_currency", ARGS)]  # the single-quoted string, as written: the linter reads it
    assert messages[3].content == '{"converted_amount": 850.0}'
    assert messages[4].content == "1000 US dollars is approximately 850 Euros."  # <|endoftext|> removed
    assert not any("<|endoftext|>" in (m.content or "") for m in messages)


def test_the_functions_in_the_system_prompt_are_the_record_tools(tmp_path: Path) -> None:
    (result,) = read(tmp_path, ROW)
    assert result.record is not None and result.record.tools is not None
    assert [t.function.name for t in result.record.tools] == ["convert_currency"]
    assert lint(tmp_path, ROW) == []


def test_a_row_with_no_functions_has_no_tools(tmp_path: Path) -> None:
    row = {"system": NO_FUNCTIONS, "chat": chat("USER: What is 2 + 2?", "ASSISTANT: 2 + 2 is 4. <|endoftext|>")}
    (result,) = read(tmp_path, row)
    assert result.record is not None and result.record.tools is None
    assert result.record.messages[0].content == "You are a helpful assistant, with no access to external functions."
    assert lint(tmp_path, row) == []


def test_turns_start_only_at_line_starts(tmp_path: Path) -> None:
    question = "USER: How do I prefix lines with USER: or ASSISTANT: and FUNCTION RESPONSE: in a transcript?"
    row = {"system": NO_FUNCTIONS, "chat": chat(question, "ASSISTANT: Like this: USER: hi <|endoftext|>")}
    (result,) = read(tmp_path, row)
    assert result.record is not None
    assert [m.role for m in result.record.messages] == ["system", "user", "assistant"]
    assert result.record.messages[1].content == question.removeprefix("USER: ")
    assert result.record.messages[2].content == "Like this: USER: hi"


def test_a_call_whose_arguments_are_not_json_is_tc001(tmp_path: Path) -> None:
    bad = {**ROW, "chat": ROW["chat"].replace(ARGS, "{'amount': 1000, 'from_currency': 'USD'}")}
    assert lint(tmp_path, bad) == [(1, "TC001", 2)]


def test_a_call_that_cannot_be_read_stays_in_the_turn_and_is_tc001(tmp_path: Path) -> None:
    cut = '<functioncall> {"name": "convert_currency", "arguments": \'{"amount": 1000}\''
    row = {"system": SYSTEM, "chat": chat("USER: Convert 1000 USD to EUR.", f"ASSISTANT: {cut}",
                                          'FUNCTION RESPONSE: {"converted_amount": 850.0}',
                                          "ASSISTANT: About 850 euros. <|endoftext|>")}
    (result,) = read(tmp_path, row)
    assert result.record is not None
    turn = result.record.messages[2]
    assert turn.tool_calls is None and turn.content is not None and '"amount": 1000' in turn.content
    assert lint(tmp_path, row) == [(1, "TC001", 2)]


def test_a_call_body_in_plain_json_is_read(tmp_path: Path) -> None:
    body = '<functioncall> {"name": "convert_currency", "arguments": {"amount": 5, "from_currency": "USD", ' \
           '"to_currency": "GBP"}} <|endoftext|>'
    row = {"system": SYSTEM, "chat": chat("USER: 5 USD in GBP?", f"ASSISTANT: {body}")}
    (result,) = read(tmp_path, row)
    assert result.record is not None
    (call,) = result.record.messages[2].tool_calls or []
    assert call.function.arguments == {"amount": 5, "from_currency": "USD", "to_currency": "GBP"}
    assert lint(tmp_path, row) == []


def test_planted_glaive_defects_get_their_codes(tmp_path: Path) -> None:
    unknown = {**ROW, "chat": ROW["chat"].replace('"name": "convert_currency"', '"name": "currency_convert"')}
    wrong_type = {**ROW, "chat": ROW["chat"].replace('"amount": 1000', '"amount": "1000"')}
    orphan = {"system": SYSTEM, "chat": chat("USER: 1000 USD in EUR?", "ASSISTANT: Let me check. <|endoftext|>",
                                             'FUNCTION RESPONSE: {"converted_amount": 850.0}',
                                             "ASSISTANT: About 850 euros. <|endoftext|>")}
    assert lint(tmp_path, unknown, wrong_type, orphan) == [(1, "TC002", 2), (2, "TC005", 2), (3, "RL003", 3)]


def test_a_chat_that_does_not_start_with_a_speaker_is_a_shape_error(tmp_path: Path) -> None:
    rows = [{"system": SYSTEM, "chat": "Hello there\n\n\nASSISTANT: Hi! <|endoftext|>"},
            {"system": SYSTEM, "chat": ["USER: hi"]}]
    first, second = read(tmp_path, *rows)
    assert first.record is None and "must start with `USER:`" in first.shape_errors[0][1]
    assert second.record is None and "`chat` must be a string" in second.shape_errors[0][1]
    assert [code for _, code, _ in lint(tmp_path, *rows)] == ["RS002", "RS002"]
