"""Tools declared in a system prompt (issue #15, item 1): read in every published way, without false alarms.

A record without `tools` takes the tools its system prompt declares (`tools_source: "system prompt"`) on both
reading paths; lint checks its calls against them, renderers show them once, and TS002 reports prompts whose
tools cannot be read or disagree with the record's `tools`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curate import readers
from curate.lint import Linter
from curate.readers import adapt
from curate.readers.prompt_tools import SYSTEM_PROMPT, declared_tools
from curate.records import Trajectory
from curate.render import render_chatml
from curate.toolset import ToolSet, tools_to_declare

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Local time in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def py(value: Any) -> str:
    """A value as Python writes it (`str` of a dict: single quotes, True/None), as hermes and ToolLLaMA data do."""
    return str(value)


HERMES_V1 = (
    "You are a function calling AI model. You are provided with function signatures within <tools> </tools> XML "
    "tags. You may call one or more functions to assist with the user query. Don't make assumptions about what "
    f"values to plug into functions.\n<tools>\n{py([WEATHER, TIME])}\n</tools>\nFor each function call return a "
    "json object with function name and arguments within <tool_call> </tool_call> tags with the following "
    "schema:\n<tool_call>\n{'arguments': <args-dict>, 'name': <function-name>}\n</tool_call>\n")
HERMES_3 = (  # Ollama's Hermes 3 template writes the tools' JSON one after another with nothing between them
    "You are a function calling AI model. You are provided with function signatures within <tools></tools> XML "
    f"tags. Here are the available tools: <tools>{json.dumps(WEATHER)}{json.dumps(TIME)}</tools> Use the following "
    'pydantic model json schema for each tool call you will make: {"properties": {"arguments": {"title": '
    '"Arguments", "type": "object"}, "name": {"title": "Name", "type": "string"}}, "required": ["arguments", '
    '"name"], "title": "FunctionCall", "type": "object"} For each function call return a json object with '
    "function name and arguments within <tool_call></tool_call> XML tags as follows:\n<tool_call>\n"
    '{"arguments": <args-dict>, "name": <function-name>}\n</tool_call>')
QWEN = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with "
    f"function signatures within <tools></tools> XML tags:\n<tools>\n{json.dumps(WEATHER)}\n{json.dumps(TIME)}\n"
    "</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>")
TOOLACE = (
    "You are an expert in composing functions. You are given a question and a set of possible functions. Based on "
    "the question, you will need to make one or more function/tool calls to achieve the purpose.\nHere is a list "
    "of functions in JSON format that you can invoke:\n"
    + json.dumps([{**WEATHER["function"], "parameters": {**WEATHER["function"]["parameters"], "type": "dict"},
                   "required": None}, TIME["function"]])
    + ".\nShould you decide to return the function call(s), Put it in the format of [func1(params_name="
    "params_value, params_name2=params_value2...), func2(params)]\n\nNO other text MUST be included.")
TOOLLLAMA = (
    "You are AutoGPT, you can use many tools(functions) to do the following task.\nFirst I will give you the task "
    "description, and your task start.\n...\nSpecifically, you have access to the following APIs: "
    + py([{**WEATHER["function"], "parameters": {**WEATHER["function"]["parameters"], "optional": []}},
          TIME["function"]]))
GLAIVE = ("SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"
          + json.dumps(WEATHER["function"], indent=4) + "\n\n" + json.dumps(TIME["function"], indent=4) + "\n")
WHOLE_LIST = json.dumps([WEATHER, TIME])


@pytest.mark.parametrize("prompt", [HERMES_V1, HERMES_3, QWEN, TOOLACE, TOOLLLAMA, GLAIVE, WHOLE_LIST],
                         ids=["hermes-v1", "hermes-3", "qwen", "toolace", "toolllama", "glaive", "whole-list"])
def test_every_published_way_of_declaring_tools_is_read(prompt: str) -> None:
    found = declared_tools(prompt)
    assert found is not None and found.problems == ()
    assert found.names == ["get_weather", "get_time"]
    weather = found.specs[0]["function"]
    assert weather["parameters"]["properties"] == {"city": {"type": "string"}}
    assert weather["parameters"]["required"] == ["city"]


@pytest.mark.parametrize("prompt", [
    "You are a helpful assistant.",
    "Call a tool by writing {\"name\": <function-name>, \"arguments\": <args-json-object>} in <tool_call> tags.",
    "Answer as JSON: {\"name\": \"Ada\", \"age\": 36}. Never say 'name' twice.",
    "You are provided with function signatures within <tools></tools> XML tags, given later by the user.",
    "Reply with [{\"name\": \"the person's name\"}] and nothing else.",
])
def test_prompts_that_declare_no_tools(prompt: str) -> None:
    assert declared_tools(prompt) is None


@pytest.mark.parametrize(("prompt", "problem"), [
    ("<tools>\n" + json.dumps(WEATHER)[:-2] + "\n</tools>",
     "the `<tools>` block at line 1: not JSON (Expecting ',' delimiter at line 3 column 1) nor a Python literal "
     "(unclosed `{`)"),
    ("Tools: <tools>\n" + json.dumps(WEATHER), "the `<tools>` block at line 1 is never closed with `</tools>`"),
    ("You have access to the following APIs: " + py([TIME["function"]])[:-3],
     "the tool list at line 1: not a Python literal (unclosed `{`) nor JSON (Expecting property name enclosed in "
     "double quotes at line 1 column 42)"),
    ("<tools>\n" + json.dumps([WEATHER, {"type": "function", "function": {"name": "x", "parameters": "none"}}])
     + "\n</tools>", "the `<tools>` block at line 1: tool `x`: `function.parameters`: input should be a valid "
                     "dictionary"),
    ("<tools>\n" + json.dumps([WEATHER, "get_time"]) + "\n</tools>",
     "the `<tools>` block at line 1: holds string, not a tool spec"),
])
def test_tools_that_cannot_be_read_are_problems_that_say_where(prompt: str, problem: str) -> None:
    found = declared_tools(prompt)
    assert found is not None and list(found.problems) == [problem]


def test_the_readable_tools_of_a_partly_broken_prompt_are_kept() -> None:
    found = declared_tools(GLAIVE + '\n{\n    "name": "broken",\n    "parameters": {"type": "object",\n')
    assert found is not None and found.names == ["get_weather", "get_time"]
    assert len(found.problems) == 1 and found.problems[0].startswith("the tool object at line ")


def record_line(system: str, tools: list[dict] | None = None) -> bytes:
    record: dict[str, Any] = {"messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n'
                                         "</tool_call>"},
        {"role": "tool", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "It is 21 °C in Oslo."}]}
    if tools is not None:
        record["tools"] = tools
    return json.dumps(record).encode()


@pytest.mark.parametrize("prompt", [HERMES_V1, QWEN, TOOLACE, TOOLLLAMA, GLAIVE])
def test_a_record_without_tools_takes_its_prompts_on_both_reading_paths(prompt: str) -> None:
    line = record_line(prompt)
    fast = readers.canonical_record(line)
    general = Trajectory.model_validate(adapt(json.loads(line)))
    assert fast is not None and repr(fast.model_dump()) == repr(general.model_dump())
    assert general.tools_source == SYSTEM_PROMPT
    assert [t.function.name for t in general.tools or ()] == ["get_weather", "get_time"]
    assert general.model_dump(mode="json", exclude_none=True)["tools_source"] == "system prompt"  # as exported


def test_a_record_with_tools_keeps_its_own() -> None:
    own = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    for record in (readers.canonical_record(record_line(QWEN, own)),
                   Trajectory.model_validate(adapt(json.loads(record_line(QWEN, own))))):
        assert record is not None and record.tools_source is None
        assert [t.function.name for t in record.tools or ()] == ["search"]


def lint_lines(tmp_path: Path, *lines: bytes, tools: list[dict] | None = None) -> list[tuple[str, int | None, str]]:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return [(f.code, f.message_index, f.message) for f in Linter(tools or []).lint_path(path)]


def test_calls_are_checked_against_the_prompts_tools(tmp_path: Path) -> None:
    bad = record_line(TOOLLLAMA).replace(b'{\\"city\\": \\"Oslo\\"}', b'{\\"town\\": \\"Oslo\\"}')
    found = lint_lines(tmp_path, record_line(TOOLLLAMA), bad)
    assert [code for code, _, _ in found] == ["TC003", "TC004"]
    assert found[0][2] == "missing required argument `city` in the call to `get_weather`"


def test_ts002_when_prompt_and_tools_disagree_and_not_when_they_agree(tmp_path: Path) -> None:
    agree = record_line(HERMES_V1, [WEATHER, TIME])
    other = {**TIME, "function": {**TIME["function"], "parameters": {
        "type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}
    disagree = record_line(HERMES_V1, [WEATHER, other])
    assert lint_lines(tmp_path, agree, disagree) == [
        ("TS002", 0, "`get_time` differs between the system prompt and `tools`: parameters (city) in the prompt, "
                     "(timezone) in `tools` (calls are checked against `tools`)")]


def test_render_shows_the_tools_a_prompt_lists_once() -> None:
    line = record_line(QWEN)
    record = readers.canonical_record(line)
    assert record is not None and tools_to_declare(record) == []
    text = render_chatml(record).text
    assert text.count("Current weather in a city") == 1 and text.count("# Tools") == 1
    # A --tools spec attached for a call the prompt does not declare is declared in the usual block.
    calls_search = json.loads(line)
    calls_search["messages"][2]["content"] = '<tool_call>\n{"name": "search", "arguments": {"q": "Oslo"}}\n</tool_call>'
    search = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    attached = ToolSet.from_dicts([search]).attach(Trajectory.model_validate(adapt(calls_search)))
    assert [t.function.name for t in attached.tools or ()] == ["get_weather", "get_time", "search"]
    assert [t.function.name for t in tools_to_declare(attached)] == ["search"]
    text = render_chatml(attached).text
    assert text.count('"name": "search", "parameters"') == 1 and text.count("Current weather in a city") == 1


def test_chat_template_rendering_shows_the_tools_a_prompt_lists_once() -> None:
    from curate.mask import TemplateSpans, template_messages
    from curate.render import CHATML_TEMPLATE

    class Tokenizer:
        chat_template = CHATML_TEMPLATE
        name_or_path = "test"
        eos_token = "<|im_end|>"

        def get_vocab(self) -> dict[str, int]:
            return {"<|im_end|>": 0}

    record = Trajectory.model_validate(adapt(json.loads(record_line(QWEN))))
    messages, tools = template_messages(record)
    assert tools is not None and len(tools) == 2  # every tool, for scoring generated calls
    text, _ = TemplateSpans(Tokenizer()).render(messages, tools)
    assert text.count("Current weather in a city") == 1


def test_the_linter_reads_each_prompt_once_per_process(tmp_path: Path) -> None:
    from curate.readers import prompt_tools

    prompt_tools._declared_tools.cache_clear()
    lint_lines(tmp_path, *[record_line(GLAIVE)] * 50)
    info = prompt_tools._declared_tools.cache_info()
    assert info.misses == 1 and info.hits >= 49
