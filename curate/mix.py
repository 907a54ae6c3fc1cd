"""Balancing the capability mix: how many records of each capability bucket go out, and which.

`balance(items, cfg, seed)` takes `(index, bucket, cluster_id)` triples and picks how many records of
each bucket go out, and which:

1. **Shares.** `uniform`: the same share for every bucket with records; `temperature`: p ∝ n^alpha
   (alpha = 1 keeps the natural mix, 0 is uniform); `none`: the natural mix (alpha = 1);
   `proportions`: the shares given (buckets left out get none).
2. **Counts.** With `total > 0`, `total` records are shared out by those shares, within each bucket's
   bounds: at least its floor, at most its cap and, without `upsample`, at most the records it has. A
   bucket held at a bound keeps it and its share goes to the others, so the total is met whenever the
   bounds allow it. With `total = 0` and `fit = "cap"` (the default), each bucket is cut to its share of
   all the records and smaller buckets stay whole: the mix moves toward the target without dropping
   more than that takes. With `fit = "smallest"`, the total is the largest one at which every bucket's
   share fits in the records it has (the smallest bucket relative to its share sets it), so the shares
   hold exactly. Either way caps then cut (without shrinking the other buckets) and floors raise.
   So with `total = 0` records are copied only to reach a floor, even with `upsample`: to up-sample
   small buckets to their shares, set `total`. Counts are whole numbers by the largest-remainder method.
3. **Records.** Within a bucket, records are taken round-robin over near-duplicate clusters in a
   seeded random order, so down-sampling drops the second member of a cluster before any singleton.
   A bucket that needs more records than it has (only with `upsample`) keeps all of them and repeats
   them in the same order; every copy is marked (`MixItem.copy > 0`).

Every input record is accounted for: `before[b] == after[b] - copies[b] + dropped[b]`. Targets that
cannot be met raise `MixError` saying what and how to fix it. Everything is seeded: a bucket's draw
depends only on the seed, the bucket's name and its members, not on input order.

The split that follows, train/eval, is `curate.split`.
"""

from __future__ import annotations

import difflib
import math
import random
from array import array
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from pydantic import Field, NonNegativeFloat, NonNegativeInt, model_validator

from curate.config import ConfigSection

if TYPE_CHECKING:
    from rich.table import Table


MAX_UPSAMPLED_RECORDS = 10_000_000
"""With `upsample`, the most records `total` and the floors may ask for: every copy is made in memory."""


class MixConfig(ConfigSection):
    """`[mix]` of a build config: how `balance` shares records out among capability buckets."""

    strategy: Literal["none", "uniform", "proportions", "temperature"] = "temperature"
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    proportions: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    total: int = Field(0, ge=0)
    fit: Literal["cap", "smallest"] = Field(
        "cap", description="with total = 0: `cap` down-samples each bucket to its share of all records and "
        "keeps smaller buckets whole (the mix moves toward the target without discarding more than needed); "
        "`smallest` keeps the exact shares, the smallest bucket relative to its share setting the total")
    caps: dict[str, NonNegativeInt] = Field(default_factory=dict)
    floors: dict[str, NonNegativeInt] = Field(default_factory=dict)
    upsample: bool = False

    @model_validator(mode="after")
    def _check(self) -> MixConfig:
        if self.strategy == "proportions":
            if not self.proportions:
                raise ValueError("strategy `proportions` needs `proportions` (bucket -> share)")
            total = sum(self.proportions.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"`proportions` must sum to 1, they sum to {total:g}")
        elif self.proportions:
            raise ValueError(f"`proportions` is only used with strategy `proportions`, not `{self.strategy}`: "
                             "set `strategy = \"proportions\"` or remove `proportions`")
        for name, cap in self.caps.items():
            if name in self.floors and self.floors[name] > cap:
                raise ValueError(f"bucket `{name}`: floor {self.floors[name]} is above its cap {cap}")
        if self.upsample:  # copies are made in memory: bound what `total` and the floors can ask for
            if self.total > MAX_UPSAMPLED_RECORDS:
                raise ValueError(f"`total` is {self.total:,}; with `upsample = true` it must be from 0 to "
                                 f"{MAX_UPSAMPLED_RECORDS:,}")
            floors = sum(self.floors.values())
            if floors > MAX_UPSAMPLED_RECORDS:
                raise ValueError(f"`floors` add up to {floors:,}; with `upsample = true` they must add up to at "
                                 f"most {MAX_UPSAMPLED_RECORDS:,}")
        return self


