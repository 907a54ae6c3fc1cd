"""`messages` (OpenAI style, and the fine-tuning format): structured `tool_calls` (`content: null`), content parts,
legacy `function_call` and `functions`, per-message `weight`, reasoning fields.

`message` also normalises the messages other shapes carry (ShareGPT turns, BFCL questions), and `split_results`
the tool results of a whole conversation: what a source writes its own way becomes the canonical record here,
once, at read time:

- reasoning: `reasoning_content` (DeepSeek, vLLM, Qwen3 exports), `reasoning` and `thinking` on an assistant turn,
  and content parts of type `reasoning` or `thinking`, become the turn's leading `<think>` block, linted, rendered,
  counted and masked like one written in the content. A content that already holds the same reasoning in its
  own `<think>` block keeps that one; a different one is a second block (FM002 reports it).
- `weight: 0|1` (OpenAI fine-tuning; LLaMA-Factory's `loss_weight`) is `train: false|true`.
- content parts: OpenAI's `{"type": "text", "text": …}` and LLaMA-Factory's `{"type": "text"|"reasoning"|
  "tool_call", "value": …}`; a `tool_call` part is a `<tool_call>` block.
- one tool message holding several results as a JSON list becomes one tool message per result (`split_results`),
  and so does one holding several `<tool_response>` blocks (as Hermes writes the results of parallel calls); a
  result wrapped in `<tool_response>` tags loses them (the renderer writes them: kept, they would be doubled).
"""

from __future__ import annotations

import json
import re
from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.raw import load_text
from curate.readers.shapes.base import ShapeAdapter, Source, common_fields, short_key
from curate.readers.tool_specs import normalise_tools
from curate.toolcalls import OPEN_TAG, json_type

ROLE_ALIASES = {
    "system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
    "model": "assistant", "bot": "assistant", "chatgpt": "assistant", "tool": "tool", "function": "tool",
    "observation": "tool", "ipython": "tool", "function_response": "tool", "tool_response": "tool",
}
"""Speaker names seen in the wild, lower-cased, and the canonical role each means."""

REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
"""Keys of an assistant message that hold the turn's reasoning, as exports write it beside `content`."""
WEIGHT_KEYS = ("weight", "loss_weight")
"""Per-message loss switches read as `train`: OpenAI fine-tuning's `weight`, LLaMA-Factory's `loss_weight`."""

_CANONICAL_ROLES = frozenset({"system", "user", "assistant", "tool"})
_PLAIN_KEYS = frozenset({"role", "content", "name", "tool_call_id", "train"})
_TEXT_PARTS = frozenset({"text", "input_text", "output_text", "refusal"})
_THINK_PARTS = frozenset({"reasoning", "thinking"})
_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_LEADING_THINK_RE = re.compile(r"\s*(<think>.*?</think>)\s*", re.DOTALL)


def matches(data: dict[str, Any]) -> bool:
    """A record with `messages` (not null)."""
    return data.get("messages") is not None


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """The record with its messages normalised (`message`, then `split_results`) and legacy `functions` read as
    `tools`; its other keys (`parallel_tool_calls`, …) are kept as they are."""
    messages = data["messages"]
    out = without_blank_tools(common_fields(data))
    if not isinstance(messages, list):
        raise ShapeError(f"`messages` must be a list, got {json_type(messages)}")
    system = system_prompt(data, messages[0] if messages else None)
    dropped = ("id", "messages", "tools", "meta", "functions") + (("system",) if system else ())
    out.update({k: v for k, v in data.items() if k not in dropped})
    if data.get("functions") is not None:
        out["tools"] = _with_functions(out.get("tools"), data["functions"])
    out["messages"] = split_results(system + [message(m, i) for i, m in enumerate(messages, len(system))])
    return out


def system_prompt(data: dict[str, Any], first: Any) -> list[dict[str, Any]]:
    """A record's top-level `system` prompt (LLaMA-Factory's system column) as its first message, unless it is
    blank or the turns open with a system turn of their own, which wins (as in LLaMA-Factory)."""
    system = data.get("system")
    if not isinstance(system, str) or not system.strip():
        return []
    if isinstance(first, dict) and str(first.get("role", first.get("from", ""))).lower() == "system":
        return []
    return [{"role": "system", "content": system}]


