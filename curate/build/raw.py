"""Raw rows: every record of the build's inputs as Arrow rows on disk, and read back from them by row number.

    INPUT files ──RawRows──▶ write_raw_rows (Arrow IPC, memory-mapped) ──▶ raw rows (source, line, kind, payload)

One row per record read from the inputs, in input order: which file (`source`, numbering the files met; a table
gives their input and path), the `line`, and the record itself as it was read: a JSON Lines line's bytes, a
decoded value (JSON arrays, Parquet, `datasets` folders; pickled), or why it could not be read.
`write_raw_rows` writes them to disk a record batch at a time, so memory holds one batch, never the corpus. At
export the chosen records are read back from these rows (`RecordSource`): reading is deterministic, so a record
read again is the record the workers saw. The Ray engine's workers read JSON Lines inputs themselves: for those
records the driver keeps only where they lie in the inputs (`SpanRows`), and reads them back from there.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate import __version__
from curate.build import arrow
from curate.build.arrow import chunk_of_rows, chunk_starts, take_rows
from curate.build.errors import BuildError
from curate.readers import DEFAULT_MAX_RECORD_BYTES, RawRecord, RecordReader, iter_raw
from curate.records import ToolSpec, Trajectory
from curate.toolset import ToolSet

KIND_LINE, KIND_VALUE, KIND_UNREADABLE = 0, 1, 2
"""How a raw row holds its record: a JSON Lines line's bytes, a pickled decoded value, or an error."""

BATCH_SIZE = 1000
"""Raw rows per `map` batch (and per read-back chunk): enough to batch the tokenizer and the MinHash
permutations; a batch's working set, not the corpus, is what a process holds."""


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """`datasets` without progress bars (the build logs its own stages), restored afterwards."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()



def raw_features() -> Any:
    """The raw rows' columns (see `RawRows`)."""
    from datasets import Features, Value

    return Features({"source": Value("int32"), "line": Value("int64"), "kind": Value("int8"),
                     "payload": Value("binary")})