class MixError(ValueError):
    """Mix targets that cannot be met, or name buckets that do not exist; says what to change."""


class MixInput(NamedTuple):
    """One record to balance: its index in the corpus, its capability bucket, its near-dup cluster."""

    index: int
    bucket: str
    cluster_id: Hashable | None = None
    """Records with equal ids are near duplicates; None: a cluster of its own."""


@dataclass(frozen=True, slots=True)
class MixItem:
    """One record out of `balance`: `copy` is 0 for the record itself, k for its k-th extra copy."""

    index: int
    bucket: str
    cluster_id: Hashable | None = None
    copy: int = 0

    @property
    def is_copy(self) -> bool:
        """True for an up-sampled copy of record `index`."""
        return self.copy > 0


@dataclass(slots=True)
class MixColumns:
    """Records to balance or split as columns: position k is one record (or, for the split, a copy of one).

    `index`: the record's index in the corpus; `bucket`: codes into `names` (sorted, so code order is name
    order); `cluster`: each record's near-dup cluster as its rank in `cluster_key` order (equal ranks: one
    cluster); `cluster_id`: the ids as given (what `MixItem.cluster_id` shows). The build passes numpy
    columns (`MixColumns.of_arrays`); `MixColumns.of_items` reads the triples of the list API."""

    index: np.ndarray
    bucket: np.ndarray
    names: list[str]
    cluster: np.ndarray
    cluster_id: Any

    @classmethod
    def of_items(cls, items: Iterable[Item], names: Iterable[str] = ()) -> MixColumns:
        rows = [(it.index, it.bucket, it.cluster_id) if isinstance(it, MixInput | MixItem) else tuple(MixInput(*it))
                for it in items]
        index = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        known = sorted(set(names) | {r[1] for r in rows})
        code = {b: k for k, b in enumerate(known)}
        bucket = np.fromiter((code[r[1]] for r in rows), dtype=np.int32, count=len(rows))
        keys = [cluster_key(MixInput(*r)) for r in rows]
        rank = {k: i for i, k in enumerate(sorted(set(keys)))}
        cluster = np.fromiter((rank[k] for k in keys), dtype=np.int64, count=len(rows))
        ids = np.empty(len(rows), dtype=object)
        ids[:] = [r[2] for r in rows]
        return cls(index, bucket, known, cluster, ids)

    @classmethod
    def of_arrays(cls, index: np.ndarray, bucket: np.ndarray, names: Sequence[str], cluster_id: np.ndarray,
                  known: Iterable[str] = ()) -> MixColumns:
        """Columns from numpy arrays: `bucket` codes into `names`; `cluster_id` non-negative integers, ranked
        in `cluster_key` order (by their decimal text) without making a string per record."""
        allnames = sorted(set(names) | set(known))
        remap = np.array([allnames.index(b) for b in names], dtype=np.int32)
        ids = np.asarray(cluster_id, dtype=np.int64)
        if len(ids) and ids.min() < 0:
            raise ValueError("cluster ids must be non-negative integers")
        uniq, inverse = np.unique(ids, return_inverse=True)
        digits = np.ones(len(uniq), dtype=np.int64)
        for power in range(1, 19):
            digits += uniq >= 10 ** power
        width = int(digits.max()) if len(uniq) else 1
        scaled = uniq * (np.int64(10) ** (width - digits))  # "12" < "3": compare the digits left-aligned, then length
        order = np.lexsort((digits, scaled))
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[order] = np.arange(len(uniq))
        return cls(np.asarray(index, dtype=np.int64), remap[np.asarray(bucket, dtype=np.int64)], allnames,
                   rank[inverse.reshape(-1)], ids)


