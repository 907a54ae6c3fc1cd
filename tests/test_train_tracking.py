"""How a run fits the way people track training: `[report] to` trackers, TensorBoard, resuming, machine-free paths.

Nothing here trains a model: the trackers are checked from the config, TensorBoard files are written and read
back, and wandb/mlflow are only ever validated (they would need the network).
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from curate_train import TrainError
from curate_train.config import TrainConfig, TrainConfigError, load_train_config
from curate_train.metrics import BucketMetrics, GenerationEval, GenerationSettings

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
    from curate_train.recipe import training_arguments

    cfg = TrainConfig.model_validate({"report": {"to": ["tensorboard", "wandb", "mlflow"]}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the current TrainingArguments, no deprecated name
        assert training_arguments(cfg, tmp_path).report_to == ["wandb", "mlflow"]  # TensorBoard: our RUN/tb
        assert training_arguments(TrainConfig(), tmp_path).report_to == []


def test_a_tracker_whose_package_is_missing_stops_the_run_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate_train.recipe import run_training

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

    from curate_train.callbacks import write_generation_scalars

    write_generation_scalars(tmp_path / "tb", [(0, generation(0.0, 0.0)), (12, generation(0.75, 0.5))])
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"generation/overall/format_accuracy", "generation/single_call/tool_call_accuracy",
            "generation/no_call/format_accuracy", "generation/single_call/pass@4"} <= tags
    assert "generation/no_call/tool_call_accuracy" not in tags  # null (no prompt with calls): not a zero
    points = [(e.step, e.value) for e in events.Scalars("generation/single_call/tool_call_accuracy")]
    assert points == [(0, 0.0), (12, 0.5)]


# --- --resume -----------------------------------------------------------------------------------------------


def _trainer_logging_to(path: Path, step: int, initial_step: int) -> Any:
    """An SFTTrainer reduced to what `log` uses, logging through the run's own MetricsLog into `path`."""
    from transformers.trainer_callback import CallbackHandler, TrainerControl, TrainerState

    from curate_train.callbacks import MetricsLog
    from curate_train.recipe import SFTTrainer

    trainer = SFTTrainer.__new__(SFTTrainer)
    trainer.state = TrainerState(global_step=step, epoch=2.0)
    trainer._initial_global_step = initial_step
    trainer.args = SimpleNamespace(include_num_input_tokens_seen="no", process_index=0, world_size=1)
    trainer._logged = [0.0, 0]
    trainer.control = TrainerControl()
    trainer.callback_handler = CallbackHandler([MetricsLog(path)], None, None, None, None)
    return trainer


