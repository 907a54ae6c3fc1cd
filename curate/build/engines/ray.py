"""The Ray engine of `curate build` (`--engine ray [--address ADDR]`): the stages that scale with the corpus on
a Ray cluster, with Ray Data; every other stage is the build's own, so the output is byte-identical to the
local engine's.

    raw rows ──from_arrow (shards of BATCH_SIZE rows)──▶ map_batches(RayFacts, concurrency=N) ──▶ facts
    signatures ──map_batches(band_rows)──▶ (band, key, member) ──repartition(keys=[band, key])──▶
        map_batches(bucket_edges: pairs of each bucket, verified) ──▶ edges ──▶ connected components

1. **Facts**: the raw rows (read into Arrow on the driver, as the local engine reads them) go to the cluster
   in shards; an actor pool of `num_proc` workers computes each shard's facts with the very code the local
   engine's `Dataset.map` runs (`record_facts_table` → `Worker.batch`: parse, validate, lint, normalise, exact key,
   MinHash, completeness, token count, bucket), one `Worker` per actor. Results come back in order
   (`preserve_order`) and are written to an Arrow file the driver memory-maps, as `Dataset.map` does.
2. **Near-dup clusters**: each signature's LSH band keys become rows (band, key, member); a hash shuffle on
   (band, key) brings every LSH bucket whole into one partition (the group-by per band), where its candidate
   pairs are made as the local engine makes them (`bucket_pairs`: each member with its next ones, capped at
   `MAX_BUCKET`) and verified with the same rule (`verify_pairs`). The driver joins the verified edges into
   clusters with `connected_components`, whose labels depend on the edge set only: the local engine's labels.

A worker that dies is replaced and its shard run again (`max_restarts`, `max_task_retries` / `max_retries`):
every shard's facts depend on its rows alone, so a retried shard gives the same facts. An unreachable
`--address` fails before anything is written.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from curate.build.engines.local import record_facts
from curate.build.errors import BuildError
from curate.build.facts import WorkerSpec, record_facts_features, record_facts_table
from curate.build.raw import BATCH_SIZE

RETRIES = 3
"""How many times a shard is run again after its worker died (then the build fails, writing nothing)."""

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the cluster's address to answer before giving up (Ray itself waits minutes)."""


class RayEngineError(BuildError):
    """The Ray engine cannot run (no Ray installed, cluster unreachable, a stage failed past its retries)."""


