"""MinHash signature throughput and LSH clustering time: curate.dedup beside datasketch, same texts, same run.

    python bench/dedup_speed.py [--records N] [--subset M] [--repeat K] [--edit-rate R]

Texts: the sample corpus's conversation texts (user and assistant turns, normalised as dedup does), scaled to
N records by copying them with random word edits (replace, insert, delete; each copy edits up to R of its
words, new words drawn at random), seeded, so the corpus is as templated as the sample plus noise.

Signatures per second, each the median of K runs (with min-max spread):
  (a) datasketch, plain loop: `MinHash.update` per shingle, on the first M records
  (b) datasketch `MinHash.bulk`, on the first M records
  (c) ours, sha1_32 (bit-identical to (a), checked), 1 process, all N records
  (d) ours, xxh3_32, 1 process
  (e) ours, sha1_32, 2 processes (process start-up included)
Ratios are against (a) measured in this run. Both datasketch figures and ours start from the same
normalised texts and include shingling.

Then near-duplicate clustering of the N sha1 signatures at threshold 0.8: ours (LSH candidates, verification,
union-find) with our recall-leaning bands and with datasketch's bands, against `datasketch.MinHashLSH`
(insert every record, query every record, verify candidates with `MinHash.jaccard`, Python union-find).
This is a figure, not a timed test: the machine may be shared, so look at the spread.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from curate import dedup  # noqa: E402
from curate.readers import RecordReader  # noqa: E402

SAMPLE = REPO / "sample_data" / "raw.jsonl"
THRESHOLD = 0.8


def base_texts() -> list[str]:
    """Normalised user+assistant texts of the sample corpus's readable, non-empty records."""
    texts = []
    for result in RecordReader().read(SAMPLE):
        if result.record is not None:
            text = dedup.normalised_text(result.record, dedup.DEFAULT_ROLES)
            if dedup.words(text):
                texts.append(text)
    return texts


