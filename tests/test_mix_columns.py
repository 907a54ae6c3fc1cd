"""The build balances and splits numpy columns (`balance_columns`, `split_columns`) so that its memory holds no
object per record. Users rely on the same seed giving the same train/eval files as before: these tests compare
the columnar code, draw for draw, with the list-of-objects code it replaced (`tests/mix_reference.py`), on
seeded random corpora with clusters of every size, up-sampled copies, floors, caps and eval minimums."""

from __future__ import annotations

import random

import numpy as np
import pytest

from curate.mix import MixColumns, MixConfig, balance, balance_columns
from curate.split import SplitConfig, split_columns, split_eval
from tests import mix_reference

CONFIGS = [
    (MixConfig(), SplitConfig()),
    (MixConfig(strategy="uniform", fit="smallest"), SplitConfig(eval_fraction=0.2, eval_min=0)),
    (MixConfig(strategy="temperature", alpha=0.3, total=150, upsample=True), SplitConfig(eval_fraction=0.05,
                                                                                          eval_min=4)),
    (MixConfig(strategy="none", caps={"b": 7}, floors={"c": 30}, upsample=True), SplitConfig(eval_fraction=0.3)),
    (MixConfig(strategy="uniform", total=60), SplitConfig(eval_fraction=0.0)),
]


def corpus(seed: int, n: int, ids: str) -> list[tuple[int, str, object]]:
    """`n` records over buckets a-d (skewed), in clusters of 1 to 9; ids ints (some past 9, so text order
    differs from number order), text, or None (a cluster of its own)."""
    rng = random.Random(seed)
    out: list[tuple[int, str, object]] = []
    cluster = 0
    indices = rng.sample(range(10 * n), n)  # unique, out of order
    k = 0
    while k < n:
        size = min(n - k, rng.choice([1, 1, 1, 2, 3, 9]))
        cid: object = {"int": cluster * 7, "str": f"c{cluster}", "none": None}[ids]
        for _ in range(size):
            bucket = rng.choices("abcd", weights=[8, 4, 2, 1])[0]
            out.append((indices[k], bucket, cid if size > 1 or ids != "none" else None))
            k += 1
        cluster += 1
    return out


@pytest.mark.parametrize("ids", ["int", "str", "none"])
@pytest.mark.parametrize("seed", range(6))
def test_columns_draw_what_the_list_code_drew(seed: int, ids: str) -> None:
    items = corpus(seed, 80 + 37 * seed, ids)
    for mix_cfg, split_cfg in CONFIGS:
        chosen, after, dropped = mix_reference.balance(items, mix_cfg, seed)
        result = balance(items, mix_cfg, seed)
        assert result.items == chosen
        assert (result.after, result.dropped) == (after, dropped)
        assert split_eval(result.items, split_cfg, seed) == mix_reference.split_eval(chosen, split_cfg, seed)


def test_the_builds_integer_columns_give_the_same_draw() -> None:
    """`MixColumns.of_arrays` ranks integer cluster ids by their text ("10" < "9") without a string per record,
    as `cluster_key` orders them."""
    items = corpus(11, 500, "int")
    index = np.array([i for i, _, _ in items])
    names = ["d", "b", "a", "c"]  # codes in any order: the columns re-code them by name
    codes = np.array([names.index(b) for _, b, _ in items])
    cluster = np.array([c for _, _, c in items])
    for mix_cfg, split_cfg in CONFIGS:
        chosen, _, _ = mix_reference.balance(items, mix_cfg, 5)
        result = balance_columns(MixColumns.of_arrays(index, codes, names, cluster, known=["e"]), mix_cfg, 5)
        assert result.items == chosen and result.before["e"] == 0
        train, evals = split_columns(result.columns(), split_cfg, 5)
        assert (train.tolist(), evals.tolist()) == mix_reference.split_eval(chosen, split_cfg, 5)
