"""The lint engine: records in, findings out.

`Linter` holds the selected rules (fresh instances per run, so cross-record rules such as
duplicate ids see the whole run), the `--tools` specs and one schema cache. `lint_paths` is the
entry point for code; `curate lint` wraps it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from curate.config import select_codes
from curate.readers import ReadResult, RecordReader, load_tool_specs
from curate.records import Finding, ToolSpec
from curate.rules import all_rules
from curate.rules.base import RecordContext, Rule, ToolRegistry
from curate.validate import CompiledTool, SchemaCache


@dataclass
class LintStats:
    """Counts of one run, for the summary."""

    files: int = 0
    records: int = 0
    records_with_errors: int = 0
    by_code: dict[str, int] = field(default_factory=dict)


class Linter:
    """Runs the selected rules over records; one instance per run."""

    def __init__(self, tools: Sequence[dict] = (), select: Iterable[str] | None = None,
                 ignore: Iterable[str] | None = None, skip: bool = True) -> None:
        codes = select_codes(all_rules(), select, ignore)
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
        self.reader = RecordReader()
        self.stats = LintStats()

    def lint_path(self, path: str | os.PathLike[str]) -> Iterator[Finding]:
        """Findings of one file or folder, in record order. Raises `ReadError` if it can't be opened."""
        self.stats.files += 1
        for result in self.reader.read(path):
            yield from self.lint_result(result)

    def lint_result(self, result: ReadResult) -> Iterator[Finding]:
        raw = result.raw
        self.stats.records += 1
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
            return
        if len(self.rule_groups) > 1:
            findings.sort(key=lambda f: self.order[f.code])  # stable: rule order, then message order
        has_error = False
        for finding in findings:
            self.stats.by_code[finding.code] = self.stats.by_code.get(finding.code, 0) + 1
            has_error = has_error or finding.severity == "error"
            yield finding
        if has_error:
            self.stats.records_with_errors += 1


def lint_paths(paths: Sequence[str | os.PathLike[str]], tools_files: Sequence[str | os.PathLike[str]] = (),
               select: Iterable[str] | None = None, ignore: Iterable[str] | None = None) -> Iterator[Finding]:
    """Lint files and folders; the tools of `tools_files` apply to every record."""
    specs = [s for f in tools_files for s in load_tool_specs(f)]
    linter = Linter(specs, select, ignore)
    for p in paths:
        yield from linter.lint_path(p)