def scaled_texts(n: int, edit_rate: float, seed: int = 0) -> list[str]:
    """`n` texts: the base texts in turn, every copy after the first pass edited at random."""
    rng = random.Random(seed)
    bases = base_texts()
    out = []
    for k in range(n):
        text = bases[k % len(bases)]
        if k >= len(bases):
            tokens = text.split(" ")
            for _ in range(rng.randint(1, max(1, int(len(tokens) * edit_rate)))):
                pos = rng.randrange(len(tokens))
                op = rng.random()
                new = f"w{rng.randrange(1_000_000)}"
                if op < 0.6:
                    tokens[pos] = new
                elif op < 0.8:
                    tokens.insert(pos, new)
                elif len(tokens) > 1:
                    del tokens[pos]
            text = " ".join(tokens)
        out.append(text)
    rng.shuffle(out)
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float, Any]:
    """Median, min and max wall time of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times), result


def datasketch_loop(texts: list[str], settings: dedup.MinHashSettings) -> list[Any]:
    from datasketch import MinHash

    out = []
    for text in texts:
        m = MinHash(num_perm=settings.num_perm, seed=settings.seed)
        for sh in dedup.shingles(text, settings.shingle):
            m.update(sh.encode("utf-8"))
        out.append(m)
    return out


def datasketch_bulk(texts: list[str], settings: dedup.MinHashSettings) -> list[Any]:
    from datasketch import MinHash

    data = ([sh.encode("utf-8") for sh in dedup.shingles(t, settings.shingle)] for t in texts)
    return MinHash.bulk(data, num_perm=settings.num_perm, seed=settings.seed)


def datasketch_clusters(values: np.ndarray, settings: dedup.MinHashSettings) -> tuple[float, float, int, int]:
    """Insert+query time, verify+union-find time, candidate pairs, clusters of two or more."""
    from datasketch import MinHash, MinHashLSH

    sketches = [MinHash(seed=settings.seed, hashvalues=v, scheme="affine32") for v in values]
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=settings.num_perm)
    with lsh.insertion_session() as session:
        for k, m in enumerate(sketches):
            session.insert(k, m, check_duplication=False)
    pairs = set()
    for k, m in enumerate(sketches):
        for other in lsh.query(m):
            if other != k:
                pairs.add((min(k, other), max(k, other)))
    t1 = time.perf_counter()
    parent = list(range(len(sketches)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        if sketches[a].jaccard(sketches[b]) >= THRESHOLD:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = [find(x) for x in range(len(parent))]
    t2 = time.perf_counter()
    sizes = np.bincount(roots)
    return t1 - t0, t2 - t1, len(pairs), int((sizes >= 2).sum())


def rate_line(name: str, n: int, stats: tuple[float, float, float, Any], base: float | None) -> str:
    med, lo, hi, _ = stats
    ratio = f"{(n / med) / base:6.1f}x" if base else "  1.0x"
    return (f"  {name:44s} {n / med:10,.0f} rec/s  ({n / hi:,.0f}-{n / lo:,.0f})  {ratio}"
            f"   median {med:.2f}s over {n:,} records")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--subset", type=int, default=5_000, help="records for the datasketch signature loops")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--edit-rate", type=float, default=0.15)
    args = ap.parse_args()

    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}; datasketch {dedup.MinHashSettings().datasketch_version}")
    t0 = time.perf_counter()
    texts = scaled_texts(args.records, args.edit_rate)
    subset = texts[:args.subset]
    sha1 = dedup.MinHashSettings()
    xxh3 = dedup.MinHashSettings(hash="xxh3_32")
    n_sh = sum(len(dedup.shingles(t, sha1.shingle)) for t in subset)
    print(f"{len(texts):,} texts built in {time.perf_counter() - t0:.1f}s; "
          f"{n_sh / len(subset):.0f} distinct 5-shingles per text on average (first {len(subset):,})\n")

    print("Signatures (128 permutations, 5-word shingles):")
    loop = timed(lambda: datasketch_loop(subset, sha1), args.repeat)
    base = len(subset) / loop[0]
    print(rate_line("(a) datasketch MinHash.update loop", len(subset), loop, None))
    bulk = timed(lambda: datasketch_bulk(subset, sha1), args.repeat)
    print(rate_line("(b) datasketch MinHash.bulk", len(subset), bulk, base))
    ours = timed(lambda: dedup.sign_texts(texts, sha1, normalised=True), args.repeat)
    print(rate_line("(c) curate.dedup sha1_32, 1 process", len(texts), ours, base))
    fast = timed(lambda: dedup.sign_texts(texts, xxh3, normalised=True), args.repeat)
    print(rate_line("(d) curate.dedup xxh3_32, 1 process", len(texts), fast, base))
    par = timed(lambda: dedup.sign_texts(texts, sha1, num_proc=2, normalised=True), args.repeat)
    print(rate_line("(e) curate.dedup sha1_32, 2 processes", len(texts), par, base))

    sigs: dedup.Signatures = ours[3]
    same = all(np.array_equal(m.hashvalues, sigs.values[k]) for k, m in enumerate(loop[3]))
    same = same and np.array_equal(par[3].values, sigs.values)
    print(f"  (c) equals datasketch (a) on all {len(subset):,} records and (e) on all: {same}")

    print(f"\nNear-duplicate clusters of {len(sigs):,} signatures at threshold {THRESHOLD}:")
    for label, weights in (("ours, recall-leaning bands", dedup.LSH_WEIGHTS), ("ours, datasketch's bands", (0.5, 0.5))):
        b, r = dedup.lsh_params(THRESHOLD, sha1.num_perm, *weights)

        def cluster(w: tuple[float, float] = weights) -> tuple[int, int]:
            i, j, _ = dedup.verified_pairs(sigs, THRESHOLD, weights=w)
            labels = dedup.connected_components(len(sigs), i, j)
            sizes = np.bincount(labels)
            return len(i), int((sizes >= 2).sum())

        med, lo, hi, (n_pairs, n_clusters) = timed(cluster, args.repeat)
        n_cand = len(dedup.candidate_pairs(sigs, THRESHOLD, weights=weights)[0])
        print(f"  {label} ({b} bands x {r} rows): {med:6.2f}s ({lo:.2f}-{hi:.2f}); {n_cand:,} candidate pairs, "
              f"{n_pairs:,} verified, {n_clusters:,} clusters")
    ins, ver, n_cand, n_clusters = datasketch_clusters(sigs.values, sha1)
    print(f"  datasketch MinHashLSH insert+query loop: {ins:6.2f}s (one run), then verify + union-find "
          f"{ver:.2f}s; {n_cand:,} candidate pairs, {n_clusters:,} clusters")


if __name__ == "__main__":
    main()
