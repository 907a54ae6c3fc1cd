"""The benchmark harness (`make bench`): one command writes bench/RESULTS.md and bench/results.json.

The figures themselves are not tested (timed tests flake on shared machines); what a user relies on is
that the command runs, writes both files with every stage's tables, and says plainly when a stage failed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run_all
from bench.common import COMPARISON_TABLE


def test_quick_run_writes_results_md_and_json(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_all.main(["--quick", "--only", "dedup", "--out", str(tmp_path)], log=lines.append) == 0
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["meta"]["quick"] is True and data["meta"]["stages"] == ["dedup"]
    (dedup,) = data["results"]
    assert "error" not in dedup
    titles = [t["title"] for t in dedup["tables"]]
    assert COMPARISON_TABLE in titles
    lsh = next(t for t in dedup["tables"] if t["title"].startswith("LSH"))
    for row in lsh["rows"]:  # precision and recall are fractions, measured for every method
        precision, recall = row[lsh["columns"].index("precision")], row[lsh["columns"].index("recall")]
        assert 0.0 <= precision <= 1.0 and 0.0 <= recall <= 1.0
    assert any("bit for bit (and with 2 processes): True" in n for n in dedup["notes"])
    md = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert md.startswith("# Benchmarks") and "## Summary" in md and "Quick mode" in md
    assert "| dedup | signatures/s, curate sha1_32 vs datasketch loop |" in md
    assert " cores, Python " in md  # the machine the figures were taken on


def test_failed_stage_is_reported_and_the_run_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stages = {"broken": ("bench.no_such_stage", {}, {}), "dedup": run_all.STAGES["dedup"]}
    monkeypatch.setattr(run_all, "STAGES", stages)
    lines: list[str] = []
    assert run_all.main(["--quick", "--out", str(tmp_path)], log=lines.append) == 1
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    broken, dedup = data["results"]
    assert "No module named 'bench.no_such_stage'" in broken["error"]
    assert "error" not in dedup  # the next stage still ran
    md = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "Stages that failed: `broken`" in md and "**Failed:**" in md
    assert any("broken FAILED" in line for line in lines)


def test_unknown_stage_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        run_all.main(["--only", "dedupe", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert not (tmp_path / "RESULTS.md").exists()


def test_keep_runs_one_stage_again_and_keeps_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_all.main(["--quick", "--only", "dedup", "--out", str(tmp_path)], log=[].append) == 0
    before = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["results"][0]
    stages = {"broken": ("bench.no_such_stage", {}, {}), "dedup": run_all.STAGES["dedup"]}
    monkeypatch.setattr(run_all, "STAGES", stages)
    lines: list[str] = []
    assert run_all.main(["--quick", "--only", "broken", "--keep", "--out", str(tmp_path)], log=lines.append) == 1
    assert not any(line.startswith("bench: dedup") for line in lines)  # not run again
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["meta"]["kept"] == ["dedup"] and data["meta"]["stages"] == ["broken", "dedup"]
    broken, dedup = data["results"]
    assert "error" in broken and dedup == {**before, "kept": True}
    md = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert "| dedup | signatures/s, curate sha1_32 vs datasketch loop |" in md  # the kept stage is still summarised
    assert "kept from an earlier run" in md

    with pytest.raises(SystemExit) as e:  # full figures beside quick ones would mislead
        run_all.main(["--only", "broken", "--keep", "--out", str(tmp_path)], log=[].append)
    assert e.value.code == 2


def test_format_corpora_hold_the_records_they_claim(tmp_path: Path) -> None:
    """The per-format lint rows divide by the record count `format_corpus` returns: it must be what is read."""
    from bench.corpus import format_corpus, format_fixtures
    from curate.readers import RecordReader

    fixtures = dict(format_fixtures())
    assert {"toolbench", "xlam", "toolllama"} <= set(fixtures)
    for name in ("toolbench", "xlam", "toolllama"):
        corpus, count = format_corpus(fixtures[name], 3 * fixtures[name]["records"], tmp_path / name)
        results = list(RecordReader().read(corpus))
        assert count == len(results) == 3 * fixtures[name]["records"]
        assert all(r.record is not None for r in results)
        ids = [r.record.id for r in results if r.record is not None and r.record.id is not None]
        assert len(ids) == len(set(ids))  # copies get ids of their own: no RS004 flood in the figures


def test_scale_sampler_sees_the_peak_of_a_worker_process() -> None:
    """The scale stage's memory figures: a child that holds ~200 MB shows as the largest other process, and the
    main process's peak is attributed to the line it had printed last."""
    import subprocess
    import sys
    import threading
    import time

    from bench.scale import Peaks, sample

    child = "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    parent = (f"import subprocess, sys, time; print('holding', flush=True); "
              f"subprocess.run([sys.executable, '-c', {child!r}]); print('done', flush=True)")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE)
    peaks = Peaks()
    watcher = threading.Thread(target=sample, args=(proc, peaks, start))
    watcher.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        peaks.log.append((time.perf_counter() - start, line.decode().strip()))
    proc.wait()
    watcher.join()
    assert peaks.samples > 3
    assert peaks.other > 190 * 1024 > peaks.main > 0  # the child's 200 MB, not the parent's
    assert peaks.other_name.startswith("python") and peaks.stage_at_other_peak == "holding"
    assert peaks.total >= peaks.other + peaks.main - 1024 * 50
    assert peaks.stage_at(0.0) == "" and peaks.stage_at(1e9) == "done"


