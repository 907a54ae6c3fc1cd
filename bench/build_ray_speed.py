"""`curate build` wall time by engine: the local engine with 1 and 2 processes, the Ray engine with 1 and 2 workers.

    python bench/build_ray_speed.py [--records 20000] [--repeat 2]

The corpus is the sample corpus scaled up (`bench.corpus.scaled_corpus`), each copy made distinct by a seeded
run of words in its first user turn. Ray runs on a local instance with 2 CPUs started once by this script:
its start-up is timed apart (a cluster is started once and serves many builds), while each Ray build's time
includes what every build pays (its workers loading the tokenizer, the shuffle of the LSH buckets). Every
Ray output is checked byte for byte against the local engine's.
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from bench.corpus import scaled_corpus  # noqa: E402
from curate.build import build  # noqa: E402
from curate.buildconfig import BuildConfig  # noqa: E402

DATA = REPO / "bench" / "data"
TOOLS = REPO / "sample_data" / "tools.json"
_WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec "
          "romeo sierra tango uniform victor whiskey xray yankee zulu amber basalt cobalt dune ember fjord")
WORDS = _WORDS.split()


def distinct_copies(rec: dict[str, Any], copy: int, rng: random.Random) -> None:
    """A seeded run of words before the first user turn: copies become distinct records, not duplicates."""
    for m in rec.get("messages") or ():
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
            m["content"] = " ".join(rng.choices(WORDS, k=20)) + ". " + m["content"]
            return


def machine() -> dict[str, Any]:
    import ray

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "ray": ray.__version__}


def same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    if files != sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()):
        return False
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median wall seconds of `repeat` runs, and their spread (max - min)."""
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), max(walls) - min(walls)


def run(records: int = 20000, repeat: int = 2) -> dict[str, Any]:
    """Wall time of `curate build` on `records` records by engine; JSON-serialisable."""
    import ray

    from curate.build_ray import RayEngine

    corpus = scaled_corpus(records, DATA / f"ray_corpus_{records}.jsonl", vary=distinct_copies)
    outs = DATA / "build_ray_out"
    shutil.rmtree(outs, ignore_errors=True)
    rows: list[dict[str, Any]] = []

    def row(name: str, seconds: float, spread: float) -> None:
        base = rows[0]["seconds"] if rows else seconds
        rows.append({"name": name, "seconds": round(seconds, 2), "spread": round(spread, 2),
                     "records_per_s": round(records / seconds, 1), "ratio_vs_local": round(seconds / base, 2)})
        print(f"  {name}: {seconds:.1f} s", flush=True)

    for n in (1, 2):
        out = outs / f"local-{n}"
        row(f"local engine, {n} process{'es' if n > 1 else ''}",
            *timed(lambda out=out, n=n: build([corpus], out, BuildConfig(num_proc=n), [TOOLS]), repeat))

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    startup = time.perf_counter() - start
    print(f"  ray start-up: {startup:.1f} s", flush=True)
    identical = {}
    try:
        for n in (1, 2):
            out = outs / f"ray-{n}"
            row(f"ray engine, {n} worker{'s' if n > 1 else ''}",
                *timed(lambda out=out, n=n: build([corpus], out, BuildConfig(num_proc=n), [TOOLS],
                                                  engine=RayEngine()), repeat))
            identical[f"ray-{n}"] = same_tree(outs / f"local-{n}", out)  # num_proc is in the manifest: same n
    finally:
        ray.shutdown()
    shutil.rmtree(outs, ignore_errors=True)
    return {"stage": "build engines", "records": records, "repeat": repeat, "rows": rows,
            "ray_startup_s": round(startup, 2), "identical_to_local": identical, "machine": machine(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = run(args.records, args.repeat)
    print(f"\ncurate build on {result['records']} records, median of {result['repeat']} "
          f"({result['machine']['cpus']} CPUs, load {result['machine']['load_avg']}):")
    print(f"{'engine':<28} {'wall s':>8} {'spread':>7} {'rec/s':>8} {'vs local 1':>10}")
    for r in result["rows"]:
        print(f"{r['name']:<28} {r['seconds']:>8.1f} {r['spread']:>7.1f} {r['records_per_s']:>8.0f} "
              f"{r['ratio_vs_local']:>9.2f}x")
    print(f"ray start-up (ray.init, 2 CPUs, once per cluster): {result['ray_startup_s']:.1f} s")
    print(f"ray output byte-identical to local: {result['identical_to_local']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
