"""`curate build` wall time by engine: the local engine with 1 and 2 processes, the Ray engine with 1 and 2 workers;
and the Ray driver's memory joining near-duplicate clusters, edges collected on it vs joined on the cluster.

    python bench/build_ray_speed.py [--records 20000] [--repeat 2] [--graph-edges 2000000]

The corpus is the sample corpus scaled up (`bench.corpus.scaled_corpus`), each copy made distinct by a seeded
run of words in its first user turn. Ray runs on a local instance with 2 CPUs started once by this script:
its start-up is timed apart (a cluster is started once and serves many builds), while each Ray build's time
includes what every build pays (its workers loading the tokenizer, the shuffle of the LSH buckets). Every
Ray output is checked byte for byte against the local engine's.

The driver-memory table joins a random graph (`--graph-edges` edges, default 100 per record, over half as many
nodes; generated on the cluster in 50 blocks, as the LSH shuffle leaves the verified edges) into connected
components two ways, each in a fresh driver process connected to the same Ray instance: every edge collected
on the driver and joined there (`connected_components`: what the Ray engine did before), and
`distributed_components` (the edges stay in the object store). Each reports the growth of its peak resident
memory over the step (VmHWM, reset through /proc/self/clear_refs just before) and tracemalloc's peak (numpy
buffers included); both must give the same labels.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from bench.common import (  # noqa: E402
    ENGINE_TABLE,
    Timing,
    comparison_table,
    machine,
    print_stage,
    relative_spread,
    table,
    timed,
    verdict,
)
from bench.corpus import scaled_corpus  # noqa: E402
from curate.build import build  # noqa: E402
from curate.buildconfig import BuildConfig  # noqa: E402

GRAPH_BLOCKS = 50
"""Blocks of the driver-memory graph's edges: about what the LSH shuffle leaves at 1,000,000 records."""

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


def same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    if files != sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()):
        return False
    return all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def random_edges(batch: dict[str, Any], nodes: int, per: int, seed: int) -> dict[str, Any]:
    """`per` random edges (i <= j) over `nodes` nodes for each block number in `batch`, seeded by it."""
    import numpy as np

    i, j = [], []
    for block in batch["id"]:
        rng = np.random.default_rng([seed, int(block)])
        a, b = rng.integers(0, nodes, per), rng.integers(0, nodes, per)
        i.append(np.minimum(a, b))
        j.append(np.maximum(a, b))
    return {"i": np.concatenate(i), "j": np.concatenate(j)}


