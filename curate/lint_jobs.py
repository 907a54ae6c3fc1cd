"""`curate lint --jobs N`: the same findings, in the same order, from N worker processes.

The main process reads the raw records (line splitting only: cheap) and hands them in ordered
batches to the workers, which read, adapt, validate and lint each record with every rule that looks
at one record alone and note what the cross-record rules need of it (`Linter.lint_alone`). The main
process finishes each record in input order (`Linter.finish`): the cross-record rules are decided there,
by the one decider `Linter` itself uses (`curate.lint.CrossRecordRules`), so the output is byte-identical
to one process, for any rule declared cross-record.

Memory stays bounded: at most `2 * jobs` batches are in flight (`curate.parallel.WorkerPool`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from curate.lint import LintedRecord, Linter, LintStats, input_files
from curate.parallel import WorkerPool
from curate.readers import DEFAULT_MAX_RECORD_BYTES, RawRecord, iter_raw
from curate.records import Finding

BATCH = 512
"""Records per task: large enough that process hand-over costs little, small enough to keep both busy."""

RawTuple = tuple[str, int, Any, str | None, bytes | None]

_worker: Linter | None = None


def _init_worker(tools: Sequence[dict], select: list[str] | None, ignore: list[str]) -> None:
    global _worker
    _worker = Linter(tools, select, ignore)


def _lint_batch(batch: list[RawTuple]) -> list[LintedRecord]:
    linter = _worker
    assert linter is not None
    return [linter.lint_alone(linter.reader.read_record(RawRecord(path, line, data, error, text)))
            for path, line, data, error, text in batch]


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
        # the main process's linter finishes every record in input order: the cross-record rules, the counts
        self.main = Linter(self.tools, self.select, self.ignore)
        self._pool: WorkerPool | None = None

    @property
    def stats(self) -> LintStats:
        return self.main.stats

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
        self.stats.files += input_files(path)
        raws = iter_raw(path, self.max_record_bytes)  # raises ReadError before anything is submitted, as Linter does
        sent: deque[list[RawRecord]] = deque()  # the batches in flight, in order, to merge with their results

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

        for linted in self._workers().imap(_lint_batch, batches()):
            yield from self._merge(sent.popleft(), linted)

    def _merge(self, raws: list[RawRecord], linted: list[LintedRecord]) -> Iterator[Finding]:
        for raw, record in zip(raws, linted, strict=True):
            yield from self.main.finish(raw.path, raw.line, record)
