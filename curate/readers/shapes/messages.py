"""`messages` (OpenAI style): structured `tool_calls` (`content: null`), content parts, legacy `function_call`.

`message` also normalises the messages other shapes carry (ShareGPT turns with `role`, BFCL questions).
"""

from __future__ import annotations

from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.shapes.base import ShapeAdapter, Source, common_fields, short_key
from curate.toolcalls import json_type

ROLE_ALIASES = {
    "system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
    "model": "assistant", "bot": "assistant", "chatgpt": "assistant", "tool": "tool", "function": "tool",
    "observation": "tool", "ipython": "tool", "function_response": "tool", "tool_response": "tool",
}
"""Speaker names seen in the wild, lower-cased, and the canonical role each means."""

_CANONICAL_ROLES = frozenset({"system", "user", "assistant", "tool"})
_PLAIN_KEYS = frozenset({"role", "content", "name", "tool_call_id", "train"})


def matches(data: dict[str, Any]) -> bool:
    """A record with `messages` (not null)."""
    return data.get("messages") is not None


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """The record with its messages normalised (`message`); its other keys are kept as they are."""
    messages = data["messages"]
    out = common_fields(data)
    extra = {k: v for k, v in data.items() if k not in ("id", "messages", "tools", "meta")}
    out.update(extra)
    if not isinstance(messages, list):
        raise ShapeError(f"`messages` must be a list, got {json_type(messages)}")
    out["messages"] = [message(m, i) for i, m in enumerate(messages)]
    return out


def message(m: Any, index: int) -> Any:
    """One message (at `index`) in the canonical shape: roles aliased, text parts joined, calls as `tool_calls`.

    Anything but an object is returned as is, for validation to report with its index; a content part that
    is not text raises `ShapeError`."""
    if not isinstance(m, dict):
        return m  # the model validation reports it with its index
    if m.get("role") in _CANONICAL_ROLES and _PLAIN_KEYS.issuperset(m) and not isinstance(m.get("content"), list):
        return m  # already canonical (the common case): nothing to adapt; None fields read as absent
    msg = {k: v for k, v in m.items() if v is not None or k == "content"}
    role = msg.get("role")
    if isinstance(role, str) and role.lower() in ROLE_ALIASES:
        msg["role"] = ROLE_ALIASES[role.lower()]
    content = msg.get("content")
    if isinstance(content, list):  # OpenAI content parts
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                text = part.get("text")
                if not isinstance(text, str):
                    raise ShapeError(f"message {index}: a text content part whose `text` is {json_type(text)}, "
                                     "not a string", index)
                texts.append(text)
            elif isinstance(part, str):
                texts.append(part)
            else:
                kind = part.get("type") if isinstance(part, dict) else json_type(part)
                raise ShapeError(f"message {index}: content part of type {short_key(kind)!r} is not text", index)
        msg["content"] = "".join(texts)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        msg["tool_calls"] = [_tool_call(c) for c in calls]
    if "function_call" in msg and "tool_calls" not in msg:  # legacy OpenAI single call
        fc = msg.pop("function_call")
        if isinstance(fc, dict):
            msg["tool_calls"] = [{"type": "function", "function": fc}]
    return msg


def _tool_call(c: Any) -> Any:
    if isinstance(c, dict) and "function" not in c and "name" in c:  # bare {name, arguments}
        c = {"id": c.get("id"), "type": "function",
             "function": {"name": c["name"], "arguments": c.get("arguments", {})}}
    if isinstance(c, dict):
        c = {k: v for k, v in c.items() if v is not None}
        fn = c.get("function")
        if isinstance(fn, dict) and fn.get("arguments") is None and "arguments" in fn:
            c["function"] = {**fn, "arguments": {}}
    return c


ADAPTER = ShapeAdapter("messages", "`messages`", matches, adapt, order=10)