def peak_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def driver_memory(method: str, address: str, nodes: int, edges: int, seed: int = 0) -> dict[str, Any]:
    """One way (`collected` or `distributed`) of joining the random graph's components, measured in this process
    (a driver connected to the Ray instance at `address`): peak RSS growth, tracemalloc peak, seconds, labels."""
    import tracemalloc

    import numpy as np
    import ray.data

    from curate.build.engines.ray import PARTITION_EDGES, RayEngine, distributed_components
    from curate.dedup import connected_components

    engine = RayEngine(address)
    engine.start()
    try:
        graph = ray.data.range(GRAPH_BLOCKS, override_num_blocks=GRAPH_BLOCKS).map_batches(
            random_edges, batch_size=1, batch_format="numpy",
            fn_args=(nodes, edges // GRAPH_BLOCKS, seed)).materialize()
        count, blocks = graph.count(), graph.to_arrow_refs()
        phases = 0
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # VmHWM := VmRSS
        before = peak_rss_kb()
        tracemalloc.start()
        start = time.perf_counter()
        if method == "collected":  # as the Ray engine did before: every verified edge onto the driver
            left, right = [], []
            for batch in graph.iter_batches(batch_size=None, batch_format="numpy"):
                left.append(np.asarray(batch["i"], dtype=np.int64))
                right.append(np.asarray(batch["j"], dtype=np.int64))
            i, j = np.concatenate(left), np.concatenate(right)
            del left, right
            labels = connected_components(nodes, i, j)
            del i, j
        else:
            labels, phases = distributed_components(nodes, blocks, max(2, -(-count // PARTITION_EDGES)))
        seconds = time.perf_counter() - start
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return {"method": method, "edges": count, "nodes": nodes, "seconds": seconds, "phases": phases,
                "rss_mb": (peak_rss_kb() - before) / 1024, "traced_mb": traced / 2**20,
                "clusters": int(np.count_nonzero(labels == np.arange(nodes))),
                "labels_sha256": hashlib.sha256(labels.tobytes()).hexdigest()}
    finally:
        engine.stop()


def driver_memory_table(address: str, edges: int) -> tuple[dict[str, Any], list[str]]:
    """Both ways of `driver_memory`, each in a fresh process: the table and a note."""
    got = {}
    for method in ("collected", "distributed"):
        proc = subprocess.run([sys.executable, __file__, "--driver-memory", method, "--address", address,
                               "--graph-edges", str(edges)], capture_output=True, text=True, check=True)
        got[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    ours, base = got["distributed"], got["collected"]
    same = ours["labels_sha256"] == base["labels_sha256"]
    rows = [[name, r["rss_mb"], r["traced_mb"], r["seconds"], r["phases"] or "—"] for name, r in
            (("all edges collected on the driver, joined there", base),
             ("joined on the cluster (distributed_components)", ours))]
    rows.append(["collected / distributed", base["rss_mb"] / max(ours["rss_mb"], 1e-9),
                 base["traced_mb"] / max(ours["traced_mb"], 1e-9), base["seconds"] / ours["seconds"], "—"])
    note = (f"Driver memory: a random graph of {base['edges']:,} edges over {base['nodes']:,} nodes "
            f"({base['clusters']:,} components), generated on the cluster in {GRAPH_BLOCKS} blocks; each way in a "
            f"fresh driver process. Peak RSS growth is VmHWM over the step (the labels, "
            f"{base['nodes'] * 8 / 2**20:.1f} MB, included); both ways gave "
            f"{'the same' if same else 'DIFFERENT'} labels.")
    return table("Ray driver memory joining near-duplicate clusters (MB over the step)",
                 ["connected components", "peak RSS growth (MB)", "tracemalloc peak (MB)", "seconds", "phases"],
                 rows), [note]


def run(records: int = 20000, repeat: int = 2, graph_edges: int | None = None) -> dict[str, Any]:
    """Wall time of `curate build` on `records` records by engine, and the Ray driver's memory joining clusters
    of a random graph of `graph_edges` edges (default 100 per record), in the harness's shape (bench/common.py)."""
    import ray

    from curate.build.engines.ray import RayEngine

    started = time.perf_counter()
    corpus = scaled_corpus(records, DATA / f"ray_corpus_{records}.jsonl", vary=distinct_copies)
    outs = DATA / "build_ray_out"
    shutil.rmtree(outs, ignore_errors=True)
    timings: dict[str, Timing] = {}
    for n in (1, 2):
        out = outs / f"local-{n}"
        timings[f"local engine, {n} process{'es' if n > 1 else ''}"] = timed(
            lambda out=out, n=n: build([corpus], out, BuildConfig(num_proc=n), [TOOLS]), repeat)

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    startup = time.perf_counter() - start
    identical = {}
    try:
        for n in (1, 2):
            out = outs / f"ray-{n}"
            timings[f"Ray engine, {n} worker{'s' if n > 1 else ''}"] = timed(
                lambda out=out, n=n: build([corpus], out, BuildConfig(num_proc=n), [TOOLS], engine=RayEngine()),
                repeat)
            identical[n] = same_tree(outs / f"local-{n}", out)  # num_proc is in the manifest: same n
        memory, memory_notes = driver_memory_table(ray.get_runtime_context().gcs_address,
                                                   graph_edges or 100 * records)
    finally:
        ray.shutdown()
        shutil.rmtree(outs, ignore_errors=True)

    local = timings["local engine, 1 process"]
    rows = [[name, t.median, f"{t.low:.1f}-{t.high:.1f}", records / t.median, local.median / t.median]
            for name, t in timings.items()]
    ray_rows = []
    for n in (1, 2):
        ours, base = timings[f"Ray engine, {n} worker{'s' if n > 1 else ''}"], \
            timings[f"local engine, {n} process{'es' if n > 1 else ''}"]
        ratio = base.median / ours.median
        ray_rows.append([f"wall time, Ray engine with {n} worker{'s' if n > 1 else ''} vs the local engine with {n} "
                         f"process{'es' if n > 1 else ''}", ratio,
                         verdict(ratio, relative_spread(ours, base), subject="Ray")])
    return {
        "stage": "engines", "title": f"curate build by engine on {records:,} trajectories: local processes vs Ray",
        "machine": machine(), "versions": {"ray": ray.__version__},
        "tables": [table("Wall time of one build (the Ray cluster already started)",
                         ["engine", "seconds (median)", "range", "records/s", "speed vs local, 1 process"], rows),
                   comparison_table(ray_rows, ENGINE_TABLE),
                   table("Ray output byte-identical to the local engine's", ["workers", "identical"],
                         [[n, same] for n, same in identical.items()]),
                   memory],
        "notes": [f"Median of {repeat} builds each, in this process (the library's `build`, as the CLI calls it). "
                  "The corpus is the sample corpus scaled up, every copy made distinct by a seeded run of words.",
                  f"Ray runs on a local instance with 2 CPUs, started once ({startup:.1f} s, not in the figures): a "
                  "cluster is started once and serves many builds. Each Ray build's time includes what every build "
                  "pays (actors loading the tokenizer, shipping rows, the shuffle of the LSH buckets).",
                  "On one 2-core machine Ray can only add overhead; it pays off when the cluster has more cores "
                  "than one machine.", *memory_notes],
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--graph-edges", type=int, help="edges of the driver-memory graph (default: 100 per record)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--driver-memory", choices=["collected", "distributed"], help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver_memory:  # one measurement, in this fresh process (driver_memory_table runs it)
        edges = args.graph_edges or 100 * args.records
        print(json.dumps(driver_memory(args.driver_memory, args.address, edges // 2, edges)))
        return
    result = run(args.records, args.repeat, args.graph_edges)
    print_stage(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
