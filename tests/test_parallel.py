"""`curate.parallel`: the one worker pool of `--jobs N` (lint, mask, dedup): input order kept, a bounded
window of tasks, the initialiser run in every worker, and a dying worker one clear error."""

from __future__ import annotations

import os
import random
import time

import pytest

from curate.parallel import WorkerDied, WorkerPool, ordered_map, resolve_jobs, start_method

_PREFIX = ""


def _init(prefix: str) -> None:
    global _PREFIX
    _PREFIX = prefix


def _slow_label(n: int) -> str:
    time.sleep(random.Random(n).random() / 100)  # tasks finish out of order
    return f"{_PREFIX}{n}:{os.getpid()}"


def _die_on(n: int) -> int:
    if n == 5:
        os._exit(9)  # as a worker killed by the kernel for memory would
    return n


def _fail_on(n: int) -> int:
    if n == 3:
        raise ValueError(f"bad item {n}")
    return n


def test_results_come_in_input_order_from_several_initialised_workers() -> None:
    got = list(ordered_map(_slow_label, range(40), 3, "test", initializer=_init, initargs=("w",)))
    assert [g.split(":")[0] for g in got] == [f"w{n}" for n in range(40)]
    assert len({g.split(":")[1] for g in got}) > 1  # really in several processes
    assert str(os.getpid()) not in {g.split(":")[1] for g in got}


def test_items_are_read_only_as_results_are_taken() -> None:
    read = []

    def items():
        for n in range(100):
            read.append(n)
            yield n

    with WorkerPool(2, "test", initializer=_init, initargs=("",)) as pool:
        results = pool.imap(_slow_label, items())
        first = next(results)
        assert first.startswith("0:")
        assert len(read) <= 2 * 2 + 1  # the window (2 x jobs) and the one that completed it
        results.close()


def test_a_dying_worker_is_one_clear_error() -> None:
    with pytest.raises(WorkerDied) as e:
        list(ordered_map(_die_on, range(20), 2, "mask"))
    message = str(e.value)
    assert message.startswith("a mask worker process died") and "--jobs" in message
    assert "\n" not in message


def test_a_task_error_reaches_the_caller_as_it_is() -> None:
    with pytest.raises(ValueError, match="bad item 3"):
        list(ordered_map(_fail_on, range(10), 2, "test"))


def test_the_pool_is_usable_again_after_a_worker_died() -> None:
    pool = WorkerPool(2, "test")
    with pytest.raises(WorkerDied):
        list(pool.imap(_die_on, range(10)))
    assert list(pool.imap(_fail_on, [0, 1, 2])) == [0, 1, 2]
    pool.close()


def test_start_method_and_jobs() -> None:
    assert start_method(tokenizers=True) == "spawn"  # tokenizers' threads do not survive fork
    assert start_method(tokenizers=False) in ("fork", "spawn")
    assert resolve_jobs(3) == 3 and resolve_jobs(0) == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="--jobs must be 0"):
        resolve_jobs(-1)
