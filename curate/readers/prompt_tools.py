"""Tool specs declared in a system prompt, read without evaluating anything (`declared_tools`).

Published datasets often carry their tools only in the system prompt, in one of these ways:

- Hermes / Qwen: `<tools>…</tools>` holding one JSON array, or objects one after another (one a line, or
  none between them, as Ollama's Hermes 3 template writes them), JSON or Python literals
  (hermes-function-calling-v1 writes `[{'type': 'function', 'function': {...}}]`);
- a tool list that is the whole prompt or follows a preamble: JSON (ToolACE: "Here is a list of functions in
  JSON format that you can invoke:\\n[{...}]. Should you decide...") or a Python literal (ToolLLaMA:
  "Specifically, you have access to the following APIs: [{'name': ..., 'parameters': {...}}]");
- pretty-printed JSON objects one after another after a preamble (raw glaive-function-calling-v2).

Specs may be OpenAI-shaped or bare `{name, description, parameters}`; they go through `normalise_tools` like
any record's `tools`. Python literals are read by the literal scanner of the one tool-call parser
(`curate.toolcalls`), never by `eval`. `apply_prompt_tools` gives a record without `tools` the ones its
system prompt declares and says so in `tools_source`; rule TS002 reports prompts whose tools cannot be read
or disagree with the record's own `tools`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from curate.readers.errors import ShapeError
from curate.readers.tool_specs import normalise_tools
from curate.records import ToolSpec, Trajectory
from curate.toolcalls import CallSyntaxError, PyCallParser, json_type

SYSTEM_PROMPT = "system prompt"
"""The value of a record's `tools_source` when its `tools` were read from its system prompt."""

_OPEN, _CLOSE = "<tools>", "</tools>"
_WS = re.compile(r"[\s,]*")
# Where a tool list or a run of tool objects may start outside `<tools>`: an object whose first key is one a
# tool spec starts with, alone or first in a list.
_CANDIDATE = re.compile(r"(?:\[\s*)?\{\s*([\"'])(?:name|type|function|description)\1\s*:")
_PARAMETERS = re.compile(r"[\"']parameters[\"']\s*:")
_LOOKAHEAD = 600
"""How far after an unreadable candidate a `"parameters":` key says it was meant as a tool spec."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True, slots=True)
class PromptTools:
    """What a system prompt declares: the specs read (OpenAI-shaped dicts, each a valid `ToolSpec`; shared,
    never to be changed) and what could not be read, each problem a sentence saying where and why."""

    specs: tuple[dict[str, Any], ...]
    problems: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [spec["function"]["name"] for spec in self.specs]


def may_declare_tools(text: str | None) -> bool:
    """Whether a system prompt may declare tools: the cheap test that keeps other prompts off the reading."""
    return bool(text) and ("<tools>" in text or '"name"' in text or "'name'" in text)  # type: ignore[operator]


def declared_tools(text: str | None) -> PromptTools | None:
    """The tools a system prompt declares, or None when it declares none (see the module docstring).

    Only `<tools>` blocks are read when the prompt has any that is not blank (Qwen's "within <tools></tools> XML
    tags" is); otherwise the first tool list, or run of tool objects, the prompt holds. A text that starts like a
    tool spec but cannot be read is a problem only when a `"parameters":` key follows it closely (prompts also
    show call formats such as `{"name": <function-name>, "arguments": <args>}`). Cached: a corpus repeats its
    prompts, and the reader and the linter ask about the same one."""
    if not text or not may_declare_tools(text):
        return None
    return _declared_tools(text)


@functools.lru_cache(maxsize=256)
def _declared_tools(text: str) -> PromptTools | None:
    items: list[tuple[Any, str]] = []
    problems: list[str] = []
    if not (_OPEN in text and _read_tools_blocks(text, items, problems)):  # no <tools> block with anything in it
        _read_preamble_list(text, items, problems)
    if not items and not problems:
        return None
    specs: list[dict[str, Any]] = []
    for item, where in items:
        spec, problem = _tool_spec(item, where)
        if spec is not None:
            specs.append(spec)
        elif problem:
            problems.append(problem)
    return PromptTools(tuple(specs), tuple(problems))


def _read_tools_blocks(text: str, items: list[tuple[Any, str]], problems: list[str]) -> bool:
    """Every `<tools>` block's values into `items`; False when none holds anything but blanks."""
    found = False
    start = text.find(_OPEN)
    while start >= 0:
        body_start = start + len(_OPEN)
        end = text.find(_CLOSE, body_start)
        if end < 0:
            if text[body_start:].strip():
                problems.append(f"the `<tools>` block at line {_line(text, start)} is never closed with `</tools>`")
                found = True
            break
        if text[body_start:end].strip():
            found = True
            _read_values(text, body_start, end, f"the `<tools>` block at line {_line(text, start)}", items, problems)
        start = text.find(_OPEN, end + len(_CLOSE))
    return found


def _read_values(text: str, pos: int, end: int, where: str, items: list[tuple[Any, str]],
                 problems: list[str]) -> None:
    """The values between `pos` and `end`: arrays give their items, objects themselves; blanks and commas
    between values are skipped."""
    while True:
        pos = _WS.match(text, pos, end).end()  # type: ignore[union-attr]  # `[\s,]*` always matches
        if pos >= end:
            return
        value, after, err = _read_value(text, pos, end)
        if err is not None:
            problems.append(f"{where}: {err}")
            return
        if isinstance(value, list):
            items.extend((v, where) for v in value)
        else:
            items.append((value, where))
        pos = after


def _read_preamble_list(text: str, items: list[tuple[Any, str]], problems: list[str]) -> None:
    """The first tool list, or run of tool objects, found outside `<tools>` blocks."""
    pos = 0
    while True:
        m = _CANDIDATE.search(text, pos)
        if m is None:
            return
        start = m.start()
        value, after, err = _read_value(text, start, len(text))
        if err is not None:
            if _PARAMETERS.search(text, m.end(), m.end() + _LOOKAHEAD):
                kind = "list" if text[start] == "[" else "object"
                problems.append(f"the tool {kind} at line {_line(text, start)}: {err}")
                return
            pos = m.end()
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_looks_like_tool(v) for v in values):
            pos = after if isinstance(value, list) else m.end()
            continue
        if isinstance(value, list):
            items.extend((v, f"the tool list at line {_line(text, start)}") for v in value)
            return
        # objects one after another (raw glaive): read on while objects follow
        items.append((value, f"the tool object at line {_line(text, start)}"))
        pos = after
        while True:
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if not text.startswith("{", pos):
                return
            value, after, err = _read_value(text, pos, len(text))
            if err is not None:
                problems.append(f"the tool object at line {_line(text, pos)}: {err}")
                return
            if not _looks_like_tool(value):
                return
            items.append((value, f"the tool object at line {_line(text, pos)}"))
            pos = after


