"""One record must not hang or exhaust the tool (issue #13, section 2).

Each test feeds a record written to hurt: a schema pattern with catastrophic backtracking, `$ref`s that
double at every level, a call with 120,000 unexpected arguments, thousands of unknown tool names against
10,000 tools, lines longer than `max_record_bytes`. The commands that could hang run in a subprocess with a
generous timeout, so that a regression fails the suite instead of stalling it; nothing here asserts a
duration.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curate.dedup as dedup
import curate.readers as readers
from curate.build.facts import count_tokens_in_pieces
from curate.dedup import DedupConfig
from curate.lint import Linter
from curate.readers import DEFAULT_MAX_RECORD_BYTES, iter_raw
from curate.records import FindingList
from curate.rules.base import MAX_FINDINGS_PER_CALL, MAX_FINDINGS_PER_RECORD, _shorten_whole, closest_name, shorten
from curate.validate import MAX_INLINED_NODES, PatternClock, _unlimited_length, build_tool, pattern_search
from tests.conftest import REPO, run_cli

HANG = 60
"""Seconds after which a command counts as hung (each finishes in a second or two)."""


def tool(name: str, properties: dict[str, Any], **schema: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": properties, **schema}}}


def call(name: str, arguments: dict[str, Any]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def record(rid: str, content: str, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": rid, "messages": [{"role": "user", "content": "Go."},
                                                  {"role": "assistant", "content": content}]}
    if tools is not None:
        rec["tools"] = tools
    return rec


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def lint_json(*args: str, cwd: Path) -> list[dict[str, Any]]:
    """`curate lint --isolated --format json ARGS`, checked against the findings schema."""
    res = run_cli("lint", "--isolated", "--format", "json", *args, cwd=cwd, timeout=HANG)
    assert res.returncode in (0, 1), res.stderr
    FindingList.model_validate_json(res.stdout)  # stays schema-valid, closing findings included
    return json.loads(res.stdout)


# --- 1. patterns ------------------------------------------------------------------------------------------

BACKTRACKING = "^(a|aa)+$"  # exponential in `regex` as in `re` on "aaaa…a!"
ISSUE_PATTERN = "^(a+)+$"  # the issue's example: `re` backtracks forever, `regex` answers at once
HOSTILE_VALUE = "a" * 40 + "!"


def pattern_records() -> list[dict[str, Any]]:
    tools = [tool("g", {
        "s": {"type": "string", "pattern": BACKTRACKING},
        "t": {"type": "string", "pattern": ISSUE_PATTERN},
        "m": {"type": "object", "patternProperties": {BACKTRACKING: {"type": "integer"}},
              "additionalProperties": False},
    })]
    return [
        record("pat", call("g", {"s": HOSTILE_VALUE, "t": HOSTILE_VALUE, "m": {HOSTILE_VALUE: 1}}), tools),
        record("ok", call("g", {"s": "aaa", "t": "aa", "m": {"aa": 1}}), tools),
    ]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_catastrophic_pattern_is_a_finding_naming_the_tool_and_the_pattern(tmp_path: Path, jobs: str) -> None:
    path = write(tmp_path / "pat.jsonl", pattern_records())
    findings = lint_json(str(path), "-j", jobs, cwd=tmp_path)
    messages = [f["message"] for f in findings if f["record_id"] == "pat"]
    assert all(f["code"] == "TC008" for f in findings)
    assert any("`s` of `g`" in m and f'"{BACKTRACKING}"' in m and "did not finish" in m for m in messages)
    assert any(f"`m.{HOSTILE_VALUE}` of `g`" in m and "on this key" in m for m in messages)
    assert any("`t` of `g`" in m and "does not match" in m for m in messages)  # decided, not timed out
    assert not [f for f in findings if f["record_id"] == "ok"]  # sane values under the same patterns pass


def test_many_catastrophic_calls_in_one_record_share_one_time_budget(tmp_path: Path) -> None:
    tools = [tool("g", {"s": {"type": "string", "pattern": BACKTRACKING}})]
    content = "".join(call("g", {"s": HOSTILE_VALUE}) for _ in range(100))
    path = write(tmp_path / "many.jsonl", [record("r", content, tools)])
    findings = lint_json(str(path), cwd=tmp_path)
    assert len(findings) == 100 and {f["code"] for f in findings} == {"TC008"}
    assert sum("did not finish" in f["message"] for f in findings) < 10  # the rest: the budget was spent
    assert "this record's time for pattern searches" in findings[-1]["message"]


def test_unevaluated_properties_beside_a_catastrophic_pattern(tmp_path: Path) -> None:
    tools = [tool("g", {"o": {"type": "object", "patternProperties": {BACKTRACKING: {}},
                              "unevaluatedProperties": False}})]
    path = write(tmp_path / "u.jsonl", [record("u", call("g", {"o": {HOSTILE_VALUE: 1}}), tools)])
    findings = lint_json(str(path), cwd=tmp_path)
    assert [f["code"] for f in findings] == ["TC008"] and "did not finish" in findings[0]["message"]


def test_pattern_search_answers_and_a_spent_clock_answers_none() -> None:
    assert pattern_search("^[A-Z]{3}$", "OSL") is True
    assert pattern_search("^[A-Z]{3}$", "Oslo") is False
    tool_ = build_tool("f", {"type": "object", "properties": {"c": {"type": "string", "pattern": "^[A-Z]{3}$"}}})
    assert [e.kind for e in tool_.validate({"c": "Oslo"})] == ["constraint"]
    spent = PatternClock(0.0)
    errors = tool_.validate({"c": "OSL"}, spent)
    assert [e.kind for e in errors] == ["constraint"] and "not evaluated" in errors[0].message
    assert tool_.validate({"c": "OSL"}) == []  # a fresh session has its own budget


@pytest.mark.parametrize(("pattern", "unlimited"), [
    (BACKTRACKING, False), (ISSUE_PATTERN, False), ("^x?y?z?$", False), ("(?=.*[0-9])", False), (r"(a)\1", False),
    (r"\p{L}+", False),  # `regex` syntax the stdlib parser cannot read: searched with the time limit
    ("^[A-Z]{2,3}-[0-9]{4}$", True), ("^(foo|bar)[0-9]+$", True), (r"^(\d{3}-){2}\d{4}$", True),
])
def test_only_patterns_that_cannot_backtrack_much_skip_the_time_limit(pattern: str, unlimited: bool) -> None:
    """Setting a `regex` timeout costs more than searching a short value, so simple patterns on short values
    go without one (still timed against the record's budget); any nesting or lookaround never does."""
    assert (_unlimited_length(pattern) > 0) is unlimited


# --- 2. $ref chains ----------------------------------------------------------------------------------------


def doubling_schema(levels: int) -> dict[str, Any]:
    defs: dict[str, Any] = {"a0": {"type": "string", "minLength": 2}}
    for i in range(1, levels + 1):
        defs[f"a{i}"] = {"anyOf": [{"$ref": f"#/$defs/a{i - 1}"}, {"$ref": f"#/$defs/a{i - 1}"}]}
    return {"type": "object", "$defs": defs,
            "properties": {"v": {"$ref": f"#/$defs/a{levels}"}, "n": {"type": "integer"}}}


def test_refs_doubling_at_every_level_are_ts001_and_the_rest_is_checked(tmp_path: Path) -> None:
    tools = [{"type": "function", "function": {"name": "d", "parameters": doubling_schema(18)}}]
    rec = record("refs", call("d", {"v": "x", "n": "one"}), tools)
    assert len(json.dumps(rec)) < 3000
    findings = lint_json(str(write(tmp_path / "refs.jsonl", [rec])), cwd=tmp_path)
    ts001 = [f["message"] for f in findings if f["code"] == "TS001"]
    assert len(ts001) == 1 and "`d`" in ts001[0] and f"expands past {MAX_INLINED_NODES:,} nodes" in ts001[0]
    assert [f["code"] for f in findings if f["code"] != "TS001"] == ["TC005"]  # `n` is still checked


def test_refs_that_expand_within_the_limit_are_still_checked() -> None:
    tool_ = build_tool("d", doubling_schema(6))
    assert tool_.problems == []
    assert [(e.kind, e.path) for e in tool_.validate({"v": "x"})] == [("constraint", "v")]
    assert tool_.validate({"v": "xy"}) == []


# --- 3. finding caps and excerpts --------------------------------------------------------------------------


def test_a_call_with_120000_unexpected_arguments(tmp_path: Path) -> None:
    tools = [tool("f", {"a": {"type": "string"}})]
    rec = record("wide", call("f", {f"k{i}": i for i in range(120_000)}), tools)
    path = write(tmp_path / "wide.jsonl", [rec])
    one = lint_json(str(path), cwd=tmp_path)
    assert len(one) == MAX_FINDINGS_PER_CALL + 1 and {f["code"] for f in one} == {"TC004"}
    assert one[-1]["message"] == (f"… and {120_000 - MAX_FINDINGS_PER_CALL:,} more findings like this in this call "
                                  f"(at most {MAX_FINDINGS_PER_CALL} are listed per call)")
    assert all(len(f["excerpt"]) <= 100 for f in one)
    assert lint_json(str(path), "-j", "2", cwd=tmp_path) == one


def test_a_record_lists_at_most_its_cap_then_says_how_many_more(tmp_path: Path) -> None:
    tools = [tool("f", {"a": {"type": "string"}})]
    content = "".join(call(f"nosuch{i}", {}) for i in range(300)) + call("f", {"a": 1})
    records = [record("loud", content, tools), record("loud", call("f", {"a": "x"}), tools)]  # RS004 on line 2
    path = write(tmp_path / "loud.jsonl", records)
    findings = lint_json(str(path), cwd=tmp_path)
    first = [f for f in findings if f["line"] == 1]
    assert len(first) == MAX_FINDINGS_PER_RECORD + 2
    assert [f["code"] for f in first[-2:]] == ["TC002", "TC005"]
    assert first[-2]["message"] == (f"… and 100 more TC002 findings in this record "
                                    f"(at most {MAX_FINDINGS_PER_RECORD} are listed per record)")
    assert first[-1]["message"].startswith("… and 1 more TC005 finding in this record")
    assert [f["code"] for f in findings if f["line"] == 2] == ["RS004"]
    assert lint_json(str(path), "-j", "2", cwd=tmp_path) == findings


def test_shorten_cuts_a_window_and_says_what_the_whole_text_would() -> None:
    rng = random.Random(7)
    alphabet = ["a", " ", "\n", "\r", "\t", "b", "\u00a0", "é"]
    for _ in range(3000):
        weights = rng.choice([[1] * 8, [1, 20, 1, 1, 1, 1, 1, 1], [1, 1, 1, 40, 1, 1, 1, 1]])
        text = "".join(rng.choices(alphabet, weights, k=rng.choice([0, 50, 400, 401, 900, 5000])))
        assert shorten(text) == _shorten_whole(text, 100)
    assert shorten(" \n" + "x" * 10_000_000) == "x" * 99 + "…"


# --- 4. did-you-mean against a large tool list -------------------------------------------------------------


def test_thousands_of_unknown_calls_against_ten_thousand_tools(tmp_path: Path) -> None:
    rng = random.Random(0)
    words = ["get", "set", "list", "create", "delete", "update", "user", "order", "item", "price", "stock"]
    names: set[str] = set()
    while len(names) < 10_000:
        names.add("_".join(rng.sample(words, 3)) + f"_{rng.randrange(1000)}")
    ordered = sorted(names)
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([{"name": n, "parameters": {"type": "object", "properties": {}}} for n in ordered]))
    unknown = [f"zz{i}_{ordered[i * 5][::-1]}" for i in range(2000)]
    misspelt = ordered[123][0] + "x" + ordered[123][1:]  # one character too many
    records = [record(f"r{i}", call(n, {})) for i, n in enumerate([*unknown, misspelt])]
    findings = lint_json(str(write(tmp_path / "u.jsonl", records)), "--tools", str(tools), cwd=tmp_path)
    assert [f["code"] for f in findings] == ["TC002"] * 2001
    assert findings[-1]["message"] == f"unknown tool `{misspelt}`; did you mean `{ordered[123]}`?"


