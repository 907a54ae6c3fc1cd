"""Lint throughput on the sample corpus scaled to 100,000 records, single process; then per published format.

    python bench/lint_speed.py [--records N] [--repeat K] [--format-records M] [--no-formats]

Prints trajectories per second for `curate lint` (in process and through the CLI), beside two
baselines measured in the same run on the same file: reading every line with `json.loads` alone
(the floor of any Python JSONL tool) and reading + adapting + validating records without rules.
Also the CLI's start-up time against a bare `python -c pass`. Each figure is the median of K runs.

Then one row per published format (each fixture of tests/fixtures/formats/, its records repeated to M with
fresh ids; a folder of files is copied M / records times): in-process lint throughput and its ratio to the
sample corpus's, measured in the same run, and to the floor issue #15 sets (half of 10,000 traj/s);
KB/rec shows how much bigger some formats' trajectories are (ToolBench's repeat every step before them).
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

from bench.corpus import format_corpus, format_fixtures, json_loads_every_line, scaled_corpus  # noqa: E402
from curate.lint import Linter  # noqa: E402
from curate.readers import RecordReader, load_tool_specs  # noqa: E402

SAMPLE = REPO / "sample_data" / "raw.jsonl"
FORMAT_FLOOR = 5_000
"""Issue #15: the published formats lint at no less than half the 10,000 traj/s the sample corpus must."""
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
    parser.add_argument("--format-records", type=int, default=20_000,
                        help="records per published-format corpus (default: 20,000)")
    parser.add_argument("--no-formats", action="store_true", help="skip the per-format rows")
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
    if not args.no_formats:
        print_format_rows(rows[2][3], args.format_records, args.repeat)


def print_format_rows(sample_rate: float, n: int, repeat: int) -> None:
    """In-process lint throughput of each published format, against the sample corpus's (`sample_rate`)."""
    print(f"\n# published formats: each fixture repeated to about {n:,} records; in process, median of {repeat}")
    print(f"{'format':<14} {'records':>8} {'KB/rec':>7} {'seconds':>8} {'traj/s':>9} {'vs sample':>10} "
          f"{'vs 5k floor':>12} {'findings':>9}")
    for name, fixture in format_fixtures():
        corpus, count = format_corpus(fixture, n, REPO / "bench" / "data" / f"formats_{n}" / name)
        tools = fixture.get("tools")
        specs = load_tool_specs(tools) if tools is not None else None
        found = 0

        def lint(corpus: Path = corpus, specs: list[dict[str, object]] | None = specs) -> None:
            nonlocal found
            found = sum(1 for _ in Linter(specs or []).lint_path(corpus))

        t, _, _ = median_time(lint, repeat)
        rate = count / t
        size = sum(f.stat().st_size for f in ([corpus] if corpus.is_file() else corpus.rglob("*.json*"))) / count
        print(f"{name:<14} {count:>8,} {size / 1024:>7.1f} {t:>8.2f} {rate:>9,.0f} {rate / sample_rate:>9.2f}x "
              f"{rate / FORMAT_FLOOR:>11.2f}x {found:>9,}")
    print(f"(the sample corpus: {SAMPLE.stat().st_size / 1024 / sum(1 for _ in SAMPLE.open('rb')):.1f} KB a record; "
          f"the floor: {FORMAT_FLOOR:,} traj/s, half the 10,000 the sample corpus must reach)")


if __name__ == "__main__":
    main()
