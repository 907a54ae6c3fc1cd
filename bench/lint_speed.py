"""Lint throughput on the sample corpus scaled to 100,000 records, single process.

    python bench/lint_speed.py [--records N] [--repeat K]

Prints trajectories per second for `curate lint` (in process and through the CLI), beside two
baselines measured in the same run on the same file: reading every line with `json.loads` alone
(the floor of any Python JSONL tool) and reading + adapting + validating records without rules.
Also the CLI's start-up time against a bare `python -c pass`. Each figure is the median of K runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.corpus import json_loads_every_line, scaled_corpus  # noqa: E402
from curate.lint import Linter  # noqa: E402
from curate.readers import RecordReader, load_tool_specs  # noqa: E402

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = REPO / "sample_data" / "tools.json"


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Median wall time, its spread, and the best CPU time of this process (0 for subprocesses).

    CPU time moves less than wall time when other jobs share the machine; both are printed."""
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), (max(times) - min(times)), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    corpus = scaled_corpus(args.records, REPO / "bench" / "data" / f"lint_{args.records}.jsonl")
    n = args.records
    specs = load_tool_specs(TOOLS)

    def json_only() -> None:
        json_loads_every_line(corpus)

    def read_validate() -> None:
        for _ in RecordReader().read(corpus):
            pass

    findings = 0

    def lint() -> None:
        nonlocal findings
        findings = sum(1 for _ in Linter(specs).lint_path(corpus))

    def cli() -> None:
        subprocess.run([sys.executable, "-m", "curate", "lint", str(corpus), "--tools", str(TOOLS),
                        "--isolated", "--statistics"], check=False, capture_output=True, cwd=REPO)

    def bare_python() -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    def cli_startup() -> None:
        subprocess.run([sys.executable, "-m", "curate", "--version"], check=True, capture_output=True)

    rows = []
    for name, fn in [("json.loads per line (floor)", json_only), ("read + adapt + validate", read_validate),
                     ("curate lint, in process", lint), ("curate lint, CLI end to end", cli)]:
        t, spread, cpu = median_time(fn, args.repeat)
        rows.append((name, t, spread, n / t, n / cpu if cpu > 0.05 * t else None))
    floor = rows[0][3]
    print(f"# lint speed: {n:,} trajectories, single process, median of {args.repeat} (wall), best CPU time")
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}")
    print(f"{'stage':<32} {'seconds':>8} {'spread':>7} {'traj/s':>9} {'vs json.loads':>13} {'CPU traj/s':>11}")
    for name, t, spread, rate, cpu_rate in rows:
        shown = f"{cpu_rate:>11,.0f}" if cpu_rate is not None else f"{'(subprocess)':>11}"
        print(f"{name:<32} {t:>8.2f} {spread:>7.2f} {rate:>9,.0f} {rate / floor:>12.2f}x {shown}")
    print(f"findings: {findings:,}")
    bare, _, _ = median_time(bare_python, 5)
    start, _, _ = median_time(cli_startup, 5)
    print(f"start-up: `curate --version` {start * 1000:.0f} ms, `python -c pass` {bare * 1000:.0f} ms "
          f"({start / bare:.1f}x)")


if __name__ == "__main__":
    main()
