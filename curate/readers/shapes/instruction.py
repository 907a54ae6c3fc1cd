"""`instruction`/`input`/`output` pairs (Alpaca): one user turn (instruction, then input) and one assistant turn."""

from __future__ import annotations

from typing import Any

from curate.readers.shapes.base import ShapeAdapter, Source, common_fields


def matches(data: dict[str, Any]) -> bool:
    """A record with `instruction` and `output`."""
    return "instruction" in data and "output" in data


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """A `system` prompt if set, the instruction (with a non-blank `input` after a blank line), the output."""
    out = common_fields(data)
    messages = []
    if isinstance(data.get("system"), str) and data["system"]:
        messages.append({"role": "system", "content": data["system"]})
    prompt = data.get("instruction")
    extra = data.get("input")
    if isinstance(prompt, str) and isinstance(extra, str) and extra.strip():
        prompt = f"{prompt}\n\n{extra}"
    messages.append({"role": "user", "content": prompt})
    messages.append({"role": "assistant", "content": data.get("output")})
    out["messages"] = messages
    return out


ADAPTER = ShapeAdapter("instruction", "`instruction`/`output`", matches, adapt, order=30)
