"""Source shapes → the canonical record: one adapter module per shape, tried in order by `adapt`.

Each module here (but `base`) defines `ADAPTER`, a `ShapeAdapter` named after the module: adding a shape
means adding a file. `register` adds an adapter from elsewhere (a plugin, a test) for the running process.
"""

from __future__ import annotations

from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.prompt_tools import apply_prompt_tools
from curate.readers.shapes.base import ShapeAdapter, Source, short_key
from curate.readers.tool_specs import normalise_tools
from curate.toolcalls import json_type

_adapters: dict[str, ShapeAdapter] = {}
_in_order: tuple[ShapeAdapter, ...] | None = None
"""`_adapters` in the order `adapt` tries them; None until the modules here are found, and after a change."""


def adapters() -> tuple[ShapeAdapter, ...]:
    """Every adapter, in the order `adapt` tries them (by `order`, then name)."""
    global _in_order
    if _in_order is None:
        if not _adapters:
            _adapters.update(_found())
        _in_order = tuple(sorted(_adapters.values(), key=lambda a: (a.order, a.name)))
    return _in_order


def _found() -> dict[str, ShapeAdapter]:
    """The `ADAPTER` of each module in this folder, by name."""
    import importlib  # on first use only: readers are imported by every command, start-up counts
    import pkgutil

    found: dict[str, ShapeAdapter] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        adapter = getattr(importlib.import_module(f"{__name__}.{info.name}"), "ADAPTER", None)
        if not isinstance(adapter, ShapeAdapter) or adapter.name != info.name:
            raise RuntimeError(f"curate/readers/shapes/{info.name}.py must define ADAPTER, a ShapeAdapter "
                               f"named {info.name!r}")
        found[adapter.name] = adapter
    return found


def register(adapter: ShapeAdapter) -> ShapeAdapter:
    """Add an adapter for every reader of this process; raises `ValueError` if its name is taken."""
    global _in_order
    adapters()  # the modules here first, so that a name clash is seen now
    if adapter.name in _adapters:
        raise ValueError(f"a shape adapter named {adapter.name!r} is already registered")
    _adapters[adapter.name] = adapter
    _in_order = None
    return adapter


def unregister(name: str) -> None:
    """Remove the adapter named `name`; raises `KeyError` if there is none."""
    global _in_order
    adapters()
    del _adapters[name]
    _in_order = None


def adapt(data: Any, source: Source | None = None) -> dict[str, Any]:
    """Map a record of any registered shape onto the canonical dict (not yet validated).

    The first adapter whose `matches` accepts the record adapts it; `tools` are then normalised
    (`normalise_tools`); a record without them gets those its system prompt declares (`apply_prompt_tools`,
    `tools_source: "system prompt"`). `source` tells adapters where the record was read from (BFCL's answers
    sit beside its file); without it they see a bare value. Raises `ShapeError` for a record no adapter
    recognises or one its adapter cannot map.
    """
    if not isinstance(data, dict):
        raise ShapeError(f"a record must be a JSON object, got {json_type(data)}")
    in_order = _in_order if _in_order is not None else adapters()
    for adapter in in_order:
        if adapter.matches(data):
            out = adapter.adapt(data, Source() if source is None else source)
            break
    else:
        raise ShapeError(_unrecognised(data, in_order))
    if "tools" in out:
        out["tools"] = normalise_tools(out["tools"])
    apply_prompt_tools(out)
    return out


def _unrecognised(data: dict[str, Any], in_order: tuple[ShapeAdapter, ...]) -> str:
    keys = ", ".join(f"`{short_key(k)}`" for k in list(data)[:8]) or "none"
    more = f" and {len(data) - 8} more" if len(data) > 8 else ""
    names = [a.expected for a in in_order]
    expected = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)
    return f"unrecognised record shape (keys: {keys}{more}); expected {expected}"


__all__ = ["ShapeAdapter", "Source", "adapt", "adapters", "register", "unregister"]
