"""`curate train` and `curate merge` as a user runs them: bad input exits 2 with nothing written, and the
whole pipeline (build → train → evaluate → report → merge) on the sample data with the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO, run_cli
from tests.test_train_core import write_build


def test_train_and_merge_are_curate_commands() -> None:
    out = run_cli("--help").stdout
    assert "train" in out and "merge" in out
    assert "--model NAME_OR_PATH" in run_cli("train", "--help").stdout


def test_missing_build_folder_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    res = run_cli("train", str(tmp_path / "nope"), "--model", "tiny", "-o", str(tmp_path / "run"))
    assert res.returncode == 2
    assert "output folder of `curate build`" in res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_unknown_config_key_exits_2_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "train.toml"
    cfg.write_text("[optim]\nlearning_rate = 1e-4\n", encoding="utf-8")
    build = write_build(tmp_path / "build")
    res = run_cli("train", str(build), "--model", "tiny", "--config", str(cfg), "-o", str(tmp_path / "run"))
    assert res.returncode == 2
    assert "train.toml: [optim] learning_rate: unknown key;" in res.stderr and "lr" in res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_model_that_is_not_a_local_folder_exits_2(tmp_path: Path) -> None:
    build = write_build(tmp_path / "build")
    res = run_cli("train", str(build), "--model", str(tmp_path / "no-such-model"), "-o", str(tmp_path / "run"),
                  env={"CURATE_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 2
    assert "no such folder" in res.stderr and "hub" in res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_merge_refuses_a_folder_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    res = run_cli("merge", str(tmp_path), "-o", str(tmp_path / "merged"))
    assert res.returncode == 2 and "adapter_config.json" in res.stderr
    assert not (tmp_path / "merged").exists()


QUICK = """
seed = 0
[optim]
lr = 3e-3
epochs = 2
gradient_checkpointing = false
[data]
tokens_per_batch = 4096
train_limit = 24
eval_limit_per_bucket = 2
[eval]
eval_steps = 4
[generation]
prompts_per_bucket = 1
samples = 3
max_new_tokens = 24
"""


@pytest.mark.slow
@pytest.mark.early
def test_sample_data_build_train_evaluate_report_and_merge(tmp_path: Path) -> None:
    """The README's main job on the sample data, shortened: every report and folder a user relies on."""
    env = {"CURATE_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "out"
    res = run_cli("build", "sample_data/raw.jsonl", "--tools", "sample_data/tools.json", "-o", str(out), env=env)
    assert res.returncode == 0, res.stderr
    cfg = tmp_path / "quick.toml"
    cfg.write_text(QUICK, encoding="utf-8")
    run = tmp_path / "run"
    # builds and pretrains the tiny base in a fresh cache first (1-2 minutes)
    res = run_cli("train", str(out), "--model", "tiny", "--config", str(cfg), "-o", str(run), env=env, timeout=1500)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not run.with_name("run.partial").exists()
    report = json.loads((run / "eval_report.json").read_text(encoding="utf-8"))
    schema = json.loads((REPO / "schemas" / "eval_report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, schema)
    checkpoints = sorted(p.name for p in run.glob("checkpoint-*"))
    assert len(checkpoints) >= 2  # one per epoch, all kept
    assert [c["name"] for c in report["checkpoints"]] == sorted(checkpoints, key=lambda n: int(n.split("-")[1]))
    assert report["base"]["generation"] is not None and report["base"]["eval_loss_by_bucket"]
    assert all(c["generation"] is not None for c in report["checkpoints"])
    verdict = report["graduation"]
    assert isinstance(verdict["ready_for_rl"], bool) and verdict["reasons"]
    assert verdict["recommended"] in checkpoints
    assert "<svg" in (run / "report.html").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(k.startswith("eval_loss/bucket/") for r in rows for k in r)
    assert "ready for RL" in res.stdout or "ready_for_rl" in res.stdout or "RL" in res.stdout

    merged = tmp_path / "merged"
    res = run_cli("merge", str(run / verdict["recommended"]), "-o", str(merged), env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    # no path of this machine in the checkpoint: it names `tiny`, which merge resolved to the cache here
    adapter = json.loads((run / verdict["recommended"] / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["base_model_name_or_path"] == "tiny"
    assert json.loads((merged / "merge.json").read_text(encoding="utf-8"))["base_model"] == "tiny"
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(merged, local_files_only=True)
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert not any(type(m).__name__ == "Linear4bit" for m in model.modules())
