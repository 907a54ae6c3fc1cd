"""Whole-build wall time and memory on N sample-style trajectories (default 100,000), 1 and 2 processes.

    python bench/build_speed.py [--records 100000] [--num-proc 1 2]

The corpus is the sample corpus scaled up: each copy gets a seeded run of random words in its first
user turn, so copies are distinct records rather than duplicates (a few still collide, as in real
data). Each run is a fresh process, so that its peak resident memory is its own: printed are the wall
time, records per second, CPU time, the peak RSS of the main process and of the largest worker, and the
per-stage accounting. The machine's load average is printed too: on a shared machine, CPU time says
what the build costs and wall time what it got.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from bench.corpus import scaled_corpus  # noqa: E402
from curate.build import build  # noqa: E402
from curate.buildconfig import BuildConfig  # noqa: E402

_WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
          "quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basalt cobalt dune ember "
          "fjord glacier harbor island jungle kelp lagoon meadow nebula orchard prairie quartz reef savanna "
          "tundra upland valley willow yarrow zephyr")
WORDS = _WORDS.split()


def prefix_words(rec: dict[str, Any], copy: int, rng: random.Random) -> None:
    """A seeded run of random words before the first user turn: copies become distinct records."""
    for m in rec.get("messages") or ():
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
            m["content"] = " ".join(rng.choices(WORDS, k=20)) + ". " + m["content"]
            return


def run_one(corpus: Path, n: int) -> dict[str, Any]:
    """One build with `n` processes, in this process: its figures as a JSON-able dict."""
    out = REPO / "bench" / "data" / f"build_out_{n}"
    start = time.perf_counter()
    result = build([corpus], out, BuildConfig(num_proc=n), [REPO / "sample_data" / "tools.json"],
                   log=lambda msg: print(f"  {time.perf_counter() - start:7.1f}s {msg}", flush=True))
    wall = time.perf_counter() - start
    me, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    m = result.manifest
    return {"num_proc": n, "wall": wall, "cpu": me.ru_utime + me.ru_stime + workers.ru_utime + workers.ru_stime,
            "rss_main_mb": me.ru_maxrss / 1024, "rss_worker_mb": workers.ru_maxrss / 1024,
            "records_in": m.records_in, "records_out": m.records_out, "dropped": m.dropped}


def cli_run(args: list[str]) -> tuple[float, float, int]:
    """One `curate ...` command in a fresh process: wall seconds, its peak RSS in MB (of the process tree
    as the kernel reports it for the waited child: the largest one), and the exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "curate", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # lint exits 1 when there are error findings
        err = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
        raise RuntimeError(f"curate {' '.join(args)} exited {proc.returncode}: {err[-1] if err else ''}")
    return wall, usage.ru_maxrss / 1024, proc.returncode


def lint_jobs_supported() -> bool:
    out = subprocess.run([sys.executable, "-m", "curate", "lint", "--help"], cwd=REPO, capture_output=True, text=True)
    return "--jobs" in out.stdout


