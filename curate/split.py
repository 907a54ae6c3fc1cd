"""The train/eval split: whole near-duplicate clusters on one side, stratified by capability bucket.

`split_eval(items, cfg, seed)` takes the records out of balancing (`curate.mix`), copies included, and
returns the indices of each side; see its docstring. `[split]` of a build config is `SplitConfig`.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable

import numpy as np
from pydantic import Field

from curate.config import ConfigSection
from curate.mix import Item, MixColumns, MixError


class SplitConfig(ConfigSection):
    """`[split]` of a build config: the share of each bucket that goes to eval."""

    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    eval_min: int = Field(2, ge=0)


def split_eval(items: Iterable[Item], cfg: SplitConfig | None = None, seed: int = 0) -> tuple[list[int], list[int]]:
    """Split records into (train indices, eval indices), stratified by bucket, clusters kept whole.

    `items` are `(index, bucket, cluster_id)` triples, `MixInput`s or `MixItem`s (copies included:
    a copy shares its original's index and goes where it goes, so its index repeats on that side).
    A cluster belongs to the bucket most of its records are in (ties: the first name). Each bucket
    sends whole clusters, in a seeded random order, to eval until it holds `eval_fraction` of the
    bucket's records (rounded, never overshooting with a large cluster), raised to `eval_min` records
    when the bucket has more than `eval_min` clusters, and never the whole bucket (one cluster at
    least stays in train). `eval_fraction = 0` means no eval split. Both lists come out sorted.
    """
    train, evals = split_columns(MixColumns.of_items(items), cfg, seed)
    return train.tolist(), evals.tolist()


def split_columns(cols: MixColumns, cfg: SplitConfig | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`split_eval` on columns (`MixResult.columns()` in the build): sorted index arrays (train, eval).
    Memory: numpy columns and one list of the clusters being shuffled, no object per record."""
    cfg = cfg or SplitConfig()
    index, bucket, cluster = cols.index, cols.bucket, cols.cluster
    if cfg.eval_fraction == 0:
        return np.sort(index), np.empty(0, np.int64)
    # one row per record (a copy repeats its record): the same bucket and cluster each time
    uniq, first = np.unique(index, return_index=True)
    record = np.searchsorted(uniq, index)
    rec_bucket, rec_cluster = bucket[first], cluster[first]
    differs = np.flatnonzero((bucket != rec_bucket[record]) | (cluster != rec_cluster[record]))
    if len(differs):
        raise MixError(f"record {int(index[differs[0]])} is given with two different buckets or clusters")
    keys, of_record, members = np.unique(rec_cluster, return_inverse=True, return_counts=True)
    of_record = of_record.reshape(-1)
    # each cluster's bucket: the one most of its records are in (ties: the first name; codes are in name order)
    nb = len(cols.names)
    votes = np.zeros((len(keys), max(nb, 1)), dtype=np.int64)
    np.add.at(votes, (of_record, rec_bucket), 1)
    owner = np.argmax(votes, axis=1)  # the first of the largest: the first name

    in_eval = np.zeros(len(keys), dtype=bool)
    for b in range(nb):
        ks = np.flatnonzero(owner == b)  # this bucket's clusters, in cluster-key order
        if not len(ks):
            continue
        sizes = members[ks]
        n = int(sizes.sum())
        target = min(math.floor(cfg.eval_fraction * n + 0.5), n - 1)
        if len(ks) > cfg.eval_min:
            target = max(target, cfg.eval_min)
        rng = random.Random(f"split:{seed}:{cols.names[b]}")
        shuffled = array("q", range(len(ks)))
        rng.shuffle(shuffled)  # the draw depends on the length alone: shuffling positions is shuffling clusters
        order = np.frombuffer(shuffled, dtype=np.int64)
        chosen = np.zeros(len(ks), dtype=bool)
        picked: list[int] = []  # in the order chosen: the last one stays in train if all were chosen
        got = 0
        for k, size in zip(order.tolist(), sizes[order].tolist(), strict=True):  # whole clusters, never past
            if got + size <= target:
                picked.append(k)
                got += size
                if got == target:
                    break
        chosen[picked] = True
        if len(ks) > cfg.eval_min and got < cfg.eval_min:  # large clusters skipped: top up, smallest first
            rest = order[~chosen[order]]
            for k in rest[np.argsort(sizes[rest], kind="stable")].tolist():
                if got >= cfg.eval_min:
                    break
                picked.append(k)
                got += int(sizes[k])
            chosen[picked] = True
        if len(picked) == len(ks):  # never the whole bucket
            chosen[picked[-1]] = False
        in_eval[ks[chosen]] = True
    to_eval = in_eval[of_record[record]]
    return np.sort(index[~to_eval]), np.sort(index[to_eval])
