"""What a shape adapter is (`ShapeAdapter`), what it is given (`Source`), and the fields every shape keeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class Source:
    """Where a record was read from, for adapters that read files beside it (BFCL's answers).

    `path` is the record's file as read (None when a bare value is adapted). `cached(key, load)` is what
    `load()` returned the first time `key` was asked for: a `RecordReader` shares one cache across its
    records, so a file beside the data is loaded once per reader.
    """

    __slots__ = ("_cache", "path")

    def __init__(self, path: str | None = None, cache: dict[Hashable, Any] | None = None) -> None:
        self.path = path
        self._cache: dict[Hashable, Any] = {} if cache is None else cache

    def cached(self, key: Hashable, load: Callable[[], T]) -> T:
        """`load()`, called once per key and cache."""
        try:
            return self._cache[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._cache[key] = load()
            return value


@dataclass(frozen=True, slots=True)
class DocumentRecords:
    """The records one document holds (see `ShapeAdapter.split`).

    `records[k]` comes from element k of the array at `at` (a path of keys and indexes from the document's
    root, as `("answer_generation", "train_messages")`): the reader gives it the line that element starts on,
    so each record's findings point into the file. Each record is then adapted like any record read.
    """

    at: tuple[str | int, ...]
    records: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ShapeAdapter:
    """One source shape: how a record of it is recognised and how it becomes the canonical record.

    `matches(data)` is given a record that is a JSON object and says whether it has this shape. `adapt(data,
    source)` maps it onto the canonical dict (validated afterwards as a `Trajectory`; its `tools`, if any,
    normalised by the caller), raising `ShapeError` when a record of this shape cannot be mapped. Adapters are
    tried by `order`, then `name`; the first that matches adapts the record. `expected` names the shape in the
    error a record no adapter matches gets, as in "expected `messages`, ... or `instruction`/`output`".

    A shape whose one document holds several records (a ToolBench answer file: one per trajectory) also has
    `split(data, source)`: a file that is one JSON document of this shape is read as those records, each at
    its own line (`DocumentRecords`). Met elsewhere (a line of JSON Lines, an array element), such a
    document is given to `adapt`.
    """

    name: str
    expected: str
    matches: Callable[[dict[str, Any]], bool]
    adapt: Callable[[dict[str, Any], Source], dict[str, Any]]
    order: int = 100
    split: Callable[[dict[str, Any], Source], DocumentRecords] | None = None


def short_key(key: Any) -> str:
    """A key (or a short value) as an error shows it: at most 40 characters."""
    text = str(key)
    return text if len(text) <= 40 else text[:39] + "…"


def record_id(value: Any) -> Any:
    """A record's `id` as a string: numbers are written as JSON; other types are left for validation."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)
    return value


def common_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The fields a record keeps whatever its shape: `id` (see `record_id`), `tools` and `meta`, when set."""
    out: dict[str, Any] = {}
    if data.get("id") is not None:
        out["id"] = record_id(data["id"])
    tools = data.get("tools")
    if tools is not None:
        out["tools"] = tools
    if data.get("meta") is not None:
        out["meta"] = data["meta"]
    return out
