"""Balancing the capability mix (`balance`) and the train/eval split (`split_eval`)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from curate.mix import MixConfig, MixError, MixInput, MixItem, MixResult, balance, format_mix_table
from curate.split import SplitConfig, split_eval


def corpus(sizes: dict[str, int], cluster_size: int = 1, start: int = 0) -> list[tuple[int, str, int | None]]:
    """Records per bucket, indices in bucket order; clusters of `cluster_size` (1: no cluster id)."""
    items: list[tuple[int, str, int | None]] = []
    index = start
    for bucket, n in sizes.items():
        for k in range(n):
            cluster = None if cluster_size == 1 else index - k % cluster_size
            items.append((index, bucket, cluster))
            index += 1
    return items


SIZES = {"chat": 400, "code": 60, "math": 120, "refusal": 20}


def check_accounting(result: MixResult, items: list[tuple[int, str, int | None]]) -> None:
    """Every input record is either selected (once, as itself) or dropped; copies point at selected records."""
    before = Counter(bucket for _, bucket, _ in items)
    originals = [it for it in result.items if not it.is_copy]
    assert len({it.index for it in originals}) == len(originals)
    kept = Counter(it.bucket for it in originals)
    for bucket, n in before.items():
        assert result.before[bucket] == n
        assert n == kept[bucket] + result.dropped[bucket]
        assert result.after[bucket] == kept[bucket] + result.copies[bucket]
    selected = {it.index for it in originals}
    bucket_of = {index: bucket for index, bucket, _ in items}
    for it in result.items:
        assert bucket_of[it.index] == it.bucket
        if it.is_copy:
            assert it.index in selected
    assert sum(before.values()) == len(originals) + sum(result.dropped.values())


# --- strategies --------------------------------------------------------------------------------


class TestStrategies:
    def test_uniform_without_total_is_set_by_the_smallest_bucket(self) -> None:
        result = balance(corpus(SIZES), MixConfig(strategy="uniform", fit="smallest"), seed=1)
        assert result.after == {"chat": 20, "code": 20, "math": 20, "refusal": 20}
        assert result.dropped == {"chat": 380, "code": 40, "math": 100, "refusal": 0}
        assert not any(it.is_copy for it in result.items)

    def test_uniform_with_total(self) -> None:
        result = balance(corpus({"a": 100, "b": 100, "c": 100}), MixConfig(strategy="uniform", total=100), seed=1)
        assert sorted(result.after.values()) == [33, 33, 34]
        assert sum(result.after.values()) == 100

    @pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
    def test_temperature(self, alpha: float) -> None:
        total = 300
        result = balance(corpus(SIZES), MixConfig(strategy="temperature", alpha=alpha, total=total), seed=0)
        weights = {b: n**alpha for b, n in SIZES.items()}
        want = {b: total * w / sum(weights.values()) for b, w in weights.items()}
        if all(want[b] <= SIZES[b] for b in SIZES):  # no bucket held at its size
            for b in SIZES:
                assert abs(result.after[b] - want[b]) < 1, (b, result.after, want)
        assert sum(result.after.values()) == total

    def test_temperature_one_keeps_the_natural_mix_and_none_keeps_everything(self) -> None:
        natural = balance(corpus(SIZES), MixConfig(strategy="temperature", alpha=1.0), seed=0)
        assert natural.after == SIZES
        everything = balance(corpus(SIZES), MixConfig(strategy="none"), seed=0)
        assert everything.after == SIZES and sum(everything.dropped.values()) == 0
        halved = balance(corpus(SIZES), MixConfig(strategy="none", total=300), seed=0)
        assert halved.after == {b: n // 2 for b, n in SIZES.items()}

    def test_temperature_zero_is_uniform(self) -> None:
        a = balance(corpus(SIZES), MixConfig(strategy="temperature", alpha=0.0), seed=3)
        b = balance(corpus(SIZES), MixConfig(strategy="uniform"), seed=3)
        assert a.items == b.items

    def test_proportions(self) -> None:
        cfg = MixConfig(strategy="proportions", proportions={"chat": 0.5, "math": 0.3, "code": 0.2}, total=200)
        result = balance(corpus(SIZES), cfg, seed=0)
        assert result.after == {"chat": 100, "code": 40, "math": 60, "refusal": 0}
        assert result.dropped["refusal"] == 20
        assert any("`refusal`" in note and "no share" in note for note in result.notes)

    def test_cap_fit_cuts_big_buckets_to_their_share_and_keeps_small_ones(self) -> None:
        sizes = {"chat": 300, "code": 100, "math": 20}
        result = balance(corpus(sizes), MixConfig(strategy="uniform"), seed=0)  # fit = "cap" by default
        assert result.after == {"chat": 140, "code": 100, "math": 20}  # 420 / 3 = 140 each at most
        assert result.dropped == {"chat": 160, "code": 0, "math": 0}

    def test_proportions_without_total(self) -> None:
        cfg = MixConfig(strategy="proportions", proportions={"chat": 0.5, "code": 0.5}, fit="smallest")
        assert balance(corpus(SIZES), cfg, seed=0).after == {"chat": 60, "code": 60, "math": 0, "refusal": 0}

    def test_a_small_bucket_gives_its_share_to_the_others(self) -> None:
        result = balance(corpus(SIZES), MixConfig(strategy="uniform", total=200), seed=0)
        assert result.after["refusal"] == 20
        assert sum(result.after.values()) == 200
        assert sorted(result.after[b] for b in ("chat", "code", "math")) == [60, 60, 60]
        assert any("`refusal` is held at 20" in note for note in result.notes)


class TestCapsFloorsUpsampling:
    def test_caps(self) -> None:
        result = balance(corpus(SIZES), MixConfig(strategy="none", caps={"chat": 100}), seed=0)
        assert result.after == {"chat": 100, "code": 60, "math": 120, "refusal": 20}
        capped = balance(corpus(SIZES), MixConfig(strategy="uniform", total=200, caps={"math": 30}), seed=0)
        assert capped.after["math"] == 30 and sum(capped.after.values()) == 200

    def test_floors(self) -> None:
        result = balance(corpus(SIZES), MixConfig(strategy="temperature", alpha=1.0, total=100,
                                                  floors={"refusal": 15}), seed=0)
        assert result.after["refusal"] == 15
        assert sum(result.after.values()) == 100

    def test_no_copies_unless_asked(self) -> None:
        with pytest.raises(MixError, match="lower the floor or set `upsample = true`"):
            balance(corpus(SIZES), MixConfig(strategy="uniform", floors={"refusal": 50}), seed=0)
        with pytest.raises(MixError, match=r"at most 600 records.*`upsample = true`"):
            balance(corpus(SIZES), MixConfig(strategy="uniform", total=1000), seed=0)

    def test_upsampling_to_a_floor_marks_copies(self) -> None:
        items = corpus(SIZES)
        result = balance(items, MixConfig(strategy="uniform", floors={"refusal": 50}, upsample=True, fit="smallest"),
                         seed=0)
        assert result.after["refusal"] == 50 and result.copies["refusal"] == 30
        refusals = [it for it in result.items if it.bucket == "refusal"]
        assert Counter(it.index for it in refusals if not it.is_copy) == Counter(i for i, b, _ in items
                                                                                 if b == "refusal")
        per_record = Counter(it.index for it in refusals)
        assert set(per_record.values()) <= {2, 3}  # copies spread over the records, not piled on a few
        check_accounting(result, items)

    def test_upsampling_with_total(self) -> None:
        items = corpus(SIZES)
        result = balance(items, MixConfig(strategy="uniform", total=400, upsample=True), seed=0)
        assert result.after == {"chat": 100, "code": 100, "math": 100, "refusal": 100}
        assert result.copies == {"chat": 0, "code": 40, "math": 0, "refusal": 80}
        check_accounting(result, items)

    def test_upsample_alone_does_not_inflate_the_total(self) -> None:
        items = corpus({"a": 10, "b": 3})
        result = balance(items, MixConfig(strategy="uniform", upsample=True, fit="smallest"), seed=0)
        assert result.after == {"a": 3, "b": 3} and result.copies == {"a": 0, "b": 0}
        grown = balance(items, MixConfig(strategy="uniform", total=20, upsample=True), seed=0)
        assert grown.after == {"a": 10, "b": 10}
        assert [it.copy for it in grown.items if it.bucket == "b"] == [0, 1, 2, 3, 0, 1, 2, 0, 1, 2]

    def test_down_sampling_keeps_clusters_apart(self) -> None:
        items = corpus({"a": 40}, cluster_size=4)  # 10 clusters of 4
        result = balance(items, MixConfig(strategy="none", total=10), seed=5)
        clusters = Counter(cluster for (index, _, cluster) in items for it in result.items if it.index == index)
        assert len(clusters) == 10 and set(clusters.values()) == {1}


# --- errors ------------------------------------------------------------------------------------


class TestErrors:
    def test_unknown_bucket_in_proportions(self) -> None:
        cfg = MixConfig(strategy="proportions", proportions={"chat": 0.5, "mth": 0.5})
        with pytest.raises(MixError, match=r"`proportions` names unknown bucket\(s\) `mth` \(did you mean `math`\?\)"):
            balance(corpus(SIZES), cfg, seed=0, buckets=[*SIZES, "parallel"])

    def test_share_for_a_bucket_without_records(self) -> None:
        cfg = MixConfig(strategy="proportions", proportions={"chat": 0.5, "parallel": 0.5})
        with pytest.raises(MixError, match=r"gives a share to `parallel`, which has no records.*set the share to 0"):
            balance(corpus(SIZES), cfg, seed=0, buckets=[*SIZES, "parallel"])
        with pytest.raises(MixError, match="`parallel`, which has no records"):  # without the list of buckets
            balance(corpus(SIZES), cfg, seed=0)

    def test_unknown_bucket_in_caps_or_floors(self) -> None:
        with pytest.raises(MixError, match="`caps` names unknown bucket"):
            balance(corpus(SIZES), MixConfig(caps={"nope": 1}), seed=0, buckets=list(SIZES))
        assert balance(corpus(SIZES), MixConfig(caps={"nope": 1}), seed=0).after  # unseen, harmless

    def test_floor_on_an_empty_bucket(self) -> None:
        with pytest.raises(MixError, match="`parallel` has no records, so its floor 3 cannot be met"):
            balance(corpus(SIZES), MixConfig(floors={"parallel": 3}, upsample=True), seed=0,
                    buckets=[*SIZES, "parallel"])

    def test_floors_above_total(self) -> None:
        with pytest.raises(MixError, match="floors add up to 90, above `total` 50"):
            balance(corpus(SIZES), MixConfig(total=50, floors={"chat": 60, "math": 30}), seed=0)

    def test_total_without_records(self) -> None:
        with pytest.raises(MixError, match="no records to mix"):
            balance([], MixConfig(total=10), seed=0)

    def test_duplicate_index(self) -> None:
        with pytest.raises(MixError, match="index 3 is given twice"):
            balance([(3, "a", None), (3, "b", None)], MixConfig(), seed=0)

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"strategy": "proportions"}, "needs `proportions`"),
        ({"strategy": "proportions", "proportions": {"a": 0.5, "b": 0.4}}, "must sum to 1, they sum to 0.9"),
        ({"strategy": "uniform", "proportions": {"a": 1.0}}, "only used with strategy `proportions`"),
        ({"strategy": "proportions", "proportions": {"a": 1.5, "b": -0.5}}, "greater than or equal to 0"),
        ({"caps": {"a": 5}, "floors": {"a": 6}}, "floor 6 is above its cap 5"),
        ({"caps": {"a": -1}}, "greater than or equal to 0"),
    ])
    def test_config_validation(self, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            MixConfig.model_validate(kwargs)

    def test_empty_buckets_are_reported(self) -> None:
        result = balance(corpus(SIZES), MixConfig(strategy="uniform", fit="smallest"), seed=0,
                         buckets=[*SIZES, "parallel"])
        assert result.empty == ["parallel"]
        assert result.before["parallel"] == result.after["parallel"] == 0
        assert "bucket `parallel` has no records" in result.notes
        assert result.after["chat"] == 20  # the empty bucket does not pull the uniform mix to zero

    def test_nothing_to_mix(self) -> None:
        result = balance([], MixConfig(), seed=0, buckets=["a"])
        assert result.items == [] and result.empty == ["a"]


# --- determinism and the accounting invariant --------------------------------------------------


class TestDeterminism:
    def test_same_seed_same_result_other_seed_other_result(self) -> None:
        cfg = MixConfig(strategy="uniform", total=100)
        a = balance(corpus(SIZES), cfg, seed=7)
        assert balance(corpus(SIZES), cfg, seed=7) == a
        assert balance(corpus(SIZES), cfg, seed=8).items != a.items

    def test_input_order_does_not_matter(self) -> None:
        items = corpus(SIZES, cluster_size=3)
        shuffled = items[:]
        random.Random(0).shuffle(shuffled)
        cfg = MixConfig(strategy="temperature", total=150)
        assert balance(shuffled, cfg, seed=2) == balance(items, cfg, seed=2)
        assert balance([MixInput(*it) for it in items], cfg, seed=2) == balance(items, cfg, seed=2)


@st.composite
def mix_case(draw: st.DrawFn) -> tuple[list[tuple[int, str, int | None]], MixConfig]:
    sizes = {name: draw(st.integers(0, 40)) for name in draw(st.lists(st.sampled_from("abcdef"), min_size=1,
                                                                       max_size=5, unique=True))}
    strategy = draw(st.sampled_from(["none", "uniform", "temperature", "proportions"]))
    present = [b for b, n in sizes.items() if n]
    proportions: dict[str, float] = {}
    if strategy == "proportions":
        named = draw(st.lists(st.sampled_from(sorted(sizes)), min_size=1, unique=True))
        weights = [draw(st.integers(0, 5)) for _ in named]
        if sum(weights) == 0:
            weights[0] = 1
        proportions = {b: w / sum(weights) for b, w in zip(named, weights, strict=True)}
        proportions[named[0]] += 1.0 - sum(proportions.values())
    caps = {b: draw(st.integers(0, 50)) for b in draw(st.lists(st.sampled_from(sorted(sizes)), unique=True))}
    floors = {b: draw(st.integers(0, min(caps.get(b, 50), 50)))
              for b in draw(st.lists(st.sampled_from(present or ["a"]), unique=True))}
    cfg = MixConfig(strategy=strategy, alpha=draw(st.floats(0, 1)), proportions=proportions,
                    total=draw(st.sampled_from([0, 0, 1, 10, 50, 200])), caps=caps, floors=floors,
                    upsample=draw(st.booleans()))
    return corpus(sizes, cluster_size=draw(st.integers(1, 4))), cfg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mix_case(), st.integers(0, 3))
def test_accounting_invariant(case: tuple[list[tuple[int, str, int | None]], MixConfig], seed: int) -> None:
    items, cfg = case
    try:
        result = balance(items, cfg, seed=seed)
    except MixError as e:
        assert str(e).startswith("[mix] ")
        return
    check_accounting(result, items)
    for bucket, n in result.after.items():
        assert n <= cfg.caps.get(bucket, n)
        assert n >= cfg.floors.get(bucket, 0)
        if cfg.strategy == "proportions" and not cfg.proportions.get(bucket):
            assert n == cfg.floors.get(bucket, 0)  # left out of the proportions: only its floor
        if not cfg.upsample:
            assert result.copies[bucket] == 0 and n <= result.before[bucket]
    if cfg.total:
        assert sum(result.after.values()) == cfg.total
    assert balance(items, cfg, seed=seed) == result


# --- the mix table -----------------------------------------------------------------------------


def test_format_mix_table() -> None:
    result = balance(corpus(SIZES), MixConfig(strategy="uniform", total=200, upsample=True), seed=0)
    console = Console(width=100, record=True, no_color=True)
    console.print(format_mix_table(result.before, result.after, result.copies))
    text = console.export_text()
    assert "Capability mix" in text
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") > 2}
    assert "66.7%" in lines["chat"] and "25.0%" in lines["chat"]  # 400 of 600, 50 of 200
    assert "  600 " in lines["total"] and "  200 " in lines["total"]
    assert "30" in lines["refusal"].split("│")[-2]  # copies column


# --- the eval split ----------------------------------------------------------------------------


def clustered(sizes: dict[str, int], seed: int = 0) -> list[tuple[int, str, int | None]]:
    """Records with clusters of 1 to 4 members, some spanning two buckets."""
    rng = random.Random(seed)
    items = []
    index = 0
    names = list(sizes)
    for bucket, n in sizes.items():
        for _ in range(n):
            cluster = rng.randrange(n // 2 + 1) if rng.random() < 0.6 else None
            owner = bucket if rng.random() < 0.9 else rng.choice(names)
            items.append((index, bucket, None if cluster is None else hash((owner, cluster)) % 10_000))
            index += 1
    return items


class TestSplit:
    def test_clusters_never_straddle(self) -> None:
        items = clustered({"chat": 200, "code": 50, "math": 80, "refusal": 12})
        train, evals = split_eval(items, SplitConfig(eval_fraction=0.2), seed=0)
        side = {i: "train" for i in train} | {i: "eval" for i in evals}
        assert sorted(train + evals) == sorted(i for i, _, _ in items)
        by_cluster: dict[int, set[str]] = defaultdict(set)
        for index, _, cluster in items:
            if cluster is not None:
                by_cluster[cluster].add(side[index])
        assert all(len(sides) == 1 for sides in by_cluster.values())

    def test_fraction_per_bucket(self) -> None:
        items = corpus({"chat": 200, "code": 50, "math": 80, "refusal": 12})
        train, evals = split_eval(items, SplitConfig(eval_fraction=0.1, eval_min=2), seed=0)
        bucket = {i: b for i, b, _ in items}
        assert Counter(bucket[i] for i in evals) == {"chat": 20, "code": 5, "math": 8, "refusal": 2}
        assert len(train) + len(evals) == len(items)

    def test_minimum_per_bucket_and_never_the_whole_bucket(self) -> None:
        items = corpus({"big": 100, "small": 3, "two": 2, "one": 1})
        train, evals = split_eval(items, SplitConfig(eval_fraction=0.1, eval_min=2), seed=0)
        bucket = {i: b for i, b, _ in items}
        got = Counter(bucket[i] for i in evals)
        assert got["big"] == 10 and got["small"] == 2  # 3 clusters > eval_min: raised to 2
        assert got["two"] <= 1 and got["one"] == 0  # not enough clusters: never the whole bucket
        assert Counter(bucket[i] for i in train)["two"] >= 1

    def test_large_clusters_do_not_overshoot(self) -> None:
        items = [(i, "a", i // 10) for i in range(100)]  # ten clusters of ten
        _, evals = split_eval(items, SplitConfig(eval_fraction=0.15, eval_min=0), seed=0)
        assert len(evals) == 10 and len({i // 10 for i in evals}) == 1

    def test_cluster_goes_with_its_majority_bucket(self) -> None:
        items = [(0, "a", 7), (1, "a", 7), (2, "b", 7)] + [(i, "b", None) for i in range(3, 30)]
        items += [(i, "a", None) for i in range(30, 40)]
        train, evals = split_eval(items, SplitConfig(eval_fraction=0.5, eval_min=0), seed=1)
        side = {i: "t" for i in train} | {i: "e" for i in evals}
        assert side[0] == side[1] == side[2]

    def test_copies_follow_their_original(self) -> None:
        mixed = balance(corpus({"a": 30, "b": 5}), MixConfig(strategy="uniform", upsample=True), seed=0)
        train, evals = split_eval(mixed.items, SplitConfig(eval_fraction=0.2), seed=0)
        assert not set(train) & set(evals)
        assert len(train) + len(evals) == len(mixed.items)
        copied = {it.index for it in mixed.items if it.is_copy}
        on_eval = copied & set(evals)
        assert all(evals.count(i) > 1 for i in on_eval)

    def test_deterministic_and_seeded(self) -> None:
        items = clustered({"chat": 200, "code": 50, "math": 80})
        shuffled = items[:]
        random.Random(1).shuffle(shuffled)
        cfg = SplitConfig(eval_fraction=0.2)
        assert split_eval(items, cfg, seed=3) == split_eval(shuffled, cfg, seed=3)
        assert split_eval(items, cfg, seed=3) != split_eval(items, cfg, seed=4)

    def test_no_eval(self) -> None:
        items = corpus({"a": 10})
        assert split_eval(items, SplitConfig(eval_fraction=0.0), seed=0) == (list(range(10)), [])

    def test_conflicting_rows(self) -> None:
        with pytest.raises(MixError, match="record 1 is given with two different buckets"):
            split_eval([(1, "a", None), (1, "b", None)], SplitConfig(), seed=0)

    @settings(max_examples=100, deadline=None)
    @given(st.dictionaries(st.sampled_from("abcde"), st.integers(1, 60), min_size=1), st.integers(0, 5),
           st.floats(0.01, 0.9), st.integers(0, 4))
    def test_split_properties(self, sizes: dict[str, int], seed: int, fraction: float, eval_min: int) -> None:
        items = clustered(sizes, seed)
        train, evals = split_eval(items, SplitConfig(eval_fraction=fraction, eval_min=eval_min), seed=seed)
        assert sorted(train + evals) == sorted(i for i, _, _ in items)
        side = {i: 0 for i in train} | {i: 1 for i in evals}
        by_cluster: dict[int, set[int]] = defaultdict(set)
        for index, _, cluster in items:
            if cluster is not None:
                by_cluster[cluster].add(side[index])
        assert all(len(s) == 1 for s in by_cluster.values())
        assert train  # never everything in eval


def test_mix_item_is_copy() -> None:
    assert MixItem(3, "a").is_copy is False and MixItem(3, "a", copy=2).is_copy is True
