"""The `curate` command line.

Exit codes (all subcommands): 0 success / no error findings, 1 error findings or a refused result (nothing
written), 2 usage, configuration or I/O error, 130 Ctrl-C, 143 SIGTERM; each command's `--help` ends with an
example and its own (`EPILOGS`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from curate import __version__
from curate.outputs import Terminated, io_error_message, note_terminated, raise_if_terminated
from curate.terminal import console, print_error


def _split_codes(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [c for v in values for c in v.split(",")]  # a blank part is kept: `select_codes` refuses it


BUILTIN_COMMANDS = frozenset({"lint", "mask", "build", "dedup", "decontam", "bucket", "stats", "rule"})

PIPELINE_ORDER = ("lint", "dedup", "decontam", "bucket", "stats", "build", "mask", "train", "merge", "rule")
"""How `curate --help` lists the commands: the order data goes through them (a plugin's unknown command last)."""

_USAGE_ERROR = (2, "usage, configuration or I/O error (one line on stderr)")
_STOPPED = ((130, "interrupted (Ctrl-C)"), (143, "stopped (SIGTERM)"))


def epilog(example: str, codes: Sequence[tuple[int, str]]) -> str:
    """A command's `--help` epilog: an example, then what each exit code means, one a line."""
    lines = "\n".join(f"  {code:<3} {meaning}" for code, meaning in codes)
    return f"example:\n  {example}\n\nexit codes:\n{lines}"


EPILOGS: dict[str, str] = {
    "lint": epilog("curate lint data/ --tools tools.json --format github",
                   [(0, "no error findings (warnings allowed)"), (1, "error findings (0 with --exit-zero)"),
                    _USAGE_ERROR, *_STOPPED]),
    "dedup": epilog("curate dedup raw.jsonl --tools tools.json -o deduped.jsonl",
                    [(0, "OUT.jsonl and OUT.clusters.jsonl written"), _USAGE_ERROR, *_STOPPED]),
    "decontam": epilog("curate decontam raw.jsonl --against bfcl/ -o clean.jsonl",
                       [(0, "checked, whether records matched or not"), _USAGE_ERROR, *_STOPPED]),
    "bucket": epilog("curate bucket raw.jsonl --tools tools.json -o bucketed.jsonl",
                     [(0, "buckets printed (and written with -o)"), _USAGE_ERROR, *_STOPPED]),
    "stats": epilog("curate stats raw.jsonl --tools tools.json", [(0, "printed"), _USAGE_ERROR, *_STOPPED]),
    "build": epilog("curate build raw.jsonl --tools tools.json -o OUT",
                    [(0, "OUT written"), (1, "refused, nothing written: no record kept (see --allow-empty) or most "
                                             "records unreadable"), _USAGE_ERROR, *_STOPPED]),
    "mask": epilog("curate mask OUT/train.jsonl --tokenizer Qwen/Qwen2.5-0.5B-Instruct -o masked.jsonl",
                   [(0, "masked (and written with -o)"),
                    (1, "a mask audit failed, or the result was refused (no example, most records unreadable)"),
                    _USAGE_ERROR, *_STOPPED]),
    "rule": epilog("curate rule TC002", [(0, "printed"), (2, "no such rule")]),
}
"""Each command's `--help` ends with an example and its exit codes (plugins give theirs: `curate train`'s)."""


def add_jobs_option(parser: argparse.ArgumentParser, default: int | None, text: str) -> None:
    """`-j N` / `--jobs N`, the one name of every command's worker processes; `--num-proc N`, its earlier name
    on mask, build and dedup, still works (`args.jobs` either way; 0 becomes one per core in `main`)."""
    parser.add_argument("-j", "--jobs", "--num-proc", dest="jobs", type=int, default=default, metavar="N",
                        help=f"{text}; 0: one per core")


def export_formats(value: str) -> list[str]:
    """`--export hf,lf,openai`: the formats, each known, in the order given, once."""
    from curate.build.export import EXPORT_FORMATS

    formats = list(dict.fromkeys(f.strip() for f in value.split(",") if f.strip()))
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(map(repr, unknown)) or repr(value)}: choose from {', '.join(EXPORT_FORMATS)}, "
            "comma-separated (train.jsonl and eval.jsonl are always written)")
    return formats


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    """`-q` / `--quiet`: no progress bars (they are never drawn when stderr is not a terminal either); the
    command's results and errors are printed as without it. Every command that draws a bar has it."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars (none is drawn when stderr is not a terminal either)")


def add_decontam_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The decontamination settings (`DecontamConfig`), named `--{prefix}mode`, `--{prefix}ngram`, …; unset
    ones keep their defaults (`decontam_config`)."""
    parser.add_argument(f"--{prefix}mode", choices=("drop", "flag"), dest="decontam_mode",
                        help="drop the records that match (default), or keep them with a `contamination` field")
    parser.add_argument(f"--{prefix}ngram", type=int, dest="decontam_ngram", metavar="N",
                        help="words per n-gram (default 13, as GPT-3 and lm-eval-harness)")
    parser.add_argument(f"--{prefix}coverage", type=float, dest="decontam_coverage", metavar="F",
                        help="share of a benchmark item's n-grams one turn must hold (default 0.5)")
    parser.add_argument(f"--{prefix}near-threshold", type=float, dest="decontam_near", metavar="J",
                        help="Jaccard of word 3-shingles, numbers masked, that makes a near copy (default 0.5); "
                             "1 for exact copies only")
    parser.add_argument(f"--{prefix}roles", dest="decontam_roles", metavar="ROLES",
                        help="benchmark turns indexed, comma-separated (default: user; user,assistant adds the "
                             "reference answers)")


