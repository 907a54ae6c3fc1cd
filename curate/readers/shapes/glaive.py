"""Raw glaive-function-calling-v2 (glaiveai on the Hugging Face Hub): a `system` string and a `chat` string.

`system` is "SYSTEM: You are a helpful assistant with access to the following functions. Use them if
required -" followed by the tool specs as pretty-printed JSON objects, one after another ("..., with no
access to external functions." when there are none); it becomes the system message (the text after
"SYSTEM: "), whose specs the prompt-tools hook of `adapt` makes the record's tools. `chat` is the turns, each
starting a line with `USER:`, `ASSISTANT:` or `FUNCTION RESPONSE:` (separated by blank lines); assistant
turns end with `<|endoftext|>`, removed here. A call is written `<functioncall> {"name": "f", "arguments":
'{"a": 1}'}`: `arguments` is a single-quoted string holding JSON, which becomes a structured call with that
string as its `arguments` (the OpenAI wire format: the linter reads it, and reports it, TC001, when it is not
JSON). A call that is not in that form (nor plain JSON) stays in the turn as a `<tool_call>` block, for
the linter to report as it is written, never dropped.
"""

from __future__ import annotations

import re
from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.shapes.base import ShapeAdapter, Source, common_fields
from curate.toolcalls import json_type, load_json

SYSTEM_PREFIX = "SYSTEM:"
CALL_MARK = "<functioncall>"
END_OF_TURN = "<|endoftext|>"
ROLES = {"USER": "user", "ASSISTANT": "assistant", "FUNCTION RESPONSE": "tool"}
"""The speakers of a chat, and the canonical role each is."""

_TURN = re.compile(r"^(USER|ASSISTANT|FUNCTION RESPONSE):[ \t]?", re.MULTILINE)
"""A turn starts a line: `USER:` inside a turn's text does not start one."""
_GLAIVE_CALL = re.compile(r'\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*\'(.*)\'\s*\}', re.DOTALL)
"""`{"name": "f", "arguments": '<JSON text>'}`: the arguments string runs to the last `'` before the final `}`."""


def matches(data: dict[str, Any]) -> bool:
    """A record with a `chat` (glaive's transcript), which `system` may come with."""
    return data.get("chat") is not None


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """The system prompt (without "SYSTEM: ") and the chat's turns as messages; `id`, `tools`, `meta` kept."""
    chat = data["chat"]
    system = data.get("system")
    if not isinstance(chat, str):
        raise ShapeError(f"`chat` must be a string (glaive's transcript), got {json_type(chat)}")
    if system is not None and not isinstance(system, str):
        raise ShapeError(f"`system` must be a string, got {json_type(system)}")
    out = common_fields(data)
    messages: list[dict[str, Any]] = []
    if system is not None and system.strip():
        text = system.strip()
        messages.append({"role": "system", "content": text.removeprefix(SYSTEM_PREFIX).lstrip()})
    marks = list(_TURN.finditer(chat))
    head = chat[: marks[0].start()] if marks else chat
    if head.strip():
        raise ShapeError(f"the chat must start with `USER:`, `ASSISTANT:` or `FUNCTION RESPONSE:` at the start of "
                         f"a line, found {_preview(head)}")
    for m, after in zip(marks, [*marks[1:], None], strict=True):
        text = chat[m.end() : after.start() if after is not None else len(chat)]
        messages.append(_turn(ROLES[m.group(1)], text))
    out["messages"] = messages
    return out


def _turn(role: str, text: str) -> dict[str, Any]:
    """One turn: text without the end-of-turn token; an assistant's `<functioncall>`s as calls."""
    text = text.strip()
    while text.endswith(END_OF_TURN):
        text = text.removesuffix(END_OF_TURN).rstrip()
    if role != "assistant" or CALL_MARK not in text:
        return {"role": role, "content": text}
    said, *bodies = text.split(CALL_MARK)
    calls: list[dict[str, Any]] = []
    unread: list[str] = []
    for body in bodies:
        body = body.strip()
        while body.endswith(END_OF_TURN):
            body = body.removesuffix(END_OF_TURN).rstrip()
        call = _call(body)
        if call is None:
            unread.append(f"<tool_call>\n{body}\n</tool_call>")
        else:
            calls.append(call)
    content = "\n".join(part for part in (said.strip(), *unread) if part)
    msg: dict[str, Any] = {"role": role, "content": content or None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _call(body: str) -> dict[str, Any] | None:
    """The structured call a `<functioncall>` body writes, or None when it is not one."""
    m = _GLAIVE_CALL.fullmatch(body)
    if m is not None:
        name, err = load_json(m.group(1))
        if err is None and isinstance(name, str):
            return {"type": "function", "function": {"name": name, "arguments": m.group(2)}}
    value, err = load_json(body)
    if err is None and isinstance(value, dict) and isinstance(value.get("name"), str):
        arguments = value.get("arguments", {})
        if isinstance(arguments, (str, dict)):
            return {"type": "function", "function": {"name": value["name"], "arguments": arguments}}
    return None


def _preview(text: str) -> str:
    text = text.strip()
    return f"`{text[:40]}…`" if len(text) > 40 else f"`{text}`"


ADAPTER = ShapeAdapter("glaive", "glaive's `system`/`chat`", matches, adapt, order=50)
