"""Balancing the capability mix, and the train/eval split.

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

`split_eval(items, cfg, seed)` puts whole near-duplicate clusters on one side, stratified by bucket;
see its docstring.
"""

from __future__ import annotations

import difflib
import math
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from curate.buildconfig import MixConfig, SplitConfig

if TYPE_CHECKING:
    from rich.table import Table


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
class MixResult:
    """What `balance` chose, and the mix before and after."""

    items: list[MixItem]
    """Selected records and copies, sorted by (index, copy)."""
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


Item = MixInput | MixItem | tuple[Any, ...]


# --- balancing ---------------------------------------------------------------------------------


def balance(items: Iterable[Item], cfg: MixConfig | None = None, seed: int = 0,
            buckets: Sequence[str] | None = None) -> MixResult:
    """Choose the records (and copies) that give the mix `cfg` asks for; see the module docstring.

    `items` are `(index, bucket, cluster_id)` triples (or `MixInput`s); indices must be unique.
    `buckets` lists every bucket name that may occur (e.g. `Bucketer.buckets`) so that empty buckets
    are reported and misspelt names in `cfg` are caught; without it, the buckets seen are the known
    ones. Raises `MixError` for targets that cannot be met.
    """
    cfg = cfg or MixConfig()
    records = _normalise(items)
    by_bucket: dict[str, list[MixInput]] = defaultdict(list)
    for r in records:
        by_bucket[r.bucket].append(r)
    known = sorted(set(buckets or ()) | set(by_bucket))
    sizes = {b: len(by_bucket.get(b, ())) for b in known}
    _check_names(cfg, known, sizes, explicit=buckets is not None)

    empty = [b for b in known if sizes[b] == 0]
    notes = [f"bucket `{b}` has no records" for b in empty]
    shares = _shares(cfg, sizes)
    notes += [f"bucket `{b}` ({sizes[b]} records) has no share under `proportions`: all dropped"
              for b in known if sizes[b] and shares.get(b, 0.0) == 0.0 and not cfg.floors.get(b)]
    counts = _counts(cfg, sizes, shares, notes)

    chosen: list[MixItem] = []
    copies: dict[str, int] = {}
    for b in known:
        members = by_bucket.get(b, [])
        picked = _pick(members, counts.get(b, 0), random.Random(f"mix:{seed}:{b}"))
        chosen += picked
        copies[b] = sum(1 for it in picked if it.is_copy)
    chosen.sort(key=lambda it: (it.index, it.copy))
    after = Counter(it.bucket for it in chosen)
    kept = Counter(it.bucket for it in chosen if not it.is_copy)
    return MixResult(
        items=chosen,
        before=sizes,
        after={b: after.get(b, 0) for b in known},
        copies=copies,
        dropped={b: sizes[b] - kept.get(b, 0) for b in known},
        shares={b: shares.get(b, 0.0) for b in known},
        empty=empty,
        notes=notes,
    )


def _normalise(items: Iterable[Item]) -> list[MixInput]:
    out: list[MixInput] = []
    seen: set[int] = set()
    for it in items:
        if isinstance(it, MixItem):
            if it.is_copy:
                raise MixError(f"record {it.index}: balance takes records, not copies (copy {it.copy})")
            r = MixInput(it.index, it.bucket, it.cluster_id)
        else:
            r = MixInput(*it)
        if r.index in seen:
            raise MixError(f"record index {r.index} is given twice: indices must be unique")
        seen.add(r.index)
        out.append(r)
    out.sort(key=lambda r: r.index)
    return out


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


def _pick(members: list[MixInput], n: int, rng: random.Random) -> list[MixItem]:
    """`n` records of one bucket: round-robin over shuffled clusters, repeated (as copies) if n > len."""
    if n <= 0 or not members:
        return []
    clusters: dict[tuple[int, str], list[MixInput]] = defaultdict(list)
    for r in members:  # members are sorted by index, so each cluster's list is too
        clusters[_cluster_key(r)].append(r)
    keys = sorted(clusters)
    rng.shuffle(keys)
    queues = []
    for k in keys:
        group = clusters[k]
        rng.shuffle(group)
        queues.append(group)
    order: list[MixInput] = []
    depth = 0
    while queues:  # one member of each cluster per pass; exhausted clusters leave, so linear time
        order += [q[depth] for q in queues]
        depth += 1
        queues = [q for q in queues if len(q) > depth]
    out = [MixItem(r.index, r.bucket, r.cluster_id) for r in order[:n]]
    for k in range(n - len(members)):  # up-sampling: whole passes over the same order
        r = order[k % len(order)]
        out.append(MixItem(r.index, r.bucket, r.cluster_id, copy=k // len(order) + 1))
    return out


def _cluster_key(r: MixInput) -> tuple[int, str]:
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


# --- the eval split ----------------------------------------------------------------------------


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
        key = _cluster_key(MixInput(index, bucket, cluster))
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
