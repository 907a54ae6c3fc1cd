"""Tool specs: a `--tools` file read (`load_tool_specs`), and specs of either shape made OpenAI-shaped.

Specs may be OpenAI-shaped (`{"type": "function", "function": {...}}`) or bare (`{name, description,
parameters}`); both become the OpenAI shape. Their `parameters` stay in the dialect they are written in (bare
parameters, type strings, a `required` list beside them, as xLAM writes them): `curate.validate` reads it when
calls are checked, whatever path a record took to be read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from curate.readers.errors import ReadError, ShapeError
from curate.readers.raw import load_text


def load_tool_specs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Tool specs from a `--tools` file: a JSON array (or JSONL) of OpenAI-shaped or bare specs."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReadError(f"{p}: tools file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ReadError(f"{p}: cannot read tools file: {e}") from None
    value, err = load_text(text)
    if err is not None:
        values = []
        for lineno, line in enumerate(text.split("\n"), 1):
            if line.strip():
                v, line_err = load_text(line)
                if line_err is not None and not values:
                    raise ReadError(f"{p}: tools file is not valid JSON: {err}")
                if line_err is not None:
                    raise ReadError(f"{p}:{lineno}: tools file is neither JSON nor JSON Lines: {line_err}")
                values.append(v)
        value = values
    if isinstance(value, dict):
        value = value.get("tools", [value])
    if not isinstance(value, list):
        raise ReadError(f"{p}: a tools file must hold a JSON array of tool specs")
    specs = normalise_tools(value)
    for i, spec in enumerate(specs):
        fn = spec.get("function") if isinstance(spec, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ReadError(f"{p}: tool spec #{i + 1} has no function name; expected "
                            '{"type": "function", "function": {"name": ..., "parameters": {...}}}')
    return specs


def normalise_tools(tools: Any) -> Any:
    """Bare `{name, description, parameters}` specs become the OpenAI shape; others pass through.

    A string is read as JSON first (`ShapeError` when it is not), and `parameters` written as JSON text are
    read when they parse."""
    if isinstance(tools, str):
        value, err = load_text(tools)
        if err is not None:
            raise ShapeError(f"`tools` is a string that is not valid JSON: {err}")
        tools = value
    if not isinstance(tools, list):
        return tools
    out = []
    for t in tools:
        if isinstance(t, dict) and "function" not in t and "name" in t:
            t = {"type": "function", "function": t}
        if isinstance(t, dict) and isinstance(t.get("function"), dict):
            fn = t["function"]
            if isinstance(fn.get("parameters"), str):
                params, err = load_text(fn["parameters"])
                if err is None:
                    t = {**t, "function": {**fn, "parameters": params}}
        out.append(t)
    return out
