"""The list-of-objects `balance` and `split_eval` as they were before the build moved to columns (curate 0.1.0,
commit 914b8d4): the oracle `tests/test_mix_columns.py` compares the columnar code with, draw for draw.

Only the record-level parts are here (`_normalise`, `_pick`, the split's loop); the counts (`_shares`, `_counts`,
`_check_names`) did not change and are imported."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence

from curate.mix import MixConfig, MixError, MixInput, MixItem, _check_names, _counts, _shares, cluster_key
from curate.split import SplitConfig


def balance(items: Iterable[tuple[int, str, Hashable | None]], cfg: MixConfig, seed: int,
            buckets: Sequence[str] | None = None) -> tuple[list[MixItem], dict[str, int], dict[str, int]]:
    """(items chosen, after, dropped), as the old `curate.mix.balance` gave them."""
    records = sorted((MixInput(*it) for it in items), key=lambda r: r.index)
    by_bucket: dict[str, list[MixInput]] = defaultdict(list)
    for r in records:
        by_bucket[r.bucket].append(r)
    known = sorted(set(buckets or ()) | set(by_bucket))
    sizes = {b: len(by_bucket.get(b, ())) for b in known}
    _check_names(cfg, known, sizes, explicit=buckets is not None)
    notes: list[str] = []
    counts = _counts(cfg, sizes, _shares(cfg, sizes), notes)
    chosen: list[MixItem] = []
    for b in known:
        chosen += _pick(by_bucket.get(b, []), counts.get(b, 0), random.Random(f"mix:{seed}:{b}"))
    chosen.sort(key=lambda it: (it.index, it.copy))
    after = Counter(it.bucket for it in chosen)
    kept = Counter(it.bucket for it in chosen if not it.is_copy)
    return chosen, {b: after.get(b, 0) for b in known}, {b: sizes[b] - kept.get(b, 0) for b in known}


def _pick(members: list[MixInput], n: int, rng: random.Random) -> list[MixItem]:
    if n <= 0 or not members:
        return []
    clusters: dict[tuple[int, str], list[MixInput]] = defaultdict(list)
    for r in members:
        clusters[cluster_key(r)].append(r)
    keys = sorted(clusters)
    rng.shuffle(keys)
    queues = []
    for k in keys:
        group = clusters[k]
        rng.shuffle(group)
        queues.append(group)
    order: list[MixInput] = []
    depth = 0
    while queues:
        order += [q[depth] for q in queues]
        depth += 1
        queues = [q for q in queues if len(q) > depth]
    out = [MixItem(r.index, r.bucket, r.cluster_id) for r in order[:n]]
    for k in range(n - len(members)):
        r = order[k % len(order)]
        out.append(MixItem(r.index, r.bucket, r.cluster_id, copy=k // len(order) + 1))
    return out


def split_eval(items: Iterable[MixItem], cfg: SplitConfig, seed: int) -> tuple[list[int], list[int]]:
    rows = [(it.index, it.bucket, it.cluster_id) for it in items]
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
        for k in order:
            if got + len(members[k]) <= target:
                chosen.append(k)
                got += len(members[k])
                if got == target:
                    break
        if len(keys) > cfg.eval_min and got < cfg.eval_min:
            taken = set(chosen)
            rest = sorted((k for k in order if k not in taken), key=lambda k: len(members[k]))
            for k in rest:
                if got >= cfg.eval_min:
                    break
                chosen.append(k)
                got += len(members[k])
        if len(chosen) == len(keys):
            chosen.pop()
        eval_clusters.update(chosen)
    train: list[int] = []
    evals: list[int] = []
    for index, _bucket, _cluster in rows:
        (evals if record_cluster[index] in eval_clusters else train).append(index)
    return sorted(train), sorted(evals)
