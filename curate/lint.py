"""The lint engine: records in, findings out.

`Linter` holds the selected rules (fresh instances per run, so cross-record rules such as
duplicate ids see the whole run), the `--tools` specs and one schema cache; `curate lint` wraps it.

A record is linted in two steps, so that the first can run in any process (`curate lint --jobs`, the
build's workers): `Linter.lint_alone` runs the rules that look at one record alone and notes what the
cross-record rules need of it (a `LintedRecord`); `Linter.finish`, called in input order where every
record passes, has the cross-record rules decide (`CrossRecordRules`, the one place they are decided),
adds the closing findings and counts. `Linter.lint_result` does both.

A record lists at most `MAX_FINDINGS_PER_RECORD` findings (and a tool call at most
`MAX_FINDINGS_PER_CALL`, see `curate.rules.base`); past that, one closing finding per code, with that
code, says how many more there were: one hostile record cannot flood the output or the memory.
Records longer than `max_record_bytes` are not parsed (RS001, see `curate.readers`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.lint_config import select_codes
from curate.readers import DEFAULT_MAX_RECORD_BYTES, ReadResult, RecordReader, data_files, is_datasets_folder
from curate.records import Finding
from curate.rules import all_rules
from curate.rules.base import MAX_FINDINGS_PER_RECORD, CallRule, CrossRecordRule, RecordContext, Rule, ToolRegistry
from curate.toolset import ToolSet
from curate.validate import CompiledTool, SchemaCache


@dataclass
class LintStats:
    """Counts of one run, for the summary."""

    files: int = 0
    """The files read: a folder counts the files read from it (`input_files`)."""
    records: int = 0
    records_with_errors: int = 0
    by_code: dict[str, int] = field(default_factory=dict)
    unvalidated_calls: int = 0
    """Calls to a tool whose parameter schema cannot be fully used (TS001): not validated, or only in part."""


def input_files(path: str | os.PathLike[str]) -> int:
    """How many files reading `path` reads: those under a folder (`curate.readers.data_files`), else one (a
    file, stdin, a `datasets` folder)."""
    p = Path(path)
    if str(path) == "-" or not p.is_dir() or is_datasets_folder(p):
        return 1
    return sum(1 for _ in data_files(p))


def unvalidated_calls(ctx: RecordContext) -> int:
    """The record's calls that name a tool whose schema has problems (TS001): their arguments are checked
    only as far as the schema allows, so the summary counts them as not validated."""
    assert ctx.tools is not None
    n = 0
    for calls in ctx.calls:
        for call in calls:
            if call.error is None and call.name is not None:
                tool = ctx.tools.get(call.name)
                n += tool is not None and bool(tool.problems)
    return n


def cap_findings(findings: list[Finding], hidden: Mapping[str, int] | None = None,
                 limit: int = MAX_FINDINGS_PER_RECORD) -> tuple[list[Finding], dict[str, int]]:
    """A record's findings, in rule order, cut to the first `limit`; and how many were left out, by code
    (added to `hidden`, those left out before). See `closing_findings`."""
    left = dict(hidden or {})
    if len(findings) <= limit:
        return findings, left
    for code, n in Counter(f.code for f in findings[limit:]).items():
        left[code] = left.get(code, 0) + n
    return findings[:limit], left


def closing_findings(path: str, line: int, record_id: str | None, hidden: Mapping[str, int],
                     limit: int = MAX_FINDINGS_PER_RECORD) -> list[Finding]:
    """One finding per code of `hidden`, in code order, with that code and severity, saying how many more
    findings of that code the record has than were listed."""
    rules = all_rules()
    return [Finding(path=path, line=line, record_id=record_id, message_index=None, code=code,
                    severity=rules[code].severity if code in rules else "error",
                    message=f"… and {n:,} more {code} finding{'s' * (n != 1)} in this record "
                            f"(at most {limit} are listed per record)")
            for code, n in sorted(hidden.items())]


class CrossRecordRules:
    """The run's cross-record rules (`curate.rules.base.CrossRecordRule`), decided in one place, in input order.

    `observe` runs wherever a record is linted and gives what each rule needs of it; `decide`, called for every
    readable record in input order by the one process that sees them all, gives the rules' findings. `Linter`,
    `curate.lint_jobs.ParallelLinter` and the build's lint gate (`curate.build.gate.RunLint`) all decide
    through this class, so a rule declared cross-record gets the same findings from each.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: list[CrossRecordRule] = []
        for rule in rules:
            if rule.cross_record:
                if not isinstance(rule, CrossRecordRule):
                    raise TypeError(f"{rule.code} says it is cross-record: it must be a CrossRecordRule "
                                    "(observe a record, decide in input order)")
                self.rules.append(rule)
        self.observing = [r for r in self.rules if type(r).observe is not CrossRecordRule.observe]
        """The rules that observe records (the others need only where a record is)."""
        self._deciders = [(rule.code, rule.decide) for rule in self.rules]

    @property
    def codes(self) -> list[str]:
        return [rule.code for rule in self.rules]

    def observe(self, ctx: RecordContext) -> dict[str, Any] | None:
        """What the rules need of one readable record, by code (rules that noted nothing left out; None: nothing)."""
        observed = None
        for rule in self.observing:
            seen = rule.observe(ctx)
            if seen is not None:
                if observed is None:
                    observed = {}
                observed[rule.code] = seen
        return observed

    def decide(self, ctx: RecordContext, observed: Mapping[str, Any] | None) -> list[Finding]:
        """The findings of the next readable record in input order, in rule order; `ctx` need only say where the
        record is (`path`, `line`, `record_id`), `observed` is what `observe` gave for it."""
        found: list[Finding] = []
        for code, decide in self._deciders:
            found += decide(ctx, observed.get(code) if observed else None)
        return found


