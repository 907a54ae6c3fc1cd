"""How a run fits the way people track training: `[report] to` trackers, TensorBoard, resuming, machine-free paths.

Nothing here trains a model: the trackers are checked from the config, TensorBoard files are written and read
back, and wandb/mlflow are only ever validated (they would need the network).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from train import TrainError
from train.config import TrainConfig, TrainConfigError, load_train_config
from train.metrics import BucketMetrics, GenerationEval, GenerationSettings

SETTINGS = GenerationSettings(prompts_per_bucket=2, n_samples=4, temperature=0.7, max_new_tokens=16, seed=0,
                              turns="last")


def generation(fmt: float, tool: float | None) -> GenerationEval:
    def bucket(f: float, t: float | None) -> BucketMetrics:
        return BucketMetrics(prompts=2, samples=8, format_accuracy=f, tool_call_accuracy=t, unique_ratio=0.5,
                             pass_at_k={1: f / 2, 4: f})

    return GenerationEval(settings=SETTINGS, overall=bucket(fmt, tool),
                          buckets={"single_call": bucket(fmt, tool), "no_call": bucket(fmt, None)})


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- [report] to --------------------------------------------------------------------------------------------


def test_trackers_default_to_tensorboard_and_take_wandb_and_mlflow(tmp_path: Path) -> None:
    assert TrainConfig().report.to == ["tensorboard"]
    cfg = load_train_config(write_config(tmp_path, '[report]\nto = ["tensorboard", "wandb", "mlflow"]\n'))
    assert cfg.report.to == ["tensorboard", "wandb", "mlflow"]
    assert load_train_config(write_config(tmp_path, "[report]\nto = []\n")).report.to == []


def test_an_unknown_tracker_is_one_line_listing_the_valid_ones(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[report]\nto = ["tensorbord"]\n')
    with pytest.raises(TrainConfigError) as e:
        load_train_config(path)
    message = str(e.value)
    assert "\n" not in message and str(path) in message and "[report] to[0]" in message
    assert all(name in message for name in ("'tensorboard'", "'wandb'", "'mlflow'"))


def test_the_trainer_reports_to_the_named_trackers_and_tensorboard_goes_to_run_tb(tmp_path: Path) -> None:
    from train.recipe import training_arguments

    cfg = TrainConfig.model_validate({"report": {"to": ["tensorboard", "wandb", "mlflow"]}})
    assert training_arguments(cfg, tmp_path).report_to == ["wandb", "mlflow"]  # TensorBoard: our RUN/tb callback
    assert training_arguments(TrainConfig(), tmp_path).report_to == []


def test_a_tracker_whose_package_is_missing_stops_the_run_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from train.recipe import run_training

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("wandb", "mlflow") else find_spec(name, *a))
    cfg = TrainConfig.model_validate({"report": {"to": ["tensorboard", "wandb", "mlflow"]}})
    build = tmp_path / "out"
    build.mkdir()
    with pytest.raises(TrainError) as e:
        run_training(build, "no-such-model", cfg, tmp_path / "run")
    message = str(e.value)
    assert "\n" not in message and "pip install wandb" in message and "pip install mlflow" in message
    assert "pip install tensorboard" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_generation_metrics_per_bucket_go_to_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from train.callbacks import write_generation_scalars

    write_generation_scalars(tmp_path / "tb", [(0, generation(0.0, 0.0)), (12, generation(0.75, 0.5))])
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"generation/overall/format_accuracy", "generation/single_call/tool_call_accuracy",
            "generation/no_call/format_accuracy", "generation/single_call/pass@4"} <= tags
    assert "generation/no_call/tool_call_accuracy" not in tags  # null (no prompt with calls): not a zero
    points = [(e.step, e.value) for e in events.Scalars("generation/single_call/tool_call_accuracy")]
    assert points == [(0, 0.0), (12, 0.5)]