def without_blank_tools(out: dict[str, Any]) -> dict[str, Any]:
    """`out` without a `tools` that is a blank string: LLaMA-Factory writes `"tools": ""` for "no tools"."""
    if isinstance(out.get("tools"), str) and not out["tools"].strip():
        del out["tools"]
    return out


def _with_functions(tools: Any, functions: Any) -> list[Any]:
    """OpenAI's legacy `functions` (bare specs) as tools, after the record's `tools` (which win by name)."""
    if not isinstance(functions, list):
        raise ShapeError(f"`functions` must be a list of function specs, got {json_type(functions)}")
    tools = normalise_tools(tools) if tools is not None else []
    if not isinstance(tools, list):
        raise ShapeError(f"`tools` must be a list of tool specs, got {json_type(tools)}")
    named = {t["function"].get("name") for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)}
    return tools + [f for f in normalise_tools(functions) if not (isinstance(f, dict) and isinstance(
        f.get("function"), dict) and f["function"].get("name") in named)]


def message(m: Any, index: int) -> Any:
    """One message (at `index`) in the canonical shape: roles aliased, content parts joined, reasoning folded into
    the content as its `<think>` block, `weight` read as `train`, calls as `tool_calls`.

    Anything but an object is returned as is, for validation to report with its index; what cannot be mapped (a
    content part that is not text, a weight that is not 0 or 1) raises `ShapeError`."""
    if not isinstance(m, dict):
        return m  # the model validation reports it with its index
    if m.get("role") in _CANONICAL_ROLES and _PLAIN_KEYS.issuperset(m) and not isinstance(m.get("content"), list):
        return m  # already canonical (the common case): nothing to adapt; None fields read as absent
    msg = {k: v for k, v in m.items() if v is not None or k == "content"}
    role = msg.get("role")
    if isinstance(role, str) and role.lower() in ROLE_ALIASES:
        msg["role"] = role = ROLE_ALIASES[role.lower()]
    if isinstance(msg.get("content"), list):
        msg["content"] = _join_parts(msg["content"], index)
    if role == "assistant":
        if not msg.get("content") and isinstance(msg.get("refusal"), str):  # OpenAI: a refusal is the answer
            msg["content"] = msg.pop("refusal")
        _fold_reasoning(msg, index)
    _read_weight(msg, index)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        msg["tool_calls"] = [_tool_call(c) for c in calls]
    if "function_call" in msg and "tool_calls" not in msg:  # legacy OpenAI single call
        fc = msg.pop("function_call")
        if isinstance(fc, dict):
            msg["tool_calls"] = [{"type": "function", "function": fc}]
    return msg


def think_block(reasoning: str) -> str:
    """Reasoning as the leading `<think>` block of a turn, as Qwen3 and DeepSeek-R1 templates write it."""
    return f"<think>\n{reasoning.strip()}\n</think>\n\n"


def call_block(call: str) -> str:
    """One call's JSON text as a `<tool_call>` block."""
    return f"{OPEN_TAG}\n{call.strip()}\n</tool_call>"


def _join_parts(parts: list[Any], index: int) -> str:
    """Content parts as one text: text parts as written, reasoning as a `<think>` block, calls as `<tool_call>`
    blocks (a new line before each), in the parts' order."""
    out = ""
    for part in parts:
        if isinstance(part, str):
            out += part
            continue
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            out += _part_text(part, kind, index)
        elif kind in _THINK_PARTS:
            out += think_block(_part_text(part, kind, index))
        elif kind == "tool_call":
            value = part.get("value", part.get("text"))
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            out += ("\n" if out and not out.endswith("\n") else "") + call_block(text)
        else:
            shown = kind if kind is not None else json_type(part)
            raise ShapeError(f"message {index}: content part of type {short_key(shown)!r} is not text (read: text, "
                             "reasoning, thinking, tool_call)", index)
    return out


