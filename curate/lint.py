"""The lint engine: records in, findings out.

`Linter` holds the selected rules (fresh instances per run, so cross-record rules such as
duplicate ids see the whole run), the `--tools` specs and one schema cache. `lint_paths` is the
entry point for code; `curate lint` wraps it.

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

from curate.lint_config import select_codes
from curate.readers import DEFAULT_MAX_RECORD_BYTES, ReadResult, RecordReader, load_tool_specs
from curate.records import Finding, ToolSpec
from curate.rules import all_rules
from curate.rules.base import MAX_FINDINGS_PER_RECORD, RecordContext, Rule, ToolRegistry
from curate.validate import CompiledTool, SchemaCache


@dataclass
class LintStats:
    """Counts of one run, for the summary."""

    files: int = 0
    records: int = 0
    records_with_errors: int = 0
    by_code: dict[str, int] = field(default_factory=dict)


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


class Linter:
    """Runs the selected rules over records; one instance per run.

    `max_record_bytes`: longer JSON Lines lines (and JSON array elements, single-record JSON files) are
    not parsed but reported as RS001 (see `curate.readers.iter_raw`). A selection that leaves no rule is a
    `ConfigError` unless `allow_no_rules` (for workers whose rules all run elsewhere)."""

    def __init__(self, tools: Sequence[dict] = (), select: Iterable[str] | None = None,
                 ignore: Iterable[str] | None = None, skip: bool = True,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, allow_no_rules: bool = False) -> None:
        codes = select_codes(all_rules(), select, ignore, allow_none=allow_no_rules)
        self.rules: list[Rule] = [all_rules()[c]() for c in codes]
        self.record_rules = [r for r in self.rules if r.needs_record]
        self.raw_rules = [r for r in self.rules if not r.needs_record]
        # Record rules grouped by their `skip_when` flag (None: always run), in code order within a
        # group; findings are sorted back into rule order per record, so grouping never shows.
        groups: dict[str | None, list[Rule]] = {}
        for rule in self.record_rules:
            groups.setdefault(rule.skip_when if skip else None, []).append(rule)
        self.rule_groups = list(groups.items())
        self.order = {rule.code: i for i, rule in enumerate(self.rules)}
        self.cache = SchemaCache()
        self.external: dict[str, CompiledTool] = {}
        for spec in tools:
            fs = ToolSpec.model_validate(spec).function
            self.external[fs.name] = self.cache.compile(fs.name, fs.parameters)
        self.reader = RecordReader(max_record_bytes)
        self.stats = LintStats()

    def lint_path(self, path: str | os.PathLike[str]) -> Iterator[Finding]:
        """Findings of one file or folder, in record order. Raises `ReadError` if it can't be opened."""
        self.stats.files += 1
        for result in self.reader.read(path):
            yield from self.lint_result(result)

    def lint_result(self, result: ReadResult) -> Iterator[Finding]:
        """The findings of one record read (see `record_findings`), closing findings included, counted."""
        self.stats.records += 1
        findings, hidden = self.record_findings(result)
        if hidden:
            raw = result.raw
            rid = result.record.id if result.record is not None else result.record_id
            findings = findings + closing_findings(raw.path, raw.line, rid, hidden)
        if not findings:
            return
        has_error = False
        for finding in findings:
            self.stats.by_code[finding.code] = self.stats.by_code.get(finding.code, 0) + 1
            has_error = has_error or finding.severity == "error"
            yield finding
        if has_error:
            self.stats.records_with_errors += 1

    def record_findings(self, result: ReadResult) -> tuple[list[Finding], dict[str, int]]:
        """One record's findings in rule order, at most `MAX_FINDINGS_PER_RECORD`, and the counts by code of
        those left out (for `closing_findings`); not counted in `stats`."""
        raw = result.raw
        findings: list[Finding] = []
        record = result.record
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
        if not findings:
            return findings, {}
        if len(self.rule_groups) > 1:
            findings.sort(key=lambda f: self.order[f.code])  # stable: rule order, then message order
        return cap_findings(findings)


def lint_paths(paths: Sequence[str | os.PathLike[str]], tools_files: Sequence[str | os.PathLike[str]] = (),
               select: Iterable[str] | None = None, ignore: Iterable[str] | None = None) -> Iterator[Finding]:
    """Lint files and folders; the tools of `tools_files` apply to every record."""
    specs = [s for f in tools_files for s in load_tool_specs(f)]
    linter = Linter(specs, select, ignore)
    for p in paths:
        yield from linter.lint_path(p)
