"""Arrow columns of any size: rows taken and chunks gathered without ever concatenating past Arrow's 2 GB limit.

A `string`, `binary` or `list` array addresses its values with 32-bit offsets, so one array holds at most 2 GB of
them; a column over that is a chunked array of several. pyarrow's `take` on a chunked array concatenates all its
chunks first (a copy of the whole column on every call, and `offset overflow while concatenating arrays` once it
passes 2 GB), and `concat_arrays` of the chunks a build gathers fails the same way. `take_rows` takes from each
chunk what it needs; `gather_chunks` joins chunks only up to `ARROW_CHUNK_BYTES`. Types stay as they are (no
`large_string`), so what a user loads from the `datasets` folder is the same whatever the corpus size.

`SpillFile` keeps tables a step gathers on disk rather than in memory, and `rechunk` cuts tables read back into
the row counts a writer wants.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

ARROW_CHUNK_BYTES = 1 << 30
"""The most bytes `gather_chunks` puts in one Arrow array (a chunk given bigger stays alone): well under the 2 GB
that 32-bit offsets address, and few enough chunks that a million rows make a handful."""


def take_rows(data: Any, rows: Sequence[int] | np.ndarray, starts: np.ndarray | None = None) -> Any:
    """Rows `rows` (in that order, repeats allowed) of a pyarrow `Table` or `ChunkedArray`, of the same type.

    Each run of consecutive rows that falls in one chunk is one `take` on that chunk, and the runs stay separate
    chunks of the result: nothing is concatenated, so neither the column nor the result may pass 2 GB.
    `starts`: `chunk_starts(data)`, for a caller that takes from the same data again and again (finding a
    column's chunk lengths walks every chunk: 13 ms for the 15,000 chunks of a million raw rows)."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        if starts is None and data.num_columns:
            starts = chunk_starts(data)
        return pa.Table.from_arrays([take_rows(c, rows, starts) for c in data.columns], schema=data.schema)
    rows = np.asarray(rows, dtype=np.int64)
    if data.num_chunks == 1:
        return pa.chunked_array([data.chunk(0).take(pa.array(rows, type=pa.int64()))], type=data.type)
    starts, chunk = chunk_of_rows(data, rows, starts)
    cuts = [0, *(np.flatnonzero(np.diff(chunk)) + 1).tolist(), len(rows)]
    pieces = [data.chunk(int(chunk[a])).take(pa.array(rows[a:b] - starts[chunk[a]], type=pa.int64()))
              for a, b in pairwise(cuts) if b > a]
    return pa.chunked_array(pieces, type=data.type)


def chunk_starts(data: Any) -> np.ndarray | None:
    """The first row of each chunk of `data` (a pyarrow `ChunkedArray`, or a `Table`) followed by its length; for
    a table, those its columns share (a table written by record batches), None when they don't."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        per_column = [chunk_starts(c) for c in data.columns]
        first = per_column[0] if per_column else None
        same = first is not None and all(s is not None and np.array_equal(s, first) for s in per_column)
        return first if same else None
    return np.cumsum([0, *(len(c) for c in data.chunks)], dtype=np.int64)


def chunk_of_rows(data: Any, rows: np.ndarray, starts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first row of each chunk of `data` (a pyarrow `ChunkedArray`) followed by its length (`starts` when
    given: `chunk_starts(data)`), and the chunk each of `rows` (int64) lies in; `IndexError` for a row outside
    `data`."""
    if starts is None:
        starts = chunk_starts(data)
    assert starts is not None
    if len(rows) and (rows.min() < 0 or rows.max() >= starts[-1]):
        raise IndexError(f"row index out of range for {starts[-1]} rows")
    return starts, np.searchsorted(starts, rows, side="right") - 1


def gather_chunks(chunks: Sequence[Any], type: Any) -> Any:
    """`chunks` (pyarrow arrays of `type`, in order) as one `ChunkedArray`, consecutive chunks concatenated while
    their bytes stay within `ARROW_CHUNK_BYTES`: one array for any small build, as many as 2 GB needs for a big one.
    """
    import pyarrow as pa

    groups: list[list[Any]] = []
    size = 0
    for c in chunks:
        if not groups or size + c.nbytes > ARROW_CHUNK_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(c)
        size += c.nbytes
    if not groups:
        return pa.chunked_array([pa.array([], type=type)], type=type)
    return pa.chunked_array([g[0] if len(g) == 1 else pa.concat_arrays(g) for g in groups], type=type)


class SpillFile:
    """Arrow tables appended to one file on disk and read back one at a time, in order: what a step would otherwise
    hold in memory until its end. Each table is its own IPC stream (their schemas may differ), read back with plain
    reads rather than a memory map, so a table read is freed with it and memory stays that of one table.

    The file goes in `folder` (the build's work folder), or a temporary folder of its own; `close` removes it (and
    that folder), as does the garbage collector."""

    def __init__(self, folder: Path | None = None) -> None:
        own = None if folder is not None else Path(tempfile.mkdtemp(prefix="curate-spill-"))
        fd, name = tempfile.mkstemp(prefix=".spill-", suffix=".arrow", dir=folder or own)
        os.close(fd)
        self.path = Path(name)
        self.spans: list[tuple[int, int]] = []  # each table's (offset, length) in the file
        self.rows = 0
        self._sink: Any = None
        self._remove = weakref.finalize(self, _remove_spill, self.path, own)

    def append(self, table: Any) -> None:
        """`table` (a pyarrow Table) written after those before it."""
        import pyarrow as pa

        if self._sink is None:
            self._sink = pa.OSFile(str(self.path), "ab")
        start = self._sink.tell()
        with pa.ipc.new_stream(self._sink, table.schema) as writer:
            writer.write_table(table)
        self.spans.append((start, self._sink.tell() - start))
        self.rows += table.num_rows

    def tables(self) -> Iterator[Any]:
        """The tables appended so far, in order, one in memory at a time (the file may be read again)."""
        import pyarrow as pa

        if self._sink is not None:
            self._sink.close()
            self._sink = None
        with pa.OSFile(str(self.path)) as f:
            for start, length in self.spans:
                f.seek(start)
                yield pa.ipc.open_stream(f.read_buffer(length)).read_all()  # a buffer of Arrow's pool, not bytes

    def close(self) -> None:
        """Remove the file (and the temporary folder made for it)."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        self._remove()


def _remove_spill(path: Path, own: Path | None) -> None:
    path.unlink(missing_ok=True)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


def rechunk(tables: Iterable[Any], sizes: Iterable[int]) -> Iterator[Any]:
    """The rows of `tables` (pyarrow Tables of one schema, in order) as tables of `sizes` rows each, in order:
    slices, copied by nothing, holding only the tables a size spans."""
    import pyarrow as pa

    source = iter(tables)
    held: list[Any] = []
    have = 0
    for size in sizes:
        while have < size:
            table = next(source)
            held.append(table)
            have += table.num_rows
        joined = held[0] if len(held) == 1 else pa.concat_tables(held)
        yield joined.slice(0, size)
        rest = joined.slice(size)
        held, have = ([rest] if rest.num_rows else []), rest.num_rows