def test_a_resume_that_trains_no_step_logs_no_train_loss(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    _trainer_logging_to(log, step=24, initial_step=24).log({"train_runtime": 0.5, "train_loss": 0.0})
    _trainer_logging_to(log, step=24, initial_step=12).log({"train_runtime": 9.0, "train_loss": 1.25})
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert rows == [{"step": 24, "train_runtime": 0.5, "epoch": 2.0},
                    {"step": 24, "train_runtime": 9.0, "train_loss": 1.25, "epoch": 2.0}]


def test_training_logs_carry_the_token_weighted_loss_the_overfitting_window_is_made_of(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    trainer = _trainer_logging_to(log, step=10, initial_step=0)
    trainer._logged = [300.0, 200]  # summed token loss and trained tokens since the last log
    trainer.log({"loss": 1.4, "learning_rate": 1e-4})
    trainer.log({"loss": 1.3})  # nothing trained since: no token loss
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["train_token_loss"] == 1.5 and rows[0]["train_tokens"] == 200
    assert "train_token_loss" not in rows[1]


def _eval_split(build: Path) -> None:
    build.mkdir()
    row = {"id": "r1", "bucket": "no_call", "messages": [{"role": "user", "content": "hi"},
                                                        {"role": "assistant", "content": "hello"}]}
    (build / "eval.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")


def test_a_resumed_run_reuses_the_base_models_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import curate_train.generate
    import curate_train.model
    from curate_train.evaluate import BASE_EVAL, evaluate_run
    from curate_train.recipe import TrainResult

    calls: list[str] = []
    monkeypatch.setattr(curate_train.model, "load_for_generation", lambda base, adapter, template: (object(), object()))

    def fake_generation(*args: Any, **kwargs: Any) -> GenerationEval:
        calls.append("generate")
        return generation(0.25, 0.0)

    monkeypatch.setattr(curate_train.generate, "evaluate_generation", fake_generation)
    build, run = tmp_path / "out", tmp_path / "run.partial"
    _eval_split(build)
    run.mkdir()
    base_loss = {"step": 0, "epoch": 0.0, "eval_loss": 3.0, "eval_loss/bucket/no_call": 3.0}

    def evaluate(cfg: TrainConfig) -> Any:
        result = TrainResult(run_dir=run, checkpoints=[], log_history=[base_loss], evaluations=[base_loss],
                             global_step=24, stopped_early=False, model_info=None,  # type: ignore[arg-type]
                             base_model=str(tmp_path / "models" / "tiny-0123456789abcdef"))
        return evaluate_run(result, cfg, build, "tiny", lambda _m: None)

    cfg = TrainConfig.model_validate({"report": {"to": []}})
    first = evaluate(cfg)
    assert calls == ["generate"] and (run / BASE_EVAL).is_file()
    again = evaluate(cfg)  # the run resumed: the base is not evaluated again, and the report is the same
    assert calls == ["generate"]
    assert again.base == first.base and again.base.generation.overall.format_accuracy == 0.25
    evaluate(TrainConfig.model_validate({"report": {"to": []}, "generation": {"samples": 2}}))
    assert calls == ["generate", "generate"]  # other [generation] settings: measured again


def test_a_run_resumed_from_another_runs_checkpoint_takes_its_base_evaluation(tmp_path: Path) -> None:
    from curate_train.checkpoints import copy_for_resume

    source = tmp_path / "run"
    (source / "checkpoint-5").mkdir(parents=True)
    (source / "checkpoint-5" / "trainer_state.json").write_text('{"global_step": 5}', encoding="utf-8")
    (source / "metrics.jsonl").write_text('{"step": 0, "eval_loss": 3.0}\n{"step": 9, "loss": 1.0}\n',
                                          encoding="utf-8")
    (source / "base_eval.json").write_text('{"key": {}}', encoding="utf-8")
    work = tmp_path / "new.partial"
    work.mkdir()
    copy_for_resume(source / "checkpoint-5", work, "metrics.jsonl", also=("base_eval.json",))
    assert (work / "base_eval.json").read_text(encoding="utf-8") == '{"key": {}}'
    assert (work / "metrics.jsonl").read_text(encoding="utf-8") == '{"step": 0, "eval_loss": 3.0}\n'


# --- no path of the machine that trained --------------------------------------------------------------------


def test_cache_keys_count_files_by_content_not_by_where_they_are(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from curate_train.tiny import cached_model

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    for where in ("machine-a/deep/folder", "machine-b"):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "corpus.jsonl").write_text('{"text": "same"}\n', encoding="utf-8")
    (tmp_path / "edited").mkdir()
    (tmp_path / "edited" / "corpus.jsonl").write_text('{"text": "other"}\n', encoding="utf-8")

    def made(where: str) -> Path:
        return cached_model("tiny", ["tiny", 0, tmp_path / where / "corpus.jsonl"],
                            lambda tmp: (tmp / "config.json").write_text("{}", encoding="utf-8"))

    a, b, edited = made("machine-a/deep/folder"), made("machine-b"), made("edited")
    assert a == b and a.parent == tmp_path / "cache" / "models"
    assert edited != a  # the content still counts


def test_checkpoints_name_a_named_base_and_merge_finds_it_again(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import curate_train.packaged
    from curate_train.checkpoints import set_adapter_base
    from curate_train.merge import base_folder

    ckpt = tmp_path / "checkpoint-5"
    ckpt.mkdir()
    (ckpt / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "/home/someone/.cache/curate/models/tiny-pretrained-0123456789abcdef", "r": 8}),
        encoding="utf-8")
    set_adapter_base(ckpt, "tiny")
    config = json.loads((ckpt / "adapter_config.json").read_text(encoding="utf-8"))
    assert config == {"base_model_name_or_path": "tiny", "r": 8}

    here = tmp_path / "cache" / "models" / "tiny-pretrained-fedcba9876543210"
    monkeypatch.setattr(curate_train.packaged, "tiny_dir", lambda log=None: here)
    assert base_folder("tiny") == str(here)  # resolved on the machine that uses the checkpoint
    assert base_folder(str(tmp_path / "my-model")) == str(tmp_path / "my-model")  # a folder stays as it is
