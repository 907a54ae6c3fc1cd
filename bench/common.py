"""What every side-by-side benchmark shares: timing with spread, the machine, and result tables.

A stage's `run()` returns a JSON-able dict `{"stage", "title", "tables": [Table...], "notes": [...]}`;
`bench/run_all.py` writes them to bench/results.json and renders bench/RESULTS.md from them.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any


@dataclass
class Timing:
    """Wall seconds of `repeat` runs of one thing: median, min, max, and the last run's result."""

    median: float
    low: float
    high: float
    result: Any
    cpu: float = 0.0
    """Median CPU seconds of this process over the runs (0 when the work ran in other processes)."""

    @property
    def spread(self) -> float:
        return self.high - self.low

    def rate(self, n: float) -> float:
        return n / self.median

    def rate_range(self, n: float) -> tuple[float, float]:
        return n / self.high, n / self.low


def timed(fn: Callable[[], Any], repeat: int) -> Timing:
    """Run `fn` `repeat` times; wall and CPU time of each."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return Timing(statistics.median(walls), min(walls), max(walls), result, statistics.median(cpus))


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Where and when: the figures mean little without it."""
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "python": platform.python_version(), "load": round(os.getloadavg()[0], 2),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


COMPARISON_TABLE = "Ours against the peers"
ENGINE_TABLE = "Ray engine against the local engine"
SUMMARY_TABLES = (COMPARISON_TABLE, ENGINE_TABLE)
"""Tables of (comparison, ratio, verdict) rows: bench/run_all.py gathers them into RESULTS.md's summary."""


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """A result table: plain values (numbers stay numbers in results.json; RESULTS.md formats them)."""
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows]}


def comparison_table(rows: Sequence[Sequence[Any]], title: str = COMPARISON_TABLE) -> dict[str, Any]:
    """A stage's (comparison, ratio, verdict) rows, under a title the summary of RESULTS.md collects."""
    return table(title, ["comparison", "ratio", "verdict"], rows)


def verdict(ratio: float, noise: float = 0.0, subject: str = "ours") -> str:
    """`subject` against a peer, said plainly: a difference inside the spread of the repeats is no finding."""
    if abs(ratio - 1.0) <= noise:
        return "same within the spread"
    return f"{subject} faster" if ratio > 1.0 else f"{subject.upper()} SLOWER"


def relative_spread(*timings: Timing) -> float:
    """The largest (max - min) / median of some timings: the noise a ratio between them carries."""
    return max(t.spread / t.median for t in timings if t.median > 0)


def fmt(value: Any) -> str:
    """A table cell for RESULTS.md."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"
    return str(value)


def print_stage(result: dict[str, Any]) -> None:
    """A stage's tables and notes on the terminal (what each bench script's main() prints)."""
    print(f"# {result['title']}  ({result.get('machine', {}).get('date', '')})")
    for t in result["tables"]:
        widths = [max([len(str(c)), *(len(fmt(r[k])) for r in t["rows"])]) for k, c in enumerate(t["columns"])]
        print(f"\n## {t['title']}")
        print("  ".join(f"{c:<{w}}" for c, w in zip(t["columns"], widths, strict=True)))
        for r in t["rows"]:
            print("  ".join(f"{fmt(v):<{w}}" for v, w in zip(r, widths, strict=True)))
    for note in result.get("notes", ()):
        print(f"- {note}")
