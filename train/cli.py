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

Where a run may go: `-o RUN` is never `/`, the current folder, the home folder, the build folder or
a folder holding it; an existing RUN/ is never replaced (a finished run stays as it is: resume from
its checkpoints into a new -o), and RUN.partial/ is only continued when `curate train` wrote it. One
run at a time writes RUN (a lock beside it: a second `curate train -o RUN` exits 2 at once).

Every failure is one line on stderr: bad input, a model folder that ships code (never run), a full
disk or a read-only folder (which file, and what to do) and where the run stands (the checkpoint to
resume from). SIGTERM and Ctrl-C stop a plain run the same way: a checkpoint being written is
removed, RUN.partial/ keeps the whole ones.

Exit codes: 0 the run finished (whatever the verdict), 2 bad input or a failed run (nothing in
RUN/; an interrupted run stays in RUN.partial/ to resume), 130 interrupted (Ctrl-C), 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
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
    p.add_argument("-o", "--output", required=True, metavar="RUN",
                   help="the run folder to create (never an existing run, a folder curate did not write, the "
                        "current folder, home or the build folder)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from a checkpoint: RUN.partial/checkpoint-N continues an interrupted run in place; "
                        "a finished run's RUN/checkpoint-N trains on into a new -o from a copy")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.set_defaults(run=run_train)


def add_merge(sub: Any) -> None:
    p = sub.add_parser("merge", help="merge a checkpoint's LoRA adapter into a bf16 copy of its base",
                       description="Write a standalone model (bf16) that loads with plain `transformers`.")
    p.add_argument("checkpoint", metavar="RUN/checkpoint-N", help="a checkpoint folder of `curate train`")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the folder to write")
    p.add_argument("--force", action="store_true",
                   help="replace DIR when it holds a model `curate merge` wrote (its merge.json); never any other "
                        "folder")
    p.set_defaults(run=run_merge)


def _error(message: str) -> int:
    from curate.terminal import clean

    sys.stderr.write(f"curate: error: {clean(message)}\n")  # one line: paths and names may come from data
    return 2


