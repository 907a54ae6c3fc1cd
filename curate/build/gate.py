"""Step 1 of `curate build`, the lint gate: every record read counted with its findings, the cross-record rules
decided in input order, ids made unique, and the records without errors passed on (`GatedRecords`: columns)."""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.build.raw import BATCH_SIZE, release_pages
from curate.manifest import StageCount
from curate.records import Finding, Trajectory
from curate.tally import unreadable_reason


@dataclass
class GatedRecord:
    """One record past the lint gate, by its raw row: what the global stages need, never the record.

    A view of one entry of `GatedRecords`, made when asked for (the build holds the columns, not these)."""

    row: int
    """Its row among all records read (input order); the record is read back from it at export."""
    id: str
    """Its id in the output (`unique_name`): its own, or `FILE-LINE`, `~N` added when repeated."""
    warnings: int
    bucket: str = ""
    signals: list[str] = field(default_factory=list)
    tokens: int = 0
    length_bucket: str = ""
    cluster: int = -1


@dataclass
class Labels:
    """A column of few distinct values (bucket names, signal lists) as a code per record and the values once."""

    codes: np.ndarray
    values: list[Any]

    @classmethod
    def of(cls, items: Iterable[Hashable], n: int) -> Labels:
        index: dict[Hashable, int] = {}
        codes = np.fromiter((index.setdefault(v, len(index)) for v in items), dtype=np.int32, count=n)
        return cls(codes, list(index))

    @classmethod
    def empty(cls, n: int, value: Any) -> Labels:
        return cls(np.zeros(n, dtype=np.int32), [value])

    def __getitem__(self, i: int) -> Any:
        return self.values[self.codes[i]]

    def take(self, positions: np.ndarray) -> Labels:
        return Labels(self.codes[positions], self.values)

    def tolist(self) -> list[Any]:
        return [self.values[c] for c in self.codes.tolist()]


