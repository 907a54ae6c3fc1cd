"""A corpus past Arrow's 2 GB and a full disk (issue #20): the build never concatenates an Arrow column past 2 GB,
and a build that cannot fit on its disk stops with one line and leaves nothing."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO, read_jsonl

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = REPO / "sample_data" / "tools.json"


def virtual_binary(size: int) -> Any:
    """A one-row `binary` array of `size` bytes that are never written: the allocation stays virtual, so a test can
    hold "2 GB" of Arrow values in a few MB of memory."""
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, size], dtype=np.int32).tobytes())
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.allocate_buffer(size)])


def test_take_rows_is_pyarrow_take() -> None:
    """Rows in any order, repeated, none, across chunks and within one, of a column or a table."""
    import pyarrow as pa

    from curate.build.arrow import chunk_starts, take_rows

    chunks = [pa.array([f"r{k}-{i}" * (i % 5) for i in range(n)], type=pa.string())
              for k, n in enumerate((7, 1, 0, 12, 5))]
    column = pa.chunked_array(chunks, type=pa.string())
    rng = np.random.default_rng(0)
    for rows in (rng.integers(0, len(column), 40), np.arange(len(column)), np.array([24, 24, 0, 8, 7, 7]),
                 np.array([], dtype=np.int64)):
        assert take_rows(column, rows).to_pylist() == column.take(pa.array(rows, type=pa.int64())).to_pylist()
    table = pa.table({"s": column, "n": pa.chunked_array([pa.array(range(len(column)))])})
    rows = rng.integers(0, len(column), 30)
    got = take_rows(table, rows)
    assert got.schema == table.schema and got.to_pylist() == table.take(pa.array(rows)).to_pylist()
    one = pa.chunked_array([pa.array(["a", "b", "c"])])
    assert take_rows(one, [2, 0]).to_pylist() == ["c", "a"]
    with pytest.raises(IndexError):
        take_rows(column, [len(column)])
    # the chunk starts found once and given again (export reads the raw rows so, a batch at a time)
    assert chunk_starts(table) is None  # its columns are chunked differently: each finds its own
    shared = pa.table({"s": column, "n": pa.chunked_array([pa.array(range(len(c)), type=pa.int64()) for c in chunks])})
    starts = chunk_starts(shared)
    assert starts is not None and starts.tolist() == [0, 7, 8, 8, 20, 25]
    got = take_rows(shared, rows, starts)
    assert got.to_pylist() == shared.take(pa.array(rows)).to_pylist()
    with pytest.raises(IndexError):
        take_rows(shared, [25], starts)


def test_a_column_over_2gb_is_read_and_gathered_without_offset_overflow() -> None:
    """The failure of a 1,000,000-record build (issue #20), reproduced: pyarrow's `take` on a chunked column, and
    `concat_arrays` of chunks, over 2 GB of values raise `offset overflow`; `take_rows` and `gather_chunks` (what
    the build uses) do not. The values are never written, so this costs no memory."""
    import pyarrow as pa

    from curate.build.arrow import ARROW_CHUNK_BYTES, gather_chunks, take_rows

    big = virtual_binary((1 << 31) - 1)  # the most 32-bit offsets address: one more byte overflows
    small = pa.array([b"record"], type=pa.binary())
    column = pa.chunked_array([big, small])
    with pytest.raises(pa.ArrowInvalid, match="offset overflow"):
        column.take(pa.array([1]))
    assert take_rows(column, [1]).to_pylist() == [b"record"]
    assert take_rows(pa.table({"payload": column}), [1, 1]).column("payload").to_pylist() == [b"record"] * 2

    halves = [virtual_binary(ARROW_CHUNK_BYTES + 1), virtual_binary(ARROW_CHUNK_BYTES + 1)]
    with pytest.raises(pa.ArrowInvalid, match="offset overflow"):
        pa.concat_arrays(halves)
    gathered = gather_chunks(halves, pa.binary())
    assert gathered.num_chunks == 2 and len(gathered) == 2


def gather(rows: list[dict[str, Any]]) -> Any:
    from curate.build import DatasetsSplit, datasets_row

    split = DatasetsSplit(batch_size=300)
    for r in rows:
        split.add(datasets_row(r))
    return split.dataset("f" * 16)


def same_folder(a: Path, b: Path) -> None:
    """`a` and `b` hold the same files, with the same bytes, but for their Arrow files: those hold the same schema
    (with its metadata, the features) and the same record batches, whose buffers may be sized differently (an
    array gathered from several keeps its values' exact size, one built whole is padded)."""
    import pyarrow as pa

    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    for name in names:
        if not name.endswith(".arrow"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
            continue
        x, y = pa.ipc.open_stream(pa.memory_map(str(a / name))), pa.ipc.open_stream(pa.memory_map(str(b / name)))
        assert x.schema.equals(y.schema, check_metadata=True)
        xs, ys = list(x), list(y)
        assert [len(r) for r in xs] == [len(r) for r in ys] and all(r.equals(q) for r, q in zip(xs, ys, strict=True))


def test_datasets_folder_gathered_in_many_chunks_saves_the_same_bytes(tmp_path: Path, built: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With a limit of a few bytes per Arrow array every batch stays its own chunk (as a column over 2 GB is
    split); the saved folder holds the same record batches as the one gathered in one array, and loads with the
    same features and rows."""
    from datasets import load_from_disk

    from curate.build import arrow

    rows = read_jsonl(built / "train.jsonl")
    whole = gather(rows)
    monkeypatch.setattr(arrow, "ARROW_CHUNK_BYTES", 1)
    chunked = gather(rows)
    for name in ("messages", "tools", "meta"):
        assert whole.data.column(name).num_chunks == 1
        assert chunked.data.column(name).num_chunks == -(-len(rows) // 300) > 1
    whole.save_to_disk(str(tmp_path / "whole"))
    chunked.save_to_disk(str(tmp_path / "chunked"))
    same_folder(tmp_path / "chunked", tmp_path / "whole")
    a, b = load_from_disk(str(tmp_path / "whole")), load_from_disk(str(tmp_path / "chunked"))
    assert a.features == b.features and a.to_list() == b.to_list() and len(a) == len(rows)


def test_a_build_chunked_at_every_batch_writes_the_same_output(tmp_path: Path, built: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole build with the Arrow limit forced down to a few bytes (raw rows written one per record batch and
    read back across them, as past 2 GB): the JSON Lines files are byte for byte the default build's, and `OUT/hf`
    holds the same features and record batches."""
    from datasets import load_from_disk

    from curate.build import arrow, build
    from curate.buildconfig import BuildConfig

    read_back: list[int] = []
    real_take = arrow.take_rows

    def take(data: Any, rows: Any, starts: Any = None) -> Any:
        if hasattr(data, "column_names") and "payload" in data.column_names:  # the raw rows, read back at export
            read_back.append(data.column("payload").num_chunks)
        return real_take(data, rows, starts)

    monkeypatch.setattr(arrow, "ARROW_CHUNK_BYTES", 1)  # every raw row its own record batch
    monkeypatch.setattr("curate.build.raw.take_rows", take)
    out = tmp_path / "out"
    build([SAMPLE], out, BuildConfig(), [TOOLS])
    records_in = json.loads((out / "manifest.json").read_text())["records_in"]
    assert read_back and min(read_back) == records_in  # a record batch per raw row
    same_folder(out / "hf", built / "hf")
    for name in ("train.jsonl", "eval.jsonl", "clusters.jsonl"):
        assert (out / name).read_bytes() == (built / name).read_bytes()
    a, b = load_from_disk(str(built / "hf")), load_from_disk(str(out / "hf"))
    assert a["train"].features == b["train"].features and a["train"].to_list() == b["train"].to_list()


def build_cli(out: Path, *options: str) -> int:
    from curate.cli import main

    return main(["build", str(SAMPLE), "--tools", str(TOOLS), "-o", str(out), *options])


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("curate: ")]


def test_a_build_that_cannot_fit_is_refused_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Less free space beside OUT than the build needs (inputs x `WORK_FACTOR` for the work folder, plus a copy
    per written form): exit 2, one line naming the folder, the space needed and the space free, nothing written
    (not even OUT's parent folders, which the build made)."""
    from curate.build import space

    folder = tmp_path / "new" / "parent"
    seen: list[Path] = []
    real = shutil.disk_usage

    def little(path: Any) -> Any:
        seen.append(Path(path))
        return real(path)._replace(free=5_000_000)

    monkeypatch.setattr(shutil, "disk_usage", little)
    needed = int(SAMPLE.stat().st_size * (space.WORK_FACTOR + space.FORM_FACTOR * 3))  # train/eval, hf/, its spill
    assert needed > 5_000_000
    assert build_cli(folder / "out") == 2
    lines = error_lines(capsys.readouterr().err)
    need, given = space.human_bytes(needed), space.human_bytes(SAMPLE.stat().st_size)
    assert lines == [f"curate: error: {folder}: not enough free disk space for this build: it needs about {need} for "
                     f"its work folder and output ({given} of input) and 5 MB is free; free some space, or choose an "
                     "-o on another disk"]
    assert seen == [folder]
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=needed))  # just enough
    assert build_cli(folder / "out", "--export", "hf") == 0 and (folder / "out" / "hf").is_dir()
    capsys.readouterr()
    assert build_cli(folder / "again", "--export", "hf,lf") == 2  # a form more, 1x input more
    assert "not enough free disk space" in capsys.readouterr().err and not (folder / "again").exists()


@pytest.mark.parametrize(("where", "jobs"), [("raw", "1"), ("facts", "1"), ("facts", "2"), ("hf", "1")])
def test_a_disk_full_mid_build_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str], where: str,
                                                              jobs: str) -> None:
    """ENOSPC from an Arrow write in the work folder (the raw rows, written by pyarrow: here into /dev/full; the
    record facts, where `datasets` wraps it in its own error, in this process or in a worker of `--jobs 2`) or in
    the output being written (`hf/`): exit 2, one line naming OUT and what to do, and neither the work folder nor
    `.OUT.tmp-PID` nor OUT left."""
    import pyarrow as pa
    from datasets import arrow_writer

    real = arrow_writer.ArrowWriter.write_table
    failed: list[str] = []
    real_file = pa.OSFile

    def full_disk(path: str, mode: str = "r") -> Any:
        if where == "raw" and "/raw/" in str(path) and "w" in mode:
            failed.append(str(path))
            return real_file("/dev/full", mode)  # every write: ENOSPC, raised by pyarrow itself
        return real_file(path, mode)

    monkeypatch.setattr(pa, "OSFile", full_disk)

    def full(self: Any, table: Any, *args: Any, **kwargs: Any) -> Any:
        path = str(self._path)
        part = "raw" if "/raw/" in path else "hf" if ".tmp-" in path else "facts"
        if part == where:
            failed.append(path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(arrow_writer.ArrowWriter, "write_table", full)
    out = tmp_path / "p" / "out"
    assert build_cli(out, "--jobs", jobs) == 2
    lines = error_lines(capsys.readouterr().err)
    assert lines == [f"curate: error: {out}: cannot write (No space left on device); free some space, or choose an "
                     "-o on another disk; nothing was written"]
    assert failed or jobs == "2"  # a worker's list is its own
    assert not (tmp_path / "p").exists()  # no work folder, no .out.tmp-PID, no OUT, not even the folder made for it


def test_space_needed_counts_a_remote_input_again_for_its_copy(tmp_path: Path) -> None:
    """A remote input is copied into the work folder before it is read: its bytes count once more; a folder input
    counts every file in it; each written form adds `FORM_FACTOR` of the inputs, hf/ twice."""
    import fsspec

    from curate.build.space import FORM_FACTOR, WORK_FACTOR, human_bytes, space_needed

    fs = fsspec.filesystem("memory")
    fs.pipe("/h20-space/raw.jsonl", b"x" * 1000)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.jsonl").write_bytes(b"y" * 300)
    (tmp_path / "folder" / "b.jsonl").write_bytes(b"z" * 700)
    try:
        local = space_needed([tmp_path / "folder"], [])
        remote = space_needed(["memory://h20-space/raw.jsonl"], [])
        more = space_needed([tmp_path / "folder"], ["hf", "lf", "openai"])
    finally:
        fs.rm("/h20-space", recursive=True)
    assert local == (int(1000 * (WORK_FACTOR + FORM_FACTOR)), 1000)
    assert remote == (1000 + local[0], 1000)
    assert more[0] == int(1000 * (WORK_FACTOR + 5 * FORM_FACTOR))  # hf/ twice: its batches spilled first
    assert [human_bytes(n) for n in (512, 3_100_000, 1_390_000_000)] == ["512 B", "3.1 MB", "1.39 GB"]
