"""Trainer callbacks of a run: early stopping, the metrics log, TensorBoard and a readable console log.

TensorBoard (`[report] to`, the default) is written to RUN/tb: the Trainer's logs during training, then the
generation metrics per bucket of the base (step 0) and of every checkpoint (its step) once they are evaluated
(`write_generation_scalars`).

Early stopping is our own rather than transformers' `EarlyStoppingCallback`: that one needs
`metric_for_best_model` and `load_best_model_at_end` (which ties checkpoints to evaluations), and
it moves its reference on any improvement, however small, so a loss that creeps down by 0.001 an
evaluation never stops. Here an evaluation counts as progress only when it beats the best so far
by at least `min_delta` (the best is only then updated), and training stops after `patience`
evaluations without progress, saving a checkpoint of where it stopped. Its state is saved in every
checkpoint, so a resumed run keeps counting where it left off.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.integrations import TensorBoardCallback
from transformers.trainer_callback import ExportableState

from curate.terminal import NAME_LIMIT, clean

if TYPE_CHECKING:
    from curate_train.metrics import GenerationEval


class EarlyStopping(TrainerCallback, ExportableState):
    """Stop after `patience` evaluations whose `eval_loss` is not at least `min_delta` below the best."""

    def __init__(self, patience: int = 3, min_delta: float = 0.01, best: float | None = None,
                 bad_evaluations: int = 0) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = best
        self.bad_evaluations = bad_evaluations
        self.stopped_at: int | None = None

    def update(self, loss: float) -> bool:
        """Record one evaluation; True when training should stop."""
        if self.best is None or loss <= self.best - self.min_delta:
            self.best = loss
            self.bad_evaluations = 0
        else:
            self.bad_evaluations += 1
        return self.bad_evaluations >= self.patience

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: dict[str, float] | None = None, **kwargs: Any) -> TrainerControl:
        loss = (metrics or {}).get("eval_loss")
        if loss is None or not math.isfinite(loss):
            return control
        if self.update(loss):
            control.should_training_stop = True
            control.should_save = True  # keep the state training stopped in, not only the last epoch's
            self.stopped_at = state.global_step
        return control

    def state(self) -> dict[str, Any]:
        return {"args": {"patience": self.patience, "min_delta": self.min_delta, "best": self.best,
                         "bad_evaluations": self.bad_evaluations}, "attributes": {}}


class CheckpointPolicy(TrainerCallback):
    """Every checkpoint gets an evaluation at its own step, and the last state is always saved.

    The Trainer evaluates every `eval_steps` and saves at epoch ends; those steps rarely coincide,
    and a run that ends between epochs (`max_steps`) would not save its last state. This evaluates
    at every epoch end (unless that step was just evaluated) and saves at the last step, so that
    each checkpoint has its eval losses in the log history at its own step.
    """

    def __init__(self) -> None:
        self.last_eval_step = -1

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> TrainerControl:
        at_epoch_end = state.epoch is not None and float(state.epoch).is_integer()
        if state.global_step >= state.max_steps and not at_epoch_end:
            control.should_save = True
        return control

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> TrainerControl:
        if self.last_eval_step != state.global_step:
            control.should_evaluate = True
        return control

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        self.last_eval_step = state.global_step


class KeepBaseEvaluation(TrainerCallback):
    """Put the evaluation made before training (the base model's, at step 0) into the log history.

    `Trainer.train` starts a fresh `TrainerState`, so an evaluation logged before it is not in the
    history that checkpoints save and `TrainResult` reads; this adds it back at the start.
    """

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        if state.global_step == 0 and self.entry not in state.log_history:
            state.log_history.insert(0, self.entry)


class MetricsLog(TrainerCallback):
    """Append every log entry (training loss, eval losses per bucket) to RUN/metrics.jsonl, one JSON a line.

    A training entry (one with `loss`) also gets what this process measured over the optimizer steps since the
    previous training entry (`throughput`): `tokens_per_second` (input tokens other than padding, the Trainer's
    `num_input_tokens_seen`, over the time spent in those steps, evaluations left out), `trained_tokens_per_second`
    (the tokens the loss is computed on, the recipe's `train_tokens`), and memory: `peak_rss_mb`, this process's
    peak resident set size so far (MiB), and on a GPU `cuda_peak_mb`, the peak memory torch allocated on it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.step_time = 0.0
        self.tokens_seen: int | None = None
        self._started: float | None = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        self.step_time, self.tokens_seen = 0.0, state.num_input_tokens_seen  # a resumed run's count so far

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                      **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if self._started is not None:
            self.step_time += time.perf_counter() - self._started
            self._started = None

    def throughput(self, logs: dict[str, Any], tokens_seen: int | None) -> dict[str, float]:
        """Tokens per second over the steps since the last training entry, and peak memory; then start again."""
        out: dict[str, float] = {}
        if self.step_time > 0:
            if tokens_seen is not None and self.tokens_seen is not None and tokens_seen >= self.tokens_seen:
                out["tokens_per_second"] = round((tokens_seen - self.tokens_seen) / self.step_time, 3)
            if isinstance(logs.get("train_tokens"), int | float):
                out["trained_tokens_per_second"] = round(logs["train_tokens"] / self.step_time, 3)
        out.update(peak_memory())
        self.step_time, self.tokens_seen = 0.0, tokens_seen
        return out

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        entry = {"step": state.global_step, **logs}
        if "loss" in logs:
            entry.update(self.throughput(logs, state.num_input_tokens_seen))
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")


def peak_memory() -> dict[str, float]:
    """`peak_rss_mb`: this process's peak resident set size (MiB, `resource.getrusage`); with CUDA, `cuda_peak_mb`:
    the peak memory torch allocated on the current device (MiB)."""
    import resource
    import sys

    import torch

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    out = {"peak_rss_mb": round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def truncate_metrics(path: Path, step: int) -> None:
    """Drop entries logged after `step` (a resumed run logs them again); replaced whole, never half-written."""
    from curate_train.checkpoints import metrics_until

    if not path.exists():
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text("".join(line + "\n" for line in metrics_until(path, step)), encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


class TensorBoard(TensorBoardCallback):
    """transformers' TensorBoard callback writing into a folder of our choosing (RUN/tb)."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.logging_dir = str(log_dir)


GENERATION_SCALARS = ("format_accuracy", "stop_rate", "parse_rate", "schema_valid_rate", "tool_name_accuracy",
                      "arg_match", "tool_call_accuracy", "answer_match", "unique_ratio", "pairwise_ratio")
"""The per-bucket generation metrics (`curate_train.metrics.BucketMetrics`) written to TensorBoard, with pass@k."""


def generation_scalars(generation: GenerationEval) -> dict[str, float]:
    """TensorBoard tags and values of one model's generation metrics: `generation/<bucket>/<metric>` and
    `generation/<bucket>/pass@<k>`, the bucket `overall` for all prompts; metrics that are null are left out."""
    out: dict[str, float] = {}
    for bucket, m in [("overall", generation.overall), *sorted(generation.buckets.items())]:
        for name in GENERATION_SCALARS:
            value = getattr(m, name)
            if value is not None:
                out[f"generation/{bucket}/{name}"] = float(value)
        for k, value in sorted(m.pass_at_k.items()):
            out[f"generation/{bucket}/pass@{k}"] = float(value)
    return out


def write_generation_scalars(log_dir: Path, by_step: list[tuple[int, GenerationEval]]) -> None:
    """Add the generation metrics of the base (step 0) and of every checkpoint (its step) to the run's TensorBoard
    folder, beside the losses the Trainer logged there."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for step, generation in by_step:
            for tag, value in generation_scalars(generation).items():
                writer.add_scalar(tag, value, step)
    finally:
        writer.close()


class ConsoleLog(TrainerCallback):
    """Readable progress lines for the run log, instead of raw dictionaries or progress bars.

    Bucket names come from the data: they are shown with control characters made visible and
    shortened (`curate.terminal.clean`); `say` is plain text (the CLI escapes it for Rich)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:  # one log for a run of N processes
            return
        where = (f"step {state.global_step}/{state.max_steps} (epoch {state.epoch or 0:.2f})" if state.max_steps
                 else "base model, before training")
        if "eval_loss" in logs:
            buckets = {k.split("/", 2)[2]: v for k, v in logs.items() if k.startswith("eval_loss/bucket/")}
            detail = ", ".join(f"{clean(k, NAME_LIMIT)} {v:.3f}" for k, v in buckets.items())  # names from data
            self.say(f"{where}: eval loss {logs['eval_loss']:.4f}" + (f" (by bucket: {detail})" if detail else ""))
        elif "loss" in logs:
            self.say(f"{where}: loss {logs['loss']:.4f}, lr {logs.get('learning_rate', 0):.2e}, "
                     f"grad norm {logs.get('grad_norm', float('nan')):.3f}")
        elif "train_runtime" in logs:
            self.say(f"training done in {logs['train_runtime']:.1f} s, "
                     f"{logs.get('train_samples_per_second', 0):.2f} batches/s")