def run(records: int = 100_000, repeat: int = 3, build_repeat: int = 2) -> dict[str, Any]:
    """`curate lint` and `curate build` end to end (the CLI, fresh processes) with 1 and 2 processes."""
    from bench.common import machine, table, timed
    from bench.corpus import json_loads_every_line, scaled_corpus

    started = time.perf_counter()
    lint_corpus = REPO / "bench" / "data" / f"lint_{records}.jsonl"
    build_corpus = REPO / "bench" / "data" / f"build_{records}.jsonl"
    if not lint_corpus.exists():
        scaled_corpus(records, lint_corpus)
    if not build_corpus.exists():
        scaled_corpus(records, build_corpus, prefix_words)
    tools = str(REPO / "sample_data" / "tools.json")
    rows, notes = [], []
    jobs = lint_jobs_supported()
    for n in (1, 2):
        if n > 1 and not jobs:
            rows.append(["curate lint", n, None, None, None, None])
            notes.append("`curate lint` has no --jobs option yet: linting runs in one process.")
            continue
        args = ["lint", str(lint_corpus), "--tools", tools, "--isolated", "--statistics"]
        args += ["--jobs", str(n)] if jobs else []
        walls = [cli_run(args) for _ in range(repeat)]
        rows.append(["curate lint", n, *summarise([w for w, _, _ in walls], records), max(r for _, r, _ in walls)])
    floor = timed(lambda: json_loads_every_line(lint_corpus), repeat)
    lint_one = next(r for r in rows if r[0] == "curate lint" and r[1] == 1)
    floor_rows = [["json.loads of every line, in process (the floor)", floor.median,
                   f"{floor.low:.2f}-{floor.high:.2f}", records / floor.median, 1.0],
                  ["curate lint, 1 process, CLI end to end", lint_one[2], lint_one[3], lint_one[4],
                   floor.median / lint_one[2]]]
    for n in (1, 2):
        out = REPO / "bench" / "data" / f"build_out_{n}"
        args = ["build", str(build_corpus), "--tools", tools, "-o", str(out), "--num-proc", str(n)]
        walls = [cli_run(args) for _ in range(build_repeat)]
        rows.append(["curate build", n, *summarise([w for w, _, _ in walls], records), max(r for _, r, _ in walls)])
    for row in rows:  # against the same command with one process
        one = next(r for r in rows if r[0] == row[0] and r[1] == 1)
        row.insert(5, one[2] / row[2] if row[2] else None)
    return {
        "stage": "lint_build", "title": f"Lint and build end to end on {records:,} trajectories",
        "machine": machine(),
        "tables": [table("The CLI in a fresh process, wall time",
                         ["command", "processes", "seconds (median)", "range", "records/s", "speed-up vs 1 process",
                          "peak RSS MB"], rows),
                   table("Lint against the floor of any Python JSONL tool (same file, same run)",
                         ["what", "seconds (median)", "range", "records/s", "vs the floor"], floor_rows)],
        "notes": [f"Lint: median of {repeat} runs; build: median of {build_repeat} runs (each ~1-2 minutes). "
                  "The lint corpus is the sample corpus repeated (fresh ids), so ~10% of its records carry planted "
                  "defects; the build corpus gives every copy a seeded run of words so copies are distinct records.",
                  "Peak RSS is the largest process of the run (main or worker), as the kernel reports it.", *notes],
        "seconds": round(time.perf_counter() - started, 1),
    }


def summarise(walls: list[float], records: int) -> list[Any]:
    import statistics

    med = statistics.median(walls)
    return [med, f"{min(walls):.1f}-{max(walls):.1f}", records / med]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a single run, in a fresh process
    args = parser.parse_args()
    corpus = REPO / "bench" / "data" / f"build_{args.records}.jsonl"
    if args.one is not None:
        print("RESULT " + json.dumps(run_one(corpus, args.one)), flush=True)
        return
    if not corpus.exists():
        scaled_corpus(args.records, corpus, prefix_words)
    print(f"# build speed: {args.records:,} trajectories; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    base = None
    for n in args.num_proc:
        load = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, __file__, "--records", str(args.records), "--one", str(n)],
                              stdout=subprocess.PIPE, text=True, check=True)
        lines = proc.stdout.splitlines()
        print("\n".join(line for line in lines if not line.startswith("RESULT ")))
        r = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT "):])
        base = base or r["wall"]
        print(f"num_proc={n}: {r['wall']:.1f} s wall ({base / r['wall']:.2f}x the first run), "
              f"{args.records / r['wall']:,.0f} records/s, {r['cpu']:.1f} s CPU; peak RSS {r['rss_main_mb']:,.0f} MB "
              f"main, {r['rss_worker_mb']:,.0f} MB largest worker; load average {load:.1f} at the start; "
              f"{r['records_out']} out, dropped {r['dropped']}", flush=True)


if __name__ == "__main__":
    main()
