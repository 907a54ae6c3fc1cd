"""Near-duplicate detection side by side: curate.dedup, datasketch (plain loop and `MinHash.bulk`), rensa.

    python bench/dedup_speed.py [--pairs 6000] [--singles 8000] [--subset 2000] [--repeat 3]

The corpus (`bench.corpus.planted_corpus`, seeded): texts of never-repeated tokens, so the only
similar texts are the planted pairs, each sharing all but one replaced block, with exact Jaccard
spread over 0.5-1.0 and computed exactly from the 5-word shingle sets. The truth at threshold 0.8 is
every planted pair whose exact Jaccard is >= 0.8; everything else has Jaccard 0.

Per method, on the same normalised texts (shingling included in every signature figure):
- signatures per second, median of `--repeat` runs with the min-max range: the datasketch loop
  (`MinHash.update` per shingle, the baseline) and `MinHash.bulk` on the first `--subset` texts (their
  rate is per record, so the subset is fair), rensa's `RMinHash.from_token_sets` and ours (sha1_32,
  bit-identical to datasketch, checked; xxh3_32; 2 processes) on all texts;
- LSH time: index, query every text and keep the candidates whose estimated Jaccard is >= 0.8
  (`MinHashLSH` + `MinHash.jaccard`; `RMinHashLSH` + `RMinHash.jaccard` with datasketch's band count;
  ours: `dedup.verified_pairs`, numpy band keys, with our recall-leaning bands and with datasketch's);
- precision (found pairs whose exact Jaccard is >= 0.8) and recall (true pairs found).
A figure, not a timed test: on a shared machine look at the spread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402
    comparison_table,
    machine,
    package_version,
    print_stage,
    relative_spread,
    table,
    timed,
    verdict,
)
from bench.corpus import planted_corpus  # noqa: E402
from curate import dedup  # noqa: E402

THRESHOLD = 0.8
Pairs = set[tuple[int, int]]


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


def rensa_sign(texts: list[str], settings: dedup.MinHashSettings) -> list[Any]:
    from rensa import RMinHash

    return RMinHash.from_token_sets((dedup.shingles(t, settings.shingle) for t in texts),
                                    settings.num_perm, settings.seed)


def datasketch_sketches(values: np.ndarray, settings: dedup.MinHashSettings) -> list[Any]:
    """`MinHash` objects holding our signatures (the same values datasketch computes, checked)."""
    from datasketch import MinHash

    return [MinHash(seed=settings.seed, hashvalues=v, scheme="affine32") for v in values]


def datasketch_lsh(sketches: list[Any], settings: dedup.MinHashSettings) -> Pairs:
    """`MinHashLSH` at the threshold: insert all, query all, keep candidates with `jaccard` >= threshold."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=settings.num_perm)
    with lsh.insertion_session() as session:
        for k, m in enumerate(sketches):
            session.insert(k, m, check_duplication=False)
    found = set()
    for k, m in enumerate(sketches):
        for other in lsh.query(m):
            if other > k and m.jaccard(sketches[other]) >= THRESHOLD:
                found.add((k, other))
    return found


def rensa_bands(num_perm: int) -> int:
    """rensa needs bands x rows == num_perm: of those, the banding with datasketch's least weighted error."""
    from datasketch.lsh import _false_negative_probability, _false_positive_probability

    def error(b: int) -> float:
        r = num_perm // b
        return 0.5 * _false_positive_probability(THRESHOLD, b, r) + 0.5 * _false_negative_probability(THRESHOLD, b, r)

    return min((b for b in range(1, num_perm + 1) if num_perm % b == 0), key=error)


def rensa_lsh(sketches: list[Any], num_perm: int) -> Pairs:
    """`RMinHashLSH` banded as datasketch would: insert all, query all, verify with `RMinHash.jaccard`."""
    from rensa import RMinHashLSH

    bands = rensa_bands(num_perm)
    lsh = RMinHashLSH(THRESHOLD, num_perm, bands)
    lsh.insert_many(sketches)
    found = set()
    for k, candidates in enumerate(lsh.query_all(sketches)):
        for other in candidates:
            if other > k and sketches[k].jaccard(sketches[other]) >= THRESHOLD:
                found.add((k, int(other)))
    return found


