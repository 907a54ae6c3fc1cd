"""The `Engine` protocol: what runs the stages of `curate build` that scale with the corpus.

An engine reads the inputs into raw rows, computes the record facts of every raw row and the clusters of the
near-dup signatures; every other stage is the build's own (`curate.build.pipeline`), the same whatever the engine,
so an engine that gives the same record facts and labels gives the same output.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from curate.build.facts import WorkerSpec


class Engine(Protocol):
    """What runs the stages that scale with the corpus (see `curate.build.engines.local.LocalEngine`)."""

    name: str

    def start(self) -> None:
        """Connect (or fail with `BuildError`) before anything is written."""

    def stop(self) -> None:
        """Release what `start` took."""

    def read(self, inputs: Sequence[Path], readable: Sequence[bool], work: Path, fingerprint: str,
             max_record_bytes: int, num_proc: int) -> tuple[Any, list[tuple[int, str]]]:
        """The raw rows of every record of the (local) `inputs`, in input order, and the files they came from
        (`curate.build.raw.RawRows`); `readable`: the inputs given as local paths (not fetched remote ones)."""

    def record_facts(self, raw: Any, sources: Sequence[tuple[int, str]], spec: WorkerSpec, num_proc: int,
                     work: Path, fingerprint: str) -> Any:
        """The record facts of every raw row, in order, as a `datasets.Dataset` (what
        `curate.build.engines.local.record_facts` gives)."""

    def near_labels(self, sigs: Any, threshold: float) -> np.ndarray:
        """What `near_duplicate_labels(sigs, threshold)` gives (`sigs.values`: a matrix, or the
        `curate.dedup.spill.RowFile` the build spilled its signatures to, read a block or a gather at a time)."""
