"""The train/eval split: whole near-duplicate clusters on one side, stratified by capability bucket.

`split_eval(items, cfg, seed)` takes the records out of balancing (`curate.mix`), copies included, and
returns the indices of each side; see its docstring. `[split]` of a build config is `SplitConfig`.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable

from pydantic import Field

from curate.config import ConfigSection
from curate.mix import Item, MixError, MixInput, MixItem, cluster_key


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
    cfg = cfg or SplitConfig()
    rows: list[tuple[int, str, Hashable | None]] = []
    for it in items:
        if isinstance(it, (MixItem, MixInput)):
            rows.append((it.index, it.bucket, it.cluster_id))
        else:
            r = MixInput(*it)
            rows.append((r.index, r.bucket, r.cluster_id))
    if cfg.eval_fraction == 0:
        return sorted(r[0] for r in rows), []

    record_bucket: dict[int, str] = {}
    record_cluster: dict[int, tuple[int, str]] = {}
    for index, bucket, cluster in rows:
        key = cluster_key(MixInput(index, bucket, cluster))
        if record_cluster.setdefault(index, key) != key or record_bucket.setdefault(index, bucket) != bucket:
            raise MixError(f"record {index} is given with two different buckets or clusters")
    members: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index in sorted(record_cluster):
        members[record_cluster[index]].append(index)
    by_bucket: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key in sorted(members):
        votes = Counter(record_bucket[i] for i in members[key])
        top = max(votes.values())
        by_bucket[min(b for b, v in votes.items() if v == top)].append(key)

    eval_clusters: set[tuple[int, str]] = set()
    for bucket in sorted(by_bucket):
        keys = by_bucket[bucket]
        n = sum(len(members[k]) for k in keys)
        target = min(math.floor(cfg.eval_fraction * n + 0.5), n - 1)
        if len(keys) > cfg.eval_min:
            target = max(target, cfg.eval_min)
        rng = random.Random(f"split:{seed}:{bucket}")
        order = list(keys)
        rng.shuffle(order)
        chosen: list[tuple[int, str]] = []
        got = 0
        for k in order:  # whole clusters, never past the target
            if got + len(members[k]) <= target:
                chosen.append(k)
                got += len(members[k])
                if got == target:
                    break
        if len(keys) > cfg.eval_min and got < cfg.eval_min:  # large clusters skipped: top up, smallest first
            taken = set(chosen)
            rest = sorted((k for k in order if k not in taken), key=lambda k: len(members[k]))
            for k in rest:
                if got >= cfg.eval_min:
                    break
                chosen.append(k)
                got += len(members[k])
        if len(chosen) == len(keys):  # never the whole bucket
            chosen.pop()
        eval_clusters.update(chosen)

    train: list[int] = []
    evals: list[int] = []
    for index, _bucket, _cluster in rows:
        (evals if record_cluster[index] in eval_clusters else train).append(index)
    return sorted(train), sorted(evals)