def ours_lsh(sigs: dedup.Signatures, weights: tuple[float, float]) -> Pairs:
    i, j, _ = dedup.verified_pairs(sigs, THRESHOLD, weights=weights)
    return {(int(a), int(b)) for a, b in zip(i, j, strict=True)}


def exact_jaccard(a: str, b: str, n: int) -> float:
    sa, sb = set(dedup.shingles(a, n)), set(dedup.shingles(b, n))
    return len(sa & sb) / len(sa | sb)


def precision_recall(found: Pairs, truth: dict[tuple[int, int], float]) -> tuple[float, float, float]:
    """Found pairs whose exact Jaccard is >= the threshold; true pairs found; and true pairs found among those
    clear of the threshold (exact J >= threshold + 0.05), where estimation noise rarely decides. Unplanted
    pairs have J = 0."""
    true = {p for p, j in truth.items() if j >= THRESHOLD}
    clear = {p for p, j in truth.items() if j >= THRESHOLD + 0.05}
    hits = len(found & true)
    return (hits / len(found) if found else 1.0, hits / len(true) if true else 1.0,
            len(found & clear) / len(clear) if clear else 1.0)


def run(pairs: int = 6000, singles: int = 8000, subset: int = 2000, repeat: int = 3) -> dict[str, Any]:
    started = time.perf_counter()
    raw, planted = planted_corpus(seed=0, n_pairs=pairs, n_single=singles)
    texts = [dedup.normalise_text(t) for t in raw]
    sha1, xxh3 = dedup.MinHashSettings(), dedup.MinHashSettings(hash="xxh3_32")
    truth = {p: exact_jaccard(texts[p[0]], texts[p[1]], sha1.shingle) for p in planted}
    n, head = len(texts), texts[:subset]

    loop = timed(lambda: datasketch_loop(head, sha1), repeat)
    bulk = timed(lambda: datasketch_bulk(head, sha1), repeat)
    rensa = timed(lambda: rensa_sign(texts, sha1), repeat)
    ours = timed(lambda: dedup.sign_texts(texts, sha1, normalised=True), repeat)
    fast = timed(lambda: dedup.sign_texts(texts, xxh3, normalised=True), repeat)
    two = timed(lambda: dedup.sign_texts(texts, sha1, num_proc=2, normalised=True), repeat)
    sigs: dedup.Signatures = ours.result
    identical = (all(np.array_equal(m.hashvalues, sigs.values[k]) for k, m in enumerate(loop.result))
                 and np.array_equal(two.result.values, sigs.values))

    base = loop.rate(len(head))
    sig_rows = []
    for name, t, count in (("datasketch, MinHash.update loop (baseline)", loop, len(head)),
                           ("datasketch, MinHash.bulk", bulk, len(head)),
                           ("rensa RMinHash.from_token_sets", rensa, n),
                           ("curate sha1_32, 1 process", ours, n), ("curate xxh3_32, 1 process", fast, n),
                           ("curate sha1_32, 2 processes", two, n)):
        lo, hi = t.rate_range(count)
        sig_rows.append([name, count, t.rate(count), f"{lo:,.0f}-{hi:,.0f}", t.rate(count) / base])

    lsh_rows = []
    sketches = datasketch_sketches(sigs.values, sha1)
    methods = (("datasketch MinHashLSH + jaccard", lambda: datasketch_lsh(sketches, sha1)),
               ("rensa RMinHashLSH + jaccard", lambda: rensa_lsh(rensa.result, sha1.num_perm)),
               ("curate, datasketch's bands", lambda: ours_lsh(sigs, (0.5, 0.5))),
               ("curate, recall-leaning bands (default)", lambda: ours_lsh(sigs, dedup.LSH_WEIGHTS)))
    lsh_timings = {}
    for name, fn in methods:
        t = timed(fn, repeat)
        lsh_timings[name] = t
        lsh_rows.append([name, t.median, f"{t.low:.3f}-{t.high:.3f}", len(t.result),
                         *precision_recall(t.result, truth)])
    peer_lsh = lsh_timings["datasketch MinHashLSH + jaccard"]
    for row, t in zip(lsh_rows, lsh_timings.values(), strict=True):
        row.insert(3, peer_lsh.median / t.median)

    peer, peer_n = max(((bulk, len(head)), (rensa, n)), key=lambda tc: tc[0].rate(tc[1]))
    default = lsh_timings["curate, recall-leaning bands (default)"]

    def compare(what: str, ratio: float, noise: float) -> list[Any]:
        return [what, ratio, verdict(ratio, noise)]

    vs = [compare("signatures/s, curate sha1_32 vs datasketch loop", ours.rate(n) / base,
                  relative_spread(ours, loop)),
          compare("signatures/s, curate sha1_32 vs the fastest peer", ours.rate(n) / peer.rate(peer_n),
                  relative_spread(ours, peer)),
          compare("signatures/s, curate xxh3_32 vs the fastest peer", fast.rate(n) / peer.rate(peer_n),
                  relative_spread(fast, peer)),
          compare("LSH time, curate default vs datasketch MinHashLSH", peer_lsh.median / default.median,
                  relative_spread(peer_lsh, default)),
          compare("LSH time, curate default vs rensa RMinHashLSH",
                  lsh_timings["rensa RMinHashLSH + jaccard"].median / default.median,
                  relative_spread(lsh_timings["rensa RMinHashLSH + jaccard"], default))]
    values = np.array(list(truth.values()))
    return {
        "stage": "dedup", "title": "Near-duplicate detection: curate.dedup vs datasketch and rensa",
        "machine": machine(),
        "versions": {k: package_version(k) for k in ("datasketch", "rensa", "numpy")},
        "corpus": {"texts": n, "planted_pairs": len(truth), "true_pairs_at_threshold": int((values >= THRESHOLD).sum()),
                   "exact_jaccard_min": float(values.min()), "exact_jaccard_max": float(values.max())},
        "tables": [
            table("Signatures (128 permutations, 5-word shingles)",
                  ["method", "texts", "signatures/s", "range", "vs datasketch loop"], sig_rows),
            table(f"LSH + verification at threshold {THRESHOLD}, precision and recall against exact Jaccard",
                  ["method", "seconds", "range", "vs MinHashLSH", "pairs found", "precision", "recall",
                   f"recall, J >= {THRESHOLD + 0.05:.2f}"], lsh_rows),
            comparison_table(vs),
        ],
        "notes": [
            f"{n:,} texts: {len(truth):,} planted pairs with exact Jaccard {values.min():.2f}-{values.max():.2f} "
            f"({int((values >= THRESHOLD).sum()):,} at or above {THRESHOLD}) and {singles:,} unrelated texts; "
            f"median of {repeat} runs.",
            f"curate sha1_32 signatures equal datasketch's bit for bit (and with 2 processes): {identical}.",
            f"rensa's LSH needs bands that divide num_perm: {rensa_bands(sha1.num_perm)} bands, the divisor "
            "with datasketch's least weighted error at the threshold (datasketch itself picks 9 x 13).",
            "rensa hashes differently (its own permutation scheme), so its signatures are not comparable "
            "slot for slot; its precision and recall say how good they are.",
            "Our default bands lean to recall (weights 0.1/0.9): more candidates to verify, fewer pairs "
            "missed; 'datasketch's bands' is the same banding MinHashLSH picks.",
        ],
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=6000)
    ap.add_argument("--singles", type=int, default=8000)
    ap.add_argument("--subset", type=int, default=2000, help="texts for the datasketch signature loops")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print_stage(run(args.pairs, args.singles, args.subset, args.repeat))


if __name__ == "__main__":
    main()
