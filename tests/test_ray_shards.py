"""JSON Lines inputs cut into byte ranges for the Ray engine's workers (`curate.build.shards`), without Ray: the
ranges cover a file once at line starts, the ranges read one by one give exactly what `iter_raw` gives (lines,
BOM, CRLF, blank lines, lines over the limit, bad UTF-8, an unterminated last line), and the records read back
by offset are the bytes parsed. The Ray builds over such ranges are in tests/test_build_ray.py.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from curate.build.errors import BuildError
from curate.build.raw import HELD_AS_ERROR, HELD_IN_FILE, HELD_IN_ROWS, SpanRows, read_raw_dataset
from curate.build.shards import (
    cut_ranges,
    index_range,
    is_jsonl_file,
    plan_parts,
    range_bytes,
    read_range,
    span_rows,
)
from curate.readers import iter_raw

LIMIT = 2000
"""The `max_record_bytes` of these tests: the long lines below are over it."""


def record(k: int, words: int = 3) -> bytes:
    """A JSON Lines record (no line end) of about `words` words."""
    text = " ".join(f"w{k}x{i}" for i in range(words))
    return json.dumps({"id": f"r{k}", "messages": [{"role": "user", "content": text}]}).encode()


def hostile_lines() -> bytes:
    """A JSON Lines file with every oddity `iter_jsonl` reads: a BOM on line 1, CRLF line ends, blank and
    whitespace lines, lines over `LIMIT` (by one byte; with CRLF), bad UTF-8, invalid JSON, a record with a
    BOM past line 1, a line of exactly `LIMIT` bytes, and an unterminated last line."""
    long = record(900, 800)
    assert len(long) > 3 * LIMIT
    lines = [b"\xef\xbb\xbf" + record(0) + b"\n", record(1) + b"\r\n", b"\n", b"   \t\r\n", record(2) + b"\n",
             long + b"\n", record(3) + b"\r\n", b'{"id": "bad", "messages": "\xff\xfe"}\n', b"{not json\n",
             b"\xef\xbb\xbf" + record(4) + b"\n", (b"x" * (LIMIT + 1)) + b"\n", (b"y" * LIMIT) + b"\r\n",
             long + b"\r\n", b"\r\n"]
    lines += [record(k, 1 + k % 40) + (b"\r\n" if k % 3 == 0 else b"\n") for k in range(5, 80)]
    lines += [b"\n", b"\n", record(80)]  # blank lines, then a last line without a line end
    return b"".join(lines)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(hostile_lines())
    return path


def covers(ranges: list[tuple[int, int]], data: bytes) -> None:
    """`ranges` cover `data` once, in order, each starting at a line start."""
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end), (start, _) in pairwise(ranges):
        assert end == start
    for start, end in ranges:
        assert end > start
        assert start == 0 or data[start - 1:start] == b"\n"  # never inside a line


@pytest.mark.parametrize("size", [1, 7, 100, 999, 4096, 1 << 20])
def test_ranges_cover_the_file_once_and_never_split_a_line(hostile: Path, size: int) -> None:
    data = hostile.read_bytes()
    ranges = cut_ranges(hostile, size)
    covers(ranges, data)
    for start, end in ranges[:-1]:  # each range ends at the first line start at or past start + size
        assert end >= start + size and b"\n" not in data[start + size:end - 1]
    if size == 1:  # every line its own range
        assert len(ranges) == data.count(b"\n") + 1


def test_a_line_longer_than_a_range_is_one_range_and_the_cut_reads_past_it(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.build import shards

    monkeypatch.setattr(shards, "SCAN_BYTES", 16)  # the look for a line end crosses many reads
    path = tmp_path / "long.jsonl"
    data = b"a\n" + b"z" * 1000 + b"\n" + b"b\n"
    path.write_bytes(data)
    ranges = cut_ranges(path, 10)
    assert ranges == [(0, 1003), (1003, 1005)]
    covers(ranges, data)
    path.write_bytes(b"")
    assert cut_ranges(path, 10) == []


def test_range_size_gives_every_worker_ranges_within_the_bounds() -> None:
    from curate.build.shards import MIN_RANGE_BYTES, RANGE_BYTES, RANGES_PER_WORKER

    assert range_bytes(0, 2) == MIN_RANGE_BYTES
    assert range_bytes(10 << 30, 2) == RANGE_BYTES
    assert range_bytes(80 << 20, 2) == -(-(80 << 20) // (2 * RANGES_PER_WORKER))


def read_by_ranges(path: Path, size: int) -> tuple[list[tuple[int, int]], list[dict]]:
    """The ranges of `path` and their `index_range`, as the Ray engine's tasks compute them."""
    ranges = cut_ranges(path, size)
    return ranges, [index_range(str(path), a, b, LIMIT) for a, b in ranges]


def as_tuples(records: list) -> list[tuple]:
    return [(r.path, r.line, r.text, r.error if r.text is None else None) for r in records]