@dataclass(slots=True)
class LintedRecord:
    """One record linted alone (`Linter.lint_alone`): what `Linter.finish` needs to complete it in input order."""

    findings: list[Finding]
    """The findings of the rules that look at this record alone, in rule order, at most `MAX_FINDINGS_PER_RECORD`."""
    hidden: dict[str, int]
    """Findings left out past that cap, by code."""
    record_id: str | None
    readable: bool
    """False for a record that could not be read or adapted: no cross-record rule sees it."""
    observed: dict[str, Any] | None
    """What the cross-record rules need of it, by code (`CrossRecordRules.observe`); None: nothing."""
    unvalidated: int = 0
    """Its calls not validated (`unvalidated_calls`)."""


class Linter:
    """Runs the selected rules over records; one instance per run.

    `max_record_bytes`: longer JSON Lines lines (and JSON array elements, single-record JSON files) are
    not parsed but reported as RS001 (see `curate.readers.iter_raw`). A selection that leaves no rule is a
    `ConfigError`."""

    def __init__(self, tools: Sequence[dict] = (), select: Iterable[str] | None = None,
                 ignore: Iterable[str] | None = None, skip: bool = True,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        codes = select_codes(all_rules(), select, ignore)
        self.rules: list[Rule] = [all_rules()[c]() for c in codes]
        self.cross = CrossRecordRules(self.rules)
        alone = [r for r in self.rules if not r.cross_record]
        self.record_rules = [r for r in alone if r.needs_record]
        self.raw_rules = [r for r in alone if not r.needs_record]
        # Record rules grouped by their `skip_when` flag (None: always run), in code order within a
        # group; findings are sorted back into rule order per record, so grouping never shows.
        groups: dict[str | None, list[Rule]] = {}
        for rule in self.record_rules:
            groups.setdefault(rule.skip_when if skip else None, []).append(rule)
        self.rule_groups = list(groups.items())
        self.order = {rule.code: i for i, rule in enumerate(self.rules)}
        self.cache = SchemaCache()
        self.toolset = ToolSet.from_dicts(tools)  # the one decision of what a call refers to (lint and export)
        self.external: dict[str, CompiledTool] = {
            name: self.cache.compile_function(spec.function) for name, spec in self.toolset.by_name.items()}
        self._external_problems = any(tool.problems for tool in self.external.values())
        self._checks_calls = any(isinstance(r, CallRule) for r in self.record_rules)
        """Whether calls are validated at all (else none is counted as unvalidated: none is checked)."""
        self.reader = RecordReader(max_record_bytes)
        self.stats = LintStats()

    def lint_path(self, path: str | os.PathLike[str]) -> Iterator[Finding]:
        """Findings of one file or folder, in record order. Raises `ReadError` if it can't be opened."""
        self.stats.files += input_files(path)
        for result in self.reader.read(path):
            yield from self.lint_result(result)

    def lint_result(self, result: ReadResult) -> list[Finding]:
        """The findings of the next record read in input order, closing findings included, counted in `stats`."""
        linted, ctx = self._lint_alone(result)
        return self.finish(ctx.path, ctx.line, linted, ctx)

    def lint_alone(self, result: ReadResult) -> LintedRecord:
        """One record linted by the rules that look at it alone, and what the cross-record rules need of it;
        in any process, in any order (not counted in `stats`)."""
        return self._lint_alone(result)[0]

    def _lint_alone(self, result: ReadResult) -> tuple[LintedRecord, RecordContext]:
        raw = result.raw
        findings: list[Finding] = []
        record = result.record
        observed: dict[str, Any] | None = None
        unvalidated = 0
        if record is None:
            ctx = RecordContext(raw.path, raw.line, result.record_id, None, read_error=raw.error,
                                shape_errors=result.shape_errors)
            for rule in self.raw_rules:
                findings.extend(rule.check(ctx))
        else:
            tools = ToolRegistry([t.function for t in record.tools or ()], self.external, self.cache)
            ctx = RecordContext(raw.path, raw.line, record.id, record, tools)
            for flag, group in self.rule_groups:
                if flag is not None and getattr(ctx, flag):
                    continue  # the common case: a clean record, nothing for these rules to report
                for rule in group:
                    findings.extend(rule.check(ctx))
            if self.cross.observing:
                observed = self.cross.observe(ctx)
            if self._checks_calls and (record.tools or self._external_problems):
                unvalidated = unvalidated_calls(ctx)
        hidden: dict[str, int] = {}
        if findings:
            if len(self.rule_groups) > 1:
                findings.sort(key=lambda f: self.order[f.code])  # stable: rule order, then message order
            findings, hidden = cap_findings(findings)
        return LintedRecord(findings, hidden, ctx.record_id, record is not None, observed, unvalidated), ctx

    def finish(self, path: str, line: int, linted: LintedRecord, ctx: RecordContext | None = None) -> list[Finding]:
        """The findings of the next record in input order (`linted`, from `lint_alone` in any process, found at
        `path`:`line`; `ctx`: its context, when this process has it): the cross-record rules' added in rule
        order, the cap applied again, closing findings at the end; counted in `stats`."""
        self.stats.records += 1
        self.stats.unvalidated_calls += linted.unvalidated
        findings, hidden = linted.findings, linted.hidden
        if linted.readable and self.cross.rules:
            where = ctx if ctx is not None else RecordContext(path, line, linted.record_id, None)
            decided = self.cross.decide(where, linted.observed)
            if decided:
                findings = sorted(findings + decided, key=lambda f: self.order[f.code])  # stable
                # What `lint_alone` left out sorts after all it listed: the cap, applied again, cuts as one cap would.
                findings, hidden = cap_findings(findings, hidden)
        if hidden:
            findings = findings + closing_findings(path, line, linted.record_id, hidden)
        if findings:
            has_error = False
            for finding in findings:
                self.stats.by_code[finding.code] = self.stats.by_code.get(finding.code, 0) + 1
                has_error = has_error or finding.severity == "error"
            if has_error:
                self.stats.records_with_errors += 1
        return findings
