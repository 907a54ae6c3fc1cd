"""`curate lint --jobs N`: the same findings, in the same order, from N worker processes.

The main process reads the raw records (line splitting only: cheap) and hands them in ordered
batches to the workers, which read, adapt, validate and lint each record with every rule that looks
at one record alone. The rules that need the whole run (`CROSS_RECORD_RULES`: duplicate ids, and
tool-schema problems reported once per run) cannot be decided inside one batch: the workers leave
them out, and the main process runs those very rule objects, in input order, on what the workers
report for each record (its id, and the problems of its own tool schemas). Each record's findings are
then sorted into rule order, as `Linter` sorts them, so the output is byte-identical to one process.

Memory stays bounded: at most `2 * jobs` batches are in flight (`curate.parallel.WorkerPool`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from curate.lint import Linter, LintStats, cap_findings, closing_findings
from curate.lint_config import select_codes
from curate.parallel import WorkerPool
from curate.readers import DEFAULT_MAX_RECORD_BYTES, RawRecord, iter_raw
from curate.records import Finding
from curate.rules import all_rules
from curate.rules.base import RecordContext

CROSS_RECORD_RULES = ("RS004", "TS001")
"""Rules whose findings depend on earlier records: decided in the main process, in input order."""

BATCH = 512
"""Records per task: large enough that process hand-over costs little, small enough to keep both busy."""

RawTuple = tuple[str, int, Any, str | None, bytes | None]


@dataclass
class RecordFacts:
    """What a worker reports for one record: its findings from the per-record rules, and what the
    cross-record rules need (`readable`, the record's id, and the schema problems of its own tools)."""

    findings: list[Finding]
    hidden: dict[str, int]
    """Findings left out past the per-record cap, by code (`Linter.record_findings`)."""
    readable: bool
    record_id: str | None
    own_tools: list[tuple[str, list[str]]] | None
    """(name, problems) of the record's own tools: those with problems, or all of them when the
    `--tools` specs have problems too (TS001 then needs to know which of those the record redefines)."""


class _OwnTool:
    __slots__ = ("problems",)

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems


class _ToolProblems:
    """The part of `ToolRegistry` that TS001 reads, rebuilt from a worker's report."""

    def __init__(self, own: list[tuple[str, list[str]]], external: dict[str, Any]) -> None:
        self.own = {name: _OwnTool(problems) for name, problems in own}
        self.external = external

    def get(self, name: str) -> Any:
        return self.own.get(name) or self.external.get(name)


_worker: Linter | None = None
_external_problems = False


def _init_worker(tools: Sequence[dict], select: list[str] | None, ignore: list[str]) -> None:
    global _worker, _external_problems
    _worker = Linter(tools, select, [*ignore, *CROSS_RECORD_RULES], allow_no_rules=True)
    _external_problems = any(t.problems for t in _worker.external.values())


def _lint_batch(batch: list[RawTuple]) -> list[RecordFacts]:
    linter = _worker
    assert linter is not None
    out = []
    for path, line, data, error, text in batch:
        result = linter.reader.read_record(RawRecord(path, line, data, error, text))
        findings, hidden = linter.record_findings(result)
        record = result.record
        own = None
        if record is not None and record.tools:
            # by name, the last spec of a name winning, as in ToolRegistry
            specs = {t.function.name: t.function for t in record.tools}
            compiled = [(n, linter.cache.compile(n, s.parameters).problems) for n, s in specs.items()]
            own = compiled if _external_problems else [(n, p) for n, p in compiled if p] or None
        out.append(RecordFacts(findings, hidden, record is not None, result.record_id, own))
    return out


class ParallelLinter:
    """`Linter`'s interface (`lint_path`, `stats`) over `jobs` worker processes."""

    def __init__(self, tools: Sequence[dict] = (), select: Iterable[str] | None = None,
                 ignore: Iterable[str] | None = None, jobs: int = 2,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.max_record_bytes = max_record_bytes
        self.select = list(select) if select is not None else None
        self.ignore = list(ignore or ())
        self.tools = list(tools)
        self.jobs = max(1, jobs)
        # the main process's own linter: rule order, the cross-record rules, the compiled --tools specs
        self.main = Linter(self.tools, self.select, self.ignore)
        codes = set(select_codes(all_rules(), self.select, self.ignore))
        self.cross = [r for r in self.main.rules if r.code in CROSS_RECORD_RULES and r.code in codes]
        self.stats = LintStats()
        self._pool: WorkerPool | None = None

    def __enter__(self) -> ParallelLinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _workers(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(self.jobs, "lint", initializer=_init_worker,
                                    initargs=(self.tools, self.select, self.ignore))
        return self._pool

    def lint_path(self, path: str | os.PathLike[str]) -> Iterator[Finding]:
        """Findings of one file or folder, in record order, as `Linter.lint_path` gives them."""
        self.stats.files += 1
        raws = iter_raw(path, self.max_record_bytes)  # raises ReadError before anything is submitted, as Linter does
        sent: deque[list[RawRecord]] = deque()  # the batches in flight, in order, to merge with their facts

        def batches() -> Iterator[list[RawTuple]]:
            batch: list[RawRecord] = []
            for raw in raws:
                batch.append(raw)
                if len(batch) == BATCH:
                    sent.append(batch)
                    yield [(r.path, r.line, r._data, r._error, r.text) for r in batch]
                    batch = []
            if batch:
                sent.append(batch)
                yield [(r.path, r.line, r._data, r._error, r.text) for r in batch]

        for facts in self._workers().imap(_lint_batch, batches()):
            yield from self._merge(sent.popleft(), facts)

    def _merge(self, raws: list[RawRecord], facts_of: list[RecordFacts]) -> Iterator[Finding]:
        order = self.main.order
        for raw, facts in zip(raws, facts_of, strict=True):
            self.stats.records += 1
            findings, hidden = facts.findings, facts.hidden
            if facts.readable and self.cross:
                tools = _ToolProblems(facts.own_tools or [], self.main.external)
                ctx = RecordContext(raw.path, raw.line, facts.record_id, None, tools)  # type: ignore[arg-type]
                extra = [f for rule in self.cross for f in rule.check(ctx)]
                if extra:
                    findings = sorted(findings + extra, key=lambda f: order[f.code])  # stable, as Linter sorts
                    # What the worker left out sorts after all it listed: the cap, applied again, cuts the same.
                    findings, hidden = cap_findings(findings, hidden)
            if hidden:
                findings = findings + closing_findings(raw.path, raw.line, facts.record_id, hidden)
            has_error = False
            for finding in findings:
                self.stats.by_code[finding.code] = self.stats.by_code.get(finding.code, 0) + 1
                has_error = has_error or finding.severity == "error"
                yield finding
            if has_error:
                self.stats.records_with_errors += 1