@pytest.mark.parametrize("size", [1, 50, 333, 2500, 1 << 20])
def test_ranges_read_one_by_one_give_what_iter_raw_gives(hostile: Path, size: int) -> None:
    want = list(iter_raw(hostile, LIMIT))
    expected = as_tuples(want)  # before `data` decodes them (a decoded record drops its text)
    assert sum(text is None for _, _, text, _ in expected) == 3  # over LIMIT (bad UTF-8 and JSON: found later)
    ranges, indexes = read_by_ranges(hostile, size)
    first = 1 + np.cumsum([0, *(ix["newlines"] for ix in indexes)])  # each range's first line: a prefix sum
    got = [r for (a, b), line in zip(ranges, first.tolist(), strict=False)
           for r in read_range(str(hostile), a, b, line, LIMIT)]
    assert as_tuples(got) == expected
    assert [r.data for r in got] == [r.data for r in want] and [r.error for r in got] == [r.error for r in want]

    parts = plan_parts([hostile], [True], LIMIT)
    span, sources = span_rows(parts, [ranges], [indexes], None, [], LIMIT)
    assert sources == [(0, str(hostile))]
    assert span.line.tolist() == [line for _, line, _, _ in expected]
    data = hostile.read_bytes()
    for k, (_, _, text, _) in enumerate(expected):  # the bytes parsed: no BOM, no line end
        if text is not None:
            assert span.held[k] == HELD_IN_FILE and data[span.offset[k]:span.offset[k] + span.length[k]] == text
        else:
            assert span.held[k] == HELD_AS_ERROR
    back = span.raw_records(np.arange(len(span))[::-1], [str(hostile)])[::-1]  # any order, read in file order
    assert as_tuples(back) == expected


def test_mixed_inputs_keep_input_order_and_the_local_source_numbers(tmp_path: Path, hostile: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(record(100) + b"\n" + record(101) + b"\n")
    (folder / "b.json").write_text(json.dumps([json.loads(record(102)), json.loads(record(103))]))
    (folder / "c.jsonl").write_bytes(b"\n  \n")  # no record: no source
    (folder / "d.jsonl").write_bytes(record(104))
    table = pa.table({"id": ["p1", "p2"], "messages": [json.loads(record(105))["messages"]] * 2})
    pq.write_table(table, tmp_path / "e.parquet")
    array = tmp_path / "f.json"
    array.write_text(json.dumps([json.loads(record(106))]))
    blank = tmp_path / "g.jsonl"
    blank.write_bytes(b"")
    inputs = [hostile, folder, tmp_path / "e.parquet", array, blank, hostile]
    parts = plan_parts(inputs, [True] * len(inputs), LIMIT)
    assert [(p.input, p.path.name, p.ranged) for p in parts] == [
        (0, "hostile.jsonl", True), (1, "a.jsonl", True), (1, "b.json", False), (1, "c.jsonl", True),
        (1, "d.jsonl", True), (2, "e.parquet", False), (3, "f.json", False), (4, "g.jsonl", True),
        (5, "hostile.jsonl", True)]
    assert [p.ranged for p in plan_parts(inputs, [False] * len(inputs), LIMIT)] == [False] * 6  # fetched: driver

    local, local_sources = read_raw_dataset(inputs, tmp_path / "local", "local", LIMIT)
    driven = [p.path for p in parts if not p.ranged]
    raw, raw_sources = read_raw_dataset(driven, tmp_path / "driver", "driver", LIMIT)
    ranges = [cut_ranges(p.path, 40) if p.ranged else [] for p in parts]
    indexes = [[index_range(str(p.path), a, b, LIMIT) for a, b in r] for p, r in zip(parts, ranges, strict=True)]
    span, sources = span_rows(parts, ranges, indexes, raw, raw_sources, LIMIT)
    assert sources == local_sources and len(sources) == 7  # c.jsonl and g.jsonl read nothing: no number
    table = local.data.table
    assert span.source.tolist() == table.column("source").to_pylist()
    assert span.line.tolist() == table.column("line").to_pylist()
    assert set(span.held.tolist()) == {HELD_IN_FILE, HELD_IN_ROWS, HELD_AS_ERROR}
    paths = [p for _, p in sources]
    rows = np.arange(len(span))
    want = [(r.path, r.line, r.data, r.error) for r in _local_records(local, paths, rows)]
    assert [(r.path, r.line, r.data, r.error) for r in span.raw_records(rows, paths)] == want


def _local_records(raw: object, paths: list[str], rows: np.ndarray) -> list:
    from curate.build.raw import ArrowRows

    return ArrowRows(raw).raw_records(rows, paths)


def test_an_input_changed_before_export_fails_the_build_with_its_name(hostile: Path) -> None:
    ranges, indexes = read_by_ranges(hostile, 500)
    span, sources = span_rows(plan_parts([hostile], [True], LIMIT), [ranges], [indexes], None, [], LIMIT)
    assert isinstance(span, SpanRows)
    paths = [p for _, p in sources]
    assert len(span.raw_records(np.arange(3), paths)) == 3
    with open(hostile, "ab") as fh:
        fh.write(b"\n" + record(999))
    with pytest.raises(BuildError, match=r"hostile\.jsonl: changed while the build ran"):
        span.raw_records(np.arange(3), paths)


def test_what_is_json_lines_is_what_iter_raw_reads_as_json_lines(tmp_path: Path) -> None:
    cases = {"a.jsonl": record(1) + b"\n", "b.json": record(1) + b"\n" + record(2) + b"\n",  # BFCL: JSON Lines
             "c.json": record(1), "d.json": b"[" + record(1) + b"]", "e.jsonl": b"[\n" + record(1) + b"\n]\n",
             "f.txt": record(1) + b"\n", "g.jsonl": b"[1]\n" + record(1) + b"\n"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert {name for name in cases if is_jsonl_file(tmp_path / name, LIMIT)} == {"a.jsonl", "b.json", "f.txt",
                                                                                 "g.jsonl"}
    assert not is_jsonl_file(tmp_path / "missing.jsonl", LIMIT)
