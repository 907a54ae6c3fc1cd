"""`curate build --engine ray`: the same bytes as the local engine, distributed near-dup clusters equal to the
local ones, an unreachable cluster, a worker dying mid-stage, and fsspec URLs for inputs and outputs.

One Ray instance with 2 CPUs serves the whole module (start-up costs seconds); the CLI test connects to it
by its address, as a user's `--address` would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from curate.build import build
from curate.buildconfig import BuildConfig
from curate.dedup import DedupConfig
from tests.conftest import REPO, run_cli

ray = pytest.importorskip("ray", reason="the Ray engine needs the `ray` extra")

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = REPO / "sample_data" / "tools.json"


@pytest.fixture(scope="module")
def cluster(cache: str) -> Iterator[str]:
    """A local Ray instance with 2 CPUs; its address, for `--address`."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
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
    from curate.build.facts import record_facts_table

    marker = str(tmp_path / "crashed")

    class DiesOnce:
        """`RayFacts`, but the first worker to claim `marker` (by creating it) dies mid-stage (defined here, so
        Ray ships it to the workers by value)."""

        def __call__(self, batch: Any, spec_json: str, paths: list[str]) -> Any:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return record_facts_table(batch, spec_json, paths)
            os._exit(1)  # Ray restarts the worker and runs the shard again

    monkeypatch.setattr(ray_engine, "RayFacts", DiesOnce)
    out = tmp_path / "ray"
    build([SAMPLE], out, BuildConfig(num_proc=2), [TOOLS], engine=ray_engine.RayEngine())
    assert Path(marker).exists()  # a worker did die (os._exit) in the record facts stage
    assert_same_tree(local_out, out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no work or tmp folder left


def chain_signatures(rng: np.random.Generator, num_perm: int) -> np.ndarray:
    """Rows A, B, C with J(A,B) = J(B,C) = 0.85 and J(A,C) = 0.70: a chain joined only through B."""
    a = rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32)
    b, c = a.copy(), a.copy()
    b[:19] = rng.integers(0, 2**32, 19, dtype=np.uint64).astype(np.uint32)  # B differs from A in 19 slots
    c[:19] = b[:19]
    c[-19:] = rng.integers(0, 2**32, 19, dtype=np.uint64).astype(np.uint32)  # C = B but 19 other slots
    return np.stack([a, b, c])


@pytest.mark.slow
def test_distributed_near_dup_gives_the_local_clusters(cluster: str) -> None:
    from curate.build.engines.ray import RayEngine, distributed_edges
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
