"""The readers: every file format and record shape onto the canonical `Trajectory`."""

from __future__ import annotations

import io
import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import curate.readers as readers
from curate.readers import (
    RawRecord,
    ReadError,
    RecordReader,
    ShapeError,
    adapt,
    iter_raw,
    load_tool_specs,
    normalise_tools,
)
from curate.records import Trajectory

# --- helpers -------------------------------------------------------------------------------------

WEATHER_SPEC = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
BARE_WEATHER_SPEC = WEATHER_SPEC["function"]

OPENAI_RECORD = {
    "id": "r1",
    "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": '{"temp": 3}'},
        {"role": "assistant", "content": "It is 3 °C in Oslo."},
    ],
    "tools": [WEATHER_SPEC],
}


def canonical(record: Trajectory | None) -> dict[str, Any]:
    assert record is not None
    return record.model_dump(exclude_none=True)


def expected(data: dict[str, Any]) -> dict[str, Any]:
    """What a record already in canonical form reads as."""
    return Trajectory.model_validate(data).model_dump(exclude_none=True)


def read_all(path: str | Path) -> list[readers.ReadResult]:
    return list(RecordReader().read(path))


def raws(path: str | Path) -> list[tuple[int, Any, str | None]]:
    return [(r.line, r.data, r.error) for r in iter_raw(path)]


def write_jsonl(path: Path, rows: list[Any], sep: str = "\n") -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + sep for r in rows), encoding="utf-8")
    return path


def one(path: Path) -> dict[str, Any]:
    (result,) = read_all(path)
    assert result.shape_errors == [] and result.raw.error is None, (result.shape_errors, result.raw.error)
    return canonical(result.record)


# --- JSON Lines ----------------------------------------------------------------------------------


def test_jsonl_bom_crlf_blank_lines_and_line_numbers(tmp_path: Path) -> None:
    a = {"id": "a", "messages": [{"role": "user", "content": "héllo"}]}
    b = {"id": "b", "messages": [{"role": "user", "content": "bye"}]}
    text = "\ufeff" + json.dumps(a) + "\r\n\r\n   \r\n" + json.dumps(b) + "\r\n\n"
    p = tmp_path / "data.jsonl"
    p.write_bytes(text.encode("utf-8"))
    results = read_all(p)
    assert [(r.raw.line, r.record_id) for r in results] == [(1, "a"), (4, "b")]
    assert canonical(results[0].record) == expected(a)
    assert all(r.raw.path == str(p) for r in results)


def test_jsonl_without_final_newline_and_bad_lines_in_between(tmp_path: Path) -> None:
    good = {"messages": [{"role": "user", "content": "x"}]}
    p = tmp_path / "d.jsonl"
    p.write_bytes(json.dumps(good).encode() + b"\n{broken\n\xff\xfe\n" + json.dumps(good).encode())
    got = raws(p)
    assert [line for line, _, _ in got] == [1, 2, 3, 4]
    assert got[0][1] == good and got[3][1] == good
    assert got[1][2].startswith("invalid JSON")
    assert got[2][2].startswith("invalid UTF-8")


def test_bom_only_on_the_first_line(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"messages": []}\n\xef\xbb\xbf{"messages": []}\n')
    got = raws(p)
    assert got[0] == (1, {"messages": []}, None)
    assert got[1][0] == 2 and got[1][2] is not None  # a BOM in the middle of a file is not JSON


def test_empty_files(tmp_path: Path) -> None:
    for name, content in [("e.jsonl", b""), ("w.jsonl", b"\n \r\n"), ("e.json", b""), ("a.json", b"[]"),
                          ("b.json", b"\xef\xbb\xbf [ \n ] \n")]:
        p = tmp_path / name
        p.write_bytes(content)
        assert raws(p) == [], name


