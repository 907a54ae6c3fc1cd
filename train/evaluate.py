"""Evaluation of a trained run by generation: the base model (zero-shot) and every checkpoint, graded.

    report = evaluate_run(result, cfg, build_dir, model_name, say, ood=sets)  # curate_train.eval_report.EvalReport

Every checkpoint of the run and the base it was trained from generate on the build's eval split
(`curate_train.generate.evaluate_generation`: greedy outputs for accuracy, sampled ones for diversity and
pass@k); the eval losses the run logged (`result.log_history`, the base's at step 0) are set beside
them, and `curate_train.graduation` grades the whole into the report: which checkpoint to keep, and whether
it is ready for RL. `curate train` calls this between training and finishing the run.

Out-of-distribution sets (`curate_train.ood`, read before training) are measured on the same loaded model:
the loss on their assistant tokens, masked with the run's tokenizer and mask policy as the eval split
is (`curate_train.recipe.bucket_losses` over padded batches: the generation model is loaded without the
packed attention that keeps the examples of a packed row apart), and generation on up to
`[eval] ood_prompts` prompts per set. With N processes every process computes the OOD losses
whole (they are small) and generates its share of the prompts.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate_train import TrainError
from curate_train.checkpoints import trainer_state, trainer_step
from curate_train.config import TrainConfig

BASE_EVAL = "base_eval.json"
"""The base model's evaluation by generation, kept in the run folder with what it depends on (its key)."""

if TYPE_CHECKING:
    from curate_train.distributed import Processes
    from curate_train.eval_report import EvalReport
    from curate_train.graduation import OodResult, OodSetEval
    from curate_train.ood import OodSet
    from curate_train.recipe import TrainResult


def evaluate_run(result: TrainResult, cfg: TrainConfig, build_dir: Path, model_name: str,
                 say: Callable[[str], None], procs: Processes | None = None,
                 ood: Sequence[OodSet] = ()) -> EvalReport:
    """Generation metrics of the base and of every checkpoint (and, per OOD set, loss and generation metrics),
    graded into the eval report.

    With N processes (`curate_train.distributed.Processes`) every process calls this and generates its
    share of the prompts; every process gets the same report.
    """
    from curate_train.eval_report import build_report
    from curate_train.generate import evaluate_generation
    from curate_train.graduation import BaselineEval, CheckpointEval, history_from_log
    from curate_train.model import load_for_generation

    eval_rows = read_rows(build_dir / "eval.jsonl")
    g = cfg.generation
    sets = OodSets(ood, cfg)

    def generate(rows: list[dict[str, Any]], model: Any, tokenizer: Any, prompts: int) -> Any:
        return evaluate_generation(
            model, tokenizer, rows, prompts_per_bucket=prompts, n_samples=g.samples, temperature=g.temperature,
            max_new_tokens=g.max_new_tokens, seed=cfg.seed, batch_size=g.batch_size, turns=g.turns,
            processes=procs)

    def evaluate(adapter: Path | None, label: str) -> tuple[Any, dict[str, OodResult]]:
        """The model loaded once: its generation metrics on the eval split, then loss and generation per OOD set."""
        model, tokenizer = load_for_generation(result.base_model, adapter, cfg.mask.template)
        try:
            gen = generate(eval_rows, model, tokenizer, g.prompts_per_bucket)
            out = {}
            for s in ood:
                say(f"{label}: loss and generation on OOD set `{s.name}`")
                out[s.name] = sets.evaluate(s, model, tokenizer, generate)
            return gen, out
        finally:
            del model

    # the log history every process holds (RUN/metrics.jsonl is the main process's copy of it)
    history = history_from_log([{"step": h.get("step", 0), **h} for h in result.log_history],
                               cfg.graduation.train_loss_window)
    base_entry = next((e for e in history if e.step == 0), None)
    key = base_eval_key(cfg, build_dir, model_name, result.base_model, ood)
    saved = saved_base_eval(result.run_dir / BASE_EVAL, key)
    if procs is not None and procs.distributed:  # every process reuses it, or none does: they generate together
        saved = saved if procs.sum([float(saved is not None)])[0] == procs.world_size else None
    started = time.perf_counter()
    if saved is not None:
        say(f"base model: reusing its evaluation by generation from {result.run_dir / BASE_EVAL} (same model, eval "
            "split, OOD sets and [generation] settings)")
        base_gen, base_ood = saved
    else:
        say("evaluating the base model by generation (zero-shot baseline)")
        base_gen, base_ood = evaluate(None, "base")
        if procs is None or procs.is_main:  # kept with the run: a resumed run does not evaluate the base again
            from curate_train.recipe import write_file

            write_file(result.run_dir / BASE_EVAL, json.dumps({
                "key": key, "generation": base_gen.model_dump(mode="json"),
                "ood": {name: r.model_dump(mode="json") for name, r in base_ood.items()}}, indent=2) + "\n")
    base = BaselineEval(
        eval_loss=base_entry.eval_loss if base_entry else None,
        eval_loss_by_bucket=base_entry.eval_loss_by_bucket if base_entry else {},
        eval_loss_by_length=base_entry.eval_loss_by_length if base_entry else {},
        generation=base_gen)
    say(f"base evaluated in {time.perf_counter() - started:.0f} s")
    checkpoints = []
    by_checkpoint: dict[str, dict[str, OodResult]] = {}
    for ckpt in result.checkpoints:
        say(f"evaluating {ckpt.name} by generation")
        gen, by_checkpoint[ckpt.name] = evaluate(ckpt, ckpt.name)
        checkpoints.append(CheckpointEval(name=ckpt.name, step=trainer_step(ckpt),
                                          epoch=trainer_state(ckpt).get("epoch"), generation=gen))
    if "tensorboard" in cfg.report.to and (procs is None or procs.is_main):
        from curate_train.callbacks import write_generation_scalars
        from curate_train.recipe import TENSORBOARD

        write_generation_scalars(result.run_dir / TENSORBOARD, [(0, base_gen)] + [
            (c.step, c.generation) for c in checkpoints if c.generation is not None])
    return build_report(model_name, history, checkpoints, base, thresholds=cfg.graduation, data=str(build_dir),
                        ood=sets.report(base_ood, by_checkpoint))


