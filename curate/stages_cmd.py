"""`curate dedup`, `curate bucket`, `curate stats`: the build's stages, each on its own.

    curate dedup INPUT... -o OUT.jsonl [--config FILE] [--jobs N]  # kept records + OUT.clusters.jsonl
    curate bucket INPUT... [-o OUT.jsonl] [--config FILE] [--tokenizer T] [--tools FILE]
    curate stats INPUT... [--config FILE] [--tokenizer T] [--tools FILE]

They read records as `curate build` does (unreadable records are counted, not fatal), use the same
configuration file, and write atomically.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from curate.build import BuildError, prepare_record, tools_from
from curate.buildconfig import BuildConfig, load_build_config
from curate.jsonl import JsonlWriter, commit_together, write_jsonl
from curate.outputs import Marker, OutputError, check_output_file, first_row_has
from curate.records import Trajectory
from curate.toolset import ToolSet


def _read(paths: list[str], tools_files: list[str], cfg: BuildConfig,
          findings: Counter[str] | None = None) -> tuple[list[Trajectory], Counter[str]]:
    """Readable records of `paths`, prepared as the build prepares them; with `findings`, every record
    is also linted in the same pass and the findings counted by code."""
    from curate.lint import Linter

    counts: Counter[str] = Counter()
    tools = tools_from([Path(t) for t in tools_files])
    toolset = ToolSet.from_dicts(tools)
    linter = Linter(tools, max_record_bytes=cfg.max_record_bytes)
    seen: set[str] = set()
    out: list[Trajectory] = []
    for p in paths:
        if not Path(p).exists():
            raise BuildError(f"{p}: no such file or directory")
        for r in linter.reader.read(p):
            counts["read"] += 1
            if findings is not None:
                findings.update(f.code for f in linter.lint_result(r))
            if r.record is None:
                counts["unreadable"] += 1
                continue
            out.append(prepare_record(r.record, r.raw, toolset, seen))
    return out, counts


def _config(args: argparse.Namespace) -> BuildConfig:
    return load_build_config(args.config)


BUCKET_FIELDS = ("bucket", "signals", "tokens", "length_bucket", "calls", "rounds")
"""The fields `curate bucket -o` adds to every record: how an earlier output of it is recognised."""


def _check_output(out: Path, args: argparse.Namespace, marker: Marker, what: str) -> None:
    """Refuse an OUT.jsonl that is an input, or that this command did not write (unless --force)."""
    inputs = [Path(p) for p in (*args.paths, *getattr(args, "tools", []))]
    try:
        check_output_file(out, inputs, marker, what, args.force)
    except OutputError as e:
        raise BuildError(str(e)) from None


def cmd_dedup(args: argparse.Namespace) -> int:
    from curate.dedup import deduplicate
    from curate.terminal import markup

    cfg = _config(args)
    out = Path(args.output)
    clusters_file = out.with_name(out.name.removesuffix(".jsonl") + ".clusters.jsonl")
    _check_output(out, args, lambda p: clusters_file.is_file(), "dedup output")
    records, counts = _read(args.paths, [], cfg)
    result = deduplicate(records, cfg.dedup, num_proc=args.jobs or cfg.num_proc)
    out.parent.mkdir(parents=True, exist_ok=True)
    with JsonlWriter(out) as kept, JsonlWriter(clusters_file) as clusters:
        for k in result.kept:
            kept.write(records[k].model_dump(mode="json", exclude_none=True))
        for c in result.clusters:
            clusters.write(c.model_dump(mode="json"))
        commit_together([kept, clusters])
    n = kept.rows
    reasons = Counter(d.reason for d in result.dropped)
    Console(highlight=False).print(
        f"{counts['read']} records read ({counts['unreadable']} unreadable) → {n} kept; "
        f"exact duplicates {reasons['exact_duplicate']}, near duplicates {reasons['near_duplicate']}, "
        f"{len(result.clusters)} clusters; wrote {markup(out)}")
    return 0


def _assign(records: list[Trajectory], cfg: BuildConfig, tokenizer: str | None) -> list[dict[str, Any]]:
    from curate.buckets import Bucketer, length_bucket, length_edges
    from curate.mask import Masker
    from curate.tokenizer import load_tokenizer

    masker = Masker(load_tokenizer(tokenizer))
    bucketer = Bucketer(cfg.buckets)
    tokens: list[int] = []
    for start in range(0, len(records), 1024):
        tokens += masker.count_tokens(records[start:start + 1024])
    edges = length_edges(tokens, cfg.length)
    out = []
    for rec, n in zip(records, tokens, strict=True):
        a = bucketer.assign(rec, n)
        out.append({"bucket": a.bucket, "signals": list(a.signals), "tokens": n,
                    "length_bucket": length_bucket(n, edges), "calls": a.calls, "rounds": a.rounds})
    return out


def cmd_bucket(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.output:
        _check_output(Path(args.output), args, lambda p: first_row_has(p, BUCKET_FIELDS), "bucket output")
    records, counts = _read(args.paths, args.tools, cfg)
    labels = _assign(records, cfg, args.tokenizer)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(out, ({**r.model_dump(mode="json", exclude_none=True), **lab}
                           for r, lab in zip(records, labels, strict=True)))
    _print_distribution(labels, counts)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    cfg = _config(args)
    findings: Counter[str] = Counter()
    records, counts = _read(args.paths, args.tools, cfg, findings)
    _print_distribution(_assign(records, cfg, args.tokenizer), counts, findings)
    return 0


def _print_distribution(labels: list[dict[str, Any]], counts: Counter[str],
                        findings: Counter[str] | None = None) -> None:
    from curate.terminal import NAME_LIMIT, markup  # bucket and signal names come from build configs

    console = Console(highlight=False)
    by_bucket: dict[str, list[int]] = {}
    for lab in labels:
        by_bucket.setdefault(lab["bucket"], []).append(lab["tokens"])
    table = Table(title=f"{len(labels)} records ({counts['unreadable']} unreadable not counted)",
                  title_justify="left")
    for col in ("bucket", "records", "share", "tokens min", "median", "max"):
        table.add_column(col, justify="left" if col == "bucket" else "right")
    for bucket, toks in sorted(by_bucket.items(), key=lambda kv: -len(kv[1])):
        toks = sorted(toks)
        table.add_row(markup(bucket, NAME_LIMIT), str(len(toks)), f"{len(toks) / max(1, len(labels)):.1%}",
                      str(toks[0]), str(toks[len(toks) // 2]), str(toks[-1]))
    console.print(table)
    lengths = Counter(lab["length_bucket"] for lab in labels)
    console.print("length buckets: " + ", ".join(f"{markup(k)} {v}" for k, v in sorted(lengths.items())))
    signals = Counter(s for lab in labels for s in lab["signals"])
    console.print("signals: " + ", ".join(f"{markup(k, NAME_LIMIT)} {v}" for k, v in signals.most_common()))
    if findings is not None:
        console.print("lint findings: " + (", ".join(f"{k} {v}" for k, v in sorted(findings.items())) or "none"))
