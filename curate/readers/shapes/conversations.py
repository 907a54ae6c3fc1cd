"""`conversations` (or `conversation`): ChatML `role`/`content` turns or ShareGPT `from`/`value` turns.

ShareGPT speakers are human, gpt, system, function_call and observation (LLaMA-Factory's names; user, assistant,
tool and function read too). A `function_call` value is JSON text holding one call or a list of parallel calls,
optionally after a `<think>` block (`function_call_text`); an observation holding a JSON list of results is one
tool message per result (`split_results`). A string `tools` holding JSON and a top-level `system` prompt are read
too. Every turn then goes through `message`, as a `messages` record's do (reasoning fields, `weight`, parts).
"""

from __future__ import annotations

from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.raw import load_text
from curate.readers.shapes.base import ShapeAdapter, Source, common_fields, short_key
from curate.readers.shapes.messages import (
    REASONING_KEYS,
    ROLE_ALIASES,
    WEIGHT_KEYS,
    function_call_text,
    message,
    split_results,
    system_prompt,
    without_blank_tools,
)
from curate.toolcalls import json_type

_TURN_KEYS = frozenset({"name", "tool_call_id", "train", *WEIGHT_KEYS, *REASONING_KEYS})
"""The keys of a ShareGPT turn kept besides `from` and `value` (axolotl's per-turn `weight` among them)."""


def matches(data: dict[str, Any]) -> bool:
    """A record with `conversations` or `conversation` (not null)."""
    return data.get("conversations") is not None or data.get("conversation") is not None


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """The turns as messages (a `system` prompt first: `system_prompt`); only `id`, `tools` and `meta` are kept
    besides."""
    conv = data.get("conversations") if data.get("conversations") is not None else data["conversation"]
    out = without_blank_tools(common_fields(data))
    if isinstance(out.get("tools"), str):
        out["tools"], err = load_text(out["tools"])
        if err:
            raise ShapeError(f"`tools` is a string that is not valid JSON: {err}")
    if not isinstance(conv, list):
        raise ShapeError(f"`conversations` must be a list, got {json_type(conv)}")
    messages: list[Any] = system_prompt(data, conv[0] if conv else None)
    for i, turn in enumerate(conv):
        if isinstance(turn, dict) and "from" in turn and "role" not in turn:
            speaker = str(turn.get("from", "")).lower()
            kept = {k: v for k, v in turn.items() if k in _TURN_KEYS}
            if speaker == "function_call":
                turn = {"role": "assistant", "content": function_call_text(turn.get("value")), **kept}
            elif speaker in ROLE_ALIASES:
                turn = {"role": ROLE_ALIASES[speaker], "content": turn.get("value"), **kept}
            else:
                raise ShapeError(f"turn {i}: unknown ShareGPT speaker `{short_key(turn.get('from'))}` "
                                 "(expected human, gpt, system, function_call or observation)", len(messages))
        messages.append(message(turn, len(messages)))
    out["messages"] = split_results(messages)
    return out


ADAPTER = ShapeAdapter("conversations", "`conversations`", matches, adapt, order=20)
