"""Evaluation of a trained run by generation: the base model (zero-shot) and every checkpoint, graded.

    report = evaluate_run(result, cfg, build_dir, model_name, say)   # an EvalReport (train.eval_report)

Every checkpoint of the run and the base it was trained from generate on the build's eval split
(`train.generate.evaluate_generation`: greedy outputs for accuracy, sampled ones for diversity and
pass@k); the eval losses the run logged (`result.log_history`, the base's at step 0) are set beside
them, and `train.graduation` grades the whole into the report: which checkpoint to keep, and whether
it is ready for RL. `curate train` calls this between training and finishing the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from train import TrainError
from train.checkpoints import trainer_state, trainer_step
from train.config import TrainConfig

if TYPE_CHECKING:
    from train.distributed import Processes
    from train.eval_report import EvalReport
    from train.recipe import TrainResult


def evaluate_run(result: TrainResult, cfg: TrainConfig, build_dir: Path, model_name: str,
                 say: Callable[[str], None], procs: Processes | None = None) -> EvalReport:
    """Generation metrics of the base and of every checkpoint, graded into the eval report.

    With N processes (`train.distributed.Processes`) every process calls this and generates its
    share of the prompts; every process gets the same report.
    """
    from train.eval_report import build_report
    from train.generate import evaluate_generation
    from train.graduation import BaselineEval, CheckpointEval, history_from_log
    from train.model import load_for_generation

    eval_rows = read_rows(build_dir / "eval.jsonl")
    g = cfg.generation

    def generate(adapter: Path | None) -> Any:
        model, tokenizer = load_for_generation(result.base_model, adapter, cfg.mask.template)
        try:
            return evaluate_generation(
                model, tokenizer, eval_rows, prompts_per_bucket=g.prompts_per_bucket, n_samples=g.samples,
                temperature=g.temperature, max_new_tokens=g.max_new_tokens, seed=cfg.seed,
                batch_size=g.batch_size, turns=g.turns, processes=procs)
        finally:
            del model

    # the log history every process holds (RUN/metrics.jsonl is the main process's copy of it)
    history = history_from_log([{"step": h.get("step", 0), **h} for h in result.log_history])
    base_entry = next((e for e in history if e.step == 0), None)
    say("evaluating the base model by generation (zero-shot baseline)")
    started = time.perf_counter()
    base = BaselineEval(
        eval_loss=base_entry.eval_loss if base_entry else None,
        eval_loss_by_bucket=base_entry.eval_loss_by_bucket if base_entry else {},
        eval_loss_by_length=base_entry.eval_loss_by_length if base_entry else {},
        generation=generate(None))
    say(f"base evaluated in {time.perf_counter() - started:.0f} s")
    checkpoints = []
    for ckpt in result.checkpoints:
        say(f"evaluating {ckpt.name} by generation")
        checkpoints.append(CheckpointEval(name=ckpt.name, step=trainer_step(ckpt),
                                          epoch=trainer_state(ckpt).get("epoch"), generation=generate(ckpt)))
    return build_report(model_name, history, checkpoints, base, thresholds=cfg.graduation, data=str(build_dir))


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a build's split as JSON objects (what generation prompts from); TrainError when unreadable."""
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        raise TrainError(f"{path}: cannot read the eval split ({e}); give the output folder of `curate build`") \
            from None
