"""Whole-build wall time on N sample-style trajectories (default 100,000), 1 and 2 processes.

    python bench/build_speed.py [--records 100000] [--num-proc 1 2]

The corpus is the sample corpus scaled up: each copy gets a seeded run of random words in its first
user turn, so copies are distinct records rather than duplicates (a few still collide, as in real
data). Prints wall time, records per second and the per-stage accounting of each run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    corpus = REPO / "bench" / "data" / f"build_{args.records}.jsonl"
    if not corpus.exists():
        scaled_corpus(args.records, corpus, prefix_words)
    print(f"# build speed: {args.records:,} trajectories; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    base = None
    for n in args.num_proc:
        out = REPO / "bench" / "data" / f"build_out_{n}"
        start = time.perf_counter()
        result = build([corpus], out, BuildConfig(num_proc=n), [REPO / "sample_data" / "tools.json"],
                       log=lambda msg, t0=start: print(f"  {time.perf_counter() - t0:7.1f}s {msg}", flush=True))
        t = time.perf_counter() - start
        base = base or t
        m = result.manifest
        print(f"num_proc={n}: {t:.1f} s, {args.records / t:,.0f} records/s ({base / t:.2f}x the first run); "
              f"{m.records_out} out, dropped {m.dropped}")


if __name__ == "__main__":
    main()