def test_missing_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no such file"):
        list(iter_raw(tmp_path / "nope.jsonl"))
    with pytest.raises(ReadError):
        list(RecordReader().read(tmp_path / "nope.json"))


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = {"id": "s", "messages": [{"role": "user", "content": "from stdin"}]}
    data = ("\ufeff" + json.dumps(rec) + "\r\nnot json\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    results = read_all("-")
    assert [(r.raw.path, r.raw.line) for r in results] == [("<stdin>", 1), ("<stdin>", 2)]
    assert canonical(results[0].record) == expected(rec)
    assert results[1].record is None and results[1].raw.error.startswith("invalid JSON")


class _Pipe(io.RawIOBase):
    """A byte stream that cannot seek, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        chunk = self._data.read(min(len(b), 5))  # short reads, as from a pipe
        b[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("seekable", [True, False])
def test_stdin_json_array_and_pipes(monkeypatch: pytest.MonkeyPatch, seekable: bool) -> None:
    rows = [{"id": f"r{i}", "messages": [{"role": "user", "content": "é" * i}]} for i in range(3)]
    data = ("\n\n" + json.dumps(rows, indent=1, ensure_ascii=False)).encode()
    raw = io.BytesIO(data) if seekable else io.BufferedReader(_Pipe(data))
    assert raw.seekable() is seekable
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw, encoding="utf-8"))
    results = read_all("-")
    assert [r.record_id for r in results] == ["r0", "r1", "r2"]
    assert [r.raw.line for r in results] == [4, 13, 22]  # two blank lines, `[`, then 9 lines an element

    lines = b"\xef\xbb\xbf\n" + b"\n".join(json.dumps(r).encode() for r in rows) + b"\r\n[1]\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(_Pipe(lines)), encoding="utf-8"))
    got = [(r.line, r.data, r.error) for r in iter_raw("-")]
    assert got == [(2, rows[0], None), (3, rows[1], None), (4, rows[2], None), (5, [1], None)]


def test_jsonl_file_whose_first_line_is_an_array(tmp_path: Path) -> None:
    """In a .jsonl file a one-line array is a (bad) record, not the start of a JSON array file."""
    p = tmp_path / "d.jsonl"
    p.write_text('[]\n{"messages": []}\n')
    assert raws(p) == [(1, [], None), (2, {"messages": []}, None)]
    p.write_text('["broken\n{"messages": []}\n')  # a bad first line costs that line only
    got = raws(p)
    assert got[0][0] == 1 and got[0][2].startswith("invalid JSON") and got[1] == (2, {"messages": []}, None)
    pretty = tmp_path / "pretty.jsonl"  # but a pretty-printed array, wrongly named, still reads
    pretty.write_text(json.dumps([{"messages": []}], indent=2))
    assert raws(pretty) == [(2, {"messages": []}, None)]


def test_unpaired_surrogates_make_a_record_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "s.jsonl"
    p.write_text('{"messages": [{"role": "user", "content": "\\ud83d\\ude00 ok"}]}\n'
                 '{"messages": [{"role": "user", "content": "\\ud83d broken"}]}\n'
                 '{"id": "\\\\ud800 is just text", "messages": []}\n')
    got = raws(p)
    assert got[0][1]["messages"][0]["content"] == "😀 ok"
    assert got[1][1] is None and "unpaired surrogate \\ud83d" in got[1][2]
    assert got[2][1]["id"] == "\\ud800 is just text"
    monkeypatch.setattr(readers, "JSON_ARRAY_CHUNK", 3)
    arr = tmp_path / "s.json"
    arr.write_text('[{"k": "\\udc00"}, {"\\ud800": 1}, "\\ud83d\\ude00"]')
    assert [(d, e is not None) for _, d, e in raws(arr)] == [(None, True), (None, True), ("😀", False)]


# --- JSON arrays ---------------------------------------------------------------------------------


def test_json_array_elements_spanning_lines(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(3)]
    p = tmp_path / "arr.json"
    p.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    text = p.read_text()
    starts = [text[: text.index(f'"id": "r{i}"')].count("\n") for i in range(3)]  # the `{` line (0-based)
    results = read_all(p)
    assert [r.raw.line for r in results] == starts  # 1-based line of the `{` is the 0-based line of `"id"`
    assert [canonical(r.record) for r in results] == [expected(r) for r in rows]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 11, 64])
def test_json_array_chunk_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(readers, "JSON_ARRAY_CHUNK", chunk)
    values = [
        1.5, 2e3, -7, 1.25e-2, 12345678901234567890, -0.0, 1E+10, 0,
        "é日本語🙂", {"k€y": ["ü", 3.25, True, None, False]}, "esc \\\" \\u00e9 \\ud83d\\ude00", [],
        {}, [[[1]]], "",
    ]
    body = "[\n" + ",\n".join(json.dumps(v, ensure_ascii=False) for v in values) + "\n]\n"
    p = tmp_path / "a.json"
    p.write_bytes(("\ufeff" + body).encode("utf-8"))
    got = raws(p)
    assert [d for _, d, _ in got] == json.loads(body)
    assert [line for line, _, _ in got] == list(range(2, 2 + len(values)))
    assert all(e is None for _, _, e in got)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=int(os.environ.get("CURATE_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(json_values, max_size=8), chunk=st.integers(1, 40), indent=st.sampled_from([None, 0, 1, 2]),
       ascii_only=st.booleans(), crlf=st.booleans())
def test_json_array_matches_json_loads(tmp_path: Path, values: list[Any], chunk: int, indent: int | None,
                                       ascii_only: bool, crlf: bool) -> None:
    """Whatever the chunk size and layout, the streaming reader yields what `json.loads` does."""
    readers.JSON_ARRAY_CHUNK = chunk
    try:
        parts = [json.dumps(v, indent=indent, ensure_ascii=ascii_only) for v in values]
        nl = "\r\n" if crlf else "\n"
        body = "[" + nl + ("," + nl).join(p.replace("\n", nl) for p in parts) + nl + "]"
        p = tmp_path / "h.json"
        p.write_bytes(body.encode("utf-8"))
        got = raws(p)
        assert [e for _, _, e in got] == [None] * len(values)
        assert [d for _, d, _ in got] == json.loads(body)
        lines, line = [], 2
        for part in parts:
            lines.append(line)
            line += part.count("\n") + 1
        assert [n for n, _, _ in got] == lines
    finally:
        readers.JSON_ARRAY_CHUNK = 1 << 20


def test_json_array_larger_than_a_chunk(tmp_path: Path) -> None:
    rows = [{"id": str(i), "messages": [{"role": "user", "content": "ü" * 5000 + str(i)}]} for i in range(400)]
    p = tmp_path / "big.json"
    p.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    assert p.stat().st_size > 2 * readers.JSON_ARRAY_CHUNK
    got = raws(p)
    assert [d for _, d, _ in got] == rows


def test_json_array_element_larger_than_a_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "JSON_ARRAY_CHUNK", 7)
    big = {"messages": [{"role": "user", "content": "x" * 10_000 + "\\" + "é" * 1000}], "n": 10**40}
    p = tmp_path / "a.json"
    p.write_text(json.dumps([1, big, 2], ensure_ascii=False), encoding="utf-8")
    assert [d for _, d, _ in raws(p)] == [1, big, 2]


def test_json_array_malformed_element_stops_with_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "JSON_ARRAY_CHUNK", 7)
    p = tmp_path / "bad.json"
    p.write_text('[\n  {"a": 1},\n  {"b": tru},\n  {"c": 3}\n]\n')
    got = raws(p)
    assert got[0] == (2, {"a": 1}, None)
    assert len(got) == 2
    line, data, error = got[1]
    assert line == 3 and data is None
    assert "line 3" in error and "stops here" in error


def test_json_array_syntax_error_far_from_the_end_does_not_read_the_rest(tmp_path: Path) -> None:
    """A syntax error is reported at once, not after buffering the rest of a huge file."""
    p = tmp_path / "bad.json"
    with open(p, "w") as fh:
        fh.write('[{"a": 1}, {"b": ]')
        fh.write(", " + ", ".join(["{}"] * 2_000_000) + "]")
    with open(p, "rb") as fh:
        stream = readers._JsonArrayStream(fh, str(p))
        got = list(stream)
    assert len(got) == 2 and got[1].error is not None
    assert len(stream.buf) <= 2 * readers.JSON_ARRAY_CHUNK


@pytest.mark.parametrize(
    ("content", "expected_data", "message"),
    [
        (b'[1, 2,]', [1, 2], "trailing comma"),
        (b'[1, 2', [1, 2], "not closed"),
        (b'[1, 2] [3]', [1, 2], "after the closing"),
        (b'[1 2]', [1], "expected `,` or `]`"),
        (b'[1, 2]\n\xe2\x82', [1, 2], "invalid UTF-8"),
    ],
)
def test_json_array_structure_errors(tmp_path: Path, content: bytes, expected_data: list[Any], message: str) -> None:
    p = tmp_path / "s.json"
    p.write_bytes(content)
    got = raws(p)
    assert [d for _, d, e in got if e is None] == expected_data
    assert len(got) == len(expected_data) + 1
    assert message in got[-1][2]


@pytest.mark.parametrize("chunk", [5, 1 << 20])
def test_json_array_bad_elements_of_known_extent_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            chunk: int) -> None:
    """Invalid UTF-8 in a string, deep nesting, long integers, NaN: an error for the element, then go on."""
    monkeypatch.setattr(readers, "JSON_ARRAY_CHUNK", chunk)
    deep = "[" * 5000 + '"]]]"' + "]" * 5000
    content = b"[\n" + b",\n".join([
        b'{"a": 1}',
        b'{"b": "\xff\xfe"}',
        deep.encode(),
        b'{"c": ' + b"9" * 20_000 + b"}",
        b'{"d": NaN}',
        b'{"e": -Infinity}',
        b'{"f": 2}',
    ]) + b"\n]\n"
    p = tmp_path / "x.json"
    p.write_bytes(content)
    got = raws(p)
    assert [line for line, _, _ in got] == [2, 3, 4, 5, 6, 7, 8]
    assert got[0][1] == {"a": 1} and got[-1][1] == {"f": 2}
    errors = [e for _, _, e in got[1:-1]]
    assert "UTF-8" in errors[0]
    assert "too deep" in errors[1]
    assert "20000 digits" in errors[2]
    assert "NaN" in errors[3] and "Infinity" in errors[4]


def test_json_array_deep_and_unclosed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "JSON_ARRAY_CHUNK", 64)
    p = tmp_path / "x.json"
    p.write_text('[{"a": 1}, ' + "[" * 5000 + '"\\" ]')
    got = raws(p)
    assert got[0] == (1, {"a": 1}, None)
    assert len(got) == 2 and "stops here" in got[1][2]


# --- .json files that are not arrays -------------------------------------------------------------


def test_json_file_holding_json_lines_bfcl_style(tmp_path: Path) -> None:
    rows = [{"id": "simple_0", "question": [[{"role": "user", "content": "q" * 6000}]],
             "function": [BARE_WEATHER_SPEC]},
            {"id": "simple_1", "question": [[{"role": "user", "content": "w"}]], "function": [BARE_WEATHER_SPEC]}]
    p = write_jsonl(tmp_path / "BFCL_v3_simple.json", rows)  # the first line is longer than any sniffing window
    results = read_all(p)
    assert [(r.raw.line, r.record_id) for r in results] == [(1, "simple_0"), (2, "simple_1")]
    assert all(r.record is not None for r in results)


def test_json_file_single_pretty_printed_object(tmp_path: Path) -> None:
    p = tmp_path / "one.json"
    p.write_text("\ufeff" + json.dumps(OPENAI_RECORD, indent=2), encoding="utf-8")
    assert one(p) == expected(adapt(OPENAI_RECORD))
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "messages": [\n    {"role": "user", "content": "x"},\n  ]\n}\n')
    ((line, data, error),) = raws(bad)
    assert line == 1 and data is None and "line 4" in error


# --- Parquet and datasets ------------------------------------------------------------------------

ARROW_ROWS = [
    OPENAI_RECORD,
    {"id": "r2", "messages": [{"role": "user", "content": "hi", "name": "bob"},
                               {"role": "assistant", "content": "hello"}]},
]


def test_parquet_rows_and_arrow_nulls_read_as_absent(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.Table.from_pylist(ARROW_ROWS)
    p = tmp_path / "d.parquet"
    pq.write_table(table, p)
    # Arrow fills what a row lacks: `tool_calls: None`, `name: None`, `tools: None`.
    assert table.to_pylist()[1]["messages"][0]["tool_calls"] is None
    assert table.to_pylist()[1]["messages"][1]["name"] is None
    results = read_all(p)
    assert [(r.raw.path, r.raw.line) for r in results] == [(str(p), 1), (str(p), 2)]
    assert [canonical(r.record) for r in results] == [expected(adapt(r)) for r in ARROW_ROWS]


def test_parquet_unreadable_file_is_a_read_error(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    p = tmp_path / "broken.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ReadError, match="Parquet"):
        list(iter_raw(p))


def test_parquet_corrupt_row_group_is_one_error_and_reading_goes_on(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"id": str(i), "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(30)]
    p = tmp_path / "rg.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p, row_group_size=10, compression="none")
    meta = pq.ParquetFile(p).metadata
    offset = meta.row_group(1).column(0).data_page_offset
    data = bytearray(p.read_bytes())
    data[offset : offset + 40] = bytes(b ^ 0xFF for b in data[offset : offset + 40])  # break group 2's page header
    p.write_bytes(bytes(data))
    got = raws(p)
    assert [line for line, _, e in got if e is None] == [*range(1, 11), *range(21, 31)]
    assert [(line, "rows 11-20" in e) for line, _, e in got if e is not None] == [(11, True)]


def test_datasets_folder_and_dataset_dict(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ARROW_ROWS)
    ds.save_to_disk(str(tmp_path / "ds"))
    results = read_all(tmp_path / "ds")
    assert [(r.raw.path, r.raw.line) for r in results] == [(str(tmp_path / "ds"), 1), (str(tmp_path / "ds"), 2)]
    assert [canonical(r.record) for r in results] == [expected(adapt(r)) for r in ARROW_ROWS]

    datasets.DatasetDict({"train": ds, "test": ds.select([1])}).save_to_disk(str(tmp_path / "dd"))
    results = read_all(tmp_path / "dd")
    where = sorted((r.raw.path, r.raw.line, r.record_id) for r in results)
    assert where == sorted([(str(tmp_path / "dd" / "train"), 1, "r1"), (str(tmp_path / "dd" / "train"), 2, "r2"),
                            (str(tmp_path / "dd" / "test"), 1, "r2")])
    assert all(r.record is not None for r in results)
    # datasets folders inside a folder of files are read as datasets, not as their JSON metadata files
    write_jsonl(tmp_path / "z.jsonl", [ARROW_ROWS[1]])
    assert [(Path(r.raw.path).name, r.record_id) for r in read_all(tmp_path)] == [
        ("train", "r1"), ("train", "r2"), ("test", "r2"), ("ds", "r1"), ("ds", "r2"), ("z.jsonl", "r2")]


def test_folder_of_mixed_files(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rec = {"messages": [{"role": "user", "content": "x"}]}
    write_jsonl(tmp_path / "a.jsonl", [{**rec, "id": "a1"}, {**rec, "id": "a2"}])
    (tmp_path / "b.json").write_text(json.dumps([{**rec, "id": "b1"}]))
    pq.write_table(pa.Table.from_pylist([{**rec, "id": "c1"}]), tmp_path / "c.parquet")
    (tmp_path / "sub").mkdir()
    write_jsonl(tmp_path / "sub" / "d.jsonl", [{**rec, "id": "d1"}])
    (tmp_path / "notes.txt").write_text("not data")
    (tmp_path / ".hidden").mkdir()
    write_jsonl(tmp_path / ".hidden" / "x.jsonl", [{**rec, "id": "hidden"}])
    (tmp_path / "possible_answer").mkdir()
    write_jsonl(tmp_path / "possible_answer" / "a.jsonl", [{"id": "a1", "ground_truth": []}])
    results = read_all(tmp_path)
    assert [r.record_id for r in results] == ["a1", "a2", "b1", "c1", "d1"]
    assert all(r.record is not None for r in results)
    assert results[3].raw.path == str(tmp_path / "c.parquet")


def test_folder_without_data_is_a_read_error(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ReadError, match="no datasets files"):
        list(iter_raw(tmp_path))


# --- shapes --------------------------------------------------------------------------------------


def test_openai_messages_with_structured_tool_calls(tmp_path: Path) -> None:
    got = one(write_jsonl(tmp_path / "o.jsonl", [OPENAI_RECORD]))
    assert got["messages"][2] == {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}],
    }
    assert got["messages"][3]["tool_call_id"] == "c1"
    assert got["tools"] == [WEATHER_SPEC]
    assert got == expected(OPENAI_RECORD)


def test_content_parts_and_legacy_function_call() -> None:
    data = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather "}, {"type": "input_text", "text": "in Oslo?"}]},
        {"role": "assistant", "content": None,
         "function_call": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        {"role": "function", "name": "get_weather", "content": "3 °C"},
    ]}
    got = Trajectory.model_validate(adapt(data)).model_dump(exclude_none=True)
    assert got["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "name": "get_weather", "content": "3 °C"},
    ]
    with pytest.raises(ShapeError, match="image_url"):
        adapt({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})
    with pytest.raises(ShapeError, match="not a string"):
        adapt({"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]})


def test_bare_tool_calls_and_null_arguments() -> None:
    data = {"messages": [{"role": "assistant", "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Oslo"}},
        {"type": "function", "function": {"name": "get_weather", "arguments": None}},
    ]}]}
    calls = Trajectory.model_validate(adapt(data)).messages[0].tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", {"city": "Oslo"}), ("get_weather", {})]


def test_chatml_conversations() -> None:
    data = {"id": 7, "conversations": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "<think>greet</think>Hello!"},
    ]}
    got = Trajectory.model_validate(adapt(data)).model_dump(exclude_none=True)
    assert got == {"id": "7", "messages": [{"role": "user", "content": "hi"},
                                           {"role": "assistant", "content": "<think>greet</think>Hello!"}]}


def test_sharegpt_llama_factory_style(tmp_path: Path) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    row = {
        "conversations": [
            {"from": "human", "value": "Weather in Oslo?"},
            {"from": "function_call", "value": json.dumps(call)},
            {"from": "observation", "value": '{"temp": 3}'},
            {"from": "gpt", "value": "3 °C."},
        ],
        "system": "Be brief.",
        "tools": json.dumps([BARE_WEATHER_SPEC]),
    }
    got = one(write_jsonl(tmp_path / "s.jsonl", [row]))
    assert got == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": f"<tool_call>\n{json.dumps(call)}\n</tool_call>"},
            {"role": "tool", "content": '{"temp": 3}'},
            {"role": "assistant", "content": "3 °C."},
        ],
        "tools": [WEATHER_SPEC],
    }
    # a function_call value that is already an object, and an in-conversation system turn
    row2 = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "q"},
                              {"from": "function_call", "value": call}]}
    msgs = Trajectory.model_validate(adapt(row2)).messages
    assert [m.role for m in msgs] == ["system", "user", "assistant"]
    assert json.loads(msgs[2].content.split("\n")[1]) == call


def test_sharegpt_errors() -> None:
    with pytest.raises(ShapeError, match="speaker `robot`") as e:
        adapt({"conversations": [{"from": "human", "value": "x"}, {"from": "robot", "value": "y"}]})
    assert e.value.message_index == 1
    with pytest.raises(ShapeError, match="not valid JSON"):
        adapt({"conversations": [], "tools": "[{"})
    with pytest.raises(ShapeError, match="must be a list"):
        adapt({"conversations": {"from": "human"}})


def test_instruction_input_output() -> None:
    data = {"instruction": "Translate.", "input": "Hallo", "output": "Hello", "system": "S"}
    got = Trajectory.model_validate(adapt(data)).model_dump(exclude_none=True)
    assert got == {"messages": [{"role": "system", "content": "S"},
                                {"role": "user", "content": "Translate.\n\nHallo"},
                                {"role": "assistant", "content": "Hello"}]}
    got = adapt({"instruction": "Say hi.", "input": "", "output": "hi"})
    assert got["messages"][0] == {"role": "user", "content": "Say hi."}


def test_bfcl_row_with_possible_answer(tmp_path: Path) -> None:
    rows = [
        {"id": "simple_0", "question": [[{"role": "user", "content": "Weather in Oslo?"}]],
         "function": [{"name": "get_weather", "description": "d",
                       "parameters": {"type": "dict", "properties": {"city": {"type": "string"},
                                                                     "unit": {"type": "string"}}}}]},
        {"id": "simple_1", "question": [[{"role": "user", "content": "no answer"}]], "function": []},
    ]
    write_jsonl(tmp_path / "BFCL_v3_simple.json", rows)
    (tmp_path / "possible_answer").mkdir()
    write_jsonl(tmp_path / "possible_answer" / "BFCL_v3_simple.json", [
        {"id": "simple_0", "ground_truth": [{"get_weather": {"city": ["Oslo", "oslo"], "unit": ["", "celsius"]}}]},
    ])
    with (tmp_path / "possible_answer" / "BFCL_v3_simple.json").open("a") as fh:
        fh.write("not json\n[1]\n")  # skipped
    r0, r1 = read_all(tmp_path / "BFCL_v3_simple.json")
    assert r0.record is not None and r0.record.id == "simple_0"
    assert r0.record.tools[0].function.name == "get_weather"
    last = r0.record.messages[-1]
    assert last.role == "assistant"
    assert last.content == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    assert r1.record is not None and [m.role for m in r1.record.messages] == ["user"]


def test_bfcl_answers_are_per_file_in_a_folder(tmp_path: Path) -> None:
    for name, city in [("BFCL_a.json", "Oslo"), ("BFCL_b.json", "Rome")]:
        write_jsonl(tmp_path / name, [{"id": "x_0", "question": [[{"role": "user", "content": "q"}]],
                                       "function": [BARE_WEATHER_SPEC]}])
        (tmp_path / "possible_answer").mkdir(exist_ok=True)
        write_jsonl(tmp_path / "possible_answer" / name,
                    [{"id": "x_0", "ground_truth": [{"get_weather": {"city": [city]}}]}])
    a, b = read_all(tmp_path)
    assert "Oslo" in a.record.messages[-1].content
    assert "Rome" in b.record.messages[-1].content


def test_bfcl_multi_turn_row_with_function_docs(tmp_path: Path) -> None:
    """Multi-turn rows name `involved_classes` instead of `function`: tools come from `multi_turn_func_doc/`."""
    (tmp_path / "multi_turn_func_doc").mkdir()
    write_jsonl(tmp_path / "multi_turn_func_doc" / "math_api.json", [
        {"name": "add", "description": "a+b", "parameters": {"type": "dict", "properties": {
            "a": {"type": "float"}, "b": {"type": "float"}}, "required": ["a", "b"]}},
        {"name": "secret", "description": "excluded", "parameters": {"type": "dict", "properties": {}}},
    ])
    with (tmp_path / "multi_turn_func_doc" / "math_api.json").open("a") as fh:
        fh.write("{broken\n")  # skipped
    write_jsonl(tmp_path / "BFCL_v4_multi_turn_base.json", [
        {"id": "multi_turn_base_0",
         "question": [[{"role": "user", "content": "1+2?"}], [{"role": "user", "content": "3+4?"}]],
         "initial_config": {}, "path": [], "involved_classes": ["MathAPI", ["not a class"]],
         "excluded_function": ["secret", {"odd": 1}]},
    ])
    (tmp_path / "possible_answer").mkdir()
    write_jsonl(tmp_path / "possible_answer" / "BFCL_v4_multi_turn_base.json", [
        {"id": "multi_turn_base_0",
         "ground_truth": [["add(a=1.0, b=2.0)"], ["add(a=3.0, b=4.0)", "add(a=0.0, b=0.0)"]]},
    ])
    (result,) = read_all(tmp_path / "BFCL_v4_multi_turn_base.json")
    record = result.record
    assert record is not None, result.shape_errors
    assert [t.function.name for t in record.tools] == ["add"]
    assert [m.role for m in record.messages] == ["user", "assistant", "user", "assistant"]
    assert record.messages[3].content == (
        "<tool_call>\nadd(a=3.0, b=4.0)\n</tool_call>\n<tool_call>\nadd(a=0.0, b=0.0)\n</tool_call>")
    # linting the folder reads the data file only, not the answers or the function docs
    assert [r.raw.path for r in read_all(tmp_path)] == [str(tmp_path / "BFCL_v4_multi_turn_base.json")]


def test_bfcl_row_without_id_has_no_id() -> None:
    got = adapt({"question": [[{"role": "user", "content": "q"}]], "function": []})
    assert "id" not in got


@pytest.mark.parametrize("ground_truth", [5, "x", {"f": 1}, [{"f": [1]}], [{"f": {}, "g": {}}]])
def test_bfcl_bad_ground_truth_is_a_shape_error(ground_truth: Any) -> None:
    with pytest.raises(ShapeError):
        readers.from_bfcl({"id": "a", "question": [[{"role": "user", "content": "q"}]], "function": []}, ground_truth)


def test_tool_specs_bare_and_openai_shaped() -> None:
    assert normalise_tools([BARE_WEATHER_SPEC, WEATHER_SPEC]) == [WEATHER_SPEC, WEATHER_SPEC]
    as_string = {"type": "function", "function": {**BARE_WEATHER_SPEC,
                                                  "parameters": json.dumps(BARE_WEATHER_SPEC["parameters"])}}
    assert normalise_tools([as_string]) == [WEATHER_SPEC]
    assert normalise_tools(json.dumps([BARE_WEATHER_SPEC])) == [WEATHER_SPEC]


def test_unknown_shape_names_the_keys() -> None:
    with pytest.raises(ShapeError) as e:
        adapt({"prompt": "x", "completion": "y"})
    assert "`prompt`, `completion`" in str(e.value)
    with pytest.raises(ShapeError, match="got array"):
        adapt([1, 2])
    with pytest.raises(ShapeError, match="and 2 more"):
        adapt({f"k{i}": i for i in range(10)})
    with pytest.raises(ShapeError) as e:
        adapt({"k" * 10_000: 1})
    assert "k" * 41 not in str(e.value) and len(str(e.value)) < 600  # the key cut to 40 characters, whatever the shapes


def test_shape_and_schema_errors_through_the_reader(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "d.jsonl", [
        {"id": "u", "prompt": "x"},
        {"id": 3, "messages": [{"role": "robot", "content": "x"}]},
        {"id": ["not", "an", "id"], "messages": []},
        [1, 2],
    ])
    r1, r2, r3, r4 = read_all(p)
    assert r1.record is None and r1.record_id == "u" and "unrecognised record shape" in r1.shape_errors[0][1]
    assert r2.record is None and r2.record_id == "3" and r2.shape_errors[0][0] == 0
    assert "messages.0.role" in r2.shape_errors[0][1]
    assert r3.record is None and r3.record_id is None and r3.shape_errors[0][1].startswith("id:")
    assert r4.record is None and "got array" in r4.shape_errors[0][1]


# --- tool spec files -----------------------------------------------------------------------------


def test_load_tool_specs(tmp_path: Path) -> None:
    arr = tmp_path / "tools.json"
    arr.write_text("\ufeff" + json.dumps([WEATHER_SPEC, BARE_WEATHER_SPEC], indent=2), encoding="utf-8")
    assert load_tool_specs(arr) == [WEATHER_SPEC, WEATHER_SPEC]
    lines = write_jsonl(tmp_path / "tools.jsonl", [BARE_WEATHER_SPEC, WEATHER_SPEC], sep="\r\n")
    assert load_tool_specs(lines) == [WEATHER_SPEC, WEATHER_SPEC]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"tools": [BARE_WEATHER_SPEC]}))
    assert load_tool_specs(wrapped) == [WEATHER_SPEC]
    single = tmp_path / "single.json"
    single.write_text(json.dumps(BARE_WEATHER_SPEC))
    assert load_tool_specs(single) == [WEATHER_SPEC]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"[{", "not valid JSON"),
        (b'{"name": "a"}\n{oops\n', ":2: tools file is neither JSON nor JSON Lines"),
        (b"\xff\xfe[]", "cannot read"),
        (b'"just a string"', "JSON array of tool specs"),
        (b'[{"description": "no name"}]', "tool spec #1 has no function name"),
        (b'[{"type": "function", "function": "x"}]', "tool spec #1"),
    ],
)
def test_load_tool_specs_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    p = tmp_path / "tools.json"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ReadError, match=message.replace("#", "\\#").replace("(", "\\(")):
        load_tool_specs(p)


# --- bounded memory ------------------------------------------------------------------------------


def _peak_while_reading(path: Path) -> tuple[int, int]:
    count = 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for result in RecordReader().read(path):
            count += result.record is not None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def _record(i: int) -> dict[str, Any]:
    return {"id": f"r{i}", "messages": [
        {"role": "user", "content": f"question {i} " + "lorem ipsum " * 20},
        {"role": "assistant", "content": f'<think>t</think><tool_call>{{"name": "f", "arguments": {{"i": {i}}}}}'
                                         "</tool_call>"},
    ]}


@pytest.mark.parametrize("kind", ["jsonl", "array"])
def test_reading_keeps_memory_bounded(tmp_path: Path, kind: str) -> None:
    """Reading holds one record at a time. pydantic-core's JSON string cache (16,384 strings, bounded) takes
    up to ~0.9 MB while the first ~16,000 distinct strings are read, so both sizes measured are past that:
    from 10,000 records, a half-filled cache against a full one looked like a 2x growth that stops there."""
    peaks = {}
    for n in (30_000, 100_000):
        p = tmp_path / f"{kind}{n}.{'jsonl' if kind == 'jsonl' else 'json'}"
        with open(p, "w", encoding="utf-8") as fh:  # written lazily, one record at a time
            fh.write("" if kind == "jsonl" else "[\n")
            for i in range(n):
                sep = "\n" if kind == "jsonl" else (",\n" if i < n - 1 else "\n]\n")
                fh.write(json.dumps(_record(i)) + sep)
        count, peaks[n] = _peak_while_reading(p)
        assert count == n
        p.unlink()
    assert peaks[100_000] < 8 * 2**20, peaks  # a few MB, whatever the file size
    assert peaks[100_000] < 1.5 * peaks[30_000], peaks  # 3.3x the records, not 3.3x the memory


def test_rawrecord_defaults() -> None:
    assert RawRecord("p", 1) == RawRecord("p", 1, None, None)


def test_integers_beyond_64_bits_stay_exact_integers(tmp_path: Path) -> None:
    """The fast JSON path (orjson) turns such integers into floats; they must read as json reads them."""
    big = 2**70 + 1
    p = tmp_path / "big.jsonl"
    p.write_text(json.dumps({"messages": [{"role": "user", "content": "x"}], "meta": {"n": big, "m": -big}}) + "\n")
    (raw,) = list(iter_raw(p))
    assert raw.data["meta"] == {"n": big, "m": -big} and isinstance(raw.data["meta"]["n"], int)


# --- the one-pass path for canonical JSON Lines agrees with decode → adapt → validate ---------------

def _general_path(line: bytes) -> str | None:
    """The record the general path makes of a line (repr, so 1, 1.0 and True stay apart), or None."""
    data, err = readers._decode_bytes(line)
    if err is not None:
        return None
    try:
        return repr(Trajectory.model_validate(adapt(data)).model_dump())
    except (ShapeError, ValueError, RecursionError):
        return None


def _assert_fast_path_agrees(line: bytes) -> bool:
    fast = readers.canonical_record(line)
    if fast is not None:
        assert repr(fast.model_dump()) == _general_path(line), line[:200]
    return fast is not None


def test_canonical_lines_read_in_one_pass_as_the_general_path_reads_them() -> None:
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "raw.jsonl"
    lines = [line.rstrip(b"\r\n") for line in sample.read_bytes().splitlines() if line.strip()]
    taken = sum(_assert_fast_path_agrees(line) for line in lines)
    assert taken > 0.8 * len(lines)  # the common case is the fast one


@pytest.mark.parametrize("line", [
    b'{"messages": [{"role": "user", "content": "hi"}], "messages": [{"role": "user", "content": "bye"}]}',
    b'{"id": 7, "messages": [{"role": "user", "content": "hi"}]}',
    b'{"messages": [{"role": "user", "content": "hi", "name": null, "extra": null}]}',
    b'{"messages": [{"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{}"}}]}',
    b'{"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": null, "type": "function",'
    b' "function": {"name": "f", "arguments": null}}]}]}',
    b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}',
    b'{"messages": [{"role": "human", "content": "hi"}]}',
    b'{"messages": [{"role": "user", "content": "hi"}], "meta": {"x": 1e400, "y": -0.0, "z": 1.5e-7}}',
    b'{"messages": [{"role": "user", "content": "\\u00e9\\ud83d\\ude00"}], "tools": null, "meta": null}',
    b'{"messages": [{"role": "user", "content": "hi", "train": 1}]}',
    b'{"messages": [{"role": "user", "content": "hi", "train": "true"}]}',
    b'{"messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "f", "parameters": {}}]}',
    b'{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": '
    b'{"name": "f", "parameters": "{\\"type\\": \\"object\\"}"}}]}',
    b'{"messages": [{"role": "user", "content": "hi"}], "x": 12345678901234567890123}',
    b'{"messages": [{"role": "user", "content": "hi"},]}',
])
def test_lines_where_shapes_or_parsers_differ_agree(line: bytes) -> None:
    _assert_fast_path_agrees(line)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
_json_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "role", "content"]), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(messages=st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "tool", "system", "User"]),
     "content": st.one_of(st.none(), st.text(max_size=10), st.integers())},
    optional={"name": st.one_of(st.none(), st.text(max_size=4)), "train": st.one_of(st.none(), st.booleans(),
              st.integers(0, 2)), "tool_calls": _json_values, "other": _json_values}), max_size=3),
    top=st.dictionaries(st.sampled_from(["id", "meta", "tools", "weight"]), _json_values, max_size=3))
def test_random_lines_agree(messages: list[Any], top: dict[str, Any]) -> None:
    record = {**top, "messages": messages}
    _assert_fast_path_agrees(json.dumps(record).encode())
    _assert_fast_path_agrees(json.dumps(record, ensure_ascii=False).encode())


_SURROGATE_TEXT = st.lists(
    st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00", "a", "é", "😀"]), max_size=4,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(content=_SURROGATE_TEXT, key=_SURROGATE_TEXT, value=_SURROGATE_TEXT)
def test_lines_with_surrogate_escapes_agree(content: str, key: str, value: str) -> None:
    """No byte scan for `\\uD800`-style escapes: the validator refuses unpaired ones as json is told to."""
    record = {"messages": [{"role": "user", "content": content}], "meta": {key: value}}
    for line in (json.dumps(record).encode(), json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")):
        _assert_fast_path_agrees(line)
