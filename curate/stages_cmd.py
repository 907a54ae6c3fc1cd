"""`curate dedup`, `decontam`, `bucket` and `stats`: the build's own steps, each command a few of them.

    curate dedup INPUT... -o OUT.jsonl [--config FILE] [--jobs N] [--tools FILE] [--keep-invalid]  # + clusters
    curate decontam INPUT... --against FILE... [-o OUT.jsonl] [--mode drop|flag] [--ngram N] [--show N] …
    curate bucket INPUT... [-o OUT.jsonl] [--config FILE] [--tokenizer T] [--tools FILE] [--keep-invalid]
    curate stats INPUT... [--config FILE] [--tokenizer T] [--tools FILE] [--keep-invalid]

Each prepares a `curate.build.Build` and runs its `read` and `lint_gate` steps (records with lint errors are
dropped unless `--keep-invalid`, unreadable ones counted, as the build does), then `dedup` (`curate dedup`),
`decontaminate` (`curate decontam`, with the benchmark files indexed first) or `bucket` (`curate bucket`,
`curate stats`), with the raw rows in a work folder beside OUT (a temporary folder
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

from rich.table import Table

from curate.build import BuildError, GatedRecord, with_id
from curate.build.facts import prepare_worker
from curate.build.gate import GatedRecords
from curate.build.pipeline import Build, make_parents, work_folder
from curate.build.raw import RecordSource
from curate.buildconfig import BuildConfig, load_build_config
from curate.jsonl import JsonlWriter, commit_together, write_jsonl
from curate.outputs import Marker, OutputError, check_output_file, first_row_has
from curate.records import Trajectory
from curate.terminal import console as terminal_console

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
    inputs = [Path(p) for p in (*args.paths, *getattr(args, "tools", []), *getattr(args, "against", []))]
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
def _gated(args: argparse.Namespace, cfg: BuildConfig, out: Path | None,
           **options: Any) -> Iterator[tuple[Build, GatedRecords]]:
    """A `Build` of `args.paths` past its `read` and `lint_gate` steps, and the records the gate passes (input
    order); its raw rows live in a work folder beside `out` (a temporary one when None) until the block ends.
    `options`: more of `Build`'s arguments (`decontaminate` files are indexed before the records are read)."""
    paths = [Path(p) for p in args.paths]
    for p in paths:
        if not p.exists():
            raise BuildError(f"{p}: no such file or directory")
    build = Build(paths, out if out is not None else Path(tempfile.gettempdir()), cfg,
                  [Path(t) for t in getattr(args, "tools", [])], getattr(args, "tokenizer", None), **options)
    build.prepare()
    try:
        with _work(out) as work:
            build.load_benchmark(build.references)
            build.read(paths, work)
            yield build, build.lint_gate()
    finally:
        build.engine.stop()


def _read_back(build: Build, gated: GatedRecords) -> Iterator[tuple[GatedRecord, Trajectory]]:
    """Each of `gated` with its record read back from the raw rows, tools attached, as the build's export does
    (the record under its own id, not yet the build's: see `with_id`)."""
    assert build.spec is not None
    source = RecordSource(build.raw, build.sources, build.spec.tools)
    return zip(gated.records(), source.records(gated.rows), strict=True)


def _dump(record: Trajectory, g: GatedRecord) -> dict[str, Any]:
    """A record as the stage commands write it: under the build's id for it."""
    return with_id(record, g.id).model_dump(mode="json", exclude_none=True)


def _print_tally(build: Build) -> None:
    """The command's last line: the records read, kept, unreadable and dropped by reason (`Build.tally`)."""
    from curate.terminal import markup

    terminal_console().print(markup(build.tally().line()), soft_wrap=True)  # one line, never split


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
            for c in result.clusters():
                clusters.write(c.model_dump(mode="json"))
            commit_together([kept_file, clusters])
    terminal_console(soft_wrap=True).print(  # one line, never split where a path could be
        f"wrote {markup(out)} ({kept_file.rows} records) and {markup(clusters_file)} ({result.counts['clusters']} "
        "near-duplicate clusters)")
    _print_tally(build)
    return 0


def cmd_decontam(args: argparse.Namespace) -> int:
    """`curate decontam`: the build's read, lint gate and decontamination steps; the matches per benchmark
    file and method, the first `--show` of them, and with `-o` the records kept and every match."""
    from curate.cli import decontam_config
    from curate.terminal import NAME_LIMIT, markup

    cfg = _config(args)
    against = [Path(p) for p in args.against]
    for p in against:
        if not p.exists():
            raise BuildError(f"{p}: no such file or directory")
    out = Path(args.output) if args.output else None
    matches_file = out.with_name(out.name.removesuffix(".jsonl") + ".contamination.jsonl") if out else None
    if out is not None:
        _check_output(out, args, lambda p: matches_file is not None and matches_file.is_file(), "decontam output")
    decontam = decontam_config(args, cfg.decontaminate)
    with _gated(args, cfg, out, decontaminate=against, decontam=decontam) as (build, gated):
        kept = build.decontaminate(gated)
        rows = [build.contamination_row(g, c) for g, c in build.contamination]
        if out is not None and matches_file is not None:
            marks = {g.row: {k: v for k, v in row.items() if k != "id"}
                     for (g, _), row in zip(build.contamination, rows, strict=True)}
            with JsonlWriter(out) as kept_file, JsonlWriter(matches_file) as matches:
                for g, record in _read_back(build, kept):
                    row = _dump(record, g)
                    if g.row in marks:
                        row["contamination"] = marks[g.row]
                    kept_file.write(row)
                for row in rows:
                    matches.write(row)
                commit_together([kept_file, matches])
    console = terminal_console()
    d = build.decontamination
    assert d is not None
    from curate.dedup.decontamination import METHODS

    table = Table(title=f"{d.matched} of {len(gated)} records hold a benchmark item "
                        f"({'dropped' if d.mode == 'drop' else 'flagged'})", title_justify="left")
    for col in ("benchmark", "records", "items", "answer calls", *METHODS, "matched"):
        table.add_column(col, justify="left" if col == "benchmark" else "right")
    for f in build.reference_files:
        table.add_row(markup(f.path), str(f.records), str(f.items), str(f.calls),
                      *(str(f.matched.get(k, 0)) for k in METHODS), str(sum(f.matched.values())))
    console.print(table)
    if rows and args.show > 0:
        shown = Table(title=f"first {min(args.show, len(rows))} matches", title_justify="left")
        for col in ("record", "turn", "method", "overlap", "benchmark item", "item text"):
            shown.add_column(col, justify="right" if col in ("turn", "overlap") else "left")
        for r in rows[:args.show]:
            item = f"{r['item']} (turn {r['item_turn']})"
            shown.add_row(markup(r["id"], NAME_LIMIT), str(r["turn"]), r["method"], f"{r['overlap']:.2f}",
                          markup(item, NAME_LIMIT), markup(r["item_text"], NAME_LIMIT))
        console.print(shown)
    if out is not None:
        terminal_console(soft_wrap=True).print(
            f"wrote {markup(out)} ({len(kept)} records) and {markup(matches_file)} ({len(rows)} matches)")
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


def _print_distribution(build: Build, gated: GatedRecords, findings: bool = False) -> None:
    """The buckets, length buckets and signals of the records past the lint gate; with `findings`, the gate's
    lint findings by code (those of one `curate lint` run)."""
    from collections import Counter

    from curate.terminal import NAME_LIMIT, markup  # bucket and signal names come from build configs

    console = terminal_console()
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
