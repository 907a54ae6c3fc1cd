"""A `.json` file holding one JSON document: one record at line 1, or the records of a document that holds
several (a ToolBench answer file: one per trajectory), each at the line it starts on; unread when over the
limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from json.decoder import scanstring
from json.scanner import make_scanner
from typing import Any

from curate.readers.raw import BOM, SKIP_CHUNK, RawRecord, load_text, too_large
from curate.readers.shapes import adapters
from curate.readers.shapes.base import DocumentRecords, Source


def iter_json_document(fh: Any, path: str, limit: int) -> Iterator[RawRecord]:
    """The records of one JSON document spread over lines (a pretty-printed record, or a document of a shape
    that holds several records: see `ShapeAdapter.split`); none if blank."""
    raw = fh.read(limit + 4)  # a BOM and a final line end
    if len(raw) > limit + 3:
        total = len(raw)
        while piece := fh.read(SKIP_CHUNK):
            total += len(piece)
        yield RawRecord(path, 1, error=too_large(total, limit))
        return
    if raw.startswith(BOM):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        yield RawRecord(path, 1, error=f"invalid UTF-8 at line {line}: re-encode the file as UTF-8")
        return
    if not text.strip():
        return
    value, err = load_text(text)
    if err is not None:
        yield RawRecord(path, 1, error=f"invalid JSON: {err}")
        return
    held = split_document(value, path)
    if held is None:
        yield RawRecord(path, 1, data=value)
        return
    lines = element_lines(text, held.at, len(held.records), value)
    for line, record in zip(lines, held.records, strict=True):
        yield RawRecord(path, line, data=record)


def split_document(value: Any, path: str) -> DocumentRecords | None:
    """The records a document holds when its shape (the first adapter that matches it, as `adapt` picks) is
    one whose documents hold several; None for a document that is one record."""
    if not isinstance(value, dict):
        return None
    for adapter in adapters():
        if adapter.matches(value):
            return None if adapter.split is None else adapter.split(value, Source(path))
    return None


_WS = re.compile(r"[ \t\r\n]*")
_scan = make_scanner(json.JSONDecoder())


def element_lines(text: str, at: tuple[str | int, ...], count: int, value: Any = None) -> list[int]:
    """The 1-based line each of the first `count` elements of the array at path `at` starts on in a JSON
    text (already decoded once, to `value` when given: it is valid JSON).

    With `value`, when the path's last key is written once in the text (`"train_messages":`, which only a key
    can be: inside a string the quotes are escaped), the array is read there, and taken when it decodes to
    the one `value` holds, so the rest of the document (ToolBench's search tree) is not decoded again; else
    the path is followed from the root, values off it skipped by the C scanner. A path that cannot be followed (it
    cannot be, for the text a split came from) puts every element at line 1."""
    if count == 0:
        return []
    try:
        starts = _starts_at_key(text, at, value) if value is not None else None
        if starts is None:
            starts = _element_starts(text, at)
    except (ValueError, IndexError, KeyError, TypeError, StopIteration, RecursionError):
        starts = None
    if starts is None or len(starts) < count:
        return [1] * count
    lines, line, last = [], 1, 0
    for pos in starts[:count]:
        line += text.count("\n", last, pos)
        last = pos
        lines.append(line)
    return lines


def _ws(text: str, pos: int) -> int:
    """`pos` moved past any JSON whitespace."""
    return _WS.match(text, pos).end()  # type: ignore[union-attr]  # `*`: it always matches


def _starts_at_key(text: str, at: tuple[str | int, ...], value: Any) -> list[int] | None:
    """Where each element of the array at `at` starts, found where the path's last key is written, when it is
    written once and its array decodes to the one `value` holds at `at`; else None."""
    if not at or not isinstance(at[-1], str):
        return None
    target = value
    for step in at:
        target = target[step]
    if not isinstance(target, list):
        return None
    key = re.compile(re.escape(json.dumps(at[-1])) + r"[ \t\r\n]*:[ \t\r\n]*\[")
    found = key.findall(text, 0)
    if len(found) != 1:
        return None
    starts, items = [], []
    pos = _ws(text, key.search(text).end())  # type: ignore[union-attr]  # found once
    if text[pos] != "]":
        while True:
            item, end = _scan(text, pos)
            starts.append(pos)
            items.append(item)
            pos = _ws(text, end)
            if text[pos] != ",":
                break
            pos = _ws(text, pos + 1)
    return starts if items == target else None


def _element_starts(text: str, at: tuple[str | int, ...]) -> list[int] | None:
    """Where each element of the array at path `at` starts, or None when the path leads to no array."""
    pos = _ws(text, 0)
    for step in at:
        found = _member(text, pos, step)
        if found is None:
            return None
        pos = found
    if text[pos] != "[":
        return None
    starts: list[int] = []
    pos = _ws(text, pos + 1)
    if text[pos] == "]":
        return starts
    while True:
        starts.append(pos)
        pos = _ws(text, _scan(text, pos)[1])
        if text[pos] != ",":
            return starts
        pos = _ws(text, pos + 1)


def _member(text: str, pos: int, step: str | int) -> int | None:
    """Where the value of key `step` (of the object at `pos`) or of element `step` (of the array at `pos`)
    starts; for a key given twice, the last one's, as decoding keeps it."""
    in_object = text[pos] == "{"
    if text[pos] not in "{[" or in_object != isinstance(step, str):
        return None
    found = None
    index = 0
    pos = _ws(text, pos + 1)
    if text[pos] in "}]":
        return None
    while True:
        if in_object:
            key, pos = scanstring(text, pos + 1)
            pos = _ws(text, _ws(text, pos) + 1)  # past the `:`
            if key == step:
                found = pos
        elif index == step:
            return pos
        else:
            index += 1
        pos = _ws(text, _scan(text, pos)[1])
        if text[pos] != ",":
            return found
        pos = _ws(text, pos + 1)
