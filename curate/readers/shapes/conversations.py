"""`conversations` (or `conversation`): ChatML `role`/`content` turns or ShareGPT `from`/`value` turns.

ShareGPT speakers are human, gpt, system, function_call (an assistant turn holding one `<tool_call>` block)
and observation; a string `tools` holding JSON and a top-level `system` prompt are read too.
"""

from __future__ import annotations

import json
from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.raw import load_text
from curate.readers.shapes.base import ShapeAdapter, Source, common_fields, short_key
from curate.readers.shapes.messages import ROLE_ALIASES, message
from curate.toolcalls import json_type


def matches(data: dict[str, Any]) -> bool:
    """A record with `conversations` or `conversation` (not null)."""
    return data.get("conversations") is not None or data.get("conversation") is not None


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """The turns as messages (a `system` prompt first); only `id`, `tools` and `meta` are kept besides."""
    conv = data.get("conversations") if data.get("conversations") is not None else data["conversation"]
    out = common_fields(data)
    if isinstance(out.get("tools"), str):
        out["tools"], err = load_text(out["tools"])
        if err:
            raise ShapeError(f"`tools` is a string that is not valid JSON: {err}")
    if not isinstance(conv, list):
        raise ShapeError(f"`conversations` must be a list, got {json_type(conv)}")
    messages: list[Any] = []
    if isinstance(data.get("system"), str) and data["system"]:
        messages.append({"role": "system", "content": data["system"]})
    for i, turn in enumerate(conv):
        if isinstance(turn, dict) and "from" in turn and "role" not in turn:
            role = str(turn.get("from", "")).lower()
            value = turn.get("value")
            if role == "function_call":
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                messages.append({"role": "assistant", "content": f"<tool_call>\n{text}\n</tool_call>"})
                continue
            if role not in ROLE_ALIASES:
                raise ShapeError(f"turn {i}: unknown ShareGPT speaker `{short_key(turn.get('from'))}` "
                                 "(expected human, gpt, system, function_call or observation)", len(messages))
            messages.append({"role": ROLE_ALIASES[role], "content": value})
        else:
            messages.append(message(turn, i))
    out["messages"] = messages
    return out


ADAPTER = ShapeAdapter("conversations", "`conversations`", matches, adapt, order=20)