@dataclass(slots=True, eq=False)
class MixResult:
    """What `balance` chose, and the mix before and after."""

    index: np.ndarray
    """Selected records and copies, sorted by (index, copy): each one's index in the corpus."""
    copy: np.ndarray
    """0 for the record itself, k for its k-th extra copy (aligned with `index`)."""
    bucket: np.ndarray
    """Each selected item's bucket, as a code into `names`."""
    names: list[str]
    cluster: np.ndarray
    """Each selected item's cluster rank (`MixColumns.cluster`)."""
    cluster_id: Any
    """Each selected item's cluster id as given."""
    before: dict[str, int]
    """Records per bucket in the input (every known bucket, empty ones with 0)."""
    after: dict[str, int]
    """Records per bucket out, copies included."""
    copies: dict[str, int]
    dropped: dict[str, int]
    """Records per bucket left out by balancing."""
    shares: dict[str, float]
    """The target share of each bucket (before bounds and rounding)."""
    empty: list[str] = field(default_factory=list)
    """Known buckets with no records (reported, not an error)."""
    notes: list[str] = field(default_factory=list)
    """What a person should know: empty buckets, buckets held at a bound, buckets left out."""

    @property
    def items(self) -> list[MixItem]:
        """The selected records and copies as `MixItem`s, sorted by (index, copy) (made on each call)."""
        return [MixItem(int(i), self.names[b], c, int(k)) for i, b, c, k in
                zip(self.index.tolist(), self.bucket.tolist(), list(self.cluster_id), self.copy.tolist(), strict=True)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MixResult):
            return NotImplemented
        return (self.items == other.items and self.names == other.names and
                (self.before, self.after, self.copies, self.dropped, self.shares, self.empty, self.notes) ==
                (other.before, other.after, other.copies, other.dropped, other.shares, other.empty, other.notes))

    __hash__ = None  # type: ignore[assignment]

    @property
    def selected(self) -> int:
        """The records selected, copies left out."""
        return int(np.count_nonzero(self.copy == 0))

    def columns(self) -> MixColumns:
        """The selected records and copies as columns, for `curate.split.split_columns`."""
        return MixColumns(self.index, self.bucket, self.names, self.cluster, self.cluster_id)


Item = MixInput | MixItem | tuple[Any, ...]


# --- balancing ---------------------------------------------------------------------------------


def balance(items: Iterable[Item], cfg: MixConfig | None = None, seed: int = 0,
            buckets: Sequence[str] | None = None) -> MixResult:
    """Choose the records (and copies) that give the mix `cfg` asks for; see the module docstring.

    `items` are `(index, bucket, cluster_id)` triples (or `MixInput`s); indices must be unique.
    `buckets` lists every bucket name that may occur (e.g. `Bucketer.buckets`) so that empty buckets
    are reported and misspelt names in `cfg` are caught; without it, the buckets seen are the known
    ones. Raises `MixError` for targets that cannot be met. The build calls `balance_columns` with numpy
    columns; both give the same result.
    """
    listed = list(items)
    for it in listed:
        if isinstance(it, MixItem) and it.is_copy:
            raise MixError(f"record {it.index}: balance takes records, not copies (copy {it.copy})")
    return balance_columns(MixColumns.of_items(listed, buckets or ()), cfg, seed, explicit=buckets is not None)