def _part_text(part: dict[str, Any], kind: str, index: int) -> str:
    """The text of a part: `text` (OpenAI), `value` (LLaMA-Factory), or the key named after its type."""
    key = next((k for k in ("text", "value", kind) if k in part), "text")
    text = part.get(key)
    if not isinstance(text, str):
        raise ShapeError(f"message {index}: a {short_key(kind)} content part whose `{key}` is {json_type(text)}, "
                         "not a string", index)
    return text


def _fold_reasoning(msg: dict[str, Any], index: int) -> None:
    """The turn's reasoning fields, removed, as the content's leading `<think>` block (see the module docstring)."""
    found: list[str] = []
    for key in REASONING_KEYS:
        if key not in msg:
            continue
        value = msg.pop(key)
        if not isinstance(value, str):
            raise ShapeError(f"message {index}: `{key}` (the turn's reasoning) must be a string, got "
                             f"{json_type(value)}", index)
        text = value.strip()
        if text and text not in found:  # vLLM writes the same text as `reasoning` and `reasoning_content`
            found.append(text)
    if not found:
        return
    content = msg.get("content") or ""
    own = _THINK_RE.search(content) if "<think>" in content else None
    if own is not None:
        found = [text for text in found if text != own.group(1).strip()]
    if found:
        msg["content"] = "".join(think_block(text) for text in found) + content.lstrip()


