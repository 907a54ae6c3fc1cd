"""The local engine of `curate build`: record facts in this machine's processes (`Dataset.map`), near-dup
clusters in this process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate.build.facts import WorkerSpec, prepare_worker, record_facts_arrow, record_facts_features
from curate.build.raw import BATCH_SIZE, quiet_datasets, read_raw_dataset


class LocalEngine:
    """The inputs read in this process, the per-record stages in this machine's processes (`Dataset.map`),
    near-dup clusters in this process.

    An engine reads the inputs into raw rows and runs the two stages that scale with the corpus: the record facts
    of every raw row, and the clusters of the near-dup signatures. Every other stage is the build's own, the same
    whatever the engine, so an engine that gives the same record facts and labels gives the same output (see
    `curate.build.engines.ray.RayEngine`).
    """

    name = "local"

    def start(self) -> None:
        """Nothing to connect to."""

    def stop(self) -> None:
        """Nothing to release."""

    def read(self, inputs: Sequence[Path], readable: Sequence[bool], work: Path, fingerprint: str,
             max_record_bytes: int, num_proc: int) -> tuple[Any, list[tuple[int, str]]]:
        """`read_raw_dataset`: every record of `inputs` as raw Arrow rows in `work`, read in this process."""
        return read_raw_dataset(inputs, work / "raw", fingerprint, max_record_bytes)

    def record_facts(self, raw: Any, sources: Sequence[tuple[int, str]], spec: WorkerSpec, num_proc: int,
                     work: Path, fingerprint: str) -> Any:
        """`record_facts`: the record facts of every raw row, in order, as a `datasets.Dataset`."""
        return record_facts(raw, sources, spec, num_proc, work, fingerprint)

    def near_labels(self, sigs: Any, threshold: float) -> np.ndarray:
        """`near_duplicate_labels`."""
        from curate.dedup import near_duplicate_labels

        return near_duplicate_labels(sigs, threshold)


def record_facts(raw: Any, sources: Sequence[tuple[int, str]], spec: WorkerSpec, num_proc: int, cache_dir: Path,
                 fingerprint: str) -> Any:
    """The record facts of every raw row, in order, computed in `num_proc` processes (see `Worker.batch`)."""
    from datasets import Dataset

    spec_json = spec.model_dump_json()
    prepare_worker(spec)
    if not len(raw):  # `map` hands an empty dataset back unchanged, without the new columns
        features = record_facts_features(spec)
        return Dataset.from_dict({name: [] for name in features}, features=features)
    kwargs = {"spec_json": spec_json, "paths": [path for _, path in sources]}
    try:
        with quiet_datasets():
            # Arrow batches in and out: each process releases the raw rows' pages it has read (`record_facts_arrow`)
            return raw.with_format("arrow").map(
                record_facts_arrow, batched=True, batch_size=BATCH_SIZE, fn_kwargs=kwargs,
                remove_columns=["kind", "payload"], features=record_facts_features(spec),
                num_proc=num_proc if num_proc > 1 and len(raw) > BATCH_SIZE else None,
                cache_file_name=str(cache_dir / "facts.arrow"), new_fingerprint=fingerprint,
                load_from_cache_file=False).with_format(None)
    except Exception as e:
        raise_interrupt_behind(e)
        raise


def raise_interrupt_behind(e: BaseException) -> None:
    """Re-raise the Ctrl-C or SIGTERM that `e` was raised while handling, if any.

    `datasets`' process pool turns an interrupt into a `TimeoutError` while it cleans up; the user pressed
    Ctrl-C, and the command must unwind as for Ctrl-C (exit 130, work folder removed), not report a bug."""
    cause = e.__context__ or e.__cause__
    while cause is not None:
        if not isinstance(cause, Exception):  # KeyboardInterrupt, curate.cli.Terminated
            raise cause.with_traceback(None) from None
        cause = cause.__context__ or cause.__cause__

