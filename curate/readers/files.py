"""Opening an input (a file, stdin or a folder), sniffing its layout and reading it as raw records.

Layouts are sniffed from the content, not only the name: a file (or stdin, or a pipe) starting with `[` is a
JSON array (a `.jsonl` file or stdin only when `[` is alone on its first line: a pretty-printed array); a
`.json` file whose first line is a whole object is JSON Lines (BFCL), unless nothing follows it; any other
`.json` file starting with `{` is one JSON document (one record, or the several a ToolBench answer file
holds); `.parquet` files are Parquet. Folders are read as `datasets.save_to_disk` output, or else as the data
files under them, in path order.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curate.outputs import build_marker, is_output_folder
from curate.readers.arrow import is_datasets_folder, iter_datasets_folder, iter_parquet
from curate.readers.errors import ReadError
from curate.readers.json_array import _JsonArrayStream
from curate.readers.json_document import iter_json_document
from curate.readers.jsonl import iter_jsonl
from curate.readers.raw import BOM, DEFAULT_MAX_RECORD_BYTES, RawRecord
from curate.readers.shapes.bfcl import SIDECAR_DIRS

JSONL_SUFFIXES = (".jsonl", ".ndjson")
DATA_SUFFIXES = (*JSONL_SUFFIXES, ".json", ".parquet")
"""The files a folder input is read from."""
REGISTRY_FILES = frozenset({"dataset_info.json"})
"""Files a folder input skips: LLaMA-Factory's dataset registry (its `data/` folder, a build's `lf/`) describes
the data files beside it and holds no record (given by name, it is read as any file is)."""
BUILD_SPLITS = ("train.jsonl", "eval.jsonl")
"""What a `curate build` output is read as when it is the folder given (its records, once)."""


def iter_raw(path: str | os.PathLike[str], max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[RawRecord]:
    """Yield the records of one file or folder (`-`: stdin); raises `ReadError` only if it cannot be opened.

    Never raises for bad data: a record that cannot be read carries an `error` and reading goes on. Records
    over `max_record_bytes` are yielded unread, with an error."""
    p = str(path)
    if p == "-":
        yield from _iter_stream(sys.stdin.buffer, "<stdin>", ".jsonl", max_record_bytes)
        return
    fs = Path(p)
    if fs.is_dir():
        yield from _iter_folder(fs, max_record_bytes)
        return
    if not fs.exists():
        raise ReadError(f"{p}: no such file or directory")
    yield from _iter_file(fs, max_record_bytes)


def _iter_file(fs: Path, limit: int) -> Iterator[RawRecord]:
    """The records of a file (known to be one: a folder's data files are not looked at again)."""
    p = str(fs)
    suffix = fs.suffix.lower()
    if suffix == ".parquet":
        yield from iter_parquet(fs)
        return
    try:
        fh = open(fs, "rb")  # noqa: SIM115 - closed below; generators keep it open while reading
    except OSError as e:
        raise ReadError(f"{p}: cannot open: {e.strerror}") from None
    with fh:
        yield from _iter_stream(fh, p, suffix, limit)


def _iter_stream(fh: Any, path: str, suffix: str, limit: int) -> Iterator[RawRecord]:
    try:
        kind, stream = sniff_layout(fh, suffix, limit)
    except OSError as e:
        raise ReadError(f"{path}: cannot read: {e.strerror or e}") from None
    if kind == "array":
        yield from _JsonArrayStream(stream, path, limit)
    elif kind == "single":
        yield from iter_json_document(stream, path, limit)
    else:
        yield from iter_jsonl(stream, path, limit)


def sniff_layout(fh: Any, suffix: str, limit: int) -> tuple[str, Any]:
    """The layout of a stream, and the stream back at its start (pipes get the sniffed bytes replayed).

    `array` (a top-level JSON array), `single` (one JSON object over several lines, or alone on its
    line, in a .json file) or `jsonl`. Sniffing reads whole lines up to the first one that is not blank, at most
    `limit` bytes of blank lines and of that line (a longer first line is JSON Lines).
    """
    seekable = fh.seekable()
    start = fh.tell() if seekable else 0
    head: list[bytes] = []
    first_line = b""
    budget = limit + 2
    while not first_line.strip(b" \t\r\n") and budget > 0:
        line = fh.readline(budget)
        if not line:
            break
        budget -= len(line)
        first_line = line.removeprefix(BOM) if not head else line
        head.append(line)
    first = first_line.lstrip(b" \t\r\n")[:1]
    # JSON Lines (.jsonl, stdin) are only read as an array when pretty-printed, `[` alone on the first
    # line; anything else stays line by line, so that one bad first line costs one record, not the file.
    whole = first_line.endswith(b"\n") or budget > 0  # the first line ends within the limit
    kind = "jsonl"
    if first == b"[" and (suffix not in JSONL_SUFFIXES or first_line.strip(b" \t\r\n") == b"["):
        kind = "array"
    elif first == b"{" and suffix == ".json" and whole:
        if _json_type_of_line(first_line) is not dict:
            kind = "single"
        else:  # a whole object on the first line: JSON Lines (BFCL), unless nothing follows it (a minified
            # document, which may hold several records: see `split_document`)
            tail = fh.read(_PEEK)
            head.append(tail)
            if len(tail) < _PEEK and not tail.strip(b" \t\r\n"):
                kind = "single"
    if seekable:
        fh.seek(start)
        stream = fh
    else:
        stream = _Replay(b"".join(head), fh)
    return kind, stream


_PEEK = 4096
"""How far past a one-line object `sniff_layout` looks for more: a file that ends within it is one document."""


class _Replay:
    """A stream that cannot seek (a pipe), with the bytes already read put back in front."""

    def __init__(self, head: bytes, fh: Any) -> None:
        self.head = head
        self.fh = fh

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.fh.read(n)
        if n is None or n < 0:
            out, self.head = self.head + self.fh.read(), b""
        else:
            out, self.head = self.head[:n], self.head[n:]
        return out

    def readline(self, size: int = -1) -> bytes:
        if not self.head:
            return self.fh.readline(size)
        end = self.head.find(b"\n") + 1 or len(self.head)
        if size is not None and 0 <= size < end:
            end = size
        line, self.head = self.head[:end], self.head[end:]
        if not line.endswith(b"\n") and not self.head and (size is None or size < 0 or len(line) < size):
            line += self.fh.readline(-1 if size is None or size < 0 else size - len(line))
        return line


_SNIFF_DECODER = json.JSONDecoder(parse_int=len, parse_constant=lambda name: None)


def _json_type_of_line(line: bytes) -> type | None:
    """The type of the JSON value a whole line holds (bad bytes, long integers and NaN aside), else None."""
    try:
        return type(_SNIFF_DECODER.decode(line.decode("utf-8", "replace")))
    except ValueError:
        return None
    except RecursionError:  # a pretty-printed value's first line is never a thousand levels deep
        return list if line.lstrip(b" \t\r\n\xef\xbb\xbf").startswith(b"[") else dict


def _iter_folder(path: Path, limit: int) -> Iterator[RawRecord]:
    """A folder written by `datasets.save_to_disk`, else the data files under it, in path order."""
    if is_datasets_folder(path):
        yield from iter_datasets_folder(path)
        return
    found = False
    for f in data_files(path):
        found = True
        yield from iter_datasets_folder(f) if f.is_dir() else _iter_file(f, limit)
    if not found:
        raise ReadError(f"{path}: a folder with no datasets files and no .jsonl/.json/.parquet files")


def data_files(folder: Path) -> Iterator[Path]:
    """The files (and `datasets` folders) a folder input is read from, in reading order.

    Sorted by path; hidden folders, BFCL's answer and function-doc folders, LLaMA-Factory's `dataset_info.json`
    (`REGISTRY_FILES`), and folders `curate` wrote (a
    build's OUT, a training run) are skipped: an output is never read back as input. A build's OUT given
    itself is read as its records, `train.jsonl` and `eval.jsonl`: its `hf/` folder holds the same records
    again, and `manifest.json`, `clusters.jsonl` and masked outputs are not trajectories. Raises
    `ReadError` for a folder that cannot be listed."""
    if build_marker(folder):
        yield from (folder / name for name in BUILD_SPLITS if (folder / name).is_file())
        return
    try:
        with os.scandir(folder) as it:  # a DirEntry knows its type without a stat() on most file systems
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise ReadError(f"{folder}: cannot list the folder: {e.strerror}") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        if entry.is_dir():
            if is_datasets_folder(path):
                yield path
            elif entry.name not in SIDECAR_DIRS and not entry.is_symlink() and not is_output_folder(path):
                yield from data_files(path)
        elif (os.path.splitext(entry.name)[1].lower() in DATA_SUFFIXES and entry.name not in REGISTRY_FILES
              and entry.is_file()):
            yield path