def _line(text: str, pos: int) -> int:
    """The 1-based line of the system prompt at `pos`."""
    return text.count("\n", 0, pos) + 1


def _looks_like_tool(value: Any) -> bool:
    """A dict shaped like a tool spec: OpenAI (`function` with a `name`) or bare (`name` and `parameters` or
    `description`)."""
    if not isinstance(value, dict):
        return False
    fn = value.get("function")
    if isinstance(fn, dict):
        return "name" in fn
    return "name" in value and ("parameters" in value or "description" in value)


def _read_value(text: str, pos: int, end: int) -> tuple[Any, int, str | None]:
    """The JSON value, else the Python literal, at `pos` (before `end`): (value, position after it, None), or
    (None, pos, why neither reads)."""
    try:
        value, after = _DECODER.raw_decode(text, pos)
        if after <= end:
            return value, after, None
        json_err = "it runs past the end of the block"
    except json.JSONDecodeError as e:
        json_err = f"{e.msg} at line {e.lineno} column {e.colno}"
    except RecursionError:
        return None, pos, "it is nested too deeply to read"
    except ValueError as e:  # NaN / Infinity, an integer literal too long
        json_err = str(e)
    parser = PyCallParser(text[:end])
    parser.pos = pos
    try:
        value = parser.value(0, "tools")
        return value, parser.pos, None
    except CallSyntaxError as e:
        py_err = _literal_error(str(e))
    except RecursionError:
        return None, pos, "it is nested too deeply to read"
    quote = text[pos + 1:pos + 40].lstrip("[ \t\r\n{")[:1]
    if quote == "'":
        return None, pos, f"not a Python literal ({py_err}) nor JSON ({json_err})"
    return None, pos, f"not JSON ({json_err}) nor a Python literal ({py_err})"


def _literal_error(message: str) -> str:
    """The literal scanner's message about the value it was reading (it calls it an argument)."""
    message = message.replace("argument `tools`: ", "").replace("argument `tools`", "the value")
    return message.replace("the call to `None` ends in the middle of the value", "the text ends inside the value")


def _tool_spec(item: Any, where: str) -> tuple[dict[str, Any] | None, str | None]:
    """An item read from the prompt as a normalised spec, or why it is not one."""
    if not isinstance(item, dict):
        return None, f"{where}: holds {json_type(item)}, not a tool spec"
    if "name" not in item and "function" not in item:
        return None, f"{where}: an object with neither `name` nor `function`, not a tool spec"
    try:
        (spec,) = normalise_tools([item])
        ToolSpec.model_validate(spec)
    except ShapeError as e:
        return None, f"{where}: {e}"
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        name = (item.get("function") if isinstance(item.get("function"), dict) else item).get("name")
        tool = f"tool `{name}`" if isinstance(name, str) and name else "a tool spec"
        field = ".".join(str(x) for x in err["loc"]) or "the spec"
        return None, f"{where}: {tool}: `{field}`: {err['msg'].lower()}"
    return spec, None


def apply_prompt_tools(out: dict[str, Any]) -> None:
    """A record being adapted (a dict) without `tools` gets the tools its system prompt declares, with
    `tools_source: "system prompt"`; any other record is left as it is."""
    if out.get("tools"):
        return
    messages = out.get("messages")
    if not isinstance(messages, list) or not messages:
        return
    first = messages[0]
    if not isinstance(first, dict) or first.get("role") != "system" or not isinstance(first.get("content"), str):
        return
    found = declared_tools(first["content"])
    if found is not None and found.specs:
        out["tools"] = list(found.specs)
        out["tools_source"] = SYSTEM_PROMPT


def with_prompt_tools(record: Trajectory) -> Trajectory:
    """`record` (validated) with the tools its system prompt declares when it has none: what
    `apply_prompt_tools` does before validation, for records read in one pass."""
    if record.tools or not record.messages:
        return record
    first = record.messages[0]
    if first.role != "system":
        return record
    found = declared_tools(first.content)
    if found is None or not found.specs:
        return record
    record.tools = [ToolSpec.model_validate(spec) for spec in found.specs]
    record.tools_source = SYSTEM_PROMPT
    return record


def prompt_tools_of(record: Trajectory) -> PromptTools | None:
    """What the record's system prompt (its first message, when a system one) declares, or None."""
    if not record.messages or record.messages[0].role != "system":
        return None
    return declared_tools(record.messages[0].content)