def balance_columns(cols: MixColumns, cfg: MixConfig | None = None, seed: int = 0,
                    explicit: bool = True) -> MixResult:
    """`balance` on columns (`cols.names`: every known bucket; `explicit`: they are all the buckets there are,
    so names in `cfg` that are not among them are errors). Memory: a few numpy columns, no object per record."""
    cfg = cfg or MixConfig()
    order = np.argsort(cols.index, kind="stable")
    index = cols.index[order]
    if len(index) > 1 and bool((index[1:] == index[:-1]).any()):
        twice = int(index[1:][index[1:] == index[:-1]][0])
        raise MixError(f"record index {twice} is given twice: indices must be unique")
    bucket, cluster = cols.bucket[order], cols.cluster[order]
    known = cols.names
    counts_in = np.bincount(bucket, minlength=len(known)) if len(bucket) else np.zeros(len(known), np.int64)
    sizes = {b: int(counts_in[k]) for k, b in enumerate(known)}
    _check_names(cfg, known, sizes, explicit=explicit)

    empty = [b for b in known if sizes[b] == 0]
    notes = [f"bucket `{b}` has no records" for b in empty]
    shares = _shares(cfg, sizes)
    notes += [f"bucket `{b}` ({sizes[b]} records) has no share under `proportions`: all dropped"
              for b in known if sizes[b] and shares.get(b, 0.0) == 0.0 and not cfg.floors.get(b)]
    counts = _counts(cfg, sizes, shares, notes)

    picked_pos: list[np.ndarray] = [np.empty(0, np.int64)]
    picked_copy: list[np.ndarray] = [np.empty(0, np.int64)]
    copies: dict[str, int] = {}
    for k, b in enumerate(known):
        members = np.flatnonzero(bucket == k)  # positions, by index
        pos, copy = _pick(members, cluster[members], counts.get(b, 0), random.Random(f"mix:{seed}:{b}"))
        picked_pos.append(pos)
        picked_copy.append(copy)
        copies[b] = int(np.count_nonzero(copy))
    pos, copy = np.concatenate(picked_pos), np.concatenate(picked_copy)
    chosen = np.lexsort((copy, index[pos]))
    pos, copy = pos[chosen], copy[chosen]
    out_bucket = bucket[pos]
    after = np.bincount(out_bucket, minlength=len(known)) if len(pos) else np.zeros(len(known), np.int64)
    kept = np.bincount(out_bucket[copy == 0], minlength=len(known)) if len(pos) else np.zeros(len(known), np.int64)
    return MixResult(
        index=index[pos], copy=copy, bucket=out_bucket, names=list(known), cluster=cluster[pos],
        cluster_id=np.asarray(cols.cluster_id)[order][pos],
        before=sizes,
        after={b: int(after[k]) for k, b in enumerate(known)},
        copies=copies,
        dropped={b: sizes[b] - int(kept[k]) for k, b in enumerate(known)},
        shares={b: shares.get(b, 0.0) for b in known},
        empty=empty,
        notes=notes,
    )


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _check_names(cfg: MixConfig, known: list[str], sizes: dict[str, int], explicit: bool) -> None:
    """Buckets named in proportions, caps and floors must exist; a positive share or floor needs records."""
    if explicit:  # without the list of buckets, a name not seen may just have no records this time
        for key, named in (("proportions", cfg.proportions), ("caps", cfg.caps), ("floors", cfg.floors)):
            unknown = [n for n in named if n not in sizes]
            if unknown:
                hints = [f" (did you mean `{m[0]}`?)" if (m := difflib.get_close_matches(n, known, 1)) else ""
                         for n in unknown]
                raise MixError(
                    f"[mix] `{key}` names unknown bucket(s) "
                    + ", ".join(f"`{n}`{h}" for n, h in zip(unknown, hints, strict=True))
                    + f"; the buckets are {_names(known)}"
                )
    if cfg.strategy == "proportions":
        hopeless = [n for n, p in sorted(cfg.proportions.items()) if p > 0 and sizes.get(n, 0) == 0]
        if hopeless:
            raise MixError(
                f"[mix] `proportions` gives a share to {_names(hopeless)}, which "
                f"{'has' if len(hopeless) == 1 else 'have'} no records (is the name right? the buckets with records "
                f"are {_names(b for b in known if sizes[b])}): set the share to 0 and rescale the others to sum to 1"
            )
    for name, floor in sorted(cfg.floors.items()):
        have = sizes.get(name, 0)
        if floor > 0 and have == 0:
            raise MixError(f"[mix] bucket `{name}` has no records, so its floor {floor} cannot be met, "
                           "even by copying: remove the floor")
        if floor > have and not cfg.upsample:
            raise MixError(
                f"[mix] bucket `{name}` has {have} records, below its floor {floor}: lower the floor "
                "or set `upsample = true` to copy records (copies are marked)"
            )


def _shares(cfg: MixConfig, sizes: Mapping[str, int]) -> dict[str, float]:
    """Each bucket's target share, summing to 1 over buckets with records (empty without records)."""
    present = {b: n for b, n in sizes.items() if n > 0}
    if not present:
        return {}
    if cfg.strategy == "proportions":
        return {b: float(cfg.proportions.get(b, 0.0)) for b in present}
    alpha = {"uniform": 0.0, "none": 1.0}.get(cfg.strategy, cfg.alpha)
    weights = {b: float(n) ** alpha for b, n in present.items()}
    total = sum(weights.values())
    return {b: w / total for b, w in weights.items()}


