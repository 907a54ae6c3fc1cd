"""Step 1 of `curate build`, the lint gate: every record read counted with its findings, the cross-record rules
decided in input order, ids made unique, and the records without errors passed on (`GatedRecord`)."""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from curate.build.raw import column
from curate.manifest import StageCount
from curate.records import Finding, Trajectory
from curate.tally import unreadable_reason


@dataclass
class GatedRecord:
    """One record past the lint gate, by its raw row: what the global stages need, never the record."""

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
                 unreadable: Counter[str] | None = None) -> list[GatedRecord]:
    """Count every record read and its findings, and pass the readable ones without errors, in input order.

    The workers linted each record alone; the cross-record rules (`RunLint`) are decided here, so the
    counts equal one `curate lint` run's. Ids are made unique here too, in the same order. `unreadable`
    counts the unreadable records by reason (`curate.tally.unreadable_reason` of their RS001 or RS002 finding).
    """
    from curate.rules import all_rules

    errors = frozenset(code for code, rule in all_rules().items() if rule.severity == "error")
    cols = {name: column(facts, name).to_pylist() for name in
            ("readable", "processed", "linted", "record_id", "fallback_id")}
    sources = column(facts, "source").to_numpy().tolist()
    lines = column(facts, "line").to_numpy().tolist()
    run = RunLint(tools)
    seen_ids: set[str] = set()
    gated: list[GatedRecord] = []
    read = stage["read"]
    gate = stage["lint"]
    for row in range(len(lines)):
        read.records_in += 1
        readable = cols["readable"][row]
        rid = cols["record_id"][row]
        findings = run.findings(paths[sources[row]], lines[row], cols["linted"][row], rid, readable)
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
        if not cols["processed"][row]:  # the workers gate on a subset of these findings: never happens
            raise RuntimeError(f"record #{row} passed the lint gate but was not processed (a bug)")
        gate.records_out += 1
        name = unique_name(rid if rid is not None else cols["fallback_id"][row], seen_ids)
        gated.append(GatedRecord(row, name, len(codes) - n_errors))
    return gated


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

