"""`OUT/dropped/<reason>.jsonl` and `OUT/report.html` of `curate build`: what each stage left out, with what
dropped it, capped per reason and counted in the manifest; the page's charts (histograms with axes, median and
p95), dropped examples, near-duplicate pairs and provenance; every string from data escaped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from curate.build import build
from curate.buildconfig import BuildConfig, ExportConfig
from curate.manifest import Manifest
from curate.report_html import histogram, line_chart, nice_ticks, quantile
from tests.conftest import REPO, read_jsonl, write_jsonl

TOOLS = REPO / "sample_data" / "tools.json"
HOSTILE = '<img src=x onerror="alert(1)">'


def manifest(out: Path) -> Manifest:
    return Manifest.model_validate_json((out / "manifest.json").read_text(encoding="utf-8"))


def test_every_reason_written_up_to_the_cap_and_counted_in_the_manifest(built: Path) -> None:
    m = manifest(built)
    assert m.dropped_files is not None and m.dropped_files.cap == 100
    expected = {r: min(n, 100) for r, n in m.dropped.items() if r != "unreadable"}
    assert m.dropped_files.written == expected
    assert expected == {"lint_error": 100, "exact_duplicate": 30, "near_duplicate": 52, "balancing": 100}
    assert sorted(p.name for p in (built / "dropped").iterdir()) == sorted(f"{r}.jsonl" for r in expected)
    for reason, n in expected.items():
        lines = read_jsonl(built / "dropped" / f"{reason}.jsonl")
        assert len(lines) == n and {r["dropped"]["reason"] for r in lines} == {reason}


def test_dropped_records_read_back_with_what_dropped_them(built: Path) -> None:
    from curate.readers import RecordReader

    out = built / "dropped"
    kept = {r["id"] for f in ("train.jsonl", "eval.jsonl") for r in read_jsonl(built / f)}
    for reason in ("lint_error", "exact_duplicate", "near_duplicate", "balancing"):
        lines = read_jsonl(out / f"{reason}.jsonl")
        back = [r.record for r in RecordReader().read(out / f"{reason}.jsonl")]
        assert [b.id if b else None for b in back] == [r["id"] for r in lines], reason
        assert not kept & {r["id"] for r in lines}, reason
    errors = read_jsonl(out / "lint_error.jsonl")
    assert all(any(f["severity"] == "error" and re.fullmatch(r"[A-Z]{2}\d{3}", f["code"])
                   for f in r["dropped"]["findings"]) for r in errors)
    exact = read_jsonl(out / "exact_duplicate.jsonl")
    assert all(r["dropped"]["duplicate_of"] != r["id"] for r in exact)
    # a near duplicate's Jaccard is the one its cluster lists for it (estimated from the MinHash signatures)
    members = {(m["id"], c["kept_id"]): m["jaccard"] for c in read_jsonl(built / "clusters.jsonl")
               for m in c["members"]}
    for r in read_jsonl(out / "near_duplicate.jsonl"):
        d = r["dropped"]
        assert members[(r["id"], d["representative"])] == round(d["jaccard"], 4) or \
            abs(members[(r["id"], d["representative"])] - d["jaccard"]) < 1e-4
        assert d["representative_excerpt"]
    assert {r["dropped"]["bucket"] for r in read_jsonl(out / "balancing.jsonl")} <= set(manifest(built).buckets_before)


def test_build_report_shows_histograms_dropped_examples_pairs_and_provenance(built: Path) -> None:
    page = (built / "report.html").read_text(encoding="utf-8")
    m = manifest(built)
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org", "")
    hists = re.findall(r'<svg class="chart"[^>]*aria-label="([^"]*)".*?</svg>', page, re.S)
    assert "all records (1991)" in hists and "chat (248 records)" in hists
    histograms = re.findall(r'<svg class="chart"[^>]*aria-label="[^"]*\d+( records)?\)".*?</svg>', page, re.S)
    assert len(histograms) == 1 + len(m.split)  # all records, then one per bucket
    for svg in re.findall(r'<svg class="chart"[^>]*aria-label="[^"]*\d+(?: records)?\)".*?</svg>', page, re.S):
        assert "marker-median" in svg and "marker-p95" in svg and 'class="grid"' in svg
        assert re.findall(r'class="axis-label"[^>]*>([^<]*)<', svg) == ["tokens per record", "records"]
    for reason in m.dropped_files.written if m.dropped_files else ():
        assert f"{reason}: {m.dropped[reason]} records" in page and f"dropped/{reason}.jsonl" in page
    assert "Near-duplicate pairs" in page and "estimated from the MinHash signatures" in page
    provenance = page[page.index("<h2>Provenance</h2>"):]
    assert "seed" in provenance and "num_perm 128" in provenance and "datasketch" in provenance
    assert m.inputs[0].sha256 in provenance


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    """Chat records, one with markup in its id and content that calls a tool nobody defines (a lint error), two
    exact copies, and one holding a benchmark question."""
    rows: list[Any] = [{"id": f"chat-{k}", "messages": [
        {"role": "user", "content": f"Please write a short note number {k} about the {k} plants on my desk."},
        {"role": "assistant", "content": f"Here is note {k}: water the plants."}]} for k in range(12)]
    rows.append({"id": HOSTILE, "messages": [
        {"role": "user", "content": f"Look up {HOSTILE} please"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "nowhere", "arguments": "{}"}}]}]})
    rows += [{"id": f"copy-{k}", "messages": rows[0]["messages"]} for k in range(2)]
    question = "What is the boiling point of water at the top of Mount Everest in degrees Celsius?"
    rows.append({"id": "leak", "messages": [{"role": "user", "content": question},
                                           {"role": "assistant", "content": "About 70 degrees."}]})
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"id": "q1", "messages": [{"role": "user", "content": question}]}])
    return write_jsonl(tmp_path / "raw.jsonl", rows), bench


def test_the_cap_applies_per_reason_and_zero_writes_none(tmp_path: Path, cache: str) -> None:
    raw, bench = _corpus(tmp_path)
    out = tmp_path / "out"
    m = build([raw], out, BuildConfig(export=ExportConfig(dropped_cap=1)), decontaminate=[bench]).manifest
    assert m.dropped["exact_duplicate"] == 2 and m.dropped["contaminated"] == 1 and m.dropped["lint_error"] == 1
    assert m.dropped_files is not None and m.dropped_files.cap == 1
    assert m.dropped_files.written == {"lint_error": 1, "exact_duplicate": 1, "contaminated": 1}
    leak = read_jsonl(out / "dropped" / "contaminated.jsonl")
    assert [(r["id"], r["dropped"]["item"], r["dropped"]["method"]) for r in leak] == [("leak", "q1", "ngram")]
    assert [r["dropped"]["duplicate_of"] for r in read_jsonl(out / "dropped" / "exact_duplicate.jsonl")] == ["chat-0"]
    bad = read_jsonl(out / "dropped" / "lint_error.jsonl")
    assert [r["id"] for r in bad] == [HOSTILE] and bad[0]["dropped"]["findings"][0]["code"] == "TC002"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert HOSTILE not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "Look up &lt;img" in page  # the excerpt shown, escaped

    none = build([raw], tmp_path / "none", BuildConfig(export=ExportConfig(dropped_cap=0)), decontaminate=[bench],
                 ).manifest
    assert not (tmp_path / "none" / "dropped").exists()
    assert none.dropped_files is not None and none.dropped_files.cap == 0 and none.dropped_files.written == {}
    assert "dropped_cap = 0" in (tmp_path / "none" / "report.html").read_text(encoding="utf-8")


def test_the_cap_is_a_documented_config_key(tmp_path: Path) -> None:
    from curate.buildconfig import BuildConfigError, load_build_config

    cfg = tmp_path / "build.toml"
    cfg.write_text("[export]\ndropped_cap = 5\n", encoding="utf-8")
    assert load_build_config(cfg).export.dropped_cap == 5
    cfg.write_text("[export]\ndropped_cap = -1\n", encoding="utf-8")
    try:
        load_build_config(cfg)
    except BuildConfigError as e:
        assert "dropped_cap" in str(e)
    else:
        raise AssertionError("a negative cap was accepted")
    import curate.buildconfig

    assert "dropped_cap = 100" in (curate.buildconfig.__doc__ or "")


def test_histogram_marks_median_and_p95_where_they_are() -> None:
    values = list(range(1, 101))
    assert (quantile(values, 0.5), quantile(values, 0.95)) == (50, 95)
    svg = histogram("t", values, bins=10)
    xs = {name: float(x) for name, x in re.findall(r'class="marker-(\w+)" x1="([\d.]+)"', svg)}
    left, width = 76, 1000 - 76 - 16  # the frame: 1..101 over the plot's width
    assert abs(xs["median"] - (left + (50 - 1) / 100 * width)) < 0.1
    assert abs(xs["p95"] - (left + (95 - 1) / 100 * width)) < 0.1
    assert "median 50" in svg and "p95 95" in svg and svg.count("<rect") == 11  # 10 bars and the frame


def test_line_chart_gridlines_fall_on_round_values() -> None:
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(3, 117, 10) == [20, 40, 60, 80, 100]  # a step of 11.4 rounds up to 20
    svg = line_chart("x", {"a": [(0, 1.0), (10, 2.0)]}, y_label=HOSTILE)
    assert HOSTILE not in svg and "&lt;img" in svg
    assert "nothing logged" in line_chart("x", {"a": []}, y_label="y")