@dataclass
class GatedRecords:
    """The records past the lint gate, as columns (a few bytes each per record, not an object): position i is one
    record, in input order as the gate passes them, or in the order `take` gives.

    `rows` are their raw rows, `ids` their ids in the output (a pyarrow string array), `warnings` their lint
    warnings; the later steps fill `tokens`, `bucket`, `signals`, `length_bucket` (`Labels`) and `cluster`.
    `records()` (or iterating) gives a `GatedRecord` per position, made as it is read."""

    rows: np.ndarray
    ids: Any
    warnings: np.ndarray
    tokens: np.ndarray
    bucket: Labels
    signals: Labels
    length_bucket: Labels
    cluster: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[int], ids: Sequence[str], warnings: Sequence[int]) -> GatedRecords:
        import pyarrow as pa

        n = len(rows)
        return cls(np.asarray(rows, dtype=np.int64), pa.array(ids, type=pa.large_string()),
                   np.asarray(warnings, dtype=np.int32), np.zeros(n, dtype=np.int64), Labels.empty(n, ""),
                   Labels.empty(n, ()), Labels.empty(n, ""), np.full(n, -1, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: np.ndarray | Sequence[int]) -> GatedRecords:
        """The records at `positions`, in that order."""
        import pyarrow as pa

        pos = np.asarray(positions, dtype=np.int64)
        return GatedRecords(self.rows[pos], self.ids.take(pa.array(pos, type=pa.int64())), self.warnings[pos],
                            self.tokens[pos], self.bucket.take(pos), self.signals.take(pos),
                            self.length_bucket.take(pos), self.cluster[pos])

    def __getitem__(self, i: int) -> GatedRecord:
        return self._record(int(i), self.ids[int(i)].as_py())

    def _record(self, i: int, rid: str) -> GatedRecord:
        return GatedRecord(int(self.rows[i]), rid, int(self.warnings[i]), self.bucket[i], list(self.signals[i]),
                           int(self.tokens[i]), self.length_bucket[i], int(self.cluster[i]))

    def records(self, positions: Sequence[int] | np.ndarray | None = None,
                chunk: int = BATCH_SIZE) -> Iterator[GatedRecord]:
        """The records at `positions` (default: all, in order), `chunk` ids turned into Python at a time."""
        import pyarrow as pa

        pos = np.arange(len(self)) if positions is None else np.asarray(positions, dtype=np.int64)
        for start in range(0, len(pos), chunk):
            part = pos[start:start + chunk]
            ids = self.ids.take(pa.array(part, type=pa.int64())).to_pylist()
            for i, rid in zip(part.tolist(), ids, strict=True):
                yield self._record(i, rid)

    def __iter__(self) -> Iterator[GatedRecord]:
        return self.records()


class RunLint:
    """The lint gate's lint half: each record's findings completed in input order by `Linter.finish`, exactly as
    `curate lint` and `curate lint --jobs` complete them, so the build counts what one lint run reports.

    The workers ran `Linter.lint_alone` on each record and kept its result in the record facts (`linted`,
    absent for a clean record that no cross-record rule observed); every cross-record rule (`CrossRecordRule`)
    is decided here by the one decider, `curate.lint.CrossRecordRules`, whatever rules are registered.
    """

    def __init__(self, tools: Sequence[dict[str, Any]] = ()) -> None:
        from curate.lint import Linter

        self.linter = Linter(tools)

    def findings(self, path: str, line: int, linted: bytes | None, record_id: str | None,
                 readable: bool) -> list[Finding]:
        """Every finding of the next record in input order."""
        from curate.lint import LintedRecord

        # the workers' own pickles, from this run's work folder
        done = pickle.loads(linted) if linted is not None else LintedRecord([], {}, record_id, readable, None)
        return self.linter.finish(path, line, done)


def gate_records(facts: Any, paths: Sequence[str], keep_invalid: bool, stage: dict[str, StageCount],
                 lint_counts: Counter[str], tools: Sequence[dict[str, Any]] = (),
                 unreadable: Counter[str] | None = None) -> GatedRecords:
    """Count every record read and its findings, and pass the readable ones without errors, in input order.

    The workers linted each record alone; the cross-record rules (`RunLint`) are decided here, so the
    counts equal one `curate lint` run's. Ids are made unique here too, in the same order. `unreadable`
    counts the unreadable records by reason (`curate.tally.unreadable_reason` of their RS001 or RS002 finding).
    """
    from curate.rules import all_rules

    errors = frozenset(code for code, rule in all_rules().items() if rule.severity == "error")
    run = RunLint(tools)
    seen_ids: set[str] = set()
    rows: list[int] = []
    names: list[str] = []
    warnings: list[int] = []
    read = stage["read"]
    gate = stage["lint"]
    names_read = ("source", "line", "readable", "processed", "linted", "record_id", "fallback_id")
    start = 0
    for batch in facts.data.table.select(list(names_read)).to_batches(max_chunksize=BATCH_SIZE):
        # a batch of the columns in Python at a time, not whole columns; its file pages released once read
        cols = {name: batch.column(name).to_pylist() for name in names_read}
        release_pages(batch.columns)
        for j, (source, line, readable, rid) in enumerate(zip(cols["source"], cols["line"], cols["readable"],
                                                              cols["record_id"], strict=True)):
            row = start + j
            read.records_in += 1
            findings = run.findings(paths[source], line, cols["linted"][j], rid, readable)
            codes = [f.code for f in findings]
            lint_counts.update(codes)
            if not readable:
                read.dropped["unreadable"] = read.dropped.get("unreadable", 0) + 1
                if unreadable is not None:
                    why = next((f for f in findings if f.code in ("RS001", "RS002")), None)
                    unreadable[unreadable_reason(why.code, why.message) if why is not None else "unreadable"] += 1
                continue
            read.records_out += 1
            gate.records_in += 1
            n_errors = sum(code in errors for code in codes)
            if n_errors and not keep_invalid:
                gate.dropped["lint_error"] = gate.dropped.get("lint_error", 0) + 1
                continue
            if not cols["processed"][j]:  # the workers gate on a subset of these findings: never happens
                raise RuntimeError(f"record #{row} passed the lint gate but was not processed (a bug)")
            gate.records_out += 1
            rows.append(row)
            names.append(unique_name(rid if rid is not None else cols["fallback_id"][j], seen_ids))
            warnings.append(len(codes) - n_errors)
        start += batch.num_rows
    del seen_ids
    return GatedRecords.of(rows, names, warnings)


def unique_name(rid: str, seen: set[str]) -> str:
    """`rid`, or `rid~2`, `rid~3`, … if taken: the first free one, which is then taken."""
    new, n = rid, 1
    while new in seen:
        n += 1
        new = f"{rid}~{n}"
    seen.add(new)
    return new


def with_id(record: Trajectory, new: str) -> Trajectory:
    """The record under id `new`; a changed id keeps the one it had in `meta.original_id`."""
    if new == record.id:
        return record
    meta = {**(record.meta or {}), "original_id": record.id}
    return record.model_copy(update={"id": new, "meta": meta})

