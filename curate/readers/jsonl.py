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


def iter_jsonl(fh: Any, path: str, limit: int, first_line: int = 1) -> Iterator[RawRecord]:
    """The records of a JSON Lines stream; a line over `limit` bytes (its line end aside) is skipped unread.

    `first_line`: the line number of the stream's first line (a byte range of a file starting at a line: see
    `curate.build.shards`); only line 1 may start with a BOM."""
    for _, rec in iter_jsonl_at(fh, path, limit, first_line):
        yield rec


def iter_jsonl_at(fh: Any, path: str, limit: int, first_line: int = 1) -> Iterator[tuple[int, RawRecord]]:
    """`iter_jsonl`, each record with where its bytes start in the stream: the `text` of a record read is the
    stream's bytes from there (its line without a BOM and line end); an unread record's is its line's start."""
    readline = fh.readline
    size = limit + 2  # room for the line's own `\r\n`
    lineno = first_line - 1
    pos = 0
    while True:
        raw = readline(size)
        if not raw:
            return
        lineno += 1
        start, pos = pos, pos + len(raw)
        if len(raw) < size or raw.endswith(b"\n"):
            if len(raw) > limit and len(raw.rstrip(b"\r\n")) > limit:  # over by its last byte or two
                yield start, RawRecord(path, lineno, error=too_large(len(raw.rstrip(b"\r\n")), limit))
                continue
            rec = decode_line(raw, path, lineno)
            if rec is not None:
                assert rec.text is not None
                # the text ends where the line end starts; what `decode_line` cut before it is a BOM
                yield start + len(raw.rstrip(b"\r\n")) - len(rec.text), rec
            continue
        # an over-long line: skip the rest of it in bounded pieces, counting its bytes
        total = len(raw)
        del raw
        while True:
            piece = readline(SKIP_CHUNK)
            total += len(piece)
            pos += len(piece)
            if not piece or piece.endswith(b"\n"):
                total -= len(piece) - len(piece.rstrip(b"\r\n"))
                break
        yield start, RawRecord(path, lineno, error=too_large(total, limit))