def _read_weight(msg: dict[str, Any], index: int) -> None:
    """`weight` / `loss_weight` (0 or 1), removed, as `train` (false or true)."""
    for key in WEIGHT_KEYS:
        if key not in msg:
            continue
        value = msg.pop(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in (0, 1):
            raise ShapeError(f"message {index}: `{key}` is {short_key(json.dumps(value))}; it must be 0 (the turn is "
                             "not trained) or 1 (trained), as in OpenAI's fine-tuning format: write 0 or 1, or "
                             "`train: false` / `train: true`", index)
        train = value == 1
        if isinstance(msg.get("train"), bool) and msg["train"] is not train:
            raise ShapeError(f"message {index}: `{key}: {json.dumps(value)}` and `train: "
                             f"{json.dumps(msg['train'])}` disagree: keep one of them", index)
        msg["train"] = train


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


def function_call_text(value: Any) -> str:
    """A ShareGPT `function_call` turn's value as assistant content: `<tool_call>` blocks, one per call.

    LLaMA-Factory's convention: the value is JSON text (or an already-read value) holding one call object or a
    list of them (parallel calls), optionally after a leading `<think>…</think>` block. Text that is not JSON stays
    as written in one block, for the call parser to report."""
    think = ""
    if isinstance(value, str):
        lead = _LEADING_THINK_RE.match(value) if "<think>" in value else None
        if lead is not None:
            think, value = lead.group(1) + "\n", value[lead.end():]
        parsed, err = load_text(value)
        if err is not None or not isinstance(parsed, list) or not parsed:
            return think + call_block(value)
        value = parsed
    calls = value if isinstance(value, list) and value else [value]
    return think + "\n".join(call_block(json.dumps(c, ensure_ascii=False)) for c in calls)


_RESULT_KEYS = frozenset({"content", "results", "result", "output", "response"})
_ENVELOPE_KEYS = _RESULT_KEYS | {"name", "tool_call_id", "role", "type"}
_OPENAI_ENVELOPE_KEYS = frozenset({"content", "name", "tool_call_id", "role", "type"})


def split_results(messages: list[Any]) -> list[Any]:
    """Tool messages that hold several results as one JSON list, as one tool message per result, in order.

    A list is split when every item is a result that names its tool (`{"name": …, "results": …}` as ToolACE
    writes, `{"tool_call_id": …, "name": …, "content": …}` as LLaMA-Factory's demos do: each item's `name`, and
    id, are kept on its message), or when it is the one tool message after an assistant turn of N > 1 calls and
    holds N items. A tool message with its own `name` or `tool_call_id` answers one call and is left whole, and
    so is any other list: one call's result may well be a list."""
    out: list[Any] = []
    calls = 0
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") != "tool":
            out.append(m)
            calls = _call_count(m) if isinstance(m, dict) and m.get("role") == "assistant" else 0
            continue
        alone = out and isinstance(out[-1], dict) and out[-1].get("role") == "assistant" and not (
            i + 1 < len(messages) and isinstance(messages[i + 1], dict) and messages[i + 1].get("role") == "tool")
        out.extend(_results(m, calls if alone else 0) or [m])
    return out


def _call_count(m: dict[str, Any]) -> int:
    calls = m.get("tool_calls")
    content = m.get("content")
    return (len(calls) if isinstance(calls, list) else 0) + (content.count(OPEN_TAG) if isinstance(content, str)
                                                             else 0)


def _results(m: dict[str, Any], calls: int) -> list[dict[str, Any]] | None:
    """The tool messages `m` holds (see `split_results`), or None to keep it whole."""
    content = m.get("content")
    if not isinstance(content, str):
        return None
    text = content.strip()
    if text.startswith(_RESPONSE_OPEN):
        return _response_blocks(m, text)
    if m.get("name") is not None or m.get("tool_call_id") is not None:
        return None
    if not text.startswith("[") or (calls < 2 and '"name"' not in text):
        return None  # neither named results nor the results of several calls: not worth parsing
    items, err = load_text(text)
    if err is not None or not isinstance(items, list) or not items:
        return None
    if all(_is_named_result(item) for item in items):
        return [_named_result(m, item) for item in items]
    if calls > 1 and len(items) == calls:
        return [{**m, "content": _text_of(item)} for item in items]
    return None


_RESPONSE_OPEN, _RESPONSE_CLOSE = "<tool_response>", "</tool_response>"


def _response_blocks(m: dict[str, Any], text: str) -> list[dict[str, Any]] | None:
    """The results of a tool message written in `<tool_response>` blocks and nothing else (Hermes, and records
    rendered for it), each block's text without its tags: the renderer writes them, and a result kept in its
    tags would be trained on in two. Several blocks (Hermes's tool turn after parallel calls) are one tool message
    each, unless the message names its tool or call (it answers one call: its blocks' texts are joined). None when
    `text` holds anything else."""
    blocks: list[str] = []
    pos = 0
    while pos < len(text):
        if not text.startswith(_RESPONSE_OPEN, pos):
            return None
        end = text.find(_RESPONSE_CLOSE, pos + len(_RESPONSE_OPEN))
        if end < 0:
            return None
        inner = text[pos + len(_RESPONSE_OPEN):end]
        if _RESPONSE_OPEN in inner:
            return None
        blocks.append(inner.strip())
        pos = end + len(_RESPONSE_CLOSE)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if len(blocks) > 1 and (m.get("name") is not None or m.get("tool_call_id") is not None):
        return [{**m, "content": "\n".join(blocks)}]  # one call's result, in parts
    return [_named_block(m, block) for block in blocks]


def _named_block(m: dict[str, Any], block: str) -> dict[str, Any]:
    """A tool message holding one `<tool_response>` block's text; Hermes's `{"name": …, "content": …}` envelope
    names its tool (the message's `name`, which TC012 checks against the call it answers), kept as written."""
    out = {**m, "content": block}
    if m.get("name") is None and block.startswith("{") and '"name"' in block:
        item, err = load_text(block)
        if err is None and _is_named_result(item):
            out["name"] = item["name"]
    return out


def _is_named_result(item: Any) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("name"), str) and bool(item["name"].strip())
            and not _RESULT_KEYS.isdisjoint(item) and _ENVELOPE_KEYS.issuperset(item))


def _named_result(m: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """A tool message from one named result: an OpenAI-style `{tool_call_id, name, content}` item gives its
    content; any other (ToolACE's `{name, results}`) is the item's JSON as written."""
    out = {**m, "name": item["name"]}
    if isinstance(item.get("tool_call_id"), str):
        out["tool_call_id"] = item["tool_call_id"]
    openai_style = "content" in item and _OPENAI_ENVELOPE_KEYS.issuperset(item)
    out["content"] = _text_of(item["content"]) if openai_style else json.dumps(item, ensure_ascii=False)
    return out


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


ADAPTER = ShapeAdapter("messages", "`messages`", matches, adapt, order=10)
