"""The SFT recipe: config in, model built, data built, Trainer loop with per-bucket evaluation, checkpoints.

    run_training(build_dir, model, cfg, run_dir, resume=None) -> TrainResult

Read top to bottom, `run_training` does what a nanoGPT-style script does, on the `transformers`
Trainer where it saves real work (schedules, gradient accumulation, checkpoints, resume):

1. seed everything (`transformers.set_seed`; the batch plan and the Trainer's sampler are seeded);
2. load the 4-bit base with LoRA (`curate_train.model.load_model`) and the masked train and eval examples
   of the build (`curate_train.data`), checking everything before anything is written;
3. train: cosine schedule with warmup, AdamW with weight decay, gradient accumulation and
   checkpointing; every `eval_steps` steps the eval loss on assistant tokens, overall, per
   capability bucket and per length bucket; a checkpoint at every epoch, all kept; early stopping
   on eval loss; logs to RUN/metrics.jsonl and the trackers of `[report] to` (TensorBoard: RUN/tb;
   a tracker whose package is missing stops the run before the model loads, `check_trackers`);
4. return the checkpoints, so the caller can evaluate each of them and the base by generation.

The base model's eval losses are measured too, at step 0 before the first update (LoRA starts as
the identity), and every checkpoint has an evaluation at its own step, so per-bucket losses of the
base and of each checkpoint sit side by side in the log history.

The loss is the mean cross-entropy over trained (assistant) tokens of the whole accumulated step,
however the tokens fall into batches: each batch returns its summed loss divided by the number of
trained tokens of all the batches of the step, so packed and padded runs optimise the same thing.
Logits are computed only at the positions that predict a trained token (`logits_to_keep`), which
skips the output head for the masked ~90% of a tool-using conversation (its system prompt and tool
results).

Where a run lives while it runs: RUN.partial/ beside RUN/. Checkpoints can be inspected there
during a long run; a run that fails or is killed leaves RUN.partial/ (never a RUN/ that looks
finished) and `--resume RUN.partial/checkpoint-N` continues it in place. When training (and, if the
caller asks for `finalize=False`, the caller's evaluation) is done, RUN.partial/ is renamed to
RUN/. A finished RUN/ is never changed again: `--resume RUN/checkpoint-N -o NEW` trains on in
NEW.partial/ from a copy of that checkpoint (`curate_train.checkpoints.copy_for_resume`). Every resume
checks the checkpoint first (`curate_train.checkpoints.checkpoint_damage`), before anything is written.
RUN.partial/ holds run.json from its first moment (complete: false), so it is known to be a run;
a folder at -o that `curate train` did not write is never used, and `/`, the current folder, home,
the build folder or a folder holding it are refused outright (`check_run_output`).

Checkpoints are written beside and renamed into place (`SFTTrainer._save_checkpoint`), so a run
stopped mid-save (a full disk, SIGTERM) leaves only whole checkpoints to resume from.

Under `torchrun` / `accelerate launch` (N processes, data parallel; `curate_train.distributed`) every
process runs this same function: each trains on 1 in N of the planned batches (the Trainer's
sampler and accelerate shard them), one optimizer step covers N x `grad_accumulation` batches, the
eval loss is summed per bucket across processes before any mean, and only process 0 writes
RUN.partial/ and renames it; the others wait at barriers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F
from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from curate.mask import IGNORE
from curate.outputs import protected_reason, run_marker
from curate_train import TrainError, quiet_libraries
from curate_train.callbacks import (
    CheckpointPolicy,
    ConsoleLog,
    EarlyStopping,
    KeepBaseEvaluation,
    MetricsLog,
    TensorBoard,
    truncate_metrics,
)
from curate_train.checkpoints import (
    TRAINER_STATE,
    checkpoint_damage,
    checkpoint_folders,
    copy_for_resume,
    install,
    latest_whole,
    partial_dir,
    remove_stale_staging,
    set_adapter_base,
    staging_dir,
    trainer_step,
    whole_checkpoints,
)
from curate_train.config import TrainConfig
from curate_train.data import (
    BatchDataset,
    Batching,
    Collator,
    Example,
    SplitData,
    example_of_positions,
    load_split,
)
from curate_train.distributed import Processes, current_processes
from curate_train.evaluate import BASE_EVAL
from curate_train.failures import CheckpointWriteError, write_advice, write_failure
from curate_train.model import ModelInfo, load_model
from curate_train.packaged import is_named, resolve_model

METRICS = "metrics.jsonl"
TENSORBOARD = "tb"
RUN_INFO = "run.json"


@dataclass
class TrainResult:
    """What a run produced; `checkpoints` are the epoch (and stop) checkpoints to evaluate, in order."""

    run_dir: Path
    """Where the run is now: RUN/ once finalised, RUN.partial/ before."""
    checkpoints: list[Path]
    log_history: list[dict[str, Any]]
    evaluations: list[dict[str, Any]]
    """Every evaluation: step, epoch, eval_loss, eval_loss/bucket/<name>, eval_loss/length/<name>, ...
    The one at step 0 is the base model's (before any update); every checkpoint has one at its step."""
    global_step: int
    stopped_early: bool
    model_info: ModelInfo
    base_model: str
    """The resolved base model (a folder for `tiny`), to load for the zero-shot baseline."""
    eval_buckets: dict[str, dict[str, int]] = field(default_factory=dict)
    """Examples and trained tokens per eval bucket (`bucket/<name>`, `length/<name>`)."""
    seconds: float = 0.0
    processes: int = 1
    """Data-parallel processes the run trained with (1: a plain run)."""
    complete: bool = False

    def evaluation_at(self, step: int) -> dict[str, Any] | None:
        """The evaluation logged at `step` (0: the base model), None if there was none."""
        return next((e for e in reversed(self.evaluations) if e.get("step") == step), None)

    @property
    def base_evaluation(self) -> dict[str, Any] | None:
        return self.evaluation_at(0)


