"""`curate train` and `curate merge`: the model side's subcommands.

They are registered with `curate` through the `curate.commands` entry points (see pyproject.toml),
so `curate` never imports `train`. Importing this module imports neither torch nor transformers:
a run imports them when it starts, and says what to install when they are missing.

`curate train OUT --model NAME_OR_PATH [--config train.toml] -o RUN [--resume CKPT]` reads top to
bottom as the run does:

1. the config, the build folder, the model and its tokenizer are checked before anything is written;
2. `train.recipe.run_training` trains in RUN.partial/ (epoch checkpoints, per-bucket eval loss);
3. the base model (zero-shot) and every checkpoint are evaluated by generation (`train.generate`);
4. `train.graduation` grades the checkpoints; RUN/eval_report.json, RUN/report.html and a table
   per bucket in the terminal say which checkpoint to keep and whether it is ready for RL;
5. only then RUN.partial/ becomes RUN/.

The same command runs data parallel under `torchrun --nproc_per_node N -m curate train ...` or
`accelerate launch --multi_gpu --num_processes N -m curate train ...` (`train.distributed`): every
process trains on its shard and evaluates its share, process 0 alone logs and writes. When one
process fails, it says so with its rank; the launcher stops the others and the run stays in
RUN.partial/.

Exit codes: 0 the run finished (whatever the verdict), 2 bad input or a failed run (nothing in
RUN/; an interrupted run stays in RUN.partial/ to resume), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from train import TrainError

if TYPE_CHECKING:
    from train.distributed import Processes

INSTALL_HINT = ("`curate train` needs the model libraries: pip install -e '.[train]' "
                "(the README's setup does it; on a machine without a GPU it picks torch's CPU build)")


def add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="QLoRA SFT on a `curate build` output, per-bucket evaluation and a graduation report",
        description="Train a LoRA adapter on a 4-bit base with the build's train split; evaluate the base and "
                    "every epoch checkpoint on the eval split, bucket by bucket; say which checkpoint to keep "
                    "and whether it is ready for RL.")
    p.add_argument("build", metavar="OUT", help="the output folder of `curate build` (train.jsonl, eval.jsonl)")
    p.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                   help="a local Hugging Face model folder (or a name in the local cache), or `tiny`: a small "
                        "decoder built offline and seeded, for CPU runs and tests")
    p.add_argument("--config", type=Path, help="a TOML file of training settings (defaults: see README; with "
                   "`--model tiny` and no config, settings sized for a 2-core CPU)")
    p.add_argument("-o", "--output", required=True, metavar="RUN", help="the run folder to create")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint folder of this run")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.set_defaults(run=run_train)


def add_merge(sub: Any) -> None:
    p = sub.add_parser("merge", help="merge a checkpoint's LoRA adapter into a bf16 copy of its base",
                       description="Write a standalone model (bf16) that loads with plain `transformers`.")
    p.add_argument("checkpoint", metavar="RUN/checkpoint-N", help="a checkpoint folder of `curate train`")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the folder to write")
    p.set_defaults(run=run_merge)


def _error(message: str) -> int:
    sys.stderr.write(f"curate: error: {message}\n")
    return 2


def run_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from train.config import load_train_config
    from train.distributed import launched

    err = Console(stderr=True, highlight=False)
    procs = launched()  # until the process group is joined (`current_processes`)

    def say(msg: str) -> None:
        if procs.is_main:
            err.print(f"[dim]curate train: {msg}[/]")

    try:
        if args.config is None and args.model == "tiny":
            from train.tiny import tiny_train_config

            cfg = tiny_train_config()  # sized for a 2-core CPU; the defaults are for real models
        else:
            cfg = load_train_config(args.config)
        if args.seed is not None:
            cfg = cfg.model_copy(update={"seed": args.seed})
        build_dir = Path(args.build)
        if not build_dir.is_dir():
            raise TrainError(f"{build_dir}: no such folder; give the output folder of `curate build`")
        try:
            from train.distributed import current_processes, stop_on_sigterm
            from train.recipe import finalize_run, run_training
        except ImportError as e:
            raise TrainError(f"{INSTALL_HINT} ({e})") from None
        from train.report_html import print_report, write_html
        from train.report_models import write_report

        procs = current_processes()
        if procs.distributed:
            say(f"{procs.world_size} processes, data parallel: each trains on 1 in {procs.world_size} batches "
                "and evaluates its share; process 0 writes the run")
        start = time.perf_counter()
        with stop_on_sigterm() if procs.distributed else nullcontext():
            result = run_training(build_dir, args.model, cfg, Path(args.output), resume=args.resume, log=say,
                                  finalize=False)
            try:
                report = evaluate_run(result, cfg, build_dir, args.model, say, procs)
                if procs.is_main:
                    write_report(report, result.run_dir / "eval_report.json")
                    write_html(report, result.run_dir / "report.html")
            except BaseException:
                say(f"evaluation did not finish; the trained run stays in {result.run_dir}")
                raise
            result = finalize_run(result, Path(args.output))
    except TrainError as e:
        return _error(f"{procs.describe()}: {e}" if procs.distributed else str(e))
    except Exception as e:
        if not procs.distributed:
            raise
        return _failed_process(procs, Path(args.output), e)
    if procs.is_main:
        out = Console(highlight=False)
        print_report(report, out)
        out.print(f"wrote {result.run_dir}/ (checkpoints, eval_report.json, report.html, metrics.jsonl, tb/) "
                  f"in {time.perf_counter() - start:.0f} s")
    return 0


def _failed_process(procs: Processes, output: Path, e: BaseException) -> int:
    """One process of a data-parallel run failed: where, why, and what to do; the run stays unfinished."""
    import traceback

    from train.distributed import lost_peer

    work = output.with_name(output.name + ".partial")
    ckpts = sorted(work.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])) if work.exists() else []
    if ckpts:
        then = (f"fix the cause, then continue with --resume {ckpts[-1]} (same launcher and number of processes "
                "to continue exactly)")
    else:
        then = f"no checkpoint was saved: fix the cause and run again (delete {work} first if it is still there)"
    unfinished = f"the run is not finished and {output} was not written; {then}"
    if lost_peer(e):  # the cause is in another process: its message, and the launcher's summary, name it
        return _error(f"{procs.describe()} stopped: another process of the run failed or was killed (its error is "
                      f"above; the launcher's summary names its rank); {unfinished}")
    traceback.print_exc()
    first = str(e).splitlines()[0] if str(e) else ""
    return _error(f"{procs.describe()} failed ({type(e).__name__}: {first}); the launcher stops the other "
                  f"processes; {unfinished}")


def evaluate_run(result: Any, cfg: Any, build_dir: Path, model_name: str, say: Callable[[str], None],
                 procs: Processes | None = None) -> Any:
    """Generation metrics of the base and of every checkpoint, graded into the eval report.

    With N processes (`train.distributed.Processes`) every process calls this and generates its
    share of the prompts; every process gets the same report.
    """
    from train.generate import evaluate_generation
    from train.graduation import BaselineEval, CheckpointEval, history_from_log
    from train.model import load_for_generation
    from train.report_models import build_report

    eval_rows = _read_rows(build_dir / "eval.jsonl")
    g = cfg.generation

    def generate(adapter: Path | None) -> Any:
        model, tokenizer = load_for_generation(result.base_model, adapter)
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
        state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        say(f"evaluating {ckpt.name} by generation")
        checkpoints.append(CheckpointEval(name=ckpt.name, step=int(state["global_step"]), epoch=state.get("epoch"),
                                          generation=generate(ckpt)))
    return build_report(model_name, history, checkpoints, base, thresholds=cfg.graduation, data=str(build_dir))


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        raise TrainError(f"{path}: cannot read the eval split ({e}); give the output folder of `curate build`") \
            from None


def run_merge(args: argparse.Namespace) -> int:
    try:
        out = merge_checkpoint(Path(args.checkpoint), Path(args.output))
    except TrainError as e:
        return _error(str(e))
    print(f"wrote {out}/ (bf16, loads with transformers' AutoModelForCausalLM.from_pretrained)")
    return 0


def merge_checkpoint(checkpoint: Path, output: Path) -> Path:
    """Merge the LoRA adapter of `checkpoint` into a bf16 copy of its base and save it with its tokenizer.

    The base is the one the adapter names (`base_model_name_or_path`), loaded in bf16 rather than 4-bit
    so that the merged weights are not quantised. Written beside `output` and renamed into place.
    """
    config = checkpoint / "adapter_config.json"
    if not config.exists():
        raise TrainError(f"{checkpoint}: no adapter_config.json; give a checkpoint folder of `curate train` "
                         "(RUN/checkpoint-N)")
    if output.exists():
        raise TrainError(f"{output} exists; give a new folder")
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        raise TrainError(f"{INSTALL_HINT} ({e})") from None
    from train import quiet_libraries
    from train.model import load_tokenizer_for

    quiet_libraries()
    base_path = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path") or ""
    if not Path(base_path).exists():
        raise TrainError(f"{checkpoint}: its base model `{base_path}` is not a local folder; no model hub access here")
    tokenizer = load_tokenizer_for(str(checkpoint) if (checkpoint / "tokenizer_config.json").exists() else base_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.bfloat16, local_files_only=True)
    except OSError as e:
        raise TrainError(f"cannot load the base `{base_path}`: {e}") from None
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    merged = PeftModel.from_pretrained(model, str(checkpoint)).merge_and_unload()
    tmp = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output