def test_scale_slopes_and_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.scale import slopes

    rows = [{"engine": "local", "records": 300, "main_mb": 2.0, "other_mb": 1.0},
            {"engine": "local", "records": 100, "main_mb": 1.0, "other_mb": 1.5},
            {"engine": "ray", "records": 300, "main_mb": 9.0, "other_mb": 9.0},
            {"engine": "ray", "records": 100, "main_mb": 8.0, "other_mb": 10.0}]
    assert slopes(rows) == [["local", "100 → 300", 1024 / 200, 0.5 * 1024 / 200],  # KB per record, each engine
                            ["ray", "100 → 300", 1024 / 200, -1024 / 200]]

    ran: list[str] = []  # `make bench` leaves the 30-minute stage out; `--only scale` runs it
    monkeypatch.setattr(run_all, "run_stage",
                        lambda name, quick, out: ran.append(name) or {"stage": name, "tables": []})
    assert run_all.main(["--quick", "--out", str(tmp_path)], log=[].append) == 0
    assert "scale" not in ran and "dedup" in ran
    ran.clear()
    assert run_all.main(["--quick", "--only", "scale", "--out", str(tmp_path)], log=[].append) == 0
    assert ran == ["scale"]


def test_scale_names_the_builds_stage_not_a_library_log_line() -> None:
    from bench.scale import Peaks

    peaks = Peaks(stage_prefix="curate build: ", log=[
        (1.0, "curate build: linting, signing and labelling 1000 records…"),
        (2.0, "[2026-12-06 12:42:59,926 E 11385 11385] core_worker.cc:2465: Actor with class name …")])
    assert peaks.stage_at(3.0) == "curate build: linting, signing and labelling 1000 records…"


def test_scale_times_each_stage_from_its_line_to_the_next() -> None:
    """The seconds of each build stage: from its line to the next stage line (a library's line or a `mix:` note
    counts in the stage before it), the last one to the end of the run."""
    from bench.scale import Peaks

    peaks = Peaks(stage_prefix="curate build: ", log=[
        (0.5, "curate build: reading…"),
        (2.0, "curate build: linting, signing and labelling 1000 records (2 processes, local engine)…"),
        (3.0, "[2026-12-06 12:42:59,926 E 11385 11385] core_worker.cc:2465: Actor …"),
        (9.0, "curate build: deduplicating 900 records…"),
        (9.5, "curate build: balancing…"),
        (10.0, "curate build: writing…"),
        (14.0, "curate build: mix: bucket `other` has no records")])
    assert peaks.stage_seconds(15.0) == {"reading": 1.5, "linting": 7.0, "deduplicating": 0.5, "balancing": 0.5,
                                         "writing": 5.0}
