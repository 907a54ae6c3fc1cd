"""Configuration of `curate train`, as pydantic models: one TOML file, every section optional.

Unknown keys are an error that names the key and the valid ones, so a typo never silently falls
back to a default. Every size that multiplies memory, time or disk (`lora.r`, batch and token
budgets, epochs and steps, generation samples and lengths, the seed numpy takes) has an upper bound
as well as a lower one, and a value outside is an error naming the key and the allowed range
(`train.toml: [lora] r: 4096 is out of range; allowed: 1..1024`, the format of every config
error, `curate.config`), raised when the file is read, before any model loads. The defaults are
the QLoRA SFT recipe of the issue:

    seed = 0

    [lora]
    r = 16
    alpha = 32                    # default: 2 * r
    dropout = 0.05
    # target_modules = ["q_proj", "v_proj"]   # default: every linear projection, found automatically
    # train_embeddings = true     # default: only the rows of tokens the tokenizer added (the model had none)

    [optim]
    lr = 2e-4
    scheduler = "cosine"
    warmup_ratio = 0.1
    weight_decay = 0.01
    max_grad_norm = 1.0
    epochs = 3
    # max_steps = 200             # stop after this many optimizer steps (overrides epochs)
    grad_accumulation = 1
    gradient_checkpointing = true

    [data]
    packing = true                # padding-free: examples flattened into one row, positions restart per example
    tokens_per_batch = 16384      # packing: the token budget of a batch
    batch_size = 4                # packing = false: examples per padded batch
    # train_limit = 500           # a seeded sample of the training records (quick runs)
    # eval_limit_per_bucket = 8   # at most this many eval records per capability bucket

    [mask]                        # curate.mask.MaskPolicy: what is trained
    turns = "all"
    think = "keep"
    # max_length = 4096
    truncation = "drop"
    template = "model"            # the model's chat template, refused if it drops tools; "chatml": the built-in one

    [eval]
    eval_steps = 50               # eval loss (overall, per bucket, per length bucket) every N steps
    # tokens_per_batch = 16384    # default: data.tokens_per_batch
    early_stopping = true
    patience = 3                  # evaluations without an improvement of at least min_delta
    min_delta = 0.01
    # ood = ["bfcl/BFCL_v4_simple_python.json"]   # out-of-distribution sets, relative to this file (curate_train.ood)
    # ood_prompts = 32            # generation prompts per OOD set

    [generation]                  # generation-based evaluation of each epoch checkpoint and the base
    prompts_per_bucket = 8
    samples = 4
    temperature = 0.7
    max_new_tokens = 256

    [graduation]                  # thresholds of the graduation report
    converged_min_delta = 0.01
    converged_window = 3
    max_generalisation_gap = 0.15
    train_loss_window = 50        # steps up to an evaluation whose train loss its eval loss is compared with
    min_format_accuracy = 0.90
    min_tool_call_accuracy = 0.85
    min_unique_ratio = 0.5
    min_pairwise_ratio = 0.6
    ood_loss_tolerance = 0.05     # OOD loss rising by more than this is a regression
    ood_metric_tolerance = 0.05   # OOD argument match or pass@k falling by more than this is a regression

    [report]                      # where the run's metrics go besides RUN/metrics.jsonl
    to = ["tensorboard"]          # any of "tensorboard" (RUN/tb), "wandb", "mlflow"; [] for none
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from curate.config import ConfigError, ConfigSection, read_toml, validate
from curate.mask import MaskPolicy
from curate_train import TrainError
from curate_train.graduation import GraduationThresholds

MAX_BATCH_TOKENS = 1 << 20
"""The largest token budget of one batch: activations grow with it, and a typo (an extra zero or three)
should be an error naming the key, not an out-of-memory crash after the model has loaded."""
MAX_DECODED = 4096
"""Sequences one generation batch may decode at once (prompts per batch x samples per prompt)."""


class LoraSection(ConfigSection):
    r: int = Field(16, ge=1, le=1024, description="LoRA rank")
    alpha: int | None = Field(None, ge=1, le=65536, description="LoRA alpha; default 2 * r")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | None = Field(
        None, description="module names to adapt; default: every linear projection except the output head")
    train_embeddings: bool | None = Field(
        None, description="true: train the input embeddings and the output head in full (PEFT modules_to_save); "
        "default: only the rows of tokens the tokenizer has beyond the model's embeddings (they were added), "
        "PEFT trainable tokens; false: neither")

    @property
    def lora_alpha(self) -> int:
        return self.alpha if self.alpha is not None else 2 * self.r


class OptimSection(ConfigSection):
    lr: float = Field(2e-4, gt=0.0)
    scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    epochs: float = Field(3.0, gt=0.0, le=1000.0, description="a checkpoint is kept for each")
    max_steps: int | None = Field(None, ge=1, le=10_000_000, description="optimizer steps; overrides epochs when given")
    grad_accumulation: int = Field(1, ge=1, le=4096)
    gradient_checkpointing: bool = True


class DataSection(ConfigSection):
    packing: bool = Field(True, description="padding-free batches (one row, positions restart per example)")
    tokens_per_batch: int = Field(16384, ge=64, le=MAX_BATCH_TOKENS, description="packing: token budget of one batch")
    batch_size: int = Field(4, ge=1, le=4096, description="padded batches (packing = false): examples per batch")
    train_limit: int | None = Field(None, ge=1, le=1_000_000_000,
                                     description="a seeded sample of this many training records")
    eval_limit_per_bucket: int | None = Field(
        None, ge=1, le=1_000_000, description="at most this many eval records per capability bucket (first in file "
        "order)")


class EvalSection(ConfigSection):
    eval_steps: int = Field(50, ge=1, le=10_000_000)
    tokens_per_batch: int | None = Field(None, ge=64, le=MAX_BATCH_TOKENS, description="default: data.tokens_per_batch")
    early_stopping: bool = True
    patience: int = Field(3, ge=1, le=100_000,
                          description="evaluations without an improvement of min_delta before stopping")
    min_delta: float = Field(0.01, ge=0.0, description="the smallest drop of eval loss that counts as progress")
    ood: list[str] = Field(
        default_factory=list, description="out-of-distribution sets (any format the readers take, BFCL rows with "
        "their possible_answer/ beside them included), relative to the config file; `--ood` adds to them")
    ood_prompts: int = Field(32, ge=1, le=10_000, description="generation prompts per OOD set")


class GenerationSection(ConfigSection):
    prompts_per_bucket: int = Field(8, ge=1, le=10_000, description="M: prompts per capability bucket")
    samples: int = Field(4, ge=1, le=256, description="n: sampled completions per prompt (diversity, pass@k)")
    temperature: float = Field(0.7, gt=0.0)
    max_new_tokens: int = Field(256, ge=1, le=32768)
    batch_size: int = Field(4, ge=1, le=1024, description="prompts per forward pass (left-padded)")
    turns: Literal["last", "last_and_call"] = Field(
        "last_and_call", description="which assistant turn of an eval record is prompted: its last one, "
        "or also its last turn with tool calls (eval records mostly end in a plain answer, so `last` "
        "alone would leave tool-call accuracy unmeasured)")

    @model_validator(mode="after")
    def _decoded_at_once(self) -> GenerationSection:
        if self.batch_size * self.samples > MAX_DECODED:
            raise ValueError(f"batch_size x samples = {self.batch_size * self.samples} sequences decoded at once; "
                             f"at most {MAX_DECODED}: lower one of them")
        return self


Tracker = Literal["tensorboard", "wandb", "mlflow"]
TRACKER_PACKAGES: dict[str, str] = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
"""The package each tracker needs (its import name is its pip name)."""


class ReportSection(ConfigSection):
    to: list[Tracker] = Field(
        default_factory=lambda: ["tensorboard"],
        description="experiment trackers the Trainer reports to (transformers' `report_to`): `tensorboard` writes "
        "RUN/tb (with the generation metrics per bucket), `wandb` and `mlflow` take their usual environment "
        "variables (WANDB_PROJECT, MLFLOW_TRACKING_URI, ...); [] for none")

    def missing_packages(self) -> list[str]:
        """The `pip install` command of each named tracker whose package is not installed."""
        import importlib.util

        return [f"pip install {TRACKER_PACKAGES[t]}" for t in dict.fromkeys(self.to)
                if importlib.util.find_spec(TRACKER_PACKAGES[t]) is None]


class TrainConfig(ConfigSection):
    """Everything a `curate train` run depends on besides its data and model (recorded in RUN/)."""

    seed: int = Field(0, ge=0, le=2**32 - 1, description="numpy takes seeds of 32 bits")
    lora: LoraSection = Field(default_factory=LoraSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    data: DataSection = Field(default_factory=DataSection)
    mask: MaskPolicy = Field(default_factory=MaskPolicy)
    eval: EvalSection = Field(default_factory=EvalSection)
    generation: GenerationSection = Field(default_factory=GenerationSection)
    graduation: GraduationThresholds = Field(default_factory=GraduationThresholds)
    report: ReportSection = Field(default_factory=ReportSection)

    @property
    def eval_tokens_per_batch(self) -> int:
        return self.eval.tokens_per_batch or self.data.tokens_per_batch


class TrainConfigError(TrainError, ConfigError):
    """A training config a person has to fix: `FILE: [section] key: problem; what to do` (`curate.config`)."""


def validated(data: dict[str, Any], where: str) -> TrainConfig:
    """`data` as a TrainConfig; TrainConfigError names `where` and every bad key (with its allowed range)."""
    return validate(TrainConfig, data, where, error=TrainConfigError)


def load_train_config(path: Path | None) -> TrainConfig:
    """The config of a TOML file (None: the defaults); TrainConfigError names the file and every bad key."""
    if path is None:
        return TrainConfig()
    cfg = validated(read_toml(path, TrainConfigError), str(path))
    if cfg.eval.ood:  # paths in the file are relative to it, as `tools` are to pyproject.toml
        ood = [str(path.parent / p) for p in cfg.eval.ood]
        cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"ood": ood})})
    return cfg
