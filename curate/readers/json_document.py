"""A `.json` file holding one pretty-printed record: one record, at line 1, unread when over the limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from curate.readers.raw import BOM, SKIP_CHUNK, RawRecord, load_text, too_large


def iter_json_document(fh: Any, path: str, limit: int) -> Iterator[RawRecord]:
    """One JSON document spread over lines (a pretty-printed record): one record at line 1, none if blank."""
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
    yield RawRecord(path, 1, data=value)
