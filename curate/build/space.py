"""Disk space for `curate build`: a build that cannot fit is refused before it writes anything, and a disk that
fills up anyway is found behind whatever library wrapped the error.

The work folder (`.OUT.work-PID`) and the output being written (`.OUT.tmp-PID`) both sit beside OUT, on its disk,
so the space a build needs is checked there, from its inputs' size (`space_needed`).
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Sequence
from pathlib import Path

from curate.build.errors import BuildError
from curate.storage import Location, local_path, size

WORK_FACTOR = 2.2
"""Bytes of the work folder at its peak per input byte: the raw rows hold each input once, the record facts about half
as much again. Measured (peak of the folder sampled every 20 ms during a build, `du` blocks): 1.55x on the sample build
(3.1 MB, `--tools sample_data/tools.json`), 1.50x on 20,000 records of `bench/corpus.py` (27.5 MB), 1.77x on those
without `--tools`; then the near-dup stage spills its signatures (512 B a record: 0.37x on that corpus's 1.4 KB
records, `Build.signatures`)."""

FORM_FACTOR = 1.0
"""Bytes of each written form of the records (train.jsonl with eval.jsonl; `hf/`, `lf/` and `openai/` each) per input
byte: every record kept and written at its own size, a floor rather than a bound, so that no build that would fit is
refused. Records given the `--tools` specs are written bigger (4.2x per form on the sample build, whose records take
the 9 KB `tools.json`), dropped records not at all (0.22x on the corpus above without `--tools`): a disk that fills up
anyway stops the build as cleanly (`disk_full`). `hf/` counts twice: its batches are gathered in the work folder
(`curate.build.arrow.SpillFile`, about the folder's own size) until it is written."""


def space_needed(inputs: Sequence[Location], formats: Sequence[str]) -> tuple[int, int]:
    """The bytes a build of `inputs` writing `formats` (besides train.jsonl and eval.jsonl) needs beside OUT, about
    (remote inputs are copied into the work folder first), and the inputs' bytes."""
    sizes = [(size(p), local_path(p) is None) for p in inputs]
    total = sum(n for n, _ in sizes)
    fetched = sum(n for n, remote in sizes if remote)
    forms = 1 + len(formats) + ("hf" in formats)  # hf/'s batches are spilled to the work folder first
    return fetched + int(total * (WORK_FACTOR + FORM_FACTOR * forms)), total


def check_space(folder: Path, inputs: Sequence[Location], formats: Sequence[str]) -> None:
    """Raise `BuildError` (one line: the folder, the space needed, the space free) when the disk of `folder`, where
    the work folder and the output are written, has less free space than the build needs (`space_needed`)."""
    needed, total = space_needed(inputs, formats)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise BuildError(f"{folder}: not enough free disk space for this build: it needs about {human_bytes(needed)} "
                         f"for its work folder and output ({human_bytes(total)} of input) and {human_bytes(free)} is "
                         "free; free some space, or choose an -o on another disk")


def disk_full(e: BaseException) -> OSError | None:
    """The `OSError` of a full disk (or quota) behind `e`, itself or its cause or context however deep (`datasets`
    wraps a failed write in `DatasetGenerationError`), or None."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def human_bytes(n: int) -> str:
    """`n` bytes as a person reads them: 512 B, 3.1 MB, 1.39 GB (powers of 1000, as `df -H`)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"
