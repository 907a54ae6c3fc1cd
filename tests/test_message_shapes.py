"""Messages as the published formats write them, read into the canonical record once, at read time.

LLaMA-Factory (ShareGPT `function_call`/`observation` turns, its content parts, JSON-string `tools`), OpenAI's
fine-tuning format (`functions`, legacy `function_call` and role `function`, `weight`, `parallel_tool_calls`) and
reasoning fields (`reasoning_content`, `reasoning`, `thinking`): what each becomes, and that masks and lint see it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from curate.lint import Linter
from curate.mask import IGNORE
from curate.readers import RecordReader
from curate.readers.errors import ShapeError
from curate.readers.reader import canonical_record
from curate.readers.shapes import adapt
from tests.conftest import run_cli, write_jsonl

WEATHER = {"name": "get_weather", "description": "Current weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def canonical(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's messages as the reader makes them (validated), without absent fields."""
    from curate.records import Trajectory

    return Trajectory.model_validate(adapt(data)).model_dump(exclude_none=True)["messages"]


def call(city: str, name: str = "get_weather") -> dict[str, Any]:
    return {"name": name, "arguments": {"city": city}}


# --- LLaMA-Factory -----------------------------------------------------------------------------------------------


def test_sharegpt_function_call_list_is_parallel_calls_and_an_observation_list_their_results() -> None:
    msgs = canonical({"tools": json.dumps([WEATHER]), "conversations": [
        {"from": "human", "value": "Weather in Oslo and Rome?"},
        {"from": "function_call", "value": json.dumps([call("Oslo"), call("Rome")])},
        {"from": "observation", "value": json.dumps([{"temp": 3}, {"temp": 20}])},
        {"from": "gpt", "value": "Oslo 3 °C, Rome 20 °C."}]})
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "assistant"]
    assert msgs[1]["content"] == ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n'
                                  '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>')
    assert [msgs[2]["content"], msgs[3]["content"]] == ['{"temp": 3}', '{"temp": 20}']


def test_sharegpt_function_call_keeps_a_single_call_as_written_and_a_leading_think_block() -> None:
    text = '{"name": "get_weather",  "arguments": {"city": "Oslo"}}'
    msgs = canonical({"conversations": [
        {"from": "human", "value": "Oslo?"},
        {"from": "function_call", "value": f"<think>\nThe user wants Oslo.\n</think>\n\n{text}"},
        {"from": "observation", "value": '[{"time": "09:00", "temp": 3}, {"time": "12:00", "temp": 5}]'},
        {"from": "gpt", "value": "3 to 5 °C."}]})
    assert msgs[1]["content"] == f"<think>\nThe user wants Oslo.\n</think>\n<tool_call>\n{text}\n</tool_call>"
    assert len(msgs) == 4  # one call's result that is a list stays one result


@pytest.mark.parametrize("key", ["conversations", "messages"])
def test_a_blank_tools_string_is_no_tools(key: str) -> None:
    """LLaMA-Factory's converters write `"tools": ""` for a record without tools."""
    turns = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}],
             "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}[key]
    assert "tools" not in adapt({key: turns, "tools": ""}) and "tools" not in adapt({key: turns, "tools": " "})


def test_a_system_column_is_the_first_message_unless_the_turns_have_their_own() -> None:
    """LLaMA-Factory's `system` column; a system turn at the start of the conversation wins over it."""
    for key, turns in {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}],
                       "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
                       }.items():
        out = adapt({key: turns, "system": "Be brief."})
        assert [m["content"] for m in out["messages"]] == ["Be brief.", "Hi", "Hello!"] and "system" not in out
        own = [{"from": "system", "value": "Be kind."} if key == "conversations" else
                {"role": "system", "content": "Be kind."}, *turns]
        assert [m["content"] for m in adapt({key: own, "system": "Be brief."})["messages"]] == \
            ["Be kind.", "Hi", "Hello!"]
        assert len(adapt({key: turns, "system": "  "})["messages"]) == 2