def _counts(cfg: MixConfig, sizes: Mapping[str, int], shares: Mapping[str, float], notes: list[str]) -> dict[str, int]:
    """Records out per bucket: shares of the total, within floors, caps and (without upsample) sizes."""
    names = sorted(b for b in sizes if sizes[b] > 0)
    lo = {b: cfg.floors.get(b, 0) for b in names}
    cap = {b: cfg.caps.get(b, math.inf) for b in names}
    hi = {b: cap[b] if cfg.upsample else min(cap[b], sizes[b]) for b in names}
    for b in names:
        if shares.get(b, 0.0) == 0.0:  # left out of `proportions`: only its floor, if any
            hi[b] = lo[b]
    if cfg.total > 0:
        if not names:
            raise MixError(f"[mix] `total` is {cfg.total} but there are no records to mix")
        room, floors = sum(hi.values()), sum(lo.values())
        if room < cfg.total:
            what = ("the caps allow" if cfg.upsample else
                    "the buckets have" + (" within their caps" if cfg.caps else ""))
            raise MixError(
                f"[mix] `total` is {cfg.total} but {what} at most {room:g} records: lower `total`"
                + (", raise `caps`" if cfg.caps else "") + ("" if cfg.upsample else " or set `upsample = true`")
            )
        if floors > cfg.total:
            raise MixError(f"[mix] the floors add up to {floors}, above `total` {cfg.total}: lower the floors "
                           "or raise `total`")
        exact = _fill(float(cfg.total), shares, lo, hi, names)
        counts = _round(exact, cfg.total, hi)
    else:
        # The largest total at which each share fits in what its bucket has. Caps cut afterwards and
        # do not shrink the others; `upsample` alone never inflates the total (only floors copy).
        if cfg.fit == "cap":  # each bucket at most its share of everything; smaller buckets stay whole
            total = float(sum(sizes[b] for b in names))
        else:
            ratios = [sizes[b] / shares[b] for b in names if shares.get(b, 0.0) > 0]
            total = min(ratios, default=0.0)
        exact = {b: min(max(total * shares.get(b, 0.0), lo[b]), hi[b]) for b in names}
        counts = _round(exact, round(sum(exact.values())), hi)
    for b in names:
        wanted = (cfg.total or 0) * shares.get(b, 0.0)
        if cfg.total and counts[b] == hi[b] and wanted > hi[b] + 0.5:
            why = "its cap" if hi[b] == cap[b] else "all its records"
            notes.append(f"bucket `{b}` is held at {counts[b]} ({why}) below its share of {wanted:.0f}; "
                         "the other buckets got the rest")
        elif cfg.total and counts[b] == lo[b] and lo[b] > wanted + 0.5:
            notes.append(f"bucket `{b}` is raised to its floor {lo[b]} above its share of {wanted:.0f}")
    return counts


def _fill(total: float, shares: Mapping[str, float], lo: Mapping[str, float], hi: Mapping[str, float],
          names: list[str]) -> dict[str, float]:
    """Share `total` out in proportion to `shares`, each within [lo, hi]; bounds hold, the rest re-shares.

    The classic iteration: allocate the free buckets in proportion, then fix the side (over or under)
    whose violations are larger, until nothing is out of bounds. Callers ensure sum(lo) <= total <= sum(hi).
    """
    fixed: dict[str, float] = {}
    free = list(names)
    while True:
        left = total - sum(fixed.values())
        weight = sum(shares.get(b, 0.0) for b in free)
        if weight <= 0:  # only buckets without a share are left: they hold their floors
            return {**fixed, **{b: lo[b] for b in free}}
        x = {b: left * shares.get(b, 0.0) / weight for b in free}
        over = {b: x[b] - hi[b] for b in free if x[b] > hi[b] + 1e-9}
        under = {b: lo[b] - x[b] for b in free if x[b] < lo[b] - 1e-9}
        if not over and not under:
            return {**fixed, **x}
        excess, deficit = sum(over.values()), sum(under.values())
        if excess >= deficit:
            fixed.update({b: hi[b] for b in over})
        if deficit >= excess:
            fixed.update({b: lo[b] for b in under})
        free = [b for b in free if b not in fixed]
        if not free:
            return fixed