def test_did_you_mean_in_the_small_case() -> None:
    assert closest_name("get_wether", ("get_time", "get_weather", "send_mail")) == "get_weather"
    assert closest_name("xyz", ("get_weather", "send_mail")) is None


# --- 5. records over max_record_bytes ----------------------------------------------------------------------

CANARY = record("canary", call("nosuch", {}))


def test_an_over_long_line_is_rs001_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    big = json.dumps(record("big", "x" * 10_000)).encode()
    path.write_bytes(big + b"\n" + json.dumps(CANARY).encode() + b"\n" + b"y" * 5000)
    findings = list(Linter(max_record_bytes=4096).lint_path(path))
    assert [(f.line, f.code) for f in findings] == [(1, "RS001"), (2, "TC002"), (3, "RS001")]
    assert findings[0].message.startswith(f"the record is {len(big):,} bytes long, over max_record_bytes (4,096)")
    assert "raise `max_record_bytes`" in findings[0].message and "[tool.curate.lint]" in findings[0].message
    assert findings[2].message.startswith("the record is 5,000 bytes long")


class EndlessLine:
    """A stream of one line that never ends (what /dev/zero is), recording the largest read asked for."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.largest = 0

    def _give(self, n: int) -> bytes:
        assert n is not None and n >= 0, "an unbounded read"
        self.largest = max(self.largest, n)
        n = min(n, self.left)
        self.left -= n
        return b"\0" * n

    def readline(self, size: int = -1) -> bytes:
        return self._give(size)

    def read(self, size: int = -1) -> bytes:
        return self._give(size)

    def seekable(self) -> bool:
        return False


def test_reading_asks_for_no_more_than_the_limit_of_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = EndlessLine(50 * 4096)
    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": stream})())
    records = list(iter_raw("-", max_record_bytes=4096))
    assert [r.error for r in records] == [
        "the record is 204,800 bytes long, over max_record_bytes (4,096), and is not read; to read it, raise "
        "`max_record_bytes` ([tool.curate.lint] for `curate lint`, the top level of the build config for "
        "`curate build`)"]
    assert stream.largest <= max(4096 + 2, 1 << 20)  # the line's limit, or one skipping chunk


def test_lint_reads_a_gigabyte_line_in_bounded_memory(tmp_path: Path) -> None:
    """`curate lint -` on a pipe of 1 GB of NUL bytes (what `lint /dev/zero` reads) and then a record, in
    an address space of 700 MB: the long line is RS001 with its size, and the record after it is read."""
    writer = ("import sys\nw = sys.stdout.buffer\nz = bytes(1 << 20)\nfor _ in range(1024): w.write(z)\n"
              f"w.write(b'\\n' + {json.dumps(CANARY).encode()!r} + b'\\n')")

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (700 << 20, 700 << 20))

    gen = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
    try:
        res = subprocess.run([sys.executable, "-m", "curate", "lint", "-", "--isolated", "--format", "json"],
                             stdin=gen.stdout, capture_output=True, text=True, env=env, cwd=tmp_path,
                             preexec_fn=cap_memory, timeout=HANG)
    finally:
        gen.stdout.close()  # type: ignore[union-attr]
        gen.wait(timeout=HANG)
    assert res.returncode == 1, res.stderr
    findings = json.loads(res.stdout)
    assert [(f["line"], f["code"]) for f in findings] == [(1, "RS001"), (2, "TC002")]
    assert f"is {1 << 30:,} bytes long, over max_record_bytes ({DEFAULT_MAX_RECORD_BYTES:,})" in findings[0]["message"]


@pytest.mark.parametrize("chunk", [64, 1 << 20])  # elements skipped while reading on, or found whole in a chunk
def test_json_array_elements_and_single_records_over_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                chunk: int) -> None:
    monkeypatch.setattr(readers, "JSON_ARRAY_CHUNK", chunk)
    array = tmp_path / "a.json"
    escaped = 'q\\"' * 3000  # escapes and quotes inside a long string: the skipping must not lose its place
    elements = [record("big", "x" * 20_000), "s" * 30_000 + escaped, CANARY, {"nested": [[["z" * 9000]]]},
                {**CANARY, "id": "canary2"}]
    array.write_text("[\n" + ",\n".join(json.dumps(e) for e in elements) + "\n]\n")
    findings = list(Linter(max_record_bytes=4096).lint_path(array))
    assert [(f.line, f.code) for f in findings] == [(2, "RS001"), (3, "RS001"), (4, "TC002"), (5, "RS001"),
                                                    (6, "TC002")]
    assert "over max_record_bytes (4,096)" in findings[0].message
    single = tmp_path / "one.json"
    single.write_text(json.dumps(record("one", "x" * 20_000), indent=2))
    assert [(f.line, f.code) for f in Linter(max_record_bytes=4096).lint_path(single)] == [(1, "RS001")]
    assert list(Linter().lint_path(single)) == []  # within the default limit: read, and clean


# --- the build ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


def test_build_drops_and_counts_every_hostile_record_and_finishes(tmp_path: Path, cache: str) -> None:
    wide_tools = [tool("f", {"a": {"type": "string"}})]
    good = [record(f"good{i}", f"The answer is {i} of {i * 7} things, as asked.") for i in range(6)]
    hostile = [*pattern_records()[:1],
               record("refs", call("d", {"v": "x"}),
                      [{"type": "function", "function": {"name": "d", "parameters": doubling_schema(18)}}]),
               record("wide", call("f", {f"k{i}": i for i in range(20_000)}), wide_tools)]
    path = write(tmp_path / "raw.jsonl", [*good, *hostile])
    with path.open("ab") as fh:  # one line just over the default limit: never parsed
        fh.write(b'{"id": "huge", "messages": [{"role": "user", "content": "'
                 + b"w " * (DEFAULT_MAX_RECORD_BYTES // 2) + b'"}]}\n')
    res = run_cli("build", str(path), "-o", str(tmp_path / "out"), env={"CURATE_CACHE": cache}, timeout=300)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["dropped"]["unreadable"] == 1
    assert manifest["dropped"]["lint_error"] == 2  # the pattern and the wide call; `refs` only warns (TS001)
    counts = manifest["lint_findings"]
    assert counts["RS001"] == 1 and counts["TS001"] == 1 and counts["TC004"] == MAX_FINDINGS_PER_CALL + 1
    lint = lint_json(str(path), cwd=tmp_path)
    assert counts == {code: sum(f["code"] == code for f in lint) for code in counts}


def test_large_records_are_counted_and_signed_piece_by_piece_with_the_same_result(
        monkeypatch: pytest.MonkeyPatch, cache: str) -> None:
    from curate.mask import Masker
    from curate.readers import RecordReader
    from curate.tokenizer import load_tokenizer

    monkeypatch.setenv("CURATE_CACHE", cache)
    masker = Masker(load_tokenizer(None))
    records = [r.record for r in RecordReader().read(REPO / "sample_data" / "raw.jsonl")
               if r.record is not None and r.record.messages][:150]
    for rec in records:
        text = masker.spans(rec)[0][-1].text
        # pieces of 2,000 characters, cut before a space between words: exact for byte-level BPE
        assert count_tokens_in_pieces(masker.tokenizer, text, piece=2000) == masker.count_tokens([rec])[0]

    rng = random.Random(3)
    vocab = ["alpha", "Beta", "déjà", "vu", "x_y", "42", "naïve", "—", "…", "日本語", "\n", "Straße", "ﬁ", "it's"]
    text = " ".join(rng.choice(vocab) for _ in range(40_000))
    hasher = dedup.MinHasher(dedup.MinHashSettings.from_config(DedupConfig(shingle=3)))
    whole = hasher.sign_texts([dedup.normalise_text(text), "a short text"])
    monkeypatch.setattr(dedup, "LARGE_TEXT", 1000)  # windows of 250 characters: hundreds of cuts
    assert np.array_equal(hasher.sign_texts([dedup.normalise_text(text), "a short text"]), whole)