# --- loss ------------------------------------------------------------------------------------------


def token_losses(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-entropy of every trained token of a collated batch: (losses, rows, cols).

    Position (row, col) predicts label (row, col + 1); logits are only computed where that label is
    trained.
    """
    labels = batch["labels"]
    rows, cols = torch.nonzero(labels[:, 1:] != IGNORE, as_tuple=True)
    keep = torch.unique(cols)  # sorted
    out = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                position_ids=batch.get("position_ids"), use_cache=False, logits_to_keep=keep)
    logits = out.logits[rows, torch.searchsorted(keep, cols)].float()
    return F.cross_entropy(logits, labels[rows, cols + 1], reduction="none"), rows, cols


def eval_keys(examples: list[Example]) -> list[str]:
    """Every key `bucket_losses` can report for these examples, sorted: `loss`, `loss/bucket/<name>`,
    `loss/length/<name>` (the same list in every process, whichever batches it evaluates)."""
    keys = {"loss"}
    for ex in examples:
        keys.update((f"loss/bucket/{ex.bucket}", f"loss/length/{ex.length_bucket}"))
    return sorted(keys)


def bucket_sums(model: Any, examples: list[Example], batches: list[list[int]], collate: Collator,
                device: torch.device | str = "cpu") -> tuple[dict[str, float], dict[str, int]]:
    """Summed token loss (float64) and trained-token counts overall (`loss`), per capability bucket
    (`loss/bucket/<name>`) and per length bucket (`loss/length/<name>`) over `batches`."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    with torch.no_grad():
        for plan in batches:
            batch = {k: v.to(device) for k, v in collate([[examples[i] for i in plan]]).items()}
            losses, rows, cols = token_losses(model, batch)
            owner = example_of_positions(batch, rows, cols)
            per_example = torch.zeros(len(plan), dtype=torch.float64).index_add_(0, owner.cpu(), losses.double().cpu())
            n_example = torch.bincount(owner.cpu(), minlength=len(plan))
            for k, i in enumerate(plan):
                ex = examples[i]
                for key in ("loss", f"loss/bucket/{ex.bucket}", f"loss/length/{ex.length_bucket}"):
                    sums[key] += float(per_example[k])
                    counts[key] += int(n_example[k])
    return dict(sums), dict(counts)


def loss_means(sums: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
    """Mean token loss per key, for the keys with trained tokens."""
    return {k: sums[k] / counts[k] for k in sorted(sums) if counts.get(k)}


def bucket_losses(model: Any, examples: list[Example], batches: list[list[int]], collate: Collator,
                  device: torch.device | str = "cpu") -> tuple[dict[str, float], dict[str, int]]:
    """Mean token loss overall (`loss`), per capability bucket (`loss/bucket/<name>`) and per length bucket
    (`loss/length/<name>`), with the trained-token counts behind each."""
    sums, counts = bucket_sums(model, examples, batches, collate, device)
    return loss_means(sums, counts), {k: counts[k] for k in sorted(counts)}


# --- the Trainer -----------------------------------------------------------------------------------


class SFTTrainer(Trainer):
    """The Trainer with our loss (trained tokens of the accumulated step) and our evaluation (per bucket)."""

    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, eval_examples: list[Example], eval_batches: list[list[int]],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eval_examples = eval_examples
        self.eval_batches = eval_batches
        # count trained tokens over the whole accumulated step (labels[..., 1:] != -100), for the loss scale
        self.model_accepts_loss_kwargs = True
        self._window = [0.0, 0]  # training loss since the last evaluation: summed token loss, tokens
        self._logged = [0.0, 0]  # the same since the last training log (`train_token_loss`, `train_tokens`)
        # every process writes into the same staging folder (its RNG state): named by the writer's pid
        self._writer_pid = int(Processes(self.args.process_index, self.args.world_size).gather(os.getpid())[0])
        self._staging: Path | None = None
        self.adapter_base: str | None = None
        """The base as checkpoints name it (adapter_config.json) when not the folder it was loaded from: a named
        model's name, so that no checkpoint holds a path of the machine that trained it."""

    def _get_output_dir(self, trial: Any) -> str:
        if self._staging is not None:  # while a checkpoint is saved: its staging folder
            return str(self._staging)
        return super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """The Trainer's checkpoint, written into `.checkpoint-N.tmp-PID/checkpoint-N` and renamed into place
        once every file is there (`curate_train.checkpoints`): a full disk, a kill or SIGTERM mid-save leaves no
        `checkpoint-N` that looks whole, and the staging folder is removed (now, or by the next run)."""
        run = Path(super()._get_output_dir(trial))
        final = run / f"checkpoint-{self.state.global_step}"
        staging = staging_dir(run, self.state.global_step, self._writer_pid)
        writer = self.args.should_save
        if writer:
            shutil.rmtree(staging, ignore_errors=True)
        self._staging = staging
        try:
            super()._save_checkpoint(model, trial)
            self.accelerator.wait_for_everyone()  # every process has written its RNG state
            if writer and self.adapter_base is not None:
                set_adapter_base(staging / final.name, self.adapter_base)
            if writer:
                install(staging / final.name, final)
        except BaseException as e:
            if writer:
                shutil.rmtree(staging, ignore_errors=True)
            reason = write_failure(e) if isinstance(e, Exception) else None
            if reason is None:
                raise
            raise CheckpointWriteError(f"{final}: cannot write the checkpoint ({reason}); "
                                       f"{write_advice(e)}; nothing of it was kept") from None
        finally:
            self._staging = None
        if writer:
            shutil.rmtree(staging, ignore_errors=True)

    def compute_loss(self, model: Any, inputs: dict[str, torch.Tensor], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        losses, _, _ = token_losses(model, inputs)
        total = losses.sum()
        if model.training:
            for window in (self._window, self._logged):
                window[0] += float(total.detach())
                window[1] += losses.numel()
        denominator = num_items_in_batch if num_items_in_batch is not None else max(1, losses.numel())
        loss = total / denominator
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # num_items counts every device; DDP averages gradients
        return (loss, None) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """The Trainer's log, without the run summary's `train_loss` when this call trained no step (a resumed run
        whose checkpoint was its last step): the Trainer reports 0.0 there, which is no loss at all."""
        if "train_loss" in logs and self.state.global_step == getattr(self, "_initial_global_step", -1):
            logs = {k: v for k, v in logs.items() if k != "train_loss"}
        if "loss" in logs:  # a training log, made by every process at the same step: the token-weighted loss too
            total, tokens = Processes(self.args.process_index, self.args.world_size).sum(self._logged)
            self._logged = [0.0, 0]
            if tokens:
                logs = {**logs, "train_token_loss": total / tokens, "train_tokens": round(tokens)}
        super().log(logs, start_time)

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list[str] | None = None,
                 metric_key_prefix: str = "eval") -> dict[str, float]:
        """Eval loss per bucket; with N processes each takes every N-th eval batch, and the summed losses
        and token counts (not the means) are added across processes, so every process logs the
        numbers a single process would."""
        model = self.model
        was_training = model.training
        model.eval()
        start = time.perf_counter()
        procs = Processes(self.args.process_index, self.args.world_size)
        sums, counts = bucket_sums(model, self.eval_examples, procs.shard(self.eval_batches), self.data_collator,
                                   self.args.device)
        keys = eval_keys(self.eval_examples)
        # one collective for everything: sums, counts, and the training-loss window of each process
        totals = procs.sum([sums.get(k, 0.0) for k in keys] + [counts.get(k, 0) for k in keys] + self._window)
        sums = dict(zip(keys, totals[: len(keys)], strict=True))
        counts = {k: round(v) for k, v in zip(keys, totals[len(keys): 2 * len(keys)], strict=True)}
        window_loss, window_tokens = totals[-2], round(totals[-1])
        if was_training:
            model.train()
        metrics: dict[str, float] = {f"{metric_key_prefix}_{k}": v for k, v in loss_means(sums, counts).items()}
        metrics[f"{metric_key_prefix}_tokens"] = counts.get("loss", 0)
        metrics[f"{metric_key_prefix}_runtime"] = round(time.perf_counter() - start, 3)
        if window_tokens:
            metrics["loss_since_last_eval"] = window_loss / window_tokens
        self._window = [0.0, 0]
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def training_arguments(cfg: TrainConfig, work: Path) -> TrainingArguments:
    """The Trainer's arguments for a config; a run always evaluates by steps and saves by epoch."""
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=str(work),
        num_train_epochs=cfg.optim.epochs,
        max_steps=cfg.optim.max_steps or -1,
        per_device_train_batch_size=1,  # an item is a whole planned batch (packed or padded)
        per_device_eval_batch_size=1,
        gradient_accumulation_steps=cfg.optim.grad_accumulation,
        learning_rate=cfg.optim.lr,
        lr_scheduler_type=cfg.optim.scheduler,
        **_warmup(cfg.optim.warmup_ratio),
        weight_decay=cfg.optim.weight_decay,
        max_grad_norm=cfg.optim.max_grad_norm,
        eval_strategy="steps",
        eval_steps=cfg.eval.eval_steps,
        save_strategy="epoch",
        save_total_limit=None,
        logging_strategy="steps",
        logging_steps=max(1, min(10, cfg.eval.eval_steps)),
        logging_first_step=True,
        # `[report] to`; TensorBoard is our callback writing to RUN/tb (transformers' writes to RUN/runs/DATE_HOST)
        report_to=[t for t in cfg.report.to if t != "tensorboard"],
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=bf16,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        include_num_input_tokens_seen="non_padding",
        restore_callback_states_from_checkpoint=True,
        disable_tqdm=True,
        # DDP (N processes): every LoRA weight is used in every forward, so DDP need not search the graph
        # for unused ones (that search also breaks with gradient checkpointing)
        ddp_find_unused_parameters=False,
        use_cpu=not torch.cuda.is_available(),  # also what makes N CPU processes data parallel (gloo)
    )


def _warmup(ratio: float) -> dict[str, float]:
    """transformers 5 takes the warmup ratio as a float `warmup_steps` (< 1); 4.x had `warmup_ratio`."""
    if "warmup_ratio" in TrainingArguments.__dataclass_fields__:
        return {"warmup_ratio": ratio}
    return {"warmup_steps": ratio}


def check_trackers(cfg: TrainConfig) -> None:
    """TrainError naming the `pip install` of every tracker in `[report] to` whose package is missing (checked
    before the model loads, so a run never trains for an hour to fail at its first log)."""
    missing = cfg.report.missing_packages()
    if missing:
        raise TrainError(f"[report] to = {json.dumps(cfg.report.to)} names a tracker that is not installed: "
                         f"{'; '.join(missing)} (or leave it out of [report] to)")


def is_run_folder(folder: Path) -> bool:
    """A folder `curate train` wrote: its run.json (written when the run starts), or, for runs interrupted
    before run.json was written from the start, the config and model files a run writes first."""
    return run_marker(folder) or ((folder / "train_config.json").is_file() and (folder / "model.json").is_file())


def check_run_output(run_dir: Path, inputs: list[Path]) -> None:
    """Raise TrainError when `-o run_dir` (or RUN.partial/ beside it) is a place no run may be written: `/`,
    the current folder, the home folder, an input or a folder holding one, or a symbolic link."""
    _check_place(run_dir, inputs)
    _check_place(partial_dir(Path(os.path.realpath(run_dir))), inputs)


def _check_place(folder: Path, inputs: list[Path]) -> None:
    if folder.is_symlink():
        raise TrainError(f"{folder}: is a symbolic link; give the run folder itself for -o")
    reason = protected_reason(folder, inputs)
    if reason is not None:
        raise TrainError(f"{folder}: {reason}; a run is never written there; give a new folder for -o")


@dataclass
class Resume:
    """Where a run continues from: `source` as the user named it (checked whole), and `ckpt`, the
    checkpoint in RUN.partial/ the Trainer resumes from (a copy when `source` belongs to another run)."""

    source: Path
    ckpt: Path
    step: int

    @property
    def copied(self) -> bool:
        return self.source != self.ckpt


def plan_run(run_dir: Path, work: Path, resume: str | None) -> Resume | None:
    """Check, before anything is read or written, that the run may go where `-o` says, and from where.

    A new run needs RUN/ and RUN.partial/ absent (an empty RUN/ is fine). `--resume RUN.partial/checkpoint-N`
    continues an interrupted run in place; a checkpoint of any other run (a finished RUN/ included) starts a
    new run in RUN.partial/ from a copy of it, and the other run is only read. The checkpoint must be whole.
    """
    if resume is None:
        if work.exists() or work.is_symlink():
            if not is_run_folder(work):
                raise TrainError(f"{work}: exists and was not written by `curate train` (a run trains in RUN.partial/ "
                                 "beside RUN/); choose another -o")
            last = latest_whole(work)
            if last is None:
                raise TrainError(f"{work} holds an interrupted run with no whole checkpoint; delete it to start over, "
                                 "or choose another -o")
            raise TrainError(f"{work} holds an interrupted run; resume with --resume {last}, or delete it to start "
                             "over")
        _check_new_run_dir(run_dir)
        return None
    source = Path(resume).expanduser().resolve()
    damage = checkpoint_damage(source)
    if damage is not None:
        what = "not a checkpoint folder" if not (source / TRAINER_STATE).exists() else "a damaged checkpoint"
        last = latest_whole(source.parent) if source.parent.is_dir() else None
        other = f"; the last whole checkpoint there is {last}" if last is not None and last != source else ""
        raise TrainError(f"--resume {resume}: {what} ({damage}){other}; give {work.name}/checkpoint-N of an "
                         "interrupted run or a checkpoint of a finished one")
    step = trainer_step(source)
    if source.parent == work:
        if run_dir.exists():
            raise TrainError(f"both {run_dir} and {work} exist; remove the one you do not want to continue")
        return Resume(source, source, step)
    if source.parent == run_dir:
        raise TrainError(f"{run_dir} is a finished run and stays as it is; to train on from {source.name}, resume "
                         f"into a new folder: --resume {resume} -o NEW_RUN")
    if work.exists() or work.is_symlink():
        raise TrainError(f"{work} exists; a run resumed from another run's checkpoint starts in a new folder: "
                         "choose another -o")
    _check_new_run_dir(run_dir)
    return Resume(source, work / source.name, step)


def _check_new_run_dir(run_dir: Path) -> None:
    if not run_dir.exists():
        return
    if run_marker(run_dir):
        raise TrainError(f"{run_dir} already holds a run; give another -o (to train on from one of its checkpoints: "
                         f"--resume {run_dir}/checkpoint-N -o NEW_RUN)")
    if not run_dir.is_dir() or any(run_dir.iterdir()):
        raise TrainError(f"{run_dir}: exists and was not written by `curate train`; give a new folder for -o")


def run_training(build_dir: Path, model: str, cfg: TrainConfig, run_dir: Path, resume: str | None = None,
                 log: Callable[[str], None] | None = None, finalize: bool = True) -> TrainResult:
    """Train a LoRA adapter on the build in `build_dir`; see the module docstring for where files go.

    Raises TrainError (nothing written) on a bad model, tokenizer, data folder, output or resume path. With
    `finalize=False` the run stays in RUN.partial/ for the caller to evaluate, then `finalize_run`.
    Under `torchrun`/`accelerate launch` every process calls this; see `curate_train.distributed` for what
    each one does (only the main one logs through `log` and writes files).
    """
    procs = current_processes()
    say = (log or (lambda _m: None)) if procs.is_main else (lambda _m: None)
    quiet_libraries()
    check_run_output(run_dir, [build_dir])
    run_dir = run_dir.resolve()
    work = partial_dir(run_dir)
    plan = plan_run(run_dir, work, resume)
    check_trackers(cfg)
    for name in ("train.jsonl", "eval.jsonl"):
        if not (build_dir / name).exists():
            raise TrainError(f"{build_dir / name}: not found; give the output folder of `curate build`")

    # 1. seed, model, data: everything that can fail on bad input, before anything is written
    set_seed(cfg.seed)
    say(f"loading {model} in 4-bit" + (f" in each of {procs.world_size} processes" if procs.distributed else ""))
    with procs.main_first():  # a named model is built or converted (and cached) once, by the main process
        resolve_model(model, say)
    batching = Batching.of(cfg)  # packed or padded, decided here once: the loader is told
    net, tokenizer, info = load_model(model, cfg, say, packed=batching.packed)
    say(info.summary())
    train_data = load_split(build_dir / "train.jsonl", tokenizer, cfg.mask, limit=cfg.data.train_limit, seed=cfg.seed)
    eval_data = load_split(build_dir / "eval.jsonl", tokenizer, cfg.mask, per_bucket=cfg.data.eval_limit_per_bucket)
    for data in (train_data, eval_data):
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(data.dropped.items()))
        say(f"{data.path.name}: {len(data.examples)} examples from {data.records} records"
            + (f" (dropped: {dropped})" if dropped else ""))
        for note in data.notes[:5]:
            say(f"note: {note}")
    train_plan = batching.train_plan(train_data.examples, seed=cfg.seed)
    eval_plan = batching.eval_plan(eval_data.examples)
    collator = batching.collator(tokenizer.pad_token_id)
    ckpt = plan.ckpt if plan is not None else None

    # 2. the run folder, written by the main process once every process has checked its input
    procs.barrier()
    created = not work.exists()
    if procs.is_main:
        try:
            work.mkdir(parents=True, exist_ok=True)
            if created:  # the marker first: whatever happens next, RUN.partial/ is known to be a run
                _write_run_marker(work, info.path, plan.step if plan is not None else 0)
            if plan is not None and plan.copied:
                copy_for_resume(plan.source, work, METRICS, also=(BASE_EVAL,))
            elif plan is not None:
                remove_stale_staging(work)
                truncate_metrics(work / METRICS, plan.step)
            write_file(work / "train_config.json", cfg.model_dump_json(indent=2) + "\n")
            write_file(work / "model.json", info.model_dump_json(indent=2) + "\n")
            _write_data_info(work / "data.json", build_dir, train_data, eval_data, train_plan, eval_plan, procs,
                             cfg.optim.grad_accumulation)
        except BaseException:
            if created:  # a full disk while the run folder was set up: nothing of it stays
                shutil.rmtree(work, ignore_errors=True)
            raise
    procs.barrier()

    # 3. train
    stopper = EarlyStopping(cfg.eval.patience, cfg.eval.min_delta)
    callbacks: list[Any] = [MetricsLog(work / METRICS), ConsoleLog(say), CheckpointPolicy()]
    if "tensorboard" in cfg.report.to:
        callbacks.append(TensorBoard(work / TENSORBOARD))
    if cfg.eval.early_stopping:
        callbacks.append(stopper)
    trainer = SFTTrainer(
        model=net, args=training_arguments(cfg, work), data_collator=collator,
        train_dataset=BatchDataset(train_data.examples, train_plan),
        eval_dataset=BatchDataset(eval_data.examples, eval_plan), processing_class=tokenizer,
        callbacks=callbacks, eval_examples=eval_data.examples, eval_batches=eval_plan)
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    if is_named(model):  # checkpoints say `tiny`, not this machine's cache folder (curate_train.merge resolves it)
        trainer.adapter_base = model
    per_step = cfg.optim.grad_accumulation * procs.world_size
    spread = (f" over {procs.world_size} processes ({cfg.optim.grad_accumulation} each)" if procs.distributed
              else "")
    say(f"training: {len(train_plan)} batches an epoch, {per_step} per optimizer step{spread}; "
        f"eval every {cfg.eval.eval_steps} steps on {len(eval_data.examples)} examples")
    start = time.perf_counter()
    try:
        if ckpt is None:  # step 0: LoRA's B matrices are zero, so this is the base model's eval loss
            base = trainer.evaluate()
            trainer.add_callback(KeepBaseEvaluation({**base, "epoch": 0.0, "step": 0}))
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt is not None else None)
    except BaseException:
        if procs.is_main and created and not checkpoint_folders(work):
            shutil.rmtree(work, ignore_errors=True)  # nothing worth resuming
        raise
    seconds = time.perf_counter() - start

    # 4. what the caller evaluates next
    stopped = any(isinstance(cb, EarlyStopping) and cb.stopped_at is not None
                  for cb in trainer.callback_handler.callbacks)
    history = list(trainer.state.log_history)
    result = TrainResult(
        run_dir=work, checkpoints=whole_checkpoints(work), log_history=history,
        evaluations=[h for h in history if "eval_loss" in h], global_step=trainer.state.global_step,
        stopped_early=stopped, model_info=info, base_model=info.path, eval_buckets=eval_data.bucket_counts(),
        seconds=round(seconds, 2), processes=procs.world_size)
    if procs.is_main:
        _write_run_info(result)
    say(f"trained {result.global_step} steps in {seconds:.1f} s; checkpoints: "
        + ", ".join(p.name for p in result.checkpoints))
    return finalize_run(result, run_dir) if finalize else result


