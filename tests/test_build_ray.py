"""`curate build --engine ray`: the same bytes as the local engine, distributed near-dup clusters equal to the
local ones (connected components joined on the cluster, on graphs made to need many phases), an unreachable
cluster, a worker dying mid-stage, and fsspec URLs for inputs and outputs.

One Ray instance with 2 CPUs serves the whole module (start-up costs seconds); the CLI test connects to it
by its address, as a user's `--address` would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from curate.build import build
from curate.buildconfig import BuildConfig
from curate.dedup import DedupConfig
from tests.conftest import REPO, run_cli

ray = pytest.importorskip("ray", reason="the Ray engine needs the `ray` extra")
pytestmark = pytest.mark.xdist_group("ray")  # one Ray instance at a time under pytest-xdist (`make test`)

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = REPO / "sample_data" / "tools.json"


@pytest.fixture(scope="module")
def cluster(cache: str) -> Iterator[str]:
    """A local Ray instance with 2 CPUs; its address, for `--address`. Started again once if Ray gives up on its
    own start-up ("node timed out during startup": its raylet and agents get 30 s, which a loaded 2-core CI box
    with the other test process busy can exceed); anything else fails the module."""
    for attempt in (1, 2):
        try:
            ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            break
        except Exception as e:  # Ray raises a bare Exception for it (ray/_private/node.py)
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(e):
                raise
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def local_out(tmp_path_factory: pytest.TempPathFactory, cache: str) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    build([SAMPLE], out, BuildConfig(num_proc=2), [TOOLS])
    return out


def ray_env(cache: str) -> dict[str, str]:
    """The environment a user's shell has for the CLI to join the test's cluster: the cache, and Ray's token
    authentication (on by default since Ray 2.5x; the token is in ~/.ray, the mode in the environment)."""
    env = {"CURATE_CACHE": cache, "HOME": os.environ.get("HOME", str(Path.home()))}
    env.update({k: v for k, v in os.environ.items() if k.startswith("RAY_AUTH")})
    return env


def assert_same_tree(a: Path, b: Path) -> None:
    """Every file of both folders, byte for byte: nothing excluded (the manifest records no engine)."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    assert len(files_a) > 6
    for f in files_a:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


@pytest.mark.slow
def test_cli_ray_engine_at_an_address_writes_what_the_local_engine_writes(
        tmp_path: Path, cluster: str, cache: str, local_out: Path) -> None:
    out = tmp_path / "ray"
    r = run_cli("build", str(SAMPLE), "--tools", str(TOOLS), "-o", str(out), "--num-proc", "2",
                "--engine", "ray", "--address", cluster, env=ray_env(cache))
    assert r.returncode == 0, r.stderr
    assert "ray engine" in " ".join(r.stderr.split()), r.stderr
    assert_same_tree(local_out, out)