def _round(exact: Mapping[str, float], total: int, hi: Mapping[str, float]) -> dict[str, int]:
    """Whole counts summing to `total`: floors first, then +1 by largest remainder (ties by name)."""
    counts = {b: math.floor(x + 1e-9) for b, x in exact.items()}
    short = total - sum(counts.values())
    order = sorted(exact, key=lambda b: (-(exact[b] - counts[b]), b))
    for b in order:
        if short <= 0:
            break
        if counts[b] + 1 <= hi[b]:
            counts[b] += 1
            short -= 1
    return counts


def _pick(members: np.ndarray, cluster: np.ndarray, n: int, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """`n` records of one bucket (`members`: positions by index, `cluster`: their cluster ranks): round-robin
    over shuffled clusters, repeated (as copies) if n > len. Returns (positions, copy numbers).

    The draw: the bucket's clusters in `cluster_key` order are shuffled, then each cluster's members (by index),
    cluster by cluster in the shuffled order; the order taken is every cluster's first member in cluster order,
    then every second member, and so on. `random.shuffle` draws depend on the length alone, so shuffling
    positions instead of the records themselves gives the same draw."""
    none = np.empty(0, np.int64)
    if n <= 0 or not len(members):
        return none, none
    keys, inverse, size = np.unique(cluster, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    shuffled = array("q", range(len(keys)))
    rng.shuffle(shuffled)
    slot = np.empty(len(keys), dtype=np.int64)  # each cluster's place in the shuffled order
    slot[np.frombuffer(shuffled, dtype=np.int64)] = np.arange(len(keys))
    depth = np.zeros(len(members), dtype=np.int64)
    groups = np.flatnonzero(size > 1)
    if len(groups):
        by_cluster = np.argsort(inverse, kind="stable")  # members of each cluster together, by index
        starts = np.concatenate(([0], np.cumsum(size)[:-1]))
        for g in groups[np.argsort(slot[groups])].tolist():  # in the shuffled order, as the draws were made
            group = array("q", range(int(size[g])))
            rng.shuffle(group)
            depth[by_cluster[starts[g] + np.frombuffer(group, dtype=np.int64)]] = np.arange(int(size[g]))
    order = members[np.lexsort((slot[inverse], depth))]
    taken = order[:n]
    extra = max(0, n - len(members))
    k = np.arange(extra, dtype=np.int64)  # up-sampling: whole passes over the same order
    return (np.concatenate((taken, order[k % len(order)])),
            np.concatenate((np.zeros(len(taken), np.int64), k // len(order) + 1)))


def cluster_key(r: MixInput) -> tuple[int, str]:
    """A sortable key for a record's cluster: its id as text, or the record itself when it has none."""
    return (1, str(r.index)) if r.cluster_id is None else (0, str(r.cluster_id))


def format_mix_table(before: Mapping[str, int], after: Mapping[str, int],
                     copies: Mapping[str, int] | None = None, title: str = "Capability mix") -> Table:
    """A rich table of records and shares per bucket, before and after balancing (copies shown if given).

    Bucket names come from build configs: they are shown with control characters escaped, Rich markup
    taken literally, and shortened to `NAME_LIMIT`."""
    from rich.table import Table

    from curate.terminal import NAME_LIMIT, markup

    table = Table(title=title)
    table.add_column("bucket")
    table.add_column("before", justify="right")
    table.add_column("share", justify="right")
    table.add_column("after", justify="right")
    table.add_column("share", justify="right")
    if copies is not None:
        table.add_column("copies", justify="right")
    n_before, n_after = sum(before.values()), sum(after.values())
    for b in sorted(set(before) | set(after), key=lambda b: (-after.get(b, 0), -before.get(b, 0), b)):
        x, y = before.get(b, 0), after.get(b, 0)
        row = [markup(b, NAME_LIMIT), f"{x:,}", _pct(x, n_before), f"{y:,}", _pct(y, n_after)]
        if copies is not None:
            row.append(f"{copies.get(b, 0):,}")
        table.add_row(*row)
    total = ["total", f"{n_before:,}", _pct(n_before, n_before), f"{n_after:,}", _pct(n_after, n_after)]
    if copies is not None:
        total.append(f"{sum(copies.values()):,}")
    table.add_section()
    table.add_row(*total, style="bold")
    return table


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"
