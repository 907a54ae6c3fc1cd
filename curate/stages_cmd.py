"""`curate dedup`, `curate bucket`, `curate stats`: the build's own steps, each command a few of them.

    curate dedup INPUT... -o OUT.jsonl [--config FILE] [--jobs N] [--tools FILE] [--keep-invalid]  # + clusters
    curate bucket INPUT... [-o OUT.jsonl] [--config FILE] [--tokenizer T] [--tools FILE] [--keep-invalid]
    curate stats INPUT... [--config FILE] [--tokenizer T] [--tools FILE] [--keep-invalid]

Each prepares a `curate.build.Build` and runs its `read` and `lint_gate` steps (records with lint errors are
dropped unless `--keep-invalid`, unreadable ones counted, as the build does), then `dedup` (`curate dedup`) or
`bucket` (`curate bucket`, `curate stats`), with the raw rows in a work folder beside OUT (a temporary folder
when nothing is written). Records are written as the build exports them: read back from the raw rows, with
every tool they call attached and the build's ids. So `curate dedup` keeps the records the build's near-dup
step keeps, and `curate bucket` labels a record as the build does. Outputs are written atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from curate.build import BuildError, GatedRecord, with_id
from curate.build.facts import prepare_worker
from curate.build.pipeline import Build, make_parents, work_folder
from curate.build.raw import RecordSource
from curate.buildconfig import BuildConfig, load_build_config
from curate.jsonl import JsonlWriter, commit_together, write_jsonl
from curate.outputs import Marker, OutputError, check_output_file, first_row_has
from curate.records import Trajectory

BUCKET_FIELDS = ("bucket", "signals", "tokens", "length_bucket", "calls", "rounds")
"""The fields `curate bucket -o` adds to every record: how an earlier output of it is recognised."""


def _config(args: argparse.Namespace) -> BuildConfig:
    """The build configuration, with the command's `--jobs` and `--keep-invalid` as `curate build` applies them."""
    cfg = load_build_config(args.config)
    updates: dict[str, Any] = {}
    if getattr(args, "jobs", None):
        updates["num_proc"] = args.jobs
    if args.keep_invalid:
        updates["lint"] = cfg.lint.model_copy(update={"keep_invalid": True})
    return cfg.model_copy(update=updates) if updates else cfg


def _check_output(out: Path, args: argparse.Namespace, marker: Marker, what: str) -> None:
    """Refuse an OUT.jsonl that is an input, or that this command did not write (unless --force)."""
    inputs = [Path(p) for p in (*args.paths, *getattr(args, "tools", []))]
    try:
        check_output_file(out, inputs, marker, what, args.force)
    except OutputError as e:
        raise BuildError(str(e)) from None


@contextlib.contextmanager
def _work(out: Path | None) -> Iterator[Path]:
    """A work folder beside `out` (its missing parents made, and removed again on failure), or a temporary one."""
    if out is None:
        with tempfile.TemporaryDirectory(prefix="curate-stage-") as folder:
            yield Path(folder)
        return
    created = make_parents(out.parent)
    try:
        with work_folder(out) as work:
            yield work
    except BaseException:
        for folder in reversed(created):  # a failed run leaves nothing, not even the folders it made
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@contextlib.contextmanager
def _gated(args: argparse.Namespace, cfg: BuildConfig, out: Path | None) -> Iterator[tuple[Build, list[GatedRecord]]]:
    """A `Build` of `args.paths` past its `read` and `lint_gate` steps, and the records the gate passes (input
    order); its raw rows live in a work folder beside `out` (a temporary one when None) until the block ends."""
    paths = [Path(p) for p in args.paths]
    for p in paths:
        if not p.exists():
            raise BuildError(f"{p}: no such file or directory")
    build = Build(paths, out if out is not None else Path(tempfile.gettempdir()), cfg,
                  [Path(t) for t in getattr(args, "tools", [])], getattr(args, "tokenizer", None))
    build.prepare()
    try:
        with _work(out) as work:
            build.read(paths, work)
            yield build, build.lint_gate()
    finally:
        build.engine.stop()


def _read_back(build: Build, gated: list[GatedRecord]) -> Iterator[tuple[GatedRecord, Trajectory]]:
    """Each of `gated` with its record read back from the raw rows, tools attached, as the build's export does
    (the record under its own id, not yet the build's: see `with_id`)."""
    assert build.spec is not None
    source = RecordSource(build.raw, build.sources, build.spec.tools)
    return zip(gated, source.records([g.row for g in gated]), strict=True)