@pytest.mark.parametrize("top", [{"system": "Be brief."}, {"functions": [WEATHER]}, {"system": None}])
def test_canonical_lines_with_a_system_column_or_functions_read_as_the_general_path_reads_them(
        tmp_path: Path, top: dict[str, Any]) -> None:
    from curate.records import Trajectory

    record = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], **top}
    assert canonical_record(json.dumps(record).encode()) is None
    [read] = RecordReader().read(write_jsonl(tmp_path / "d.jsonl", [record]))
    assert read.record == Trajectory.model_validate(adapt(record))


def test_sharegpt_turn_weight_and_reasoning_keys_go_through_message() -> None:
    msgs = canonical({"conversations": [
        {"from": "human", "value": "Hi", "weight": 0},
        {"from": "gpt", "value": "Hello!", "weight": 0},
        {"from": "human", "value": "Bye", "weight": None},
        {"from": "gpt", "value": "Goodbye.", "weight": 1, "reasoning_content": "A farewell."}]})
    assert msgs[1]["train"] is False and msgs[3]["train"] is True
    assert msgs[3]["content"] == "<think>\nA farewell.\n</think>\n\nGoodbye."
    assert "train" not in msgs[2]


def test_llama_factory_content_parts_text_reasoning_and_tool_call() -> None:
    """LLaMA-Factory's part schema (`reason_tool_use_demo_50.jsonl`): `value`, types text, reasoning, tool_call;
    the results of parallel calls as one tool message listing `{tool_call_id, name, content}`."""
    results = [{"tool_call_id": "call_7aEp", "name": "get_weather", "content": "{'temp': 3}"},
               {"tool_call_id": "call_RcOW", "name": "get_weather", "content": "{'temp': 20}"}]
    msgs = canonical({"tools": json.dumps([{"type": "function", "function": WEATHER}]), "messages": [
        {"role": "system", "content": [{"type": "text", "value": "You are a methodical assistant."}]},
        {"role": "user", "content": [{"type": "text", "value": "Oslo and Rome?"}]},
        {"role": "assistant", "content": [
            {"type": "reasoning", "value": "Two cities, two calls."},
            {"type": "tool_call", "value": json.dumps(call("Oslo"))},
            {"type": "tool_call", "value": json.dumps(call("Rome"))}]},
        {"role": "tool", "content": [{"type": "text", "value": json.dumps(results)}]},
        {"role": "assistant", "content": [{"type": "reasoning", "value": "Both came back."},
                                          {"type": "text", "value": "Oslo 3 °C, Rome 20 °C."}]}]})
    assert msgs[0]["content"] == "You are a methodical assistant."
    assert msgs[2]["content"] == (
        "<think>\nTwo cities, two calls.\n</think>\n\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>')
    assert msgs[3] == {"role": "tool", "content": "{'temp': 3}", "name": "get_weather", "tool_call_id": "call_7aEp"}
    assert msgs[4] == {"role": "tool", "content": "{'temp': 20}", "name": "get_weather", "tool_call_id": "call_RcOW"}
    assert msgs[5]["content"] == "<think>\nBoth came back.\n</think>\n\nOslo 3 °C, Rome 20 °C."
    with pytest.raises(ShapeError, match="content part of type 'image_url' is not text"):
        adapt({"messages": [{"role": "user", "content": [{"type": "image_url", "value": "a.png"}]}]})
    with pytest.raises(ShapeError, match="a reasoning content part whose `value` is integer"):
        adapt({"messages": [{"role": "assistant", "content": [{"type": "reasoning", "value": 3}]}]})


def test_results_that_name_their_tool_are_split_whatever_the_calls() -> None:
    """ToolACE's `[{"name": …, "results": …}]`: each item a tool message named after its tool, its JSON as written."""
    observation = [{"name": "Get Zip Code Info", "results": {"zip": "10001", "city": "New York"}}]
    msgs = canonical({"conversations": [
        {"from": "user", "value": "What is 10001?"},
        {"from": "assistant", "value": '[Get Zip Code Info(zipcode="10001")]'},
        {"from": "tool", "value": json.dumps(observation)},
        {"from": "assistant", "value": "New York."}]})
    assert msgs[2] == {"role": "tool", "name": "Get Zip Code Info", "content": json.dumps(observation[0])}


def test_lists_that_are_one_result_are_kept_whole() -> None:
    listed = json.dumps([{"name": "Luigi's", "rating": 4.5}, {"name": "Da Mario", "rating": 4.1}])
    two_calls = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "find", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "find", "arguments": "{}"}}]}
    cases = [
        [{"role": "user", "content": "Pizza?"}, {"role": "assistant", "content": '<tool_call>\n{"name": "find", '
         '"arguments": {}}\n</tool_call>'}, {"role": "tool", "content": listed}],  # one call: its result is a list
        [{"role": "user", "content": "Pizza?"}, two_calls, {"role": "tool", "content": listed, "tool_call_id": "c1"},
         {"role": "tool", "content": listed, "tool_call_id": "c2"}],  # each answers one call
        [{"role": "user", "content": "Pizza?"}, two_calls, {"role": "tool", "content": "[1, 2, 3]"}],  # 3 for 2
    ]
    for messages in cases:
        assert [m.get("content") for m in canonical({"messages": messages})][2:] == \
            [m["content"] for m in messages[2:]]