class RawRows:
    """The rows of `read_raw_dataset`, and the files they came from.

    A row is (`source`, `line`, `kind`, `payload`): `source` numbers the files met, per input (a folder
    input holds several; an input given twice counts twice), and `sources[source]` is that file's input
    index and path, so rows stay four small columns. `kind` says what `payload` holds: the bytes of a
    JSON Lines line, a decoded value (pickled), or why the record could not be read (UTF-8).
    Records over `max_record_bytes` are never held: their row is unreadable, saying so (see `iter_raw`).
    """

    def __init__(self, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.sources: list[tuple[int, str]] = []
        self.rows = 0
        self.max_record_bytes = max_record_bytes

    def __call__(self, paths: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        for f, path in enumerate(paths):
            known: dict[str, int] = {}
            for raw in iter_raw(path, self.max_record_bytes):
                source = known.get(raw.path)
                if source is None:
                    source = known[raw.path] = len(self.sources)
                    self.sources.append((f, raw.path))
                kind, payload = raw_row(raw)
                self.rows += 1
                yield {"source": source, "line": raw.line, "kind": kind, "payload": payload}


def raw_row(raw: RawRecord) -> tuple[int, bytes]:
    """The `kind` and `payload` of a raw row holding `raw` (see `RawRows`; `raw_record` reverses it)."""
    if raw.text is not None:
        return KIND_LINE, raw.text
    if raw.error is not None:  # no text: a decoded value or an error, never decoded twice
        return KIND_UNREADABLE, raw.error.encode("utf-8", "surrogatepass")
    return KIND_VALUE, pickle.dumps(raw.data, protocol=pickle.HIGHEST_PROTOCOL)


def raw_record(path: str, line: int, kind: int, payload: bytes) -> RawRecord:
    """The `RawRecord` a raw row was made from."""
    if kind == KIND_LINE:
        return RawRecord(path, line, text=payload)
    if kind == KIND_VALUE:
        return RawRecord(path, line, data=pickle.loads(payload))  # our own rows, written by RawRows
    return RawRecord(path, line, error=payload.decode("utf-8", "surrogatepass"))


RAW_BATCH_BYTES = 16 << 20
"""Payload bytes after which a raw rows' record batch is written (at most `BATCH_SIZE` rows, and never more than
`curate.build.arrow.ARROW_CHUNK_BYTES`, so no batch nears Arrow's 2 GB). Large batches matter: opening the file
maps every batch's header and the pages the kernel faults in around it, so 64-row batches of 1.4 KB records put
70% of the file in the process's resident memory, batches of 1,000 rows 5%."""


def write_raw_rows(rows: Iterable[dict[str, Any]], path: Path) -> int:
    """The raw rows `rows` as an Arrow IPC stream at `path` (what `datasets` memory-maps), in record batches of
    `BATCH_SIZE` rows or `RAW_BATCH_BYTES` of payload, whichever comes first; the number of rows."""
    import pyarrow as pa

    schema = raw_features().arrow_schema
    limit = min(RAW_BATCH_BYTES, arrow.ARROW_CHUNK_BYTES)
    names = schema.names
    batch: dict[str, list[Any]] = {name: [] for name in names}
    size = total = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:

        def flush() -> None:
            writer.write_batch(pa.record_batch([pa.array(batch[n], type=schema.field(n).type) for n in names],
                                               schema=schema))
            for values in batch.values():
                values.clear()

        for row in rows:
            n = len(batch["payload"])
            if n and (n >= BATCH_SIZE or size + len(row["payload"]) > limit):
                flush()
                size = 0
            for name in names:
                batch[name].append(row[name])
            size += len(row["payload"])
            total += 1
        if batch["payload"]:
            flush()
    return total


def read_raw_dataset(paths: Sequence[Path], cache_dir: Path, fingerprint: str,
                     max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> tuple[Any, list[tuple[int, str]]]:
    """Every record of `paths` as Arrow rows on disk under `cache_dir` (`write_raw_rows`), memory-mapped, and the
    files they came from (see `RawRows`). Raises `ReadError` for a file that cannot be read at all, as
    `RecordReader` does. `fingerprint` names the file: the same inputs give the same name.

    Records over `max_record_bytes` become unreadable rows (RS001, dropped as `unreadable` by the build)
    without being held in memory."""
    from datasets import Dataset

    rows = RawRows(max_record_bytes)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"raw-{fingerprint}.arrow"
    write_raw_rows(rows(tuple(str(p) for p in paths)), path)
    return Dataset.from_file(str(path)), rows.sources


class ArrowRows:
    """Raw rows read back by row number from their memory-mapped Arrow table (`read_raw_dataset`'s)."""

    def __init__(self, raw: Any) -> None:
        self.table = raw.data.table  # the memory-mapped pyarrow Table
        self.starts = chunk_starts(self.table)  # once: a million raw rows are 15,000 chunks

    def raw_records(self, rows: np.ndarray, paths: Sequence[str]) -> list[RawRecord]:
        """The records of `rows`, in that order (`paths`: the files by source)."""
        return [raw_record(paths[source], line, kind, payload) for source, line, kind, payload in self.take(rows)]

    def take(self, rows: np.ndarray) -> Iterator[tuple[int, int, int, bytes]]:
        """The rows `rows` (source, line, kind, payload), in that order, their pages released once read."""
        taken = take_rows(self.table, rows, self.starts)
        cols = [taken.column(c).to_pylist() for c in ("source", "line", "kind", "payload")]
        del taken
        release_rows(self.table, rows, self.starts)  # the raw rows' pages: read once
        return zip(*cols, strict=True)


HELD_IN_FILE, HELD_IN_ROWS, HELD_AS_ERROR = 0, 1, 2
"""Where `SpanRows` finds a record: bytes of its input file, a row of the raw rows the driver read, or (unreadable)
its error."""


@dataclass(frozen=True)
class Piece:
    """A run of `records` records in input order, as the Ray engine's workers read them: bytes [start, end) of the
    JSON Lines file of `source`, its first line `first_line` (`curate.build.shards`); or, `source` None, rows
    [start, end) of the raw rows the driver read."""

    source: int | None
    start: int
    end: int
    first_line: int
    records: int


class SpanRows:
    """The Ray engine's raw rows: the compact columns of every record, not its bytes.

    Per record (input order): `source` (numbered as `RawRows` numbers them), `line`, where it is (`held`) and
    `offset`, `length`: a JSON Lines record read by the workers is bytes [offset, offset + length) of its file,
    the line as the reader parsed it (no BOM, no line end); a record the driver read (`iter_raw`: not JSON Lines,
    or not a local file) is row `offset` of `rows` (`read_raw_dataset`'s, or None); an unreadable record read
    by the workers keeps its error in `errors` (by record). `pieces`: what the workers read, in input order.
    `stats`: each file the workers read, by source, as (size, mtime) when it was cut: a file that changed before
    its records are read back fails the build (`BuildError`) rather than give other bytes. `limit`: the
    `max_record_bytes` the workers read with.
    """

    def __init__(self, source: np.ndarray, line: np.ndarray, held: np.ndarray, offset: np.ndarray,
                 length: np.ndarray, errors: dict[int, str], rows: Any, pieces: Sequence[Piece],
                 stats: dict[int, tuple[int, int]], limit: int) -> None:
        self.source, self.line, self.held, self.offset, self.length = source, line, held, offset, length
        self.errors = errors
        self.rows = rows
        self.arrow = ArrowRows(rows) if rows is not None else None
        self.pieces = list(pieces)
        self.stats = stats
        self.limit = limit

    def __len__(self) -> int:
        return len(self.source)

    def raw_records(self, rows: np.ndarray, paths: Sequence[str]) -> list[RawRecord]:
        """The records of `rows`, in that order (`paths`: the files by source): file bytes read by offset, in
        file order, one file open at a time."""
        rows = np.asarray(rows, dtype=np.int64)
        out: list[RawRecord | None] = [None] * len(rows)
        held = self.held[rows]
        at = np.flatnonzero(held == HELD_IN_ROWS)
        if len(at):
            assert self.arrow is not None
            for k, (_, line, kind, payload) in zip(at.tolist(), self.arrow.take(self.offset[rows[at]]), strict=True):
                out[k] = raw_record(paths[self.source[rows[k]]], line, kind, payload)  # its source renumbered
        at = np.flatnonzero(held == HELD_IN_FILE)
        at = at[np.lexsort((self.offset[rows[at]], self.source[rows[at]]))]
        fh, current = None, -1
        try:
            for k in at.tolist():
                r, source = rows[k], int(self.source[rows[k]])
                if source != current:
                    if fh is not None:
                        fh.close()
                    fh, current = self.open(paths[source], source), source
                assert fh is not None
                fh.seek(int(self.offset[r]))
                text = fh.read(int(self.length[r]))
                if len(text) != self.length[r]:
                    raise BuildError(changed_input(paths[source]))
                out[k] = RawRecord(paths[source], int(self.line[r]), text=text)
        finally:
            if fh is not None:
                fh.close()
        for k in np.flatnonzero(held == HELD_AS_ERROR).tolist():
            r = int(rows[k])
            out[k] = RawRecord(paths[self.source[r]], int(self.line[r]), error=self.errors[r])
        return out  # type: ignore[return-value]  # every row is one of the three

    def open(self, path: str, source: int) -> Any:
        """The file of `source`, checked to be as it was when the workers read it."""
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the caller
            st = os.fstat(fh.fileno())
        except OSError as e:
            raise BuildError(f"{path}: cannot read it back for the export: {e.strerror or e}") from None
        if (st.st_size, st.st_mtime_ns) != self.stats[source]:
            fh.close()
            raise BuildError(changed_input(path))
        return fh


def changed_input(path: str) -> str:
    """The error of an input file that changed while the build ran."""
    return (f"{path}: changed while the build ran (the export reads its records back from it); run the build "
            "again once nothing writes to it")


def raw_table(raw: Any) -> Any:
    """The Arrow table of the raw rows the driver holds (`read_raw_dataset`'s, or `SpanRows.rows`), or None."""
    if isinstance(raw, SpanRows):
        return raw.rows.data.table if raw.rows is not None else None
    return raw.data.table


class RecordSource:
    """Records read back by row number, as the workers read them (tools attached), from the raw rows: a
    `read_raw_dataset` (the local engine) or a `SpanRows` (the Ray engine: bytes read back from the inputs)."""

    def __init__(self, raw: Any, sources: Sequence[tuple[int, str]], tools: Sequence[dict[str, Any]],
                 chunk: int = BATCH_SIZE) -> None:
        self.raw = raw if isinstance(raw, SpanRows) else ArrowRows(raw)
        self.paths = [path for _, path in sources]
        self.reader = RecordReader()
        self.specs = [ToolSpec.model_validate(t) for t in tools]
        self.toolset = ToolSet(self.specs)
        self.chunk = chunk

    def records(self, rows: Sequence[int]) -> Iterator[Trajectory]:
        """The records of `rows`, in that order, `chunk` rows in memory at a time."""
        for start in range(0, len(rows), self.chunk):
            part = np.asarray(rows[start:start + self.chunk], dtype=np.int64)
            for raw in self.raw.raw_records(part, self.paths):
                result = self.reader.read_record(raw)
                if result.record is None:  # cannot happen: the workers read this very row
                    raise RuntimeError(f"{raw.path}:{raw.line}: a record read before could not be read again")
                yield self.toolset.attach(result.record)


_MADV_DONTNEED = 4


def _file_mappings() -> list[tuple[int, int]]:
    """This process's read-only mappings of files, as (start, end) addresses, sorted; none where Linux's
    /proc/self/maps is not there."""
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[4] != "0" and "w" not in parts[1] and parts[5].startswith("/"):
            start, end = parts[0].split("-")
            out.append((int(start, 16), int(end, 16)))
    return sorted(out)


def release_pages(arrays: Iterable[Any]) -> None:
    """Drop from this process's resident memory the pages of memory-mapped files under `arrays`' buffers (pyarrow
    arrays of the raw rows or record facts, read once): the kernel reads them back from the file if they are
    touched again. Otherwise every page of the work folder's files a step has read would count in the build's
    RSS until the end (~2 KB a record: the signatures, the raw rows read back at export).

    Only buffers lying inside a read-only mapping of a file are released (`madvise(MADV_DONTNEED)`), whose
    content the kernel can always read again; any other buffer (memory of this process) is left alone, and where
    there is no /proc/self/maps nothing is done."""
    maps = _file_mappings()
    if not maps:
        return
    import ctypes
    import mmap

    starts = np.array([a for a, _ in maps], dtype=np.uint64)
    libc = ctypes.CDLL(None, use_errno=True)
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = mmap.PAGESIZE
    done: set[tuple[int, int]] = set()
    for arr in arrays:
        for buf in arr.buffers():
            if buf is None or buf.size == 0:
                continue
            first, last = buf.address, buf.address + buf.size
            k = int(np.searchsorted(starts, np.uint64(first), side="right")) - 1
            if k < 0 or last > maps[k][1]:
                continue  # not (wholly) inside a file mapping: this process's own memory
            span = (first - first % page, min(maps[k][1], -(-last // page) * page))
            if span not in done:
                done.add(span)
                madvise(span[0], span[1] - span[0], _MADV_DONTNEED)


def release_rows(data: Any, rows: np.ndarray, starts: np.ndarray | None = None) -> None:
    """`release_pages` of the chunks of `data` (a pyarrow Table or ChunkedArray) that hold `rows` (`starts`: see
    `take_rows`)."""
    import pyarrow as pa

    columns = data.columns if isinstance(data, pa.Table) else [data]
    for col in columns:
        if not len(rows) or not col.num_chunks:
            continue
        _, chunk = chunk_of_rows(col, np.asarray(rows, dtype=np.int64), starts)
        release_pages(col.chunk(int(k)) for k in np.unique(chunk))


def column(ds: Any, name: str) -> Any:
    """One column of a dataset as a pyarrow ChunkedArray (memory-mapped: nothing is copied yet)."""
    return ds.data.column(name)


def signature_matrix(ds: Any, name: str, rows: np.ndarray, num_perm: int) -> np.ndarray:
    """Rows `rows` of a fixed-size signature column as an (len(rows), num_perm) uint32 array.

    Copied straight from each memory-mapped chunk viewed as numpy (no Arrow `take`, whose buffers the Arrow
    memory pool would keep), each chunk's pages released once copied: the process holds the result only."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), num_perm), dtype=np.uint32)
    col = column(ds, name)
    if not len(rows):
        return out
    starts, chunk_of = chunk_of_rows(col, rows)
    order = np.argsort(chunk_of, kind="stable")
    cuts = np.searchsorted(chunk_of[order], np.arange(len(starts)))
    for k in range(col.num_chunks):
        at = order[cuts[k]:cuts[k + 1]]
        if not len(at):
            continue
        chunk = col.chunk(k)
        view = chunk.flatten().to_numpy(zero_copy_only=False).reshape(len(chunk), num_perm)
        out[at] = view[rows[at] - starts[k]]
        del view
        release_pages([chunk])
    return out


def digest_column(ds: Any, name: str, rows: np.ndarray, size: int = 16) -> np.ndarray:
    """Rows `rows` of a binary column of `size`-byte values (the exact keys) as a numpy `S{size}` array: `size`
    bytes a row, never a Python object per row."""
    import pyarrow as pa

    parts = []
    for c in take_rows(column(ds, name), rows).chunks:
        if not len(c):
            continue
        if c.null_count:
            raise ValueError(f"column {name}: {c.null_count} rows without a value")
        fixed = c.cast(pa.binary(size))
        parts.append(np.frombuffer(fixed.buffers()[1], dtype=f"S{size}", offset=fixed.offset * size, count=len(fixed)))
    release_rows(column(ds, name), rows)
    return np.concatenate(parts) if parts else np.empty(0, dtype=f"S{size}")


def take_array(ds: Any, name: str, rows: np.ndarray) -> np.ndarray:
    """Column `name` of `ds` (a number or bool column of the record facts) at `rows`, as a numpy array."""
    out = take_rows(column(ds, name), rows).to_numpy()
    release_rows(column(ds, name), rows)
    return out


def iter_column(ds: Any, name: str, rows: np.ndarray, chunk: int = BATCH_SIZE) -> Iterator[Any]:
    """Column `name` of `ds` at `rows` as Python values, one at a time, `chunk` rows turned into Python at once."""
    for start in range(0, len(rows), chunk):
        yield from take_rows(column(ds, name), rows[start:start + chunk]).to_pylist()
        release_rows(column(ds, name), rows[start:start + chunk])


def take(ds: Any, name: str, rows: np.ndarray) -> list[Any]:
    """Column `name` of `ds` (the record facts) at `rows`, as Python values."""
    return take_rows(column(ds, name), rows).to_pylist()


def file_sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    if path.is_dir():  # the files the readers read, in their order: never an output folder inside it
        from curate.readers import data_files, is_datasets_folder

        tops = [path] if is_datasets_folder(path) else list(data_files(path))
        files = [f for t in tops for f in ([t] if t.is_file() else sorted(p for p in t.rglob("*") if p.is_file()))]
        for f in files:
            h.update(str(f.relative_to(path)).encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
        return h.hexdigest(), size
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def content_fingerprint(hashes: Sequence[str], extra: object) -> str:
    """A fingerprint from input content hashes and what else shapes the rows (`extra`, JSON-able), never
    from times or process ids: the same inputs give the same fingerprint."""
    h = hashlib.sha256(json.dumps([list(hashes), extra, __version__], sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]
