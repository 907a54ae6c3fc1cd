"""JSON Lines: one record a line, read in bounded pieces, a line over `max_record_bytes` skipped unread.

No more than the limit (and a little) of one line is ever held, whatever the file: `curate lint /dev/zero`
reports one record and ends only at the end of the stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from curate.readers.raw import BOM, SKIP_CHUNK, RawRecord, too_large


def decode_line(raw: bytes, path: str, lineno: int) -> RawRecord | None:
    """The record of one JSON Lines line (decoded when first used), or None for a blank line."""
    if lineno == 1 and raw.startswith(BOM):
        raw = raw[3:]
    raw = raw.rstrip(b"\r\n")
    if not raw.strip():
        return None
    return RawRecord(path, lineno, text=raw)


def iter_jsonl(fh: Any, path: str, limit: int) -> Iterator[RawRecord]:
    """The records of a JSON Lines stream; a line over `limit` bytes (its line end aside) is skipped unread."""
    readline = fh.readline
    size = limit + 2  # room for the line's own `\r\n`
    lineno = 0
    while True:
        raw = readline(size)
        if not raw:
            return
        lineno += 1
        if len(raw) < size or raw.endswith(b"\n"):
            if len(raw) > limit and len(raw.rstrip(b"\r\n")) > limit:  # over by its last byte or two
                yield RawRecord(path, lineno, error=too_large(len(raw.rstrip(b"\r\n")), limit))
                continue
            rec = decode_line(raw, path, lineno)
            if rec is not None:
                yield rec
            continue
        # an over-long line: skip the rest of it in bounded pieces, counting its bytes
        total = len(raw)
        del raw
        while True:
            piece = readline(SKIP_CHUNK)
            total += len(piece)
            if not piece or piece.endswith(b"\n"):
                total -= len(piece) - len(piece.rstrip(b"\r\n"))
                break
        yield RawRecord(path, lineno, error=too_large(total, limit))