def decontam_config(args: argparse.Namespace, base: Any) -> Any:
    """`base` (the config's `[decontaminate]`) with the options `add_decontam_options` added set over it; a bad
    value is a `ConfigError`."""
    from pydantic import ValidationError

    from curate.config import ConfigError
    from curate.dedup.decontamination import DecontamConfig

    given = {"mode": args.decontam_mode, "ngram": args.decontam_ngram, "coverage": args.decontam_coverage,
             "near_threshold": args.decontam_near,
             "roles": args.decontam_roles.split(",") if args.decontam_roles is not None else None}
    try:
        return DecontamConfig(**{**base.model_dump(), **{k: v for k, v in given.items() if v is not None}})
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        raise ConfigError(f"decontamination option {err['loc'][0]}: {err['msg'].lower()}") from None


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curate", description="Lint, curate and train on tool-using agent trajectories.",
        epilog="Exit codes (every command): 0 success, 1 error findings or a refused result, 2 usage, "
               "configuration or I/O error, 130 interrupted (Ctrl-C), 143 stopped (SIGTERM). `curate COMMAND "
               "--help` gives each command's example and exit codes.", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"curate {__version__}")
    parser.add_argument("--allow-downloads", action="store_true",
                        help="let this command download models and tokenizers from the Hugging Face hub "
                             "(default: offline; also CURATE_ALLOW_DOWNLOADS=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    lint = sub.add_parser("lint", help="check trajectory files (format, roles, tool calls against schemas)",
                          description="Check trajectory files: JSONL, JSON arrays, Parquet, datasets folders.")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to lint; - for stdin (JSONL)")
    lint.add_argument("--tools", action="append", default=[], metavar="FILE",
                      help="tool specs (JSON array or JSONL) that apply to every record; repeatable")
    lint.add_argument("--select", action="append", metavar="CODES",
                      help="comma-separated codes or prefixes to check (default: all, or the config's)")
    lint.add_argument("--ignore", action="append", metavar="CODES", help="codes or prefixes to skip")
    lint.add_argument("--format", choices=("text", "json", "github"), default="text",
                      help="text: a line per finding and a summary table (default); json: an array of findings "
                           "(schemas/findings.schema.json); github: GitHub Actions annotations")
    lint.add_argument("--statistics", action="store_true", help="print only the summary table")
    lint.add_argument("--config", type=Path, metavar="FILE",
                      help="a pyproject.toml or TOML file with [tool.curate.lint] (default: nearest pyproject.toml)")
    lint.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    lint.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are error findings")
    add_jobs_option(lint, 1, "worker processes; the output is the same for any N")

    mask = sub.add_parser("mask", help="render, tokenize and mask trajectories (loss on assistant text only)",
                          description="Masked examples (input_ids, labels, attention_mask) with a fail-closed audit.")
    mask.add_argument("paths", nargs="+", metavar="PATH", help="trajectory files or folders")
    mask.add_argument("--tools", action="append", default=[], metavar="FILE",
                      help="tool specs for records that carry no `tools` of their own; repeatable")
    mask.add_argument("--tokenizer", metavar="NAME_OR_PATH",
                      help="a Hugging Face tokenizer (local folder or hub name); default: the built-in one")
    mask.add_argument("--turns", choices=("all", "last"), default="all", help="assistant turns trained")
    mask.add_argument("--think", choices=("keep", "drop", "mask"), default="keep",
                      help="earlier-turn <think> blocks: keep and train, drop, or keep but mask")
    mask.add_argument("--max-length", type=int, metavar="N", help="longest example in tokens")
    mask.add_argument("--truncation", choices=("drop", "cut_front"), default="drop",
                      help="over --max-length: drop the example, or cut whole turns from the front")
    mask.add_argument("--template", choices=("model", "chatml", "tokenizer", "auto"), default="model",
                      help="model: the tokenizer's own chat template, refused when it drops tool specs, calls, "
                           "results or trained reasoning; chatml: the built-in Hermes/Qwen2.5 ChatML renderer "
                           "with the tokenizer (protocol tokens added when missing); auto: former name of model")
    mask.add_argument("--calls", choices=("canonical", "as-written"), default="canonical",
                      help="calls written as ReAct steps, Python-style lists or Python dicts: rewritten as "
                           "<tool_call> JSON (the default), or kept as written")
    mask.add_argument("--audit", action="store_true", help="print trained/masked tokens per segment")
    mask.add_argument("--show", type=int, default=0, metavar="N",
                      help="print N examples with trained tokens highlighted")
    mask.add_argument("-o", "--output", metavar="OUT.jsonl", help="write the masked examples (JSON Lines)")
    mask.add_argument("--force", action="store_true",
                      help="replace OUT.jsonl even when it is not an earlier `curate mask` output")
    mask.add_argument("--allow-empty", action="store_true",
                      help="a run that masks no example writes an empty OUT.jsonl and exits 0 (default: it writes "
                           "nothing and exits 1)")
    add_jobs_option(mask, 1, "worker processes (each loads the tokenizer); the output is the same for any N")
    add_quiet_option(mask)

    build = sub.add_parser("build", help="lint, dedup, bucket, balance and split into a training set",
                           description="Turn raw trajectory files into a vetted, bucket-balanced ChatML set.")
    build.add_argument("paths", nargs="+", metavar="INPUT",
                       help="trajectory files or folders: paths or fsspec URLs (file://, s3://, …)")
    build.add_argument("-o", "--output", required=True, metavar="OUT",
                       help="output folder, a path or an fsspec URL (replaced atomically, and only when it is "
                            "an earlier build, unless --force)")
    build.add_argument("--force", action="store_true",
                       help="replace OUT even when it is not an earlier build (never /, the current folder, an "
                            "input or a folder holding one)")
    build.add_argument("--tools", action="append", default=[], metavar="FILE",
                       help="tool specs for records without their own `tools`; repeatable")
    build.add_argument("--config", type=Path, metavar="FILE", help="build configuration (TOML)")
    build.add_argument("--tokenizer", metavar="NAME_OR_PATH", help="tokenizer for token counts (default: built-in)")
    build.add_argument("--decontaminate", action="append", default=[], metavar="FILE",
                       help="drop training records holding an item of the benchmark FILE in any turn (any file "
                            "or folder the readers take, BFCL's included); repeatable")
    add_decontam_options(build, "decontaminate-")
    build.add_argument("--export", type=export_formats, metavar="FORMATS",
                       help="what is written besides train.jsonl and eval.jsonl, comma-separated: hf (hf/, the "
                            "`datasets` folder), lf (lf/, LLaMA-Factory's ShareGPT form and its dataset_info.json), "
                            "openai (openai/, OpenAI fine-tuning JSON Lines); replaces the config's [export] formats "
                            "(default: hf)")
    build.add_argument("--keep-invalid", action="store_true", help="keep records with lint errors")
    build.add_argument("--allow-empty", action="store_true",
                       help="a build that keeps no record writes an empty set and exits 0 (default: it writes "
                            "nothing and exits 1)")
    build.add_argument("--seed", type=int, help="random seed (default: the config's, else 0)")
    add_jobs_option(build, None, "worker processes, or Ray workers with --engine ray (default: the config's "
                    "`num_proc`, else 1); the output is the same for any N")
    build.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="where the per-record stages and near-dup search run: this machine's processes "
                            "(default) or a Ray cluster; the output is the same")
    build.add_argument("--address", metavar="ADDR",
                       help="with --engine ray: the cluster's address (HOST:PORT, ray://HOST:PORT, auto); "
                            "default: a Ray instance started on this machine for the run")
    add_quiet_option(build)

    dedup = sub.add_parser("dedup", help="exact and near-duplicate removal (the build's dedup stage alone)",
                           description="Drop exact and near duplicates as the build does; write the kept records "
                                       "and the clusters.")
    dedup.add_argument("paths", nargs="+", metavar="INPUT", help="trajectory files or folders")
    dedup.add_argument("-o", "--output", required=True, metavar="OUT.jsonl",
                       help="kept records; clusters go to OUT.clusters.jsonl")
    dedup.add_argument("--config", type=Path, metavar="FILE", help="build configuration (TOML): [dedup]")
    add_jobs_option(dedup, None, "worker processes signing records (default: the config's `num_proc`, else 1)")
    dedup.add_argument("--force", action="store_true",
                       help="replace OUT.jsonl even when it is not an earlier `curate dedup` output")
    add_gate_options(dedup)
    decontam = sub.add_parser("decontam", help="find records holding a benchmark item (the build's "
                              "decontamination stage alone)",
                              description="Check every turn of every record against benchmark files; print the "
                                          "matches per benchmark and method.")
    decontam.add_argument("paths", nargs="+", metavar="INPUT", help="trajectory files or folders")
    decontam.add_argument("--against", action="append", required=True, metavar="FILE",
                          help="a benchmark file or folder (any the readers take, BFCL's included); repeatable")
    decontam.add_argument("-o", "--output", metavar="OUT.jsonl",
                          help="write the records kept (all of them, marked, with --mode flag); every match goes "
                               "to OUT.contamination.jsonl")
    decontam.add_argument("--config", type=Path, metavar="FILE", help="build configuration (TOML)")
    add_jobs_option(decontam, None, "worker processes (default: the config's `num_proc`, else 1)")
    decontam.add_argument("--force", action="store_true",
                          help="replace OUT.jsonl even when it is not an earlier `curate decontam` output")
    add_gate_options(decontam)
    decontam.add_argument("--show", type=int, default=10, metavar="N", help="print the first N matches")
    add_decontam_options(decontam)
    for name, text in (("bucket", "capability and length buckets of every record"),
                       ("stats", "records, lint findings, buckets and lengths, without writing anything")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("paths", nargs="+", metavar="INPUT", help="trajectory files or folders")
        if name == "bucket":
            p.add_argument("-o", "--output", metavar="OUT.jsonl", help="records with bucket fields added")
            p.add_argument("--force", action="store_true",
                           help="replace OUT.jsonl even when it is not an earlier `curate bucket` output")
        p.add_argument("--config", type=Path, metavar="FILE", help="build configuration (TOML)")
        p.add_argument("--tokenizer", metavar="NAME_OR_PATH", help="tokenizer for token counts (default: built-in)")
        add_gate_options(p)

    rule = sub.add_parser("rule", help="explain a lint rule", description="Print a rule's documentation.")
    rule.add_argument("code", nargs="?", help="a rule code such as TC003")
    rule.add_argument("--all", action="store_true", help="list every rule")
    if plugins:
        add_plugin_commands(sub)
    finish_parsers(parser, sub)
    return parser


def add_gate_options(p: argparse.ArgumentParser) -> None:
    """The build's lint gate, for a stage run alone (dedup, decontam, bucket, stats): `--tools`, `--keep-invalid`."""
    p.add_argument("--tools", action="append", default=[], metavar="FILE",
                   help="tool specs for records that call tools they do not define (as the build's)")
    p.add_argument("--keep-invalid", action="store_true", help="keep records with lint errors (as the build's)")


class LineHelpFormatter(argparse.HelpFormatter):
    """Descriptions and epilogs filled line by line: an epilog's lines (the example, each exit code) stay lines, a
    long one wraps under its own text."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import re
        import textwrap

        lines = []
        for line in text.splitlines():
            lead = re.match(r"\s*(\d+\s+)?", line)
            hang = indent + " " * (lead.end() if lead else 0)
            lines.append(textwrap.fill(line, width, initial_indent=indent, subsequent_indent=hang) if line else "")
        return "\n".join(lines)


def finish_parsers(parser: argparse.ArgumentParser, sub: Any) -> None:
    """What every parser has, plugins' included: no abbreviated options (`--tool` is not `--tools`: a typo is an
    error, not a guess), an epilog with an example and the exit codes (`EPILOGS`, or the plugin's), and the
    commands listed in `PIPELINE_ORDER`."""
    parser.allow_abbrev = False
    for name, command in sub.choices.items():
        command.allow_abbrev = False
        command.formatter_class = LineHelpFormatter
        if command.epilog is None:
            command.epilog = EPILOGS.get(name)
    rank = {name: k for k, name in enumerate(PIPELINE_ORDER)}
    sub._choices_actions.sort(key=lambda a: rank.get(a.dest, len(rank)))  # argparse lists them in this order


def add_plugin_commands(sub: Any) -> None:
    """Subcommands that other packages add (`train` and `merge`, from the `train` package), found through
    the `curate.commands` entry points: `curate` itself never imports them, and they import `curate`.

    Each entry point is a function that adds its subparsers and sets `run` (args → exit code) on them.
    """
    from importlib.metadata import entry_points

    from curate.extras import install_command

    for ep in sorted(entry_points(group="curate.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as e:  # a broken install: say so when the command is used, not on every command
            broken = sub.add_parser(ep.name, help=f"(unavailable: {e})")
            broken.set_defaults(run=lambda _args, e=e, name=ep.name: print_error(
                f"`curate {name}` cannot load ({e}); reinstall with {install_command('train')}"))
            continue
        register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Plugin commands are looked up (an entry-point scan) only when a built-in one is not asked for.
    parser = build_parser(plugins=not args_list or args_list[0] not in BUILTIN_COMMANDS)
    args = parser.parse_args(args_list)
    from curate.network import apply_offline_default

    apply_offline_default(args.allow_downloads)  # before any command imports a Hugging Face library
    with unwind_on_sigterm():
        return _run(parser, args)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the handler of the command, `cmd_<name>(args) -> exit code`; the errors every command may meet are
    reported here, once: a config to fix, a worker process that died, a closed pipe, Ctrl-C, SIGTERM."""
    from curate.config import ConfigError
    from curate.parallel import WorkerDied, resolve_jobs
    from curate.terminal import set_quiet

    set_quiet(bool(getattr(args, "quiet", False)))  # the progress bars of build, mask and train
    if getattr(args, "jobs", None) is not None:  # one meaning of --jobs N for every command: 0 is one per core
        try:
            args.jobs = resolve_jobs(args.jobs)
        except ValueError as e:
            return print_error(str(e))
    try:
        code = _dispatch(parser, args)
        raise_if_terminated()  # SIGTERM whose exception was swallowed (raised inside a `__del__`)
        return code
    except (ConfigError, WorkerDied) as e:  # a worker of --jobs N killed (out of memory, say)
        sys.stdout.flush()
        return print_error(str(e))
    except ModuleNotFoundError as e:  # an extra this command needs is not installed
        from curate.extras import missing_module_message

        message = missing_module_message(args.command, e)
        if message is None:
            raise
        return print_error(message)
    except BrokenPipeError:
        sys.stderr.close()  # e.g. `curate lint … | head`
        return 1
    except KeyboardInterrupt:
        return 130
    except Terminated:
        return 143


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The command's handler, by name: `cmd_<name>(args) -> exit code`."""
    if args.command == "lint":
        return cmd_lint(args)
    if args.command == "rule":
        return cmd_rule(args)
    if args.command == "build":
        return cmd_build(args)
    if args.command == "mask":
        from curate.mask_cmd import cmd_mask

        return cmd_mask(args)
    if args.command in ("dedup", "decontam", "bucket", "stats"):
        from curate import stages_cmd

        return _stage(getattr(stages_cmd, f"cmd_{args.command}"), args)
    if getattr(args, "run", None) is not None:  # a plugin command: its `cmd_<name>`
        return int(args.run(args))
    parser.print_help()
    return 2


@contextlib.contextmanager
def unwind_on_sigterm() -> Iterator[None]:
    """While in the block, SIGTERM raises `Terminated` in this process (worker processes forked meanwhile die
    as by default); the previous handler comes back after it.

    Left alone when something else already handles SIGTERM (a launcher, a test harness), or off the main
    thread, where Python cannot set handlers."""
    import signal
    import threading

    global _UNWINDING
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL or threading.current_thread() is not \
            threading.main_thread():
        yield
        return
    main_pid = os.getpid()
    _quiet_forked_workers()

    def handler(signum: int, _frame: Any) -> None:
        if os.getpid() != main_pid:  # forked without the at-fork reset (should not happen): die as by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        note_terminated()
        raise Terminated()

    note_terminated(False)
    signal.signal(signal.SIGTERM, handler)
    _UNWINDING = True
    try:
        yield
    finally:
        _UNWINDING = False
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


_UNWINDING = False
_AT_FORK_REGISTERED = False


def _quiet_forked_workers() -> None:
    """Worker processes forked while a command runs (the build's `datasets.map(num_proc=…)` pool) ignore
    Ctrl-C and die at once on SIGTERM.

    A terminal's Ctrl-C reaches every process of the group: a worker killed by it mid-task is replaced by the
    pool while the main process, interrupted too, terminates the pool, and the replacement, missed by that
    terminate, keeps the run hanging with its work folder in place. Ignoring SIGINT in the workers leaves the
    decision to the main process, whose unwinding terminates them (SIGTERM, default action: no Python
    handler that a worker blocked in native code could not run). Processes started with exec (`spawn`,
    subprocesses) are not affected."""
    import signal

    global _AT_FORK_REGISTERED
    if _AT_FORK_REGISTERED:
        return

    def in_child() -> None:
        if _UNWINDING:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    os.register_at_fork(after_in_child=in_child)
    _AT_FORK_REGISTERED = True


def cmd_lint(args: argparse.Namespace) -> int:
    from curate.config import ConfigError, find_pyproject
    from curate.lint import Linter
    from curate.lint_config import load_lint_config
    from curate.readers import ReadError, load_tool_specs
    from curate.report import stream_is_color, write_github, write_json, write_summary, write_text

    try:
        config_path = None if args.isolated else (args.config or find_pyproject(Path.cwd()))
        config, found = load_lint_config(config_path)
        base = found.parent if found else Path.cwd()
        tool_files = [base / t for t in config.tools] + [Path(t) for t in args.tools]
        specs = [s for f in tool_files for s in load_tool_specs(f)]
        # The command line replaces the configured selection: `--select RL` shows RL findings even
        # when the config ignores some of them, unless `--ignore` is given too.
        select = _split_codes(args.select) if args.select is not None else config.select
        ignore = _split_codes(args.ignore) if args.ignore is not None else [] if args.select else config.ignore
        jobs = args.jobs
        if jobs > 1:  # imported only here: multiprocessing costs start-up time a pre-commit hook would feel
            from curate.lint_jobs import ParallelLinter

            linter: Any = ParallelLinter(specs, select, ignore, jobs, max_record_bytes=config.max_record_bytes)
        else:
            linter = Linter(specs, select, ignore, max_record_bytes=config.max_record_bytes)
    except ReadError as e:
        return print_error(str(e))
    except ConfigError:
        raise  # reported by `_run`, as every command's
    except ValueError as e:  # an invalid tool spec in a --tools file
        return print_error(f"invalid tool spec: {e}")

    missing = [p for p in args.paths if p != "-" and not Path(p).exists()]
    if missing:  # before any output, so that --format json never prints half an array
        return print_error(f"{missing[0]}: no such file or directory")
    out = sys.stdout
    color = stream_is_color(out)
    errors = 0

    def findings():
        nonlocal errors
        for path in args.paths:
            for f in linter.lint_path(path):
                errors += f.severity == "error"
                yield f

    try:
        if args.statistics:
            for _ in findings():
                pass
        elif args.format == "json":
            write_json(findings(), out)
        elif args.format == "github":
            write_github(findings(), out)
        else:
            write_text(findings(), out, color)
    except ReadError as e:
        out.flush()
        return print_error(str(e))
    finally:
        if jobs > 1:
            linter.close()
    if args.format == "text":
        write_summary(linter.stats, out, color)
    return 1 if errors and not args.exit_zero else 0


def cmd_rule(args: argparse.Namespace) -> int:
    from curate.rules import all_rules
    from curate.terminal import NAME_LIMIT, clean

    rules = all_rules()
    if args.all or not args.code:
        width = max(len(r.name) for r in rules.values())
        for code, r in rules.items():
            print(f"{code}  {r.name:<{width}}  {r.severity:<7}  {r.summary()}")
        return 0
    rule = rules.get(args.code.upper())
    if rule is None:
        return print_error(f"no rule `{clean(args.code, NAME_LIMIT)}`; `curate rule --all` lists them")
    print(f"{rule.code} ({rule.name}) [{rule.group}, {rule.severity}]\n")
    print(rule.docs())
    return 0


def _progress(console: Any) -> Any:
    """The build's `log`: a dimmed `curate build: …` line per step; file names and notes in it come from data."""
    from curate.terminal import markup

    return lambda msg: console.print(f"[dim]curate build: {markup(msg)}…[/]", soft_wrap=True)  # never split


def cmd_build(args: argparse.Namespace) -> int:
    import time

    from rich.table import Table

    from curate.build import BuildError, BuildRefused, build
    from curate.build.space import disk_full
    from curate.buildconfig import load_build_config
    from curate.config import ConfigError
    from curate.readers import ReadError
    from curate.storage import as_location
    from curate.tokenizer import TokenizerError

    err = console(stderr=True)  # the progress bar's: step lines go above the bar
    try:
        cfg = load_build_config(args.config)
        updates = {k: v for k, v in (("seed", args.seed), ("num_proc", args.jobs)) if v is not None}
        if args.keep_invalid:
            updates["lint"] = cfg.lint.model_copy(update={"keep_invalid": True})
        if args.export is not None:
            updates["export"] = cfg.export.model_copy(update={"formats": args.export})
        cfg = cfg.model_copy(update=updates)
        if args.address and args.engine != "ray":
            return print_error("--address needs --engine ray")
        engine = None
        if args.engine == "ray":
            from curate.build.engines.ray import RayEngine

            engine = RayEngine(args.address)
        start = time.perf_counter()
        result = build([as_location(p) for p in args.paths], as_location(args.output), cfg,
                       [as_location(t) for t in args.tools], args.tokenizer,
                       [as_location(d) for d in args.decontaminate],
                       log=_progress(err), engine=engine, force=args.force, allow_empty=args.allow_empty,
                       decontam=decontam_config(args, cfg.decontaminate))
    except BuildRefused as e:  # it ran, and keeps nothing or could not read most records: exit 1
        from curate.tally import print_refusal

        return print_refusal(e.line, e.todo)
    except (BuildError, ReadError, TokenizerError) as e:
        return print_error(str(e))
    except OSError as e:  # disk full, read-only or vanished output: nothing was left half-written
        return print_error(io_error_message(e, args.output))
    except ConfigError:
        raise  # reported by `_run`, as every command's (bucket rules that do not compile included)
    except ValueError as e:  # MixError, DedupError: impossible targets
        return print_error(str(e))
    except Exception as e:  # a full disk behind a library's own error (`datasets` wraps a failed write)
        full = disk_full(e)
        if full is None:
            raise
        return print_error(io_error_message(full, args.output))
    m = result.manifest
    from curate.terminal import markup  # bucket names, drop reasons and OUT may hold markup or escapes

    out = console()
    stages = Table(title="Where records went", title_justify="left")
    for col in ("stage", "in", "out", "dropped"):
        stages.add_column(col, justify="left" if col in ("stage", "dropped") else "right")
    for s in m.stages:
        stages.add_row(s.stage, str(s.records_in), str(s.records_out),
                       ", ".join(f"{markup(k)} {v}" for k, v in sorted(s.dropped.items())) or "—")
    out.print(stages)
    out.print(result.mix_table)
    out.print(f"[bold]{m.records_in:,}[/] records in → [bold]{result.train:,}[/] train + [bold]{result.eval:,}[/] "
              f"eval ({m.copies:,} up-sampled copies); {m.clusters:,} near-duplicate clusters; "
              f"{time.perf_counter() - start:.1f} s")
    d = m.decontamination
    if d is not None:
        methods = ", ".join(f"{k} {v}" for k, v in d.by_method.items())
        out.print(f"decontamination: {d.matched:,} records hold a benchmark item"
                  f"{f' ({methods})' if methods else ''}, {'dropped' if d.mode == 'drop' else 'kept and marked'}; "
                  "each in contamination.jsonl")
    written = "clusters.jsonl, contamination.jsonl" if d is not None else "clusters.jsonl"
    if m.dropped_files is not None and m.dropped_files.written:
        written += f", dropped/ (up to {m.dropped_files.cap:,} records per reason)"
    formats = "".join(f"{f}/, " for f in cfg.export.formats)
    out.print(f"wrote {markup(result.out)}/ (train.jsonl, eval.jsonl, {formats}manifest.json, {written}, report.html)")
    assert result.tally is not None
    out.print(markup(result.tally.line()), soft_wrap=True)  # one line, whatever the terminal width
    from curate.tally import lint_drop_note

    note = lint_drop_note(result.tally, m.lint_findings,
                          [*args.paths, *(a for t in args.tools for a in ("--tools", t))], bool(args.tools))
    if note is not None:  # most records lost to lint errors: the cause, and the fix, said last
        out.file.flush()
        err.print(f"curate: note: {markup(note)}", soft_wrap=True)
    return 0


def _stage(handler: Any, args: argparse.Namespace) -> int:
    """Run `curate dedup`, `bucket` or `stats` (`curate.stages_cmd.cmd_<name>`), their errors one line each."""
    from curate.build import BuildError
    from curate.build.space import disk_full
    from curate.config import ConfigError
    from curate.readers import ReadError
    from curate.tokenizer import TokenizerError

    try:
        return int(handler(args))
    except (BuildError, ReadError, TokenizerError) as e:
        return print_error(str(e))
    except ConfigError:
        raise  # reported by `_run`, as every command's
    except ValueError as e:  # DedupError
        return print_error(str(e))
    except OSError as e:
        return print_error(io_error_message(e, getattr(args, "output", None)))
    except Exception as e:  # a full disk behind a library's own error (`datasets` wraps a failed write)
        full = disk_full(e)
        if full is None:
            raise
        return print_error(io_error_message(full, getattr(args, "output", None)))
