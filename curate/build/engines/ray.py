"""The Ray engine of `curate build` (`--engine ray [--address ADDR]`): the stages that scale with the corpus on
a Ray cluster, with Ray Data; every other stage is the build's own, so the output is byte-identical to the
local engine's.

    JSON Lines inputs ──cut_ranges (driver)──▶ index_range (tasks) ──▶ SpanRows (driver: where each record is)
    byte ranges, other inputs' raw rows ──from_arrow──▶ map_batches(RayFacts, concurrency=N) ──▶ facts
    signatures ──map_batches(band_rows)──▶ (band, key, member) ──repartition(keys=[band, key])──▶
        map_batches(bucket_edges: pairs of each bucket, verified) ──▶ edge blocks (object store)
    edge blocks ──contracted_edges (each block's own components as stars)──▶ P parts by node % P ──▶
        ⟲ star_phase: large-star | small-star, one task per partition, new edges to P parts ──▶
        until two phases change nothing: stars, centre = smallest node ──▶ labels (driver: n int64)

0. **Reading** (`read`): the local JSON Lines inputs are read by the workers (`curate.build.shards`): the
   driver cuts each into byte ranges at line starts, Ray tasks index each range (its line ends; each record's
   line, offset and length), and the driver keeps those compact columns (`SpanRows`), never the records. The
   other inputs (JSON arrays and documents, Parquet, `datasets` folders, remote inputs fetched into the work
   folder) are read into Arrow on the driver, as the local engine reads them.
1. **Facts**: each byte range goes to the cluster as a one-row block, the driver's raw rows in shards of
   `BATCH_SIZE`, in input order; an actor pool of `num_proc` workers reads each range with the local engine's reader
   (`read_range`) and computes the facts with the very code the local engine's `Dataset.map` runs
   (`record_facts_table` → `Worker.batch`: parse, validate, lint, normalise, exact key, MinHash, completeness, token
   count, bucket), one `Worker` per actor. Results come back in order (`preserve_order`; checked against the
   driver's columns) and are written to an Arrow file the driver memory-maps, as `Dataset.map` does. At export the
   chosen records are read back from the inputs by offset.
2. **Near-dup edges**: each signature's LSH band keys become rows (band, key, member); a hash shuffle on
   (band, key) brings every LSH bucket whole into one partition (the group-by per band), where its candidate
   pairs are made as the local engine makes them (`bucket_pairs`: each member with its next ones, capped at
   `MAX_BUCKET`) and verified with the same rule (`verify_pairs`). The verified edges stay in the object store.
3. **Near-dup clusters**: `distributed_components` joins the edges into connected components with Ray tasks
   (large-star / small-star, Kiveris et al. 2014), the edges hash-partitioned by node and shuffled between
   phases; the result is each node's smallest reachable node, what `connected_components` gives, so the labels
   are the local engine's. The driver holds the labels (8 bytes per record) and the refs of a phase's parts;
   of the edges only one part at a time at the end, and the parts under Ray's 100 KB inline limit (Ray keeps
   those with their owner, the driver).

A worker that dies is replaced and its shard run again (`max_restarts`, `max_task_retries` / `max_retries`): every
shard's facts depend on its rows (or its byte range) alone, so a retried shard gives the same facts. An unreachable
`--address` fails before anything is written.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from curate.build.engines.local import record_facts
from curate.build.errors import BuildError
from curate.build.facts import WorkerSpec, record_facts_features, record_facts_table
from curate.build.raw import (
    BATCH_SIZE,
    Piece,
    SpanRows,
    raw_features,
    raw_row,
    raw_table,
    read_raw_dataset,
)

RETRIES = 3
"""How many times a shard is run again after its worker died (then the build fails, writing nothing)."""

PARTITION_EDGES = 1_000_000
"""Verified edges per partition of the connected-components shuffle (at least one partition per worker): a
task holds about this many rows of 2 int64 in each direction."""

PARTITION_BAND_ROWS = 200_000
"""LSH band rows (band, key, member) per partition of the bucket shuffle (at least one partition per worker). A
`bucket_edges` task holds its rows, a copy of their members' signatures (512 B each) and the candidate pairs of
their buckets (up to `MAX_BUCKET` - 1 a row): bounded by this, not by the corpus (the partitions were at most 64
before: 400,000 rows each at 2,000,000 records, 1,400,000 at 10,000,000)."""

MAX_PHASES = 200
"""Phases of the connected components after which the build fails (they settle in tens even on long chains)."""

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

    def read(self, inputs: Sequence[Path], readable: Sequence[bool], work: Path, fingerprint: str,
             max_record_bytes: int, num_proc: int) -> tuple[Any, list[tuple[int, str]]]:
        """The inputs as `SpanRows`: the JSON Lines files among the `readable` inputs cut into byte ranges and
        indexed by Ray tasks (`curate.build.shards`), the other inputs read here (`read_raw_dataset`)."""
        import ray

        from curate.build.shards import cut_ranges, index_range, plan_parts, range_bytes, ranged_bytes, span_rows

        self._workers = num_proc
        parts = plan_parts(inputs, readable, max_record_bytes)
        size = range_bytes(ranged_bytes(parts), num_proc)
        ranges = [cut_ranges(p.path, size) if p.ranged else [] for p in parts]
        index = ray.remote(max_retries=RETRIES)(index_range)
        with _ray_errors("reading the inputs"):
            refs = [[index.remote(str(p.path), a, b, max_record_bytes) for a, b in r]
                    for p, r in zip(parts, ranges, strict=True)]
            driven = [p.path for p in parts if not p.ranged]  # read here while the workers index the others
            raw, raw_sources = read_raw_dataset(driven, work / "raw", fingerprint, max_record_bytes) if driven else \
                (None, [])
            indexes = [ray.get(r) for r in refs]
        for part, found in zip(parts, indexes, strict=True):
            error = next((ix["error"] for ix in found if "error" in ix), None)
            if error is not None:
                raise RayEngineError(f"{part.path}: the Ray workers cannot read it ({error}); they read JSON Lines "
                                     "inputs themselves: put them where every node of the cluster sees them at the "
                                     "same path (a shared filesystem)")
        return span_rows(parts, ranges, indexes, raw, raw_sources, max_record_bytes)

    def record_facts(self, raw: Any, sources: Sequence[tuple[int, str]], spec: WorkerSpec, num_proc: int,
              work: Path, fingerprint: str) -> Any:
        """The facts of every record of `raw` (`read`'s `SpanRows`), in order, as a memory-mapped
        `datasets.Dataset` (what `record_facts` gives), computed by `num_proc` Ray workers: the byte ranges read
        there, the rows the driver read sent there."""
        import pyarrow as pa
        import ray.data
        from datasets import Dataset

        self._workers = num_proc
        if not len(raw):
            return record_facts(raw, sources, spec, num_proc, work, fingerprint)  # nothing to distribute
        with _quiet():
            ds = ray.data.from_arrow(work_items(raw)).map_batches(
                RayFacts, batch_size=None, batch_format="pyarrow", zero_copy_batch=True,
                compute=ray.data.ActorPoolStrategy(size=num_proc),
                fn_kwargs={"spec_json": spec.model_dump_json(), "paths": [p for _, p in sources],
                           "limit": raw.limit},
                max_restarts=RETRIES, max_task_retries=RETRIES)
        schema = record_facts_features(spec).arrow_schema
        path = work / "facts-ray.arrow"
        rows = 0
        with _quiet(), _ray_errors("computing the facts"), pa.OSFile(str(path), "wb") as sink, \
                pa.ipc.new_stream(sink, schema) as writer:  # the IPC stream format `datasets` memory-maps
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                n = len(batch)
                same = rows + n <= len(raw) and all(  # the stages after this rely on input order
                    np.array_equal(batch.column(c).to_numpy(), getattr(raw, c)[rows:rows + n])
                    for c in ("source", "line"))
                if not same:
                    raise RayEngineError(f"the Ray engine returned the facts of records {rows:,} to {rows + n:,} out "
                                         "of order")
                writer.write_table(batch.cast(schema))
                rows += n
        if rows != len(raw):
            raise RayEngineError(f"the Ray engine returned {rows:,} facts for {len(raw):,} records")
        return Dataset.from_file(str(path))

    # --- near-duplicate clusters ----------------------------------------------------------------------

    def near_labels(self, sigs: Any, threshold: float) -> np.ndarray:
        """`near_duplicate_labels(sigs, threshold)`: LSH buckets grouped and verified on the cluster, and the
        clusters joined there (`distributed_components`): the verified edges never come to the driver."""
        from curate.dedup import LSH_WEIGHTS, lsh_params

        n = len(sigs)
        if n < 2:
            return np.arange(n, dtype=np.int64)
        bands, rows = lsh_params(threshold, sigs.settings.num_perm, *LSH_WEIGHTS)
        with _quiet(), _ray_errors("grouping the LSH buckets"):
            edges = edge_dataset(sigs.values, bands, rows, threshold, partitions=self._workers).materialize()
            count, blocks = edges.count(), edges.to_arrow_refs()
        del edges  # its blocks stay in the object store, held by their refs
        partitions = max(self._workers, -(-count // PARTITION_EDGES))
        return distributed_components(n, blocks, partitions)[0]


class RayFacts:
    """A Ray Data actor computing shards' facts (`shard_facts`) with one `Worker`, built at its first shard and
    kept, as in a `Dataset.map` process. The spec comes with each shard, not to the constructor: an actor
    restarted after its process died must not depend on constructor arguments held in the object store."""

    def __call__(self, batch: Any, spec_json: str, paths: list[str], limit: int) -> Iterator[Any]:
        yield from shard_facts(batch, spec_json, paths, limit)


RANGE_KIND = -1
"""The `kind` of a work item that is a byte range of a JSON Lines file (`range_item`), not a raw row."""


def range_item(piece: Piece) -> Any:
    """A work item (a one-row table of raw rows' columns) asking a worker to read the byte range of `piece`:
    `source`, its first `line`, `kind` `RANGE_KIND`, and start and end as the `payload`."""
    import pyarrow as pa

    return pa.table({"source": [piece.source], "line": [piece.first_line], "kind": [RANGE_KIND],
                     "payload": [struct.pack("<qq", piece.start, piece.end)]}, schema=raw_features().arrow_schema)


def work_items(raw: SpanRows) -> list[Any]:
    """The blocks of the facts stage, in input order: a `range_item` per byte range, and the rows the driver read
    in slices of `BATCH_SIZE` (their `source` as `raw` numbers them)."""
    import pyarrow as pa

    table = raw_table(raw)
    items = []
    first = 0  # the piece's first record
    for piece in raw.pieces:
        if piece.source is not None:
            items.append(range_item(piece))
        else:
            for start in range(piece.start, piece.end, BATCH_SIZE):
                rows = table.slice(start, min(BATCH_SIZE, piece.end - start))
                at = first + start - piece.start
                source = pa.array(raw.source[at:at + len(rows)], type=pa.int32())
                items.append(rows.set_column(rows.schema.get_field_index("source"), "source", source))
        first += piece.records
    return items


def shard_facts(batch: Any, spec_json: str, paths: Sequence[str], limit: int) -> Iterator[Any]:
    """The record facts (`record_facts_table`) of a block of the facts stage (`work_items`), `BATCH_SIZE` rows
    at a time: of its raw rows, or of the records of its byte range, read here (`read_range`) into the raw rows
    `RawRows` makes."""
    import pyarrow as pa

    from curate.build.shards import read_range

    kinds = batch.column("kind").to_numpy()
    k = 0
    while k < len(batch):
        if kinds[k] != RANGE_KIND:
            end = k + 1
            while end < len(batch) and kinds[end] != RANGE_KIND:
                end += 1
            yield record_facts_table(batch.slice(k, end - k), spec_json, paths)
            k = end
            continue
        source, first_line = batch.column("source")[k].as_py(), batch.column("line")[k].as_py()
        start, end = struct.unpack("<qq", batch.column("payload")[k].as_py())
        rows: dict[str, list[Any]] = {"source": [], "line": [], "kind": [], "payload": []}
        for rec in read_range(paths[source], start, end, first_line, limit):
            kind, payload = raw_row(rec)
            for name, value in zip(rows, (source, rec.line, kind, payload), strict=True):
                rows[name].append(value)
            if len(rows["line"]) == BATCH_SIZE:
                yield record_facts_table(pa.table(rows, schema=raw_features().arrow_schema), spec_json, paths)
                rows = {name: [] for name in rows}
        if rows["line"]:
            yield record_facts_table(pa.table(rows, schema=raw_features().arrow_schema), spec_json, paths)
        k += 1


SIGNATURE_CHUNK = 1 << 16
"""Signatures per object in the object store (32 MB at 128 permutations); a task gathers the rows it needs from
the chunks."""


def put_signatures(values: Any, chunk: int) -> list[Any]:
    """The signature matrix `values` in the object store, as refs to chunks of `chunk` rows (`gather_signatures`
    reads rows back). A `curate.dedup.spill.RowFile` (the build spills its signatures to one) is read by tasks
    pinned to this node, where the file is, so the chunks are made in the object store by them and the driver
    neither reads nor writes their pages (written by the driver, 512 B a record counted in its RSS); an array, or
    the file of a driver connected as a Ray client (`ray://`: its files are not on any node), is put by the
    driver, a chunk at a time."""
    import ray
    from ray.util.client import ray as client

    from curate.dedup.spill import RowFile

    n = len(values)
    if isinstance(values, RowFile) and not client.is_connected():
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        read = ray.remote(read_signature_rows).options(scheduling_strategy=here, max_retries=RETRIES)
        return [read.remote(str(values.path), n, values.shape[1], start, min(start + chunk, n))
                for start in range(0, n, chunk)]
    refs = []
    for start in range(0, n, chunk):
        part = np.ascontiguousarray(values[start:start + chunk])
        refs.append(ray.put(part))
        del part
    return refs


def read_signature_rows(path: str, n: int, width: int, start: int, stop: int) -> np.ndarray:
    """Rows start..stop-1 of the `RowFile` at `path` (n rows of `width`), read by a task on the driver's node."""
    from curate.dedup.spill import RowFile

    rows = RowFile(Path(path), n, width)
    try:
        return np.array(rows[start:stop])
    finally:
        rows.close()


def gather_signatures(refs: Sequence[Any], chunk: int, members: np.ndarray) -> np.ndarray:
    """Rows `members` of the signature matrix put by `put_signatures` (refs to chunks of `chunk` rows), in that
    order: each chunk read zero-copy from the object store, only the rows asked for copied."""
    import ray

    from curate.dedup import sorted_unique

    members = np.asarray(members, dtype=np.int64)
    which = members // chunk
    out: np.ndarray | None = None
    for c in sorted_unique(which).tolist():
        part = ray.get(refs[c])
        if out is None:
            out = np.empty((len(members), part.shape[1]), dtype=part.dtype)
        at = which == c
        out[at] = part[members[at] - c * chunk]
        del part
    if out is None:  # no row asked for: none, as wide as the matrix
        width = ray.get(refs[0]).shape[1] if len(refs) else 0
        out = np.empty((0, width), dtype=np.uint32)
    return out


def edge_dataset(values: Any, bands: int, rows: int, threshold: float, partitions: int | None = None) -> Any:
    """The verified near-dup edges (columns i < j) of the signature matrix `values` (an array, or a
    `curate.dedup.spill.RowFile`) as a lazy Ray Dataset: LSH band rows shuffled on (band, key), so each bucket is
    whole in one partition, paired and verified there: `bucket_partitions` of them, at least `partitions` (the
    workers). The signatures go to the object store in chunks (`put_signatures`).

    The pairs are `verified_pairs`'s (possibly repeated: one per band two records share).
    """
    import ray.data

    n = len(values)
    chunk = SIGNATURE_CHUNK
    refs = put_signatures(values, chunk)  # a list: Ray never resolves refs inside one for us
    blocks = max(1, min(64, n // 20_000 + 1))
    with _quiet():
        keyed = ray.data.range(n, override_num_blocks=blocks).map_batches(
            band_rows, batch_size=None, batch_format="numpy", fn_args=(refs, chunk, bands, rows),
            max_retries=RETRIES)
        return keyed.repartition(bucket_partitions(n, bands, partitions or 1), keys=["band", "key"]).map_batches(
            bucket_edges, batch_size=None, batch_format="numpy", fn_args=(refs, chunk, threshold),
            max_retries=RETRIES)


def bucket_partitions(n: int, bands: int, least: int) -> int:
    """Partitions of the LSH bucket shuffle for `n` signatures of `bands` bands: one per `PARTITION_BAND_ROWS`
    band rows, at least `least` (the workers), so a task's memory stays the same as the corpus grows."""
    return max(least, -(-n * bands // PARTITION_BAND_ROWS))


def distributed_edges(values: np.ndarray, bands: int, rows: int, threshold: float,
                      partitions: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every edge of `edge_dataset`, collected on the driver (arrays i, j): for checks, not for the build."""
    edges = edge_dataset(values, bands, rows, threshold, partitions)
    left: list[np.ndarray] = [np.empty(0, np.int64)]
    right: list[np.ndarray] = [np.empty(0, np.int64)]
    with _quiet(), _ray_errors("grouping the LSH buckets"):
        for batch in edges.iter_batches(batch_size=None, batch_format="numpy"):
            left.append(np.asarray(batch["i"], dtype=np.int64))
            right.append(np.asarray(batch["j"], dtype=np.int64))
    return np.concatenate(left), np.concatenate(right)


def band_rows(batch: dict[str, np.ndarray], refs: Sequence[Any], chunk: int, bands: int,
              rows: int) -> dict[str, np.ndarray]:
    """Rows (band, key, member) of a batch of members (`id`): one per band (`refs`, `chunk`: the signature
    matrix, see `put_signatures`)."""
    from curate.dedup import band_keys

    members = np.asarray(batch["id"], dtype=np.int64)
    keys = band_keys(gather_signatures(refs, chunk, members), bands, rows)  # (len, bands)
    return {"band": np.tile(np.arange(bands, dtype=np.int32), len(members)), "key": keys.reshape(-1),
            "member": np.repeat(members, bands)}


def bucket_edges(batch: dict[str, np.ndarray], refs: Sequence[Any], chunk: int,
                 threshold: float) -> dict[str, np.ndarray]:
    """The verified pairs of the whole LSH buckets in a partition (see `bucket_pairs`, `verify_pairs`), on the
    signatures of the partition's members only."""
    from curate.dedup import bucket_pairs, sorted_unique, verify_pairs

    member = np.asarray(batch["member"], dtype=np.int64)
    i, j = bucket_pairs(np.asarray(batch["band"]), np.asarray(batch["key"]), member)
    if not len(i):
        return {"i": np.empty(0, np.int64), "j": np.empty(0, np.int64)}
    nodes = sorted_unique(member)
    values = gather_signatures(refs, chunk, nodes)
    keep_i, keep_j, _ = verify_pairs(values, values, np.searchsorted(nodes, i), np.searchsorted(nodes, j), threshold)
    return {"i": nodes[keep_i], "j": nodes[keep_j]}


def distributed_components(n: int, blocks: Sequence[Any], partitions: int) -> tuple[np.ndarray, int]:
    """`connected_components(n, i, j)` of the edges in `blocks` (refs to Arrow tables with int64 columns i, j
    in the object store), computed by Ray tasks; and how many phases it took.

    The two-phase algorithm of Kiveris et al. 2014 ("Connected components in MapReduce and beyond"): the edges
    are hash-partitioned by node (`node % partitions`) and phases alternate until two in a row change nothing:
    large-star (every node's larger neighbours hook onto the smallest node of its neighbourhood) and small-star
    (a node and its smaller neighbours hook onto the smallest of them). Each phase is one shuffle: a task per
    partition groups its edges by node and sends each new edge to its endpoints' partitions for the next phase.
    The edges then form stars, each centred on its component's smallest node (the local labels exactly);
    the phases grow like log(n) on paths and trees, where min-label propagation alone takes their diameter.
    Before the first phase each block is contracted to a star forest of its own components
    (`connected_components` on the block: repeated edges and cliques of near-duplicates shrink to a tree).

    Only nodes touched by an edge take part; every other node keeps its own label. The driver holds the label
    array (n int64: 8 bytes per record), the refs of a phase's partitions² parts, one change count per task,
    and, once done, one part at a time while it writes each star's leaves. Parts under Ray's inline limit
    (100 KB) are held by the driver as their owner: at most partitions² × 100 KB per phase.
    """
    import ray

    parts = max(1, partitions)
    task = ray.remote(max_retries=RETRIES)
    contract = task(contracted_edges).options(num_returns=parts + 1)
    phase = task(star_phase).options(num_returns=parts + 1)
    labels = np.arange(n, dtype=np.int64)
    with _ray_errors("joining the near-duplicate clusters"):
        outs = [contract.remote(block, parts) for block in blocks]
        if not sum(ray.get([out[parts] for out in outs])):
            return labels, 0
        phases, quiet, large = 0, 0, True
        while quiet < 2:  # one quiet phase proves nothing (a leaf may hang off two centres)
            if phases == MAX_PHASES:
                raise RayEngineError(f"the near-duplicate clusters did not settle in {MAX_PHASES} phases")
            outs = [phase.remote(large, parts, *[out[k] for out in outs]) for k in range(parts)]
            quiet = quiet + 1 if sum(ray.get([out[parts] for out in outs])) == 0 else 0
            large, phases = not large, phases + 1
        for out in outs:  # stars: every row (leaf, centre) or (centre, leaf)
            for ref in out[:parts]:
                edges = ray.get(ref)
                leaf = edges[:, 0] > edges[:, 1]
                labels[edges[leaf, 0]] = edges[leaf, 1]
                del edges
    return labels, phases


def contracted_edges(block: Any, partitions: int) -> tuple[Any, ...]:
    """A block of edges as the star forest of its own components (rows (node, its block's smallest node of
    its component)), split for the first large-star phase; and how many rows."""
    from curate.dedup import connected_components

    i = np.asarray(block.column("i"), dtype=np.int64)
    j = np.asarray(block.column("j"), dtype=np.int64)
    nodes, local = np.unique(np.concatenate([i, j]), return_inverse=True)
    labels = connected_components(len(nodes), local[:len(i)], local[len(i):])
    leaf = labels != np.arange(len(nodes))
    edges = np.stack([nodes[leaf], nodes[labels[leaf]]], axis=1)
    return *split_edges(edges, partitions, both=True), len(edges)


def star_phase(large: bool, partitions: int, *parts: np.ndarray) -> tuple[Any, ...]:
    """One partition's large-star or small-star step (`large_star`, `small_star`) on the parts sent to it,
    its edges split for the next phase; and how many changed."""
    edges = np.concatenate([np.empty((0, 2), np.int64), *parts])
    if large:
        out, changed = large_star(edges)
        return *split_edges(out, partitions, both=False), changed
    out, changed = small_star(edges)
    return *split_edges(out, partitions, both=True), changed


_KEY_SPAN = 3_037_000_499
"""Node ids below this pack a row (u, v) into one int64 key u * span + v (span² < 2⁶³): one sort of a column."""


def _grouped(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows (u, v) without self-loops and repeats, sorted by u then v: u, v, each u's first row, its row count.

    Packed into one int64 key per row where ids allow, de-duplicated with `sorted_unique` (not `np.unique`).
    """
    from curate.dedup import sorted_unique

    u, v = edges[:, 0], edges[:, 1]
    span = int(edges.max(initial=0)) + 1
    if span <= _KEY_SPAN:
        keys = sorted_unique((u * span + v)[u != v])
        u, v = keys // span, keys % span
    else:  # ids past 3 billion: rows sorted as rows (slower)
        rows = np.unique(edges[u != v], axis=0)
        u, v = rows[:, 0], rows[:, 1]
    starts = np.flatnonzero(np.diff(u, prepend=-1))
    return u, v, starts, np.diff(np.append(starts, len(u)))


def large_star(edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Large-star over rows (u, v) holding all neighbours v of each u: every neighbour v > u hooks onto
    m = min(u, neighbours of u), rows (v, m) (v > m). Changed: rows whose m is not u (their u had a smaller
    neighbour); none changed means the edges out are the edges in."""
    u, v, starts, counts = _grouped(edges)
    if not len(u):
        return np.empty((0, 2), np.int64), 0
    m = np.repeat(np.minimum(u[starts], v[starts]), counts)  # v sorted within u: its first is the smallest
    up = v > u
    return np.stack([v[up], m[up]], axis=1), int(np.count_nonzero(up & (m < u)))


def small_star(edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Small-star over rows (u, v), v < u, holding all smaller neighbours of each u: u and each of them hook
    onto the smallest, m: rows (u, m) and (v, m) for v ≠ m. Changed: nodes with two smaller neighbours or
    more; none changed means the edges out are the edges in."""
    u, v, starts, counts = _grouped(edges)
    if not len(u):
        return np.empty((0, 2), np.int64), 0
    m = np.repeat(v[starts], counts)
    other = v != m
    out = np.concatenate([np.stack([u[starts], v[starts]], axis=1), np.stack([v[other], m[other]], axis=1)])
    return out, int(np.count_nonzero(counts > 1))


def split_edges(edges: np.ndarray, partitions: int, both: bool) -> list[np.ndarray]:
    """Rows (a, b) split by partition of a (`a % partitions`); `both`: each row also as (b, a), so both
    endpoints see it."""
    if both:
        edges = np.concatenate([edges, edges[:, ::-1]])
    where = (edges[:, 0] % partitions).astype(np.min_scalar_type(partitions))
    order = np.argsort(where, kind="stable")  # a radix sort of 8- or 16-bit partition numbers
    bounds = np.searchsorted(where[order], np.arange(1, partitions))
    return [np.ascontiguousarray(part) for part in np.split(edges[order], bounds)]


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
