"""How `curate build` scales with the corpus: wall time, records/s and memory at 100,000, 300,000, 1,000,000 and
2,000,000 trajectories on the local engine, and the Ray engine at 1,000,000 and 2,000,000, with the slope of memory
per record of each engine and the seconds of each build stage.

    python bench/scale.py [--records 100000 300000 1000000 2000000] [--ray 1000000 2000000] [--jobs 2]
    python bench/run_all.py --only scale      (writes RESULTS.md; not part of the default `make bench`: ~45 min)

Each build is `curate build CORPUS --tools sample_data/tools.json --jobs 2` in a fresh process (the CLI, as a user
runs it). A sampler reads `/proc` every 0.2 s and keeps, over the whole run, the peak resident memory (VmRSS)
of the main process, of the largest other process of its tree (the `--jobs` workers; Ray's raylet, object
store and workers), and of the tree's sum (which counts pages shared between processes more than once), and
names the build's stage at the main process's peak (the last line the build had printed). GNU time's "maximum
resident set size" is the largest of the first two.

The corpora are the sample corpus scaled up (`bench.corpus.scaled_corpus` with `prefix_words`: each copy a
distinct record), made once in bench/data/ (git-ignored) and reused. The slope is the main process's (on Ray, the
driver's) peak growth per record between consecutive sizes of one engine: what another million records would add.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.build_speed import prefix_words  # noqa: E402
from bench.common import machine, table  # noqa: E402
from bench.corpus import scaled_corpus  # noqa: E402

SIZES = (100_000, 300_000, 1_000_000, 2_000_000)
RAY_SIZES = (1_000_000, 2_000_000)
INTERVAL = 0.2
STAGES = ("reading", "linting", "deduplicating", "balancing", "writing")
"""The build's stages as its log lines name them (`curate build: reading…`, …)."""


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory line of `pid`'s /proc status in KB: VmRSS, or RssAnon (its private pages), RssShmem (shared
    memory it has touched: Ray's object store), RssFile (mapped files); 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def process_name(pid: int) -> str:
    """What `pid` calls itself: its command line's first word (Ray names its workers there, `ray::MapWorker`,
    `ray::IDLE`), or /proc's `comm`; "" once it has gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            first = f.read(200).split(b"\0", 1)[0].split(b" ", 1)[0].decode(errors="replace")
        if first:
            return Path(first).name if "/" in first else first
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    """The child processes of `pid` (every thread's children, as /proc lists them)."""
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                kids += [int(k) for k in f.read().split()]
    except (OSError, ValueError):
        pass
    return kids


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


@dataclass
class Peaks:
    """What the sampler saw over a run, in KB."""

    main: int = 0
    other: int = 0
    other_name: str = ""
    """The largest other process's name when it peaked (`process_name`)."""
    stage_at_other_peak: str = ""
    other_shared: int = 0
    """Of `other`, the pages shared with other processes (object store, mapped files) at its peak."""
    total: int = 0
    stage_at_main_peak: str = ""
    samples: int = 0
    log: list[tuple[float, str]] = field(default_factory=list)
    stage_prefix: str = ""
    """Only lines starting with this name a stage (the build's `curate build: …`; not Ray's own log lines)."""

    def stage_seconds(self, end: float) -> dict[str, float]:
        """Seconds from each stage line to the next one (the last to `end`), by stage (`STAGES`, the line's first
        word; another line, such as a `mix:` note, counts in the stage before it), in order."""
        marks = [(when, line.removeprefix(self.stage_prefix)) for when, line in self.log
                 if line.startswith(self.stage_prefix)]
        out: dict[str, float] = {}
        name = STAGES[0]
        for (when, line), nxt in zip(marks, [*(m[0] for m in marks[1:]), end], strict=True):
            word = line.split(" ", 1)[0].strip(",.…")
            name = word if word in STAGES else name
            out[name] = out.get(name, 0.0) + nxt - when
        return out

    def stage_at(self, t: float) -> str:
        last = ""
        for when, line in self.log:
            if when > t:
                break
            if line.startswith(self.stage_prefix):
                last = line
        return last


def sample(proc: subprocess.Popen[bytes], peaks: Peaks, start: float) -> None:
    """Poll the process tree of `proc` until it exits."""
    while proc.poll() is None:
        pids = tree(proc.pid)
        sizes = {p: rss_kb(p) for p in pids}
        main = sizes.pop(proc.pid, 0)
        if main > peaks.main:
            peaks.main = main
            peaks.stage_at_main_peak = peaks.stage_at(time.perf_counter() - start)
        biggest = max(sizes, key=sizes.__getitem__, default=None)
        if biggest is not None and sizes[biggest] > peaks.other:
            peaks.other, peaks.other_name = sizes[biggest], process_name(biggest)
            peaks.other_shared = rss_kb(biggest, "RssShmem") + rss_kb(biggest, "RssFile")
            peaks.stage_at_other_peak = peaks.stage_at(time.perf_counter() - start)
        peaks.total = max(peaks.total, main + sum(sizes.values()))
        peaks.samples += 1
        time.sleep(INTERVAL)


def build_once(corpus: Path, engine: str, jobs: int, out: Path) -> dict[str, Any]:
    """One `curate build` in a fresh process, sampled; its figures."""
    args = [sys.executable, "-m", "curate", "build", str(corpus), "--tools", str(REPO / "sample_data" / "tools.json"),
            "-o", str(out), "--jobs", str(jobs), "--engine", engine, "--force"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peaks = Peaks(stage_prefix="curate build: ")
    watcher = threading.Thread(target=sample, args=(proc, peaks, start), daemon=True)
    watcher.start()
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode(errors="replace").strip()
        if line:
            peaks.log.append((time.perf_counter() - start, line))
    proc.wait()
    wall = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        tail = peaks.log[-1][1] if peaks.log else ""
        raise RuntimeError(f"curate build --engine {engine} on {corpus.name} exited {proc.returncode}: {tail}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"engine": engine, "jobs": jobs, "records": manifest["records_in"], "kept": manifest["records_out"],
            "input_gb": corpus.stat().st_size / 1e9, "wall": wall, "records_per_s": manifest["records_in"] / wall,
            "main_mb": peaks.main / 1024, "other_mb": peaks.other / 1024, "tree_mb": peaks.total / 1024,
            "stage": peaks.stage_at_main_peak.removeprefix("curate build: "), "samples": peaks.samples,
            "other": f"{peaks.other_name} ({peaks.stage_at_other_peak.removeprefix('curate build: ')}; "
                     f"{peaks.other_shared / 1024:,.0f} MB of it shared or mapped)",
            "stage_seconds": peaks.stage_seconds(wall)}


def corpus_of(n: int) -> Path:
    path = REPO / "bench" / "data" / f"build_{n}.jsonl"
    if not path.exists():
        scaled_corpus(n, path, prefix_words)
    return path


def slopes(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Peak growth per record between consecutive sizes of each engine: the main process's (Ray: the driver's)
    and the largest process's of the build's tree."""
    out = []
    for engine in dict.fromkeys(r["engine"] for r in rows):
        runs = sorted((r for r in rows if r["engine"] == engine), key=lambda r: r["records"])
        for a, b in pairwise(runs):
            n = b["records"] - a["records"]
            biggest = max(b["main_mb"], b["other_mb"]) - max(a["main_mb"], a["other_mb"])
            out.append([engine, f"{a['records']:,} → {b['records']:,}", (b["main_mb"] - a["main_mb"]) * 1024 / n,
                        biggest * 1024 / n])
    return out


def run(records: tuple[int, ...] | list[int] = SIZES, ray: tuple[int, ...] | list[int] = RAY_SIZES,
        jobs: int = 2) -> dict[str, Any]:
    """The local engine at each size of `records`, then the Ray engine at each size of `ray` (empty: not run)."""
    started = time.perf_counter()
    out = REPO / "bench" / "data" / "scale_out"
    rows = []
    plan = [("local", n) for n in records] + [("ray", n) for n in ray]
    notes = []
    for engine, n in plan:
        print(f"scale: {engine} engine, {n:,} records ...", flush=True)
        try:
            rows.append(build_once(corpus_of(n), engine, jobs, out))
        except RuntimeError as e:
            notes.append(f"FAILED: {e}")
            print(f"scale: {e}", flush=True)
            continue
        finally:
            shutil.rmtree(out, ignore_errors=True)  # this stage's own output: 8 GB at 1,000,000 records
        r = rows[-1]
        print(f"scale: {r['wall']:.0f} s, {r['records_per_s']:,.0f} records/s, peak main {r['main_mb']:,.0f} MB, "
              f"largest other {r['other_mb']:,.0f} MB ({r['other']}), tree {r['tree_mb']:,.0f} MB ({r['stage']})",
              flush=True)
        print("scale: stages " + ", ".join(f"{k} {v:.0f} s" for k, v in r["stage_seconds"].items()), flush=True)
    table_rows = [[r["engine"], r["records"], round(r["input_gb"], 3), r["kept"], r["wall"], r["records_per_s"],
                   r["main_mb"], r["other_mb"], r["tree_mb"], r["stage"], r["other"]] for r in rows]
    notes += [f"`curate build CORPUS --tools sample_data/tools.json --jobs {jobs} --engine E`, each in a fresh "
              f"process; memory sampled from /proc every {INTERVAL} s (VmRSS). 'largest other' is the largest "
              "process of the build's tree besides the main one (local: the --jobs workers; Ray: raylet, the "
              "object store, gcs and the workers); the tree's sum counts shared pages (memory-mapped Arrow "
              "files, Ray's shared-memory object store) once per process that maps them.",
              "Slope: how much the peak grows per extra record between two sizes (KB/record); the aim of issue "
              "#20 is at most ~1 KB/record past 1,000,000 and a peak of at most 3 GB at 1,000,000."]
    return {
        "stage": "scale", "title": "Build at scale: 100,000 to 2,000,000 trajectories, local and Ray engines",
        "machine": machine(),
        "tables": [table("curate build, one run per row",
                         ["engine", "records", "input GB", "kept", "seconds", "records/s", "peak main MB",
                          "peak largest other MB", "peak tree sum MB", "stage at the main process's peak",
                          "largest other process (stage at its peak; of it shared or mapped)"],
                         table_rows),
                   table("Seconds of each stage (from one stage line of the build to the next)",
                         ["engine", "records", *STAGES],
                         [[r["engine"], r["records"], *(r["stage_seconds"].get(k, 0.0) for k in STAGES)]
                          for r in rows]),
                   table("Memory growth per record, per engine",
                         ["engine", "sizes", "main process (Ray: driver) KB/record", "largest process KB/record"],
                         slopes(rows))],
        "notes": notes,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="*", default=list(SIZES),
                        help="sizes for the local engine (none: only the Ray run)")
    parser.add_argument("--ray", type=int, nargs="*", default=list(RAY_SIZES),
                        help="sizes for the Ray engine (none: no Ray run)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    result = run(args.records, args.ray, args.jobs)
    from bench.common import print_stage

    print_stage(result)


if __name__ == "__main__":
    main()