@pytest.mark.slow
def test_a_worker_dying_mid_stage_is_retried_and_the_output_is_unchanged(
        tmp_path: Path, cluster: str, local_out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.build.engines import ray as ray_engine

    marker = str(tmp_path / "crashed")

    class DiesOnce:
        """`RayFacts`, but the first worker to claim `marker` (by creating it) dies mid-stage (defined here, so
        Ray ships it to the workers by value)."""

        def __call__(self, batch: Any, spec_json: str, paths: list[str], limit: int) -> Iterator[Any]:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                yield from ray_engine.shard_facts(batch, spec_json, paths, limit)
                return
            os._exit(1)  # Ray restarts the worker and runs the shard again

    monkeypatch.setattr(ray_engine, "RayFacts", DiesOnce)
    out = tmp_path / "ray"
    build([SAMPLE], out, BuildConfig(num_proc=2), [TOOLS], engine=ray_engine.RayEngine())
    assert Path(marker).exists()  # a worker did die (os._exit) in the record facts stage
    assert_same_tree(local_out, out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no work or tmp folder left


def hostile_copy(path: Path, limit: int) -> None:
    """The sample corpus's first 400 records at `path` with every oddity a JSON Lines reader meets: a BOM on line
    1, CRLF line ends, blank and whitespace lines, a record over `limit` bytes (longer than the ranges the tests
    cut: a cut falls in it), bad UTF-8, invalid JSON, and no line end after the last line."""
    lines = SAMPLE.read_bytes().splitlines()[:400]
    record = json.loads(lines[5])
    record["messages"][0]["content"] = "long " * limit
    out = [b"\xef\xbb\xbf" + lines[0] + b"\r\n"]
    for k, line in enumerate(lines[1:], 1):
        out.append(line + (b"\r\n" if k % 3 == 0 else b"\n"))
        if k % 50 == 0:
            out.append(b"\n" if k % 100 else b"  \t\r\n")
        if k == 120:
            out.append(json.dumps(record).encode() + b"\n")
        if k == 200:
            out.append(b'{"id": "bad-utf8", "messages": [{"role": "user", "content": "\xff"}]}\n{"id": \n')
    path.write_bytes(b"".join(out).rstrip(b"\r\n"))


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> int:
    """Ranges of 40 KB: the inputs below are cut into many, read by both workers."""
    from curate.build import shards

    monkeypatch.setattr(shards, "RANGE_BYTES", 40_000)
    return 40_000


@pytest.mark.slow
def test_inputs_read_by_ranges_on_the_workers_build_what_the_local_engine_builds(
        tmp_path: Path, cluster: str, small_ranges: int, local_out: Path) -> None:
    from curate.build.engines.local import LocalEngine
    from curate.build.engines.ray import RayEngine
    from curate.build.raw import HELD_AS_ERROR, HELD_IN_FILE, SpanRows

    limit = 60_000
    hostile = tmp_path / "hostile.jsonl"
    hostile_copy(hostile, limit)
    inputs, cfg = [SAMPLE, hostile], BuildConfig(num_proc=2, max_record_bytes=limit)
    build(inputs, tmp_path / "local", cfg, [TOOLS])
    build(inputs, tmp_path / "ray", cfg, [TOOLS], engine=RayEngine())
    assert_same_tree(tmp_path / "local", tmp_path / "ray")
    unreadable = json.loads((tmp_path / "ray" / "manifest.json").read_text())["unreadable"]
    sample = json.loads((local_out / "manifest.json").read_text())["unreadable"]  # the sample's own
    assert unreadable["RS001 over max_record_bytes"] == 1 and "RS001 over max_record_bytes" not in sample
    assert unreadable["RS001 invalid UTF-8"] == sample.get("RS001 invalid UTF-8", 0) + 1

    engine = RayEngine()  # the records' sources and lines: the local engine's
    span, sources = engine.read(inputs, [True, True], tmp_path, "fp", limit, 2)
    raw, local_sources = LocalEngine().read(inputs, [True, True], tmp_path, "fp", limit, 2)
    assert isinstance(span, SpanRows) and sources == local_sources
    assert len({p.source for p in span.pieces}) == 2 and len(span.pieces) > SAMPLE.stat().st_size // small_ranges
    assert span.source.tolist() == raw.data.table.column("source").to_pylist()
    assert span.line.tolist() == raw.data.table.column("line").to_pylist()
    assert set(span.held.tolist()) == {HELD_IN_FILE, HELD_AS_ERROR}


@pytest.mark.slow
def test_mixed_inputs_on_the_ray_engine_build_what_the_local_engine_builds(
        tmp_path: Path, cluster: str, small_ranges: int) -> None:
    """JSON Lines files (read by the workers) between a JSON array and a Parquet file (read by the driver), in a
    folder and given alone, one with no record: the same output, records in input order and numbered alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.build.engines.ray import RayEngine

    lines = SAMPLE.read_bytes().splitlines()
    records = [json.loads(line) for line in lines[600:700]]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b"\n".join(lines[:300]) + b"\n")
    (folder / "b.json").write_text(json.dumps(records[:50]))
    (folder / "c.jsonl").write_bytes(b"\n\n")
    pq.write_table(pa.table({"id": [r["id"] for r in records[50:]],
                             "messages": [json.dumps(r["messages"]) for r in records[50:]]}), tmp_path / "d.parquet")
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(lines[300:600]))
    inputs = [folder, tmp_path / "d.parquet", tmp_path / "e.jsonl"]
    cfg = BuildConfig(num_proc=2)
    build(inputs, tmp_path / "local", cfg, [TOOLS])
    build(inputs, tmp_path / "ray", cfg, [TOOLS], engine=RayEngine())
    assert_same_tree(tmp_path / "local", tmp_path / "ray")
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert [f["records"] for f in manifest["inputs"]] == [350, 50, 300]


@pytest.mark.slow
def test_an_input_the_workers_cannot_open_stops_the_build_naming_it(
        tmp_path: Path, cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a cluster without a shared filesystem a worker cannot open the input: one line naming it, saying what
    to do, and nothing written."""
    from curate.build import shards
    from curate.build.engines.ray import RayEngine
    from curate.build.errors import BuildError

    def elsewhere(path: str, start: int, end: int, limit: int) -> dict[str, Any]:
        return shards.index_range(str(tmp_path / "not-on-this-node.jsonl"), start, end, limit)

    monkeypatch.setattr(shards, "index_range", elsewhere)
    out = tmp_path / "out"
    with pytest.raises(BuildError) as e:
        build([SAMPLE], out, BuildConfig(num_proc=2), [TOOLS], engine=RayEngine())
    assert str(e.value).startswith(f"{SAMPLE}: the Ray workers cannot read it (FileNotFoundError: ")
    assert "shared filesystem" in str(e.value) and "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def chain_signatures(rng: np.random.Generator, num_perm: int) -> np.ndarray:
    """Rows A, B, C with J(A,B) = J(B,C) = 0.85 and J(A,C) = 0.70: a chain joined only through B."""
    a = rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32)
    b, c = a.copy(), a.copy()
    b[:19] = rng.integers(0, 2**32, 19, dtype=np.uint64).astype(np.uint32)  # B differs from A in 19 slots
    c[:19] = b[:19]
    c[-19:] = rng.integers(0, 2**32, 19, dtype=np.uint64).astype(np.uint32)  # C = B but 19 other slots
    return np.stack([a, b, c])


@pytest.mark.slow
def test_distributed_near_dup_gives_the_local_clusters(cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.build.engines import ray as ray_engine
    from curate.build.engines.ray import RayEngine, distributed_edges

    monkeypatch.setattr(ray_engine, "SIGNATURE_CHUNK", 37)  # the signatures in many objects: tasks gather across
    monkeypatch.setattr(ray_engine, "PARTITION_BAND_ROWS", 500)  # the engine's buckets in ~30 partitions
    from curate.dedup import (
        LSH_WEIGHTS,
        MAX_BUCKET,
        DedupEntry,
        DedupStage,
        MinHashSettings,
        Signatures,
        deduplicate_entries,
        lsh_params,
        near_duplicate_labels,
        verified_pairs,
    )

    cfg = DedupConfig(exact=False)
    settings = MinHashSettings.from_config(cfg)
    n_perm, rng = settings.num_perm, np.random.default_rng(7)
    parts = [rng.integers(0, 2**32, (400, n_perm), dtype=np.uint64).astype(np.uint32)]  # singletons
    for _ in range(20):  # chains A~B~C, A and C not near each other
        parts.append(chain_signatures(rng, n_perm))
    big = np.repeat(rng.integers(0, 2**32, (1, n_perm), dtype=np.uint64).astype(np.uint32), MAX_BUCKET + 40, 0)
    big[:, :8] = rng.integers(0, 2**32, (len(big), 8), dtype=np.uint64).astype(np.uint32)  # one bucket > MAX_BUCKET
    parts.append(big)
    values = np.concatenate(parts)
    values = values[rng.permutation(len(values))]  # members scattered over the shuffle's partitions
    sigs = Signatures(values, settings)
    a, c = chain_signatures(np.random.default_rng(1), n_perm)[[0, 2]]
    assert np.count_nonzero(a == c) / n_perm < cfg.threshold  # the chain's ends alone would not be joined

    bands, rows = lsh_params(cfg.threshold, n_perm, *LSH_WEIGHTS)
    i, j = distributed_edges(values, bands, rows, cfg.threshold, partitions=3)
    li, lj, _ = verified_pairs(sigs, cfg.threshold)
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == set(zip(li.tolist(), lj.tolist(), strict=True))

    engine = RayEngine()
    labels = near_duplicate_labels(sigs, cfg.threshold)
    assert np.array_equal(engine.near_labels(sigs, cfg.threshold), labels)
    sizes = np.bincount(labels)
    assert (sizes == 3).sum() == 20 and sizes.max() == MAX_BUCKET + 40  # chains and the big bucket, whole

    entries = [DedupEntry(f"r{k:04d}", k % 3 == 0, k % 2 == 0) for k in range(len(values))]
    warnings = [k % 4 for k in range(len(values))]
    local = deduplicate_entries(entries, cfg, warnings, signatures=sigs)
    stage = DedupStage(entries, cfg, warnings)
    near = stage.survivor_signatures(sigs)
    distributed = stage.result(near, engine.near_labels(near, cfg.threshold))
    assert distributed == local
    assert local.counts["clusters"] == 21


def test_the_bucket_shuffle_has_more_partitions_as_the_corpus_grows_not_bigger_ones() -> None:
    """A `bucket_edges` task's memory is its partition's band rows and their pairs: the partitions grow with the
    corpus (at least one per worker), so each stays at about `PARTITION_BAND_ROWS` rows."""
    from curate.build.engines.ray import PARTITION_BAND_ROWS, bucket_partitions

    assert bucket_partitions(100, 14, 2) == 2  # the sample: one per worker
    for n in (1_000_000, 2_000_000, 10_000_000):
        parts = bucket_partitions(n, 14, 2)
        assert n * 14 / parts <= PARTITION_BAND_ROWS < n * 14 / (parts - 1)
    assert bucket_partitions(10_000_000, 14, 2) == 5 * bucket_partitions(2_000_000, 14, 2)


def test_signatures_go_to_the_object_store_in_chunks_and_come_back_row_by_row(cluster: str, tmp_path: Path) -> None:
    """The driver puts the signatures a chunk at a time, read from the file the build spilled them to (`RowFile`);
    a task gathers any rows, in any order, from the chunks."""
    from curate.build.engines.ray import gather_signatures, put_signatures
    from curate.dedup.spill import RowFile

    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**32, (300, 16), dtype=np.uint64).astype(np.uint32)
    spilled = RowFile.write(tmp_path / "sigs.u32", [values[:100], values[100:]], 16)
    refs = put_signatures(spilled, chunk=64)
    assert len(refs) == 5 and all(len(ray.get(r)) <= 64 for r in refs)
    pick = rng.integers(0, 300, 120)
    assert np.array_equal(gather_signatures(refs, 64, pick), values[pick])
    assert gather_signatures(refs, 64, np.empty(0, np.int64)).shape == (0, 16)


def edge_blocks(i: np.ndarray, j: np.ndarray, sizes: Sequence[int]) -> list[Any]:
    """Edges (i, j) as refs to Arrow blocks of the given sizes, in the object store (what `edge_dataset` leaves)."""
    import pyarrow as pa

    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == len(i)
    return [ray.put(pa.table({"i": i[a:b], "j": j[a:b]})) for a, b in pairwise(bounds)]


def path_graph(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A path through all n nodes, its nodes numbered at random and its edges in random order and direction."""
    order = rng.permutation(n)
    i, j = order[:-1], order[1:]
    flip = rng.random(n - 1) < 0.5
    edges = rng.permutation(n - 1)
    return np.where(flip, j, i)[edges], np.where(flip, i, j)[edges]


def random_graph(rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
    """Stars (centres at random ids), a sorted path, random edges, repeats, self-loops, isolated nodes."""
    n = 500
    centres = rng.choice(n, 4, replace=False)
    star = [(c, leaf) for c in centres for leaf in rng.choice(n, 12, replace=False)]
    path = [(k, k + 1) for k in range(300, 340)]
    loose = rng.integers(0, n, (60, 2)).tolist()
    loops = [(k, k) for k in rng.choice(n, 10)]
    edges = np.array(star + path + loose + loops, dtype=np.int64)
    edges = np.concatenate([edges, edges[rng.choice(len(edges), 40)][:, ::-1]])  # repeated, either way round
    edges = edges[rng.permutation(len(edges))]
    return n, edges[:, 0], edges[:, 1]


def sizes_of(total: int, rng: np.random.Generator, largest: int) -> list[int]:
    """Random block sizes from 1 to `largest` adding up to `total`."""
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(1, largest + 1)), total - sum(sizes)))
    return sizes


@pytest.mark.slow  # (the module's Ray instance: seconds to start)
@pytest.mark.parametrize("partitions", [1, 3])
def test_distributed_components_of_a_long_path_take_few_phases(cluster: str, partitions: int) -> None:
    from curate.build.engines.ray import distributed_components
    from curate.dedup import connected_components

    n, rng = 201, np.random.default_rng(11)
    i, j = path_graph(n, rng)
    # blocks of 10 of the path's edges, in random order: little for a block to contract on its own
    labels, phases = distributed_components(n, edge_blocks(i, j, [10] * 20), partitions)
    assert np.array_equal(labels, connected_components(n, i, j))
    assert (labels == 0).all()
    # min-label propagation alone would take the path's length (200 steps); the stars' shortcuts take ~log n
    assert 2 < phases <= 24, phases


@pytest.mark.slow
def test_distributed_components_equal_the_local_ones(cluster: str) -> None:
    from curate.build.engines.ray import distributed_components
    from curate.dedup import connected_components

    for seed in range(4):
        rng = np.random.default_rng(seed)
        n, i, j = random_graph(rng)
        want = connected_components(n, i, j)
        labels, _ = distributed_components(n, edge_blocks(i, j, sizes_of(len(i), rng, 8 + 30 * seed)), 1 + seed % 3)
        assert np.array_equal(labels, want), seed
        assert len(np.unique(want)) > 50  # isolated nodes among them: they keep their own id
    empty = edge_blocks(np.empty(0, np.int64), np.empty(0, np.int64), [0, 0])
    labels, phases = distributed_components(7, empty, 2)
    assert np.array_equal(labels, np.arange(7)) and phases == 0


def test_star_steps_take_node_ids_past_the_packed_key_range() -> None:
    from curate.build.engines.ray import large_star, small_star

    rng = np.random.default_rng(5)
    edges = rng.integers(0, 40, (200, 2))
    shift = 4_000_000_000  # id * id overflows int64: rows are sorted as rows
    for step, rows in ((large_star, edges), (small_star, edges[edges[:, 0] > edges[:, 1]])):
        small, changed = step(rows)
        large, changed_large = step(rows + shift)
        assert changed == changed_large > 0
        assert np.array_equal(np.unique(small, axis=0) + shift, np.unique(large, axis=0))


def test_unreachable_address_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, cache: str) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "new" / "out"
    r = run_cli("build", str(SAMPLE), "--tools", str(TOOLS), "-o", str(out), "--engine", "ray",
                "--address", f"127.0.0.1:{port}", env={"CURATE_CACHE": cache}, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("curate: error: cannot reach a Ray cluster at 127.0.0.1:") and "ray start" in lines[0]
    assert not (tmp_path / "new").exists()


def test_address_needs_the_ray_engine(tmp_path: Path) -> None:
    r = run_cli("build", str(SAMPLE), "-o", str(tmp_path / "o"), "--address", "127.0.0.1:6379")
    assert r.returncode == 2 and r.stderr.strip() == "curate: error: --address needs --engine ray"


@pytest.mark.slow
def test_inputs_and_output_as_fsspec_urls(tmp_path: Path, local_out: Path) -> None:
    import fsspec

    # file:// URLs are read and written in place
    out = tmp_path / "via-file-url"
    build([f"file://{SAMPLE}"], f"file://{out}", BuildConfig(num_proc=2), [f"file://{TOOLS}"])
    for f in ("train.jsonl", "eval.jsonl", "clusters.jsonl"):
        assert (out / f).read_bytes() == (local_out / f).read_bytes(), f
    manifest = (out / "manifest.json").read_text()
    assert manifest.replace(f"file://{SAMPLE}", str(SAMPLE)) == (local_out / "manifest.json").read_text()

    # any other fsspec URL goes through fsspec: copied in, built here, uploaded under a temporary name, moved
    mem = fsspec.filesystem("memory")
    mem.pipe("/in/raw.jsonl", SAMPLE.read_bytes())
    mem.pipe("/in/tools.json", TOOLS.read_bytes())
    try:
        build(["memory://in/raw.jsonl"], "memory://built/out", BuildConfig(num_proc=2), ["memory://in/tools.json"])
        for f in ("train.jsonl", "eval.jsonl", "clusters.jsonl", "hf/train/state.json"):
            assert mem.cat(f"/built/out/{f}") == (local_out / f).read_bytes(), f
        assert sorted(p.rsplit("/", 1)[-1] for p in mem.ls("/built", detail=False)) == ["out"]
    finally:
        mem.rm("/in", recursive=True)
        if mem.exists("/built"):
            mem.rm("/built", recursive=True)