class Terminated(BaseException):
    """SIGTERM during a plain (one-process) run: raised like Ctrl-C so every `finally` and cleanup runs."""


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While in the block, SIGTERM raises `Terminated`, unless something else already handles it (`curate`'s
    own handler turns it into an exception too; a test harness or launcher has its own)."""
    import signal
    import threading

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL or threading.current_thread() is not \
            threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from curate.outputs import OutputError
    from curate.terminal import markup
    from train.config import load_train_config, validated
    from train.distributed import launched
    from train.failures import CheckpointWriteError

    err = Console(stderr=True, highlight=False, emoji=False)
    procs = launched()  # until the process group is joined (`current_processes`)
    output = Path(args.output)
    work: Path | None = None

    def say(msg: str) -> None:
        if procs.is_main:  # messages carry names from data (buckets, ids, paths): escaped for Rich
            err.print(f"[dim]curate train: {markup(msg)}[/]")

    try:
        if args.config is None and args.model == "tiny":
            from train.tiny import tiny_train_config

            cfg = tiny_train_config()  # sized for a 2-core CPU; the defaults are for real models
        else:
            cfg = load_train_config(args.config)
        if args.seed is not None:
            cfg = validated({**cfg.model_dump(), "seed": args.seed}, "--seed")
        build_dir = Path(args.build)
        if not build_dir.is_dir():
            raise TrainError(f"{build_dir}: no such folder; give the output folder of `curate build`")
        try:
            from curate.outputs import output_lock
            from train.distributed import current_processes, stop_on_sigterm
            from train.recipe import check_run_output, finalize_run, partial_dir, run_training
        except ImportError as e:
            raise TrainError(f"{INSTALL_HINT} ({e})") from None
        from train.report_html import print_report, write_html
        from train.report_models import write_report

        check_run_output(output, [build_dir])
        work = partial_dir(output.resolve())
        procs = current_processes()
        if procs.distributed:
            say(f"{procs.world_size} processes, data parallel: each trains on 1 in {procs.world_size} batches "
                "and evaluates its share; process 0 writes the run")
        start = time.perf_counter()
        if procs.is_main:
            output.resolve().parent.mkdir(parents=True, exist_ok=True)
        lock = output_lock(output.resolve(), "train") if procs.is_main else nullcontext()
        with lock, stop_on_sigterm() if procs.distributed else sigterm_unwinds():
            result = run_training(build_dir, args.model, cfg, output, resume=args.resume, log=say, finalize=False)
            try:
                report = evaluate_run(result, cfg, build_dir, args.model, say, procs)
                if procs.is_main:
                    write_report(report, result.run_dir / "eval_report.json")
                    write_html(report, result.run_dir / "report.html")
            except BaseException:
                say(f"evaluation did not finish; the trained run stays in {result.run_dir}")
                raise
            result = finalize_run(result, output)
    except TrainError as e:
        message = str(e)
        if isinstance(e, CheckpointWriteError) and work is not None:
            message += f"; {_where_the_run_stands(work)}"
        return _error(f"{procs.describe()}: {message}" if procs.distributed else message)
    except OutputError as e:  # another run holds the lock
        return _error(str(e))
    except (KeyboardInterrupt, Terminated) as e:
        _stopped("Ctrl-C" if isinstance(e, KeyboardInterrupt) else "SIGTERM", work)
        if isinstance(e, Terminated):
            return 143
        raise
    except Exception as e:
        from train.distributed import lost_peer
        from train.failures import failure_line

        if procs.distributed and lost_peer(e):
            return _failed_process(procs, output, e)
        line = failure_line(e, work or output)
        if line is not None:
            where = f"; {_where_the_run_stands(work)}" if work is not None else "; nothing was written"
            return _error((f"{procs.describe()}: " if procs.distributed else "") + line + where)
        if not procs.distributed:
            raise
        return _failed_process(procs, output, e)
    except BaseException as e:  # curate's own SIGTERM exception (`curate.cli`), or another stop from outside
        if not isinstance(e, (SystemExit, GeneratorExit)):
            _stopped("SIGTERM" if type(e).__name__ == "Terminated" else type(e).__name__, work)
        raise
    if procs.is_main:
        out = Console(highlight=False, emoji=False)
        print_report(report, out)
        out.print(f"wrote {markup(result.run_dir)}/ (checkpoints, eval_report.json, report.html, metrics.jsonl, tb/) "
                  f"in {time.perf_counter() - start:.0f} s")
    return 0


def _where_the_run_stands(work: Path) -> str:
    """After a failure: the whole checkpoint to resume from, or that nothing of the run is left."""
    from train.checkpoints import resume_hint

    if not work.exists():
        return "nothing was written"
    return f"the run stays in {work}; {resume_hint(work)}"


def _stopped(how: str, work: Path | None) -> None:
    from curate.terminal import clean

    where = _where_the_run_stands(work) if work is not None else "nothing was written"
    sys.stderr.write(f"curate: stopped ({how}); {clean(where)}\n")


def _failed_process(procs: Processes, output: Path, e: BaseException) -> int:
    """One process of a data-parallel run failed: where, why, and what to do; the run stays unfinished."""
    import traceback

    from train.checkpoints import latest_whole
    from train.distributed import lost_peer

    work = output.resolve().with_name(output.resolve().name + ".partial")
    last = latest_whole(work) if work.exists() else None
    if last is not None:
        then = (f"fix the cause, then continue with --resume {last} (same launcher and number of processes "
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
    from curate.outputs import OutputError
    from curate.terminal import clean
    from train.failures import failure_line

    output = Path(args.output)
    try:
        with sigterm_unwinds():
            out = merge_checkpoint(Path(args.checkpoint), output, force=args.force)
    except (TrainError, OutputError) as e:
        return _error(str(e))
    except Terminated:
        sys.stderr.write(f"curate: stopped (SIGTERM); {clean(output)} was not written\n")
        return 143
    except Exception as e:
        line = failure_line(e, output)
        if line is None:
            raise
        return _error(f"{line}; {output} was not written")
    print(f"wrote {clean(out)}/ (bf16, loads with transformers' AutoModelForCausalLM.from_pretrained)")
    return 0


MERGE_INFO = "merge.json"
"""What `curate merge` writes into its output beside the model: the checkpoint and base it came from. It is
also how a later `curate merge --force` knows that the folder is one it may replace."""


def merge_marker(folder: Path) -> bool:
    """A folder `curate merge` wrote: its merge.json names the checkpoint and the base."""
    try:
        info = json.loads((folder / MERGE_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and "checkpoint" in info and "base_model" in info


def check_merge_output(output: Path, inputs: list[Path], force: bool) -> None:
    """Raise OutputError or TrainError unless `output` may be written: absent or empty, or, with `force`, a
    model `curate merge` wrote; never a symbolic link, `/`, the current folder, home, or an input (the
    checkpoint, the base) or a folder holding one."""
    from curate.outputs import check_output_dir

    if (output.exists() or output.is_symlink()) and not output.is_dir():
        raise TrainError(f"{output}: exists and is not a folder; give a new folder for the merged model")
    # force=True here leaves only the checks that hold even with --force; what merge replaces is narrower (below)
    check_output_dir(output, inputs, merge_marker, "merged model", force=True)
    if not output.exists() or not any(output.iterdir()):
        return
    if not merge_marker(output):
        raise TrainError(f"{output}: exists and was not written by `curate merge` (no {MERGE_INFO}); give a new "
                         "folder (--force only replaces a merged model)")
    if not force:
        raise TrainError(f"{output}: holds a model merged earlier; pass --force to replace it, or give a new folder")


def merge_checkpoint(checkpoint: Path, output: Path, force: bool = False) -> Path:
    """Merge the LoRA adapter of `checkpoint` into a bf16 copy of its base and save it with its tokenizer.

    The base is the one the adapter names (`base_model_name_or_path`), loaded in bf16 rather than 4-bit
    so that the merged weights are not quantised; no code the folders ship is run. Written beside
    `output` (`.DIR.tmp-PID`) and renamed into place, with merge.json; an existing `output` is replaced only
    with `force` and only when merge wrote it (`check_merge_output`).
    """
    from curate.outputs import output_lock, remove_stale
    from train.checkpoints import adapter_damage

    config = checkpoint / "adapter_config.json"
    if not config.exists():
        raise TrainError(f"{checkpoint}: no adapter_config.json; give a checkpoint folder of `curate train` "
                         "(RUN/checkpoint-N)")
    try:
        adapter = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TrainError(f"{config}: cannot be read ({e}); give a checkpoint folder of `curate train`") from None
    base_path = (adapter.get("base_model_name_or_path") if isinstance(adapter, dict) else None) or ""
    if not base_path or not Path(base_path).exists():
        raise TrainError(f"{checkpoint}: its base model `{base_path}` is not a local folder; no model hub access here")
    damage = adapter_damage(checkpoint)
    if damage is not None:
        raise TrainError(f"{checkpoint}: a damaged checkpoint ({damage}); give a whole one")
    inputs = [checkpoint, Path(base_path)]
    check_merge_output(output, inputs, force)
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        raise TrainError(f"{INSTALL_HINT} ({e})") from None
    from train import quiet_libraries
    from train.model import REMOTE_CODE, load_tokenizer_for

    quiet_libraries()
    tokenizer = load_tokenizer_for(str(checkpoint) if (checkpoint / "tokenizer_config.json").exists() else base_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.bfloat16, local_files_only=True,
                                                     trust_remote_code=False)
    except (OSError, ValueError) as e:
        text = str(e).strip()
        if "custom code" in text or "trust_remote_code" in text:
            raise TrainError(f"base model `{base_path}`: {REMOTE_CODE}") from None
        raise TrainError(f"cannot load the base `{base_path}`: {text.splitlines()[0] if text else e!r}") from None
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    merged = PeftModel.from_pretrained(model, str(checkpoint), trust_remote_code=False).merge_and_unload()
    output.resolve().parent.mkdir(parents=True, exist_ok=True)
    with output_lock(output.resolve(), "merge"):
        check_merge_output(output, inputs, force)  # again, now that no other merge can write it
        remove_stale(output)
        tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            merged.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            info = {"checkpoint": str(checkpoint.resolve()), "base_model": base_path,
                    "global_step": _step_or_none(checkpoint)}
            (tmp / MERGE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            if output.exists():  # an empty folder, or (with --force) a model merged earlier
                output.rename(old)
            tmp.rename(output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not output.exists():
                old.rename(output)  # put the earlier model back
            raise
        shutil.rmtree(old, ignore_errors=True)
    return output


def _step_or_none(checkpoint: Path) -> int | None:
    try:
        step = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8")).get("global_step")
    except (OSError, ValueError, AttributeError):
        return None
    return step if isinstance(step, int) else None