def base_eval_key(cfg: TrainConfig, build_dir: Path, model_name: str, base_model: str,
                  ood: Sequence[OodSet]) -> dict[str, Any]:
    """What the base model's evaluation by generation depends on: a saved one with the same key is reused."""
    return {"model": model_name, "base": Path(base_model).name, "eval_split": file_hash(build_dir / "eval.jsonl"),
            "seed": cfg.seed, "generation": cfg.generation.model_dump(mode="json"),
            "mask": cfg.mask.model_dump(mode="json"), "ood_prompts": cfg.eval.ood_prompts,
            "ood": [[s.name, file_hash(Path(s.path))] for s in ood]}


def saved_base_eval(path: Path, key: dict[str, Any]) -> tuple[Any, dict[str, OodResult]] | None:
    """The base model's (generation, OOD results) saved in `path` under the same `key`; None when there is none,
    it was measured under another key, or it cannot be read (then the base is evaluated again)."""
    from pydantic import ValidationError

    from curate_train.graduation import OodResult
    from curate_train.metrics import GenerationEval

    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or saved.get("key") != key:
            return None
        return (GenerationEval.model_validate(saved["generation"]),
                {name: OodResult.model_validate(r) for name, r in saved.get("ood", {}).items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ValidationError):
        return None


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes ("" when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


class OodSets:
    """The OOD sets of a run as they are evaluated: masked once (with the first model's tokenizer, the same for
    the base and every checkpoint), then a loss and generation metrics per model."""

    def __init__(self, sets: Sequence[OodSet], cfg: TrainConfig) -> None:
        self.sets = list(sets)
        self.cfg = cfg
        self.data: dict[str, Any] = {}
        """Masked examples per set (`curate_train.data.SplitData`)."""

    def evaluate(self, s: OodSet, model: Any, tokenizer: Any,
                 generate: Callable[[list[dict[str, Any]], Any, Any, int], Any]) -> OodResult:
        """The loss of `model` on the set's assistant tokens, and its generation metrics on the set's prompts."""
        from curate_train.data import Batching
        from curate_train.graduation import OodResult
        from curate_train.recipe import bucket_losses

        if s.name not in self.data:
            self.data[s.name] = s.examples(tokenizer, self.cfg.mask)
        examples = self.data[s.name].examples
        loss, tokens = None, 0
        if examples:
            batching = Batching(packed=False, tokens_per_batch=self.cfg.data.tokens_per_batch,
                                eval_tokens_per_batch=self.cfg.eval_tokens_per_batch,
                                batch_size=self.cfg.data.batch_size)
            device = next(model.parameters()).device
            losses, counts = bucket_losses(model, examples, batching.eval_plan(examples),
                                           batching.collator(tokenizer.pad_token_id), device)
            loss, tokens = losses.get("loss"), counts.get("loss", 0)
        return OodResult(loss=loss, tokens=tokens, generation=generate(s.rows, model, tokenizer,
                                                                       self.cfg.eval.ood_prompts))

    def report(self, base: dict[str, OodResult], checkpoints: dict[str, dict[str, OodResult]]) -> list[OodSetEval]:
        """Every set with what was read of it and every model's result on it."""
        from curate_train.graduation import OodSetEval

        out = []
        for s in self.sets:
            data = self.data.get(s.name)
            out.append(OodSetEval(
                name=s.name, path=str(s.path), read=s.read, records=len(s.records), skipped=dict(s.skipped),
                examples=len(data.examples) if data is not None else 0,
                dropped=dict(data.dropped) if data is not None else {}, base=base.get(s.name),
                checkpoints={name: results[s.name] for name, results in checkpoints.items() if s.name in results}))
        return out


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a build's split as JSON objects (what generation prompts from); TrainError when unreadable."""
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        raise TrainError(f"{path}: cannot read the eval split ({e}); give the output folder of `curate build`") \
            from None
