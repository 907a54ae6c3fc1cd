"""Step 1 of `curate build`, the lint gate: every record read counted with its findings, the cross-record rules
decided in input order, ids made unique, and the records without errors passed on (`GatedRecord`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from curate.build.facts import CROSS_RECORD_RULES
from curate.build.raw import column
from curate.manifest import StageCount
from curate.records import Trajectory


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
    """The lint gate's cross-record half: every cross-record rule, decided in input order on the facts by the
    decider `curate lint` uses (`curate.lint.CrossRecordRules`), so the build counts what one lint run reports.

    The workers leave `CROSS_RECORD_RULES` out and keep what those rules observe of each readable record in
    the facts: RS004 needs only the record's id and place; TS001's observation is the `ts001` and
    `ts001_external` columns (`Worker.tool_schema_keys`). A rule declared cross-record that the workers would
    run per batch, or whose observation the facts lack, cannot be decided here: `RunLint()` raises at once.
    """

    OBSERVED = ("TS001",)
    """The cross-record rules whose observations the facts carry."""

    def __init__(self) -> None:
        from curate.lint import CrossRecordRules
        from curate.rules import all_rules
        from curate.rules.base import RecordContext
        from curate.rules.TS001 import SchemaProblems

        self.rules = CrossRecordRules(cls() for cls in all_rules().values() if cls.cross_record)
        if sorted(self.rules.codes) != sorted(CROSS_RECORD_RULES):
            raise RuntimeError(f"the build's workers leave out {', '.join(CROSS_RECORD_RULES)}, but the cross-record "
                               f"rules are {', '.join(self.rules.codes)}: update `CROSS_RECORD_RULES` (a bug)")
        for rule in self.rules.observing:
            if rule.code not in self.OBSERVED:
                raise RuntimeError(f"{rule.code} observes records, but the build's facts do not carry what it "
                                   "observes: add it to `Worker.batch` and `RunLint.codes` (a bug)")
        self._where, self._schema_problems = RecordContext, SchemaProblems

    def codes(self, record_id: str | None, path: str, line: int, ts001: list[str],
              ts001_external: list[str]) -> list[str]:
        """The codes the cross-record rules report for the next readable record."""
        observed = {"TS001": self._schema_problems(ts001, ts001_external)} if ts001 or ts001_external else {}
        return [f.code for f in self.rules.decide(self._where(path, line, record_id, None), observed)]


def gate_records(facts: Any, paths: Sequence[str], keep_invalid: bool, stage: dict[str, StageCount],
                 lint_counts: Counter[str]) -> list[GatedRecord]:
    """Count every record read and its findings, and pass the readable ones without errors, in input order.

    The workers linted each record alone; the cross-record rules (`RunLint`) are decided here, so the
    counts equal one `curate lint` run's. Ids are made unique here too, in the same order.
    """
    from curate.rules import all_rules

    errors = frozenset(code for code, rule in all_rules().items() if rule.severity == "error")
    cols = {name: column(facts, name).to_pylist() for name in
            ("readable", "processed", "codes", "record_id", "fallback_id", "ts001", "ts001_external")}
    sources = column(facts, "source").to_numpy().tolist()
    lines = column(facts, "line").to_numpy().tolist()
    run = RunLint()
    seen_ids: set[str] = set()
    gated: list[GatedRecord] = []
    read = stage["read"]
    gate = stage["lint"]
    for row in range(len(lines)):
        read.records_in += 1
        codes = cols["codes"][row]
        readable = cols["readable"][row]
        rid = cols["record_id"][row]
        if readable:
            codes = codes + run.codes(rid, paths[sources[row]], lines[row], cols["ts001"][row],
                                      cols["ts001_external"][row])
        lint_counts.update(codes)
        if not readable:
            read.dropped["unreadable"] = read.dropped.get("unreadable", 0) + 1
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