def test_a_canonical_line_with_listed_results_reads_as_the_general_path_reads_it(tmp_path: Path) -> None:
    record = {"messages": [{"role": "user", "content": "Zip 10001?"},
                           {"role": "assistant", "content": "<tool_call>\n{}\n</tool_call>"},
                           {"role": "tool", "content": json.dumps([{"name": "zip_info", "results": {}}])}]}
    line = json.dumps(record).encode()
    assert canonical_record(line) is None
    [read] = RecordReader().read(write_jsonl(tmp_path / "d.jsonl", [record]))
    assert read.record is not None and read.record.messages[2].name == "zip_info"


# --- OpenAI fine-tuning format ------------------------------------------------------------------------------------


def test_openai_legacy_functions_function_call_and_function_role() -> None:
    data = {"functions": [WEATHER], "messages": [
        {"role": "user", "content": "Oslo?"},
        {"role": "assistant", "function_call": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        {"role": "function", "name": "get_weather", "content": '{"temp": 3}'},
        {"role": "assistant", "content": "3 °C."}]}
    out = adapt(data)
    assert out["tools"] == [{"type": "function", "function": WEATHER}] and "functions" not in out
    msgs = canonical(data)
    assert msgs[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    assert msgs[2] == {"role": "tool", "name": "get_weather", "content": '{"temp": 3}'}
    both = adapt({**data, "tools": [{"type": "function", "function": {**WEATHER, "description": "new"}}],
                  "functions": [WEATHER, {"name": "get_time", "parameters": {"type": "object"}}]})
    assert [(t["function"]["name"], t["function"].get("description")) for t in both["tools"]] == \
        [("get_weather", "new"), ("get_time", None)]
    assert adapt({**data, "parallel_tool_calls": False})["parallel_tool_calls"] is False


@pytest.mark.parametrize(("weight", "train"), [(0, False), (1, True), (0.0, False), (1.0, True)])
def test_weight_is_train(weight: float, train: bool) -> None:
    msgs = canonical({"messages": [{"role": "user", "content": "Hi"},
                                   {"role": "assistant", "content": "Hello", "weight": weight}]})
    assert msgs[1] == {"role": "assistant", "content": "Hello", "train": train}
    lf = canonical({"messages": [{"role": "user", "content": "Hi"},
                                 {"role": "assistant", "content": "Hello", "loss_weight": weight}]})
    assert lf[1]["train"] is train


@pytest.mark.parametrize(("extra", "error"), [
    ({"weight": 0.5}, r"message 1: `weight` is 0\.5; it must be 0 \(the turn is not trained\) or 1"),
    ({"weight": True}, r"`weight` is true; it must be 0"),
    ({"weight": "1"}, r"`weight` is \"1\"; it must be 0"),
    ({"weight": 0, "train": True}, r"message 1: `weight: 0` and `train: true` disagree: keep one of them"),
])
def test_weight_that_is_not_0_or_1_is_a_shape_error(extra: dict[str, Any], error: str) -> None:
    with pytest.raises(ShapeError, match=error) as e:
        adapt({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello", **extra}]})
    assert e.value.message_index == 1


# --- reasoning fields ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "thinking"])
def test_reasoning_fields_are_the_turns_think_block(key: str) -> None:
    msgs = canonical({"messages": [
        {"role": "user", "content": "Oslo?"},
        {"role": "assistant", "content": None, key: "Look it up.\n", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 3}'},
        {"role": "assistant", "content": "\n\nIt is 3 °C.", key: "", "tool_calls": []}]})
    assert msgs[1]["content"] == "<think>\nLook it up.\n</think>\n\n" and key not in msgs[1]
    assert msgs[3] == {"role": "assistant", "content": "\n\nIt is 3 °C.", "tool_calls": []}


def test_reasoning_beside_a_think_block_in_the_content() -> None:
    def content(**fields: Any) -> str:
        return canonical({"messages": [{"role": "user", "content": "q"},
                                       {"role": "assistant", **fields}]})[1]["content"]

    assert content(content="<think>\nSame.\n</think>\n\nA.", reasoning_content="Same.") == \
        "<think>\nSame.\n</think>\n\nA."  # the export kept it twice: once
    assert content(content="<think>Other.</think>A.", reasoning_content="Mine.") == \
        "<think>\nMine.\n</think>\n\n<think>Other.</think>A."  # two reasonings: FM002 says so
    assert content(content="A.", reasoning="Same.", reasoning_content="Same.") == "<think>\nSame.\n</think>\n\nA."
    with pytest.raises(ShapeError, match="message 1: `reasoning` \\(the turn's reasoning\\) must be a string, "
                                         "got object"):
        adapt({"messages": [{"role": "user", "content": "q"},
                            {"role": "assistant", "content": "A.", "reasoning": {"summary": []}}]})


def test_reasoning_is_linted_like_a_think_block_and_an_empty_call_list_is_no_call(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [
        {"id": "clean", "messages": [{"role": "user", "content": "q"},
                                     {"role": "assistant", "content": "A.", "reasoning_content": "R.",
                                      "tool_calls": []}]},
        {"id": "two", "messages": [{"role": "user", "content": "q"},
                                   {"role": "assistant", "content": "<think>X.</think>A.", "reasoning_content": "R."}]},
        {"id": "stray", "messages": [{"role": "user", "content": "q"},
                                     {"role": "assistant", "content": "A.", "reasoning_content": "R. </think>"}]}])
    found = [(f.record_id, f.code) for f in Linter([]).lint_path(str(data))]
    assert found == [("two", "FM002"), ("stray", "FM001")]


# --- masks ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    os.environ["CURATE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from curate.tokenizer import load_tokenizer

    return load_tokenizer()


def test_mask_trains_weight_1_turns_only_and_reasoning_as_think(tmp_path: Path, tokenizer: Any) -> None:
    """`curate mask` on OpenAI fine-tuning records: a `weight: 0` turn gets no loss, a `weight: 1` turn does, and
    `reasoning_content` is trained and counted as the turn's think segment."""
    data = write_jsonl(tmp_path / "ft.jsonl", [{"id": "ft", "messages": [
        {"role": "system", "content": "You are a travel assistant."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there, friend", "weight": 0},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "Cold today", "reasoning_content": "Oslo in winter", "weight": 1}]}])
    out = tmp_path / "masked.jsonl"
    res = run_cli("mask", str(data), "-o", str(out), "--audit", env={"CURATE_CACHE": os.environ["CURATE_CACHE"]})
    assert res.returncode == 0, res.stderr
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    trained = [t for t, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != IGNORE]
    text = tokenizer.backend_tokenizer.decode(trained, skip_special_tokens=False)
    assert text == "<think>\nOslo in winter\n</think>\n\nCold today<|im_end|>"
    assert "Hello there" in tokenizer.decode(row["input_ids"])  # in the context, without loss
    assert "all passed" in res.stdout and "think" in res.stdout
