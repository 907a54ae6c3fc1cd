"""Worker processes for the commands that take `--jobs N`: one pool, one start method, one error.

    with WorkerPool(jobs, "mask", initializer=_init_worker, initargs=(...,), tokenizers=True) as pool:
        for result in pool.imap(work_on_batch, batches):   # in input order
            ...

- The start method is chosen here once (`start_method`): `spawn` where the workers load a tokenizer
  (the `tokenizers` library's thread pool does not survive `fork`), else `fork` where the platform has
  it (workers inherit what the main process imported and start at once), else `spawn`.
- `initializer(*initargs)` runs once in every worker: build there what every task needs (a linter, a
  masker) and keep it in a module global, so that tasks carry only their data.
- `imap` keeps the input order and a bounded window of tasks in flight (`2 * jobs` by default), so
  memory does not grow with the input and the output is the same for any `jobs`.
- A worker that dies (killed, out of memory, `os._exit` in native code) is one `WorkerDied` naming the
  command and saying what to do, instead of a `BrokenProcessPool` traceback or a pool that waits forever.
  An exception raised by the task itself reaches the caller as it is.

`curate build` runs its per-record stages through `datasets.Dataset.map(num_proc=N)`, which keeps its
own pool; everything else in curate that uses processes goes through this module.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

# multiprocessing and concurrent.futures are imported when a pool starts: `curate lint` with one job (a
# pre-commit hook) should not pay for them.

T = TypeVar("T")
R = TypeVar("R")


class WorkerDied(RuntimeError):
    """A worker process ended without returning its task: killed, or out of memory. The pool is unusable."""


def start_method(tokenizers: bool = False) -> str:
    """The start method of curate's worker processes: `spawn` when they load a tokenizer, else `fork` where
    there is one."""
    from multiprocessing import get_all_start_methods

    if tokenizers or "fork" not in get_all_start_methods():
        return "spawn"
    return "fork"


def resolve_jobs(jobs: int) -> int:
    """`--jobs N` as a number of processes: 0 means one per core; raises ValueError below 0."""
    if jobs < 0:
        raise ValueError(f"--jobs must be 0 (one per core) or more, not {jobs}")
    return jobs or os.cpu_count() or 1


class WorkerPool:
    """`jobs` worker processes, started on first use and kept until `close` (or the end of a `with` block)."""

    def __init__(self, jobs: int, command: str, initializer: Callable[..., None] | None = None,
                 initargs: Sequence[Any] = (), tokenizers: bool = False) -> None:
        self.jobs = max(1, jobs)
        self.command = command
        """What the workers do, for the error when one dies (`lint`, `mask`, `dedup`)."""
        self.initializer = initializer
        self.initargs = tuple(initargs)
        self.method = start_method(tokenizers)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (tasks not started are cancelled); the pool may be used again afterwards."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            self._executor = ProcessPoolExecutor(self.jobs, mp_context=get_context(self.method),
                                                 initializer=self.initializer, initargs=self.initargs)
        return self._executor

    def died(self) -> WorkerDied:
        return WorkerDied(f"a {self.command} worker process died (killed, or out of memory?); rerun with fewer "
                          "--jobs, or with --jobs 1 to see the error in this process")

    def imap(self, fn: Callable[[T], R], items: Iterable[T], window: int | None = None) -> Iterator[R]:
        """`fn(item)` for every item, computed in the workers, yielded in input order.

        At most `window` tasks (default `2 * jobs`) are in flight: `items` is read only as results are
        taken. `fn` and the items must pickle (`fn` a module-level function). Raises `WorkerDied` when a
        worker dies; the pool is closed then."""
        from concurrent.futures.process import BrokenProcessPool

        limit = max(1, window if window is not None else 2 * self.jobs)
        pool = self._pool()
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                while len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool:
            self.close()
            raise self.died() from None
        finally:
            for future in pending:  # the caller stopped early, or a task failed: nothing more is computed
                future.cancel()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int, command: str,
                initializer: Callable[..., None] | None = None, initargs: Sequence[Any] = (),
                tokenizers: bool = False) -> Iterator[R]:
    """`WorkerPool(...).imap(fn, items)` for one pass: the workers stop when the iterator is exhausted or
    closed."""
    with WorkerPool(jobs, command, initializer, initargs, tokenizers) as pool:
        yield from pool.imap(fn, items)