def _dump(record: Trajectory, g: GatedRecord) -> dict[str, Any]:
    """A record as the stage commands write it: under the build's id for it."""
    return with_id(record, g.id).model_dump(mode="json", exclude_none=True)


def _print_tally(build: Build) -> None:
    """The command's last line: the records read, kept, unreadable and dropped by reason (`Build.tally`)."""
    from curate.terminal import markup

    Console(highlight=False).print(markup(build.tally().line()), soft_wrap=True)  # one line, never split


def cmd_dedup(args: argparse.Namespace) -> int:
    from curate.terminal import markup

    cfg = _config(args)
    out = Path(args.output)
    clusters_file = out.with_name(out.name.removesuffix(".jsonl") + ".clusters.jsonl")
    _check_output(out, args, lambda p: clusters_file.is_file(), "dedup output")
    with _gated(args, cfg, out) as (build, gated):
        kept = build.dedup(gated)
        result = build.dedup_result
        with JsonlWriter(out) as kept_file, JsonlWriter(clusters_file) as clusters:
            for g, record in _read_back(build, kept):
                kept_file.write(_dump(record, g))
            for c in result.clusters:
                clusters.write(c.model_dump(mode="json"))
            commit_together([kept_file, clusters])
    Console(highlight=False, soft_wrap=True).print(  # one line, never split where a path could be
        f"wrote {markup(out)} ({kept_file.rows} records) and {markup(clusters_file)} ({len(result.clusters)} "
        "near-duplicate clusters)")
    _print_tally(build)
    return 0


def cmd_bucket(args: argparse.Namespace) -> int:
    cfg = _config(args)
    out = Path(args.output) if args.output else None
    if out is not None:
        _check_output(out, args, lambda p: first_row_has(p, BUCKET_FIELDS), "bucket output")
    with _gated(args, cfg, out) as (build, gated):
        build.bucket(gated)
        if out is not None:
            assert build.spec is not None
            bucketer = prepare_worker(build.spec).bucketer  # the workers' own, built by `prepare`

            def rows() -> Iterator[dict[str, Any]]:
                for g, record in _read_back(build, gated):
                    a = bucketer.assign(record, g.tokens)  # calls and rounds: not among the record facts
                    yield {**_dump(record, g), "bucket": g.bucket, "signals": g.signals, "tokens": g.tokens,
                           "length_bucket": g.length_bucket, "calls": a.calls, "rounds": a.rounds}

            write_jsonl(out, rows())
    _print_distribution(build, gated)
    _print_tally(build)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    cfg = _config(args)
    with _gated(args, cfg, None) as (build, gated):
        build.bucket(gated)
    _print_distribution(build, gated, findings=True)
    _print_tally(build)
    return 0


def _print_distribution(build: Build, gated: list[GatedRecord], findings: bool = False) -> None:
    """The buckets, length buckets and signals of the records past the lint gate; with `findings`, the gate's
    lint findings by code (those of one `curate lint` run)."""
    from collections import Counter

    from curate.terminal import NAME_LIMIT, markup  # bucket and signal names come from build configs

    console = Console(highlight=False)
    by_bucket: dict[str, list[int]] = {}
    for g in gated:
        by_bucket.setdefault(g.bucket, []).append(g.tokens)
    table = Table(title=f"{len(gated)} records past the lint gate", title_justify="left")
    for col in ("bucket", "records", "share", "tokens min", "median", "max"):
        table.add_column(col, justify="left" if col == "bucket" else "right")
    for bucket, toks in sorted(by_bucket.items(), key=lambda kv: -len(kv[1])):
        toks = sorted(toks)
        table.add_row(markup(bucket, NAME_LIMIT), str(len(toks)), f"{len(toks) / max(1, len(gated)):.1%}",
                      str(toks[0]), str(toks[len(toks) // 2]), str(toks[-1]))
    console.print(table)
    lengths = Counter(g.length_bucket for g in gated)
    console.print("length buckets: " + ", ".join(f"{markup(k)} {v}" for k, v in sorted(lengths.items())))
    signals = Counter(s for g in gated for s in g.signals)
    console.print("signals: " + ", ".join(f"{markup(k, NAME_LIMIT)} {v}" for k, v in signals.most_common()))
    if findings:
        counts = build.lint_counts
        console.print("lint findings: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