def finalize_run(result: TrainResult, run_dir: Path) -> TrainResult:
    """Move a run from RUN.partial/ to RUN/ (the checkpoints move with it) and mark it complete.

    With N processes every one calls this: the main one renames, the others wait for it.
    """
    procs = current_processes()
    run_dir = run_dir.resolve()
    work = result.run_dir
    if procs.is_main and work != run_dir:
        if run_dir.is_dir() and not run_dir.is_symlink() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # an empty folder the user made for the run
        if run_dir.exists() or run_dir.is_symlink():
            raise TrainError(f"{run_dir} exists; the finished run stays in {work}")
        work.rename(run_dir)
    result.run_dir = run_dir
    result.checkpoints = [run_dir / p.name for p in result.checkpoints]
    result.complete = True
    if procs.is_main:
        _write_run_info(result)
    procs.barrier()
    return result


def write_file(path: Path, text: str) -> None:
    """Write `path` through a file beside it renamed into place: never half-written, whatever stops the run."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_run_marker(work: Path, base_model: str, step: int) -> None:
    """run.json of a run that has just started (complete: false); `_write_run_info` replaces it."""
    info = {"complete": False, "base_model": base_model, "global_step": step, "checkpoints": []}
    write_file(work / RUN_INFO, json.dumps(info, indent=2) + "\n")


def _write_data_info(path: Path, build_dir: Path, train: SplitData, eval_: SplitData,
                     train_plan: list[list[int]], eval_plan: list[list[int]], procs: Processes | None = None,
                     grad_accumulation: int = 1) -> None:
    def side(data: SplitData, plan: list[list[int]]) -> dict[str, Any]:
        tokens = sum(len(ex.input_ids) for ex in data.examples)
        return {"records": data.records, "examples": len(data.examples), "batches": len(plan), "tokens": tokens,
                "trained_tokens": sum(ex.trained_tokens for ex in data.examples), "dropped": dict(data.dropped),
                "notes": data.notes, "buckets": data.bucket_counts()}

    n = procs.world_size if procs else 1
    info = {"build": str(build_dir.resolve()), "train": side(train, train_plan), "eval": side(eval_, eval_plan),
            # each process trains on every n-th planned batch; one optimizer step takes n x grad_accumulation
            "processes": n, "batches_per_step": n * grad_accumulation,
            "steps_per_epoch": max(1, math.ceil(math.ceil(len(train_plan) / n) / grad_accumulation))}
    write_file(path, json.dumps(info, indent=2) + "\n")


def _write_run_info(result: TrainResult) -> None:
    evals = result.evaluations
    info = {
        "complete": result.complete, "base_model": result.base_model, "global_step": result.global_step,
        "stopped_early": result.stopped_early, "seconds": result.seconds, "processes": result.processes,
        "checkpoints": [p.name for p in result.checkpoints],
        "final_eval_loss": evals[-1]["eval_loss"] if evals else None,
        "best_eval_loss": min((e["eval_loss"] for e in evals if math.isfinite(e["eval_loss"])), default=None),
    }
    write_file(result.run_dir / RUN_INFO, json.dumps(info, indent=2) + "\n")