def probe(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail fast with a clear message when nothing answers at `address` (`HOST:PORT` or `ray://HOST:PORT`)."""
    client = address.startswith("ray://")
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host:
        host, port = hostport, "10001" if client else "6379"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise RayEngineError(f"cannot reach a Ray cluster at {address} ({e.__class__.__name__}: {e}); start one "
                             f"with `ray start --head` and pass the address it prints") from None


class RayEngine:
    """`curate build --engine ray`: see the module docstring.

    `address`: a running cluster (`HOST:PORT`, `ray://HOST:PORT` or `auto`); None starts a Ray instance on this
    machine for the run (or uses the one this process already started). `num_cpus`: that instance's CPUs.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._owned = False
        self._preserve_order: bool | None = None
        self._progress: bool | None = None
        self._workers = 1

    def start(self) -> None:
        """Connect to (or start) Ray; raises `RayEngineError` before anything is written when it can't."""
        try:
            import ray
            import ray.data
        except ImportError:
            from curate.extras import needs

            raise RayEngineError(needs("the Ray engine needs Ray", "ray")) from None
        if not ray.is_initialized():
            if self.address and self.address != "auto":
                probe(self.address)
            try:
                ray.init(address=self.address, num_cpus=self.num_cpus if self.address is None else None,
                         include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
                         configure_logging=True)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"at {self.address}" if self.address else "on this machine"
                first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
                raise RayEngineError(f"cannot start or reach Ray {where}: {first}") from None
            self._owned = True
        ctx = ray.data.DataContext.get_current()
        self._preserve_order = ctx.execution_options.preserve_order
        self._progress = ctx.enable_progress_bars
        ctx.execution_options.preserve_order = True  # shards' facts come back in input order
        ctx.enable_progress_bars = False

    def stop(self) -> None:
        """Restore Ray Data's settings; shut down (or disconnect from) Ray if `start` started it."""
        import ray
        import ray.data

        if self._preserve_order is not None:
            ctx = ray.data.DataContext.get_current()
            ctx.execution_options.preserve_order = self._preserve_order
            ctx.enable_progress_bars = bool(self._progress)
            self._preserve_order = None
        if self._owned:
            ray.shutdown()
            self._owned = False

    # --- the per-record stages ------------------------------------------------------------------------

    def record_facts(self, raw: Any, sources: Sequence[tuple[int, str]], spec: WorkerSpec, num_proc: int,
              work: Path, fingerprint: str) -> Any:
        """The facts of every raw row, in order, as a memory-mapped `datasets.Dataset` (what `record_facts`
        gives), computed by `num_proc` Ray workers."""
        import pyarrow as pa
        import ray.data
        from datasets import Dataset

        self._workers = num_proc
        table = raw.data.table
        if not len(table):
            return record_facts(raw, sources, spec, num_proc, work, fingerprint)  # nothing to distribute
        shards = [table.slice(start, BATCH_SIZE) for start in range(0, len(table), BATCH_SIZE)]
        with _quiet():
            ds = ray.data.from_arrow(shards).map_batches(
                RayFacts, batch_size=BATCH_SIZE, batch_format="pyarrow", zero_copy_batch=True,
                compute=ray.data.ActorPoolStrategy(size=num_proc),
                fn_kwargs={"spec_json": spec.model_dump_json(), "paths": [p for _, p in sources]},
                max_restarts=RETRIES, max_task_retries=RETRIES)
        schema = record_facts_features(spec).arrow_schema
        path = work / "facts-ray.arrow"
        rows = 0
        with _quiet(), _ray_errors("computing the facts"), pa.OSFile(str(path), "wb") as sink, \
                pa.ipc.new_stream(sink, schema) as writer:  # the IPC stream format `datasets` memory-maps
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                writer.write_table(batch.cast(schema))
                rows += len(batch)
        facts = Dataset.from_file(str(path))
        same = rows == len(table) and all(
            facts.data.column(c).equals(table.column(c)) for c in ("source", "line"))
        if not same:  # the stages after this rely on input order: never go on without it
            raise RayEngineError(f"the Ray engine returned {rows} facts for {len(table)} records, or out of order")
        return facts

    # --- near-duplicate clusters ----------------------------------------------------------------------

    def near_labels(self, sigs: Any, threshold: float) -> np.ndarray:
        """`near_duplicate_labels(sigs, threshold)`, its LSH buckets grouped and verified on the cluster."""
        from curate.dedup import LSH_WEIGHTS, connected_components, lsh_params

        n = len(sigs)
        if n < 2:
            return np.arange(n, dtype=np.int64)
        bands, rows = lsh_params(threshold, sigs.settings.num_perm, *LSH_WEIGHTS)
        i, j = distributed_edges(sigs.values, bands, rows, threshold, partitions=self._workers)
        return connected_components(n, i, j)


class RayFacts:
    """A Ray Data actor computing shards' facts with one `Worker`, built at its first shard and kept, as in a
    `Dataset.map` process. The spec comes with each shard, not to the constructor: an actor restarted after
    its process died must not depend on constructor arguments held in the object store."""

    def __call__(self, batch: Any, spec_json: str, paths: list[str]) -> Any:
        return record_facts_table(batch, spec_json, paths)


def distributed_edges(values: np.ndarray, bands: int, rows: int, threshold: float,
                      partitions: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Verified near-dup edges (i < j) of the signature matrix `values`, grouped by LSH bucket on Ray.

    The pairs are `verified_pairs`'s (possibly repeated: one per band two records share).
    """
    import ray
    import ray.data

    n = len(values)
    ref = ray.put(values)  # one copy in the object store, read zero-copy by every task
    blocks = max(1, min(64, n // 20_000 + 1))
    with _quiet():
        keyed = ray.data.range(n, override_num_blocks=blocks).map_batches(
            band_rows, batch_size=None, batch_format="numpy", fn_args=([ref], bands, rows), max_retries=RETRIES)
        edges = keyed.repartition(max(partitions or 1, blocks), keys=["band", "key"]).map_batches(
            bucket_edges, batch_size=None, batch_format="numpy", fn_args=([ref], threshold), max_retries=RETRIES)
    left: list[np.ndarray] = [np.empty(0, np.int64)]
    right: list[np.ndarray] = [np.empty(0, np.int64)]
    with _quiet(), _ray_errors("grouping the LSH buckets"):
        for batch in edges.iter_batches(batch_size=None, batch_format="numpy"):
            left.append(np.asarray(batch["i"], dtype=np.int64))
            right.append(np.asarray(batch["j"], dtype=np.int64))
    return np.concatenate(left), np.concatenate(right)


def band_rows(batch: dict[str, np.ndarray], ref: Any, bands: int, rows: int) -> dict[str, np.ndarray]:
    """Rows (band, key, member) of a batch of members (`id`): one per band (`ref`: the signature matrix)."""
    import ray

    from curate.dedup import band_keys

    values = ray.get(ref[0])  # zero-copy from the object store (a list: never resolved for us)
    members = np.asarray(batch["id"], dtype=np.int64)
    keys = band_keys(values[members], bands, rows)  # (len, bands)
    return {"band": np.tile(np.arange(bands, dtype=np.int32), len(members)), "key": keys.reshape(-1),
            "member": np.repeat(members, bands)}


def bucket_edges(batch: dict[str, np.ndarray], ref: Any, threshold: float) -> dict[str, np.ndarray]:
    """The verified pairs of the whole LSH buckets in a partition (see `bucket_pairs`, `verify_pairs`)."""
    import ray

    from curate.dedup import bucket_pairs, verify_pairs

    values = ray.get(ref[0])
    i, j = bucket_pairs(np.asarray(batch["band"]), np.asarray(batch["key"]), np.asarray(batch["member"]))
    i, j, _ = verify_pairs(values, values, i, j, threshold)
    return {"i": i, "j": j}


@contextmanager
def _quiet() -> Iterator[None]:
    """Ray Data without its per-run INFO lines and the deprecation of bounded retries (`max_restarts`,
    `max_task_retries`, `max_retries`: Ray Data's defaults retry forever, which hangs a build on a shard that
    always kills its worker)."""
    import warnings

    log = logging.getLogger("ray.data")
    level = log.level
    log.setLevel(logging.ERROR)  # "Starting execution", "Progress bars disabled"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\.data")
            yield
    finally:
        log.setLevel(level)


@contextmanager
def _ray_errors(what: str) -> Iterator[None]:
    """Ray's own failures (a worker lost past its retries, an object lost) as `RayEngineError`; an exception
    of our code on a worker (a bug) as it is."""
    import ray.exceptions

    try:
        yield
    except ray.exceptions.RayError as error:
        if isinstance(error, ray.exceptions.RayTaskError) and not isinstance(
                error, ray.exceptions.WorkerCrashedError | ray.exceptions.RayActorError):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        raise RayEngineError(f"the Ray engine failed {what}: {first}") from None
