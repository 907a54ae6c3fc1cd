"""JSON Lines inputs read by the Ray engine's workers themselves, by byte ranges, with the local engine's reader.

    driver: plan_parts (which files are JSON Lines) ─▶ cut_ranges (a bounded read near each cut) ─▶
    workers: index_range (each range's line ends, and each record's line, offset and length) ─▶
    driver: span_rows (first line of each range: a prefix sum; sources numbered; compact columns) ─▶
    workers: read_range (the same records again, lines numbered from the range's first line) ─▶ record facts

A range starts at a line start and ends after a line end (or at the end of the file), so no line is ever split
between two workers; a line longer than a range makes a range of its own. Both passes read a range with
`iter_jsonl_at`, the local engine's JSON Lines reader: blank lines, the BOM of line 1, `\\r\\n`, lines over
`max_record_bytes` (reported unread) and an unterminated last line are read exactly as `iter_raw` reads them.
The driver keeps only where each record lies (`curate.build.raw.SpanRows`); the export reads the chosen records
back from the input by offset. Inputs that are not JSON Lines files (JSON arrays and documents, Parquet,
`datasets` folders, stdin, fetched remote inputs) are read by the driver, as the local engine reads them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.build.raw import HELD_AS_ERROR, HELD_IN_FILE, HELD_IN_ROWS, Piece, SpanRows
from curate.readers.files import data_files, sniff_layout
from curate.readers.jsonl import iter_jsonl, iter_jsonl_at
from curate.readers.raw import RawRecord

RANGE_BYTES = 32 << 20
"""The most bytes of a file one worker reads in one range (a line longer than that is one range): small enough
that the last ranges keep every worker busy to the end, large enough that a range is seconds of work."""
MIN_RANGE_BYTES = 1 << 20
"""Ranges are cut smaller than `RANGE_BYTES`, down to this, so that every worker has `RANGES_PER_WORKER`."""
RANGES_PER_WORKER = 4
SCAN_BYTES = 1 << 16
"""The pieces in which the driver reads past a cut to the next line end."""


@dataclass(frozen=True)
class Part:
    """A file (or a folder, stdin) of the inputs, in reading order: `input` is its index in the inputs; `ranged`:
    a local JSON Lines file the workers read by ranges (its size and mtime in `stat`), else the driver reads it."""

    input: int
    path: Path
    ranged: bool
    stat: tuple[int, int] = (0, 0)


def is_jsonl_file(path: Path, limit: int) -> bool:
    """Whether `iter_raw` reads the file `path` as JSON Lines (`sniff_layout` decides, as it does for `iter_raw`);
    False when it cannot be opened (the driver's own reading then reports it)."""
    if path.suffix.lower() == ".parquet" or not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            kind, _ = sniff_layout(fh, path.suffix.lower(), limit)
    except OSError:
        return False
    return kind == "jsonl"


def plan_parts(inputs: Sequence[Path], readable: Sequence[bool], limit: int) -> list[Part]:
    """The files of `inputs` in the order `iter_raw` reads them, those the workers may read by ranges marked
    (`readable`: the inputs that are local paths, not copies of remote ones fetched into the work folder).
    A folder input is its data files (`data_files`), each on its own; a `datasets` folder is read whole."""
    from curate.readers import is_datasets_folder

    parts: list[Part] = []
    for k, given in enumerate(inputs):
        fs = Path(str(given))
        files = [fs]
        if readable[k] and str(given) != "-" and fs.is_dir() and not is_datasets_folder(fs):
            files = list(data_files(fs)) or [fs]  # no data file: the driver's reading says so
        for f in files:
            if readable[k] and str(given) != "-" and is_jsonl_file(f, limit):
                st = f.stat()
                parts.append(Part(k, f, True, (st.st_size, st.st_mtime_ns)))
            else:
                parts.append(Part(k, f, False))
    return parts


def range_bytes(total: int, workers: int) -> int:
    """The size to cut ranges at for `total` bytes of JSON Lines and `workers` workers."""
    return min(RANGE_BYTES, max(MIN_RANGE_BYTES, -(-total // (RANGES_PER_WORKER * max(1, workers)))))


def cut_ranges(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges (start, end) covering the file `path` once, in order: each starts at a line start and ends at
    the first line start at or past `start + size` (or at the end of the file). O(ranges) reads of `SCAN_BYTES`
    (more only to cross a line longer than that)."""
    total = path.stat().st_size
    out: list[tuple[int, int]] = []
    start = 0
    with open(path, "rb") as fh:
        while start < total:
            end = next_line_start(fh, start + max(1, size), total)
            out.append((start, end))
            start = end
    return out


def next_line_start(fh: Any, at: int, total: int) -> int:
    """The first line start at or past `at` (`at` itself when a line ends just before it) of the open file `fh`
    of `total` bytes; `total` when no line ends from `at - 1` on."""
    if at >= total:
        return total
    pos = at - 1
    fh.seek(pos)
    while True:
        piece = fh.read(SCAN_BYTES)
        if not piece:
            return total
        k = piece.find(b"\n")
        if k >= 0:
            return pos + k + 1
        pos += len(piece)


class RangeStream:
    """Bytes [start, end) of an open binary file as a stream with `readline`, counting the line ends it gives."""

    def __init__(self, fh: Any, start: int, end: int) -> None:
        fh.seek(start)
        self.fh = fh
        self.left = end - start
        self.newlines = 0

    def readline(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        line = self.fh.readline(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(line)
        if line.endswith(b"\n"):
            self.newlines += 1
        return line


def index_range(path: str, start: int, end: int, limit: int) -> dict[str, Any]:
    """What the driver keeps of bytes [start, end) of the JSON Lines file `path` (a Ray task): the range's line
    ends (`newlines`) and its records as `iter_jsonl` reads them: `line` (counted from 1 at the file's start, else
    from 2: the range's first line is not line 1, whatever it holds), `offset` in the file and `length` of the
    bytes parsed, and `errors` of the records not read (by position). `error`: why the file cannot be read here."""
    first = 1 if start == 0 else 2
    lines: list[int] = []
    offsets: list[int] = []
    lengths: list[int] = []
    errors: dict[int, str] = {}
    try:
        with open(path, "rb") as fh:
            stream = RangeStream(fh, start, end)
            for at, rec in iter_jsonl_at(stream, path, limit, first):
                if rec.text is None:  # the record over `limit`, unread
                    assert rec.error is not None
                    errors[len(lines)] = rec.error
                lines.append(rec.line)
                offsets.append(start + at)
                lengths.append(len(rec.text) if rec.text is not None else 0)
    except OSError as e:
        return {"error": f"{e.__class__.__name__}: {e.strerror or e}"}
    return {"first": first, "newlines": stream.newlines, "line": np.asarray(lines, dtype=np.int64),
            "offset": np.asarray(offsets, dtype=np.int64), "length": np.asarray(lengths, dtype=np.int64),
            "errors": errors}


def read_range(path: str, start: int, end: int, first_line: int, limit: int) -> Iterator[RawRecord]:
    """The records of bytes [start, end) of the JSON Lines file `path`, its first line numbered `first_line`:
    what `iter_raw(path)` gives for those lines."""
    with open(path, "rb") as fh:
        yield from iter_jsonl(RangeStream(fh, start, end), path, limit, first_line)


def span_rows(parts: Sequence[Part], ranges: Sequence[Sequence[tuple[int, int]]],
              indexes: Sequence[Sequence[dict[str, Any]]], raw: Any,
              raw_sources: Sequence[tuple[int, str]], limit: int) -> tuple[SpanRows, list[tuple[int, str]]]:
    """The records of `parts` in input order as `SpanRows`, and their sources, numbered as `RawRows` numbers them
    (a file from which nothing is read has no number). `ranges[p]`, `indexes[p]`: the ranges of the ranged part
    `p` and their `index_range`; `raw`, `raw_sources`: what `read_raw_dataset` read of the other parts, in
    order; `limit`: the `max_record_bytes` the ranges were read with."""
    sources: list[tuple[int, str]] = []
    cols: dict[str, list[np.ndarray]] = {name: [] for name in ("source", "line", "held", "offset", "length")}
    errors: dict[int, str] = {}
    pieces: list[Piece] = []
    stats: dict[int, tuple[int, int]] = {}
    count = 0
    driven = [p for p, part in enumerate(parts) if not part.ranged]
    raw_table = raw.data.table if raw is not None else None
    # the driver's rows: each part's rows in a row, its sources numbered in the order met
    part_of = np.asarray([f for f, _ in raw_sources], dtype=np.int64)
    raw_source = raw_table.column("source").to_numpy() if raw_table is not None and len(raw_table) else \
        np.zeros(0, np.int64)
    ends = np.cumsum(np.bincount(part_of[raw_source], minlength=len(driven))) if len(raw_source) else \
        np.zeros(len(driven), np.int64)
    final = np.full(len(raw_sources), -1, dtype=np.int64)

    def add(source: np.ndarray, line: np.ndarray, held: np.ndarray, offset: np.ndarray, length: np.ndarray) -> None:
        for name, values in zip(cols, (source, line, held, offset, length), strict=True):
            cols[name].append(values)

    for p, part in enumerate(parts):
        if not part.ranged:
            d = driven.index(p)
            first, last = (int(ends[d - 1]) if d else 0), int(ends[d])
            for s in np.flatnonzero(part_of == d).tolist():  # `RawRows` numbers them in the order met
                final[s] = len(sources)
                sources.append((part.input, raw_sources[s][1]))
            if last > first:
                assert raw_table is not None
                n = last - first
                add(final[raw_source[first:last]].astype(np.int32),
                    raw_table.column("line").slice(first, n).to_numpy().astype(np.int64),
                    np.full(n, HELD_IN_ROWS, np.int8), np.arange(first, last, dtype=np.int64), np.zeros(n, np.int64))
                pieces.append(Piece(None, first, last, 0, n))
                count += n
            continue
        found = [ix for ix in indexes[p] if len(ix["line"])]
        if not found:
            continue  # nothing read from it: no source, as `RawRows` numbers none
        source = len(sources)
        sources.append((part.input, str(part.path)))
        stats[source] = part.stat
        first_line = 1
        for (start, end), ix in zip(ranges[p], indexes[p], strict=True):
            n = len(ix["line"])
            if n:
                held = np.full(n, HELD_IN_FILE, np.int8)
                for k, text in ix["errors"].items():
                    held[k] = HELD_AS_ERROR
                    errors[count + k] = text
                add(np.full(n, source, np.int32), ix["line"] - ix["first"] + first_line, held, ix["offset"],
                    ix["length"])
                pieces.append(Piece(source, start, end, first_line, n))
                count += n
            first_line += ix["newlines"]
    if not cols["source"]:
        add(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.int64),
            np.zeros(0, np.int64))
    joined = {name: np.concatenate(values) for name, values in cols.items()}
    return SpanRows(joined["source"], joined["line"], joined["held"], joined["offset"], joined["length"], errors,
                    raw, pieces, stats, limit), sources


def ranged_bytes(parts: Sequence[Part]) -> int:
    """The bytes of the files the workers read."""
    return sum(p.stat[0] for p in parts if p.ranged)

