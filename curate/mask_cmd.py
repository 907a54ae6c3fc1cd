"""`curate mask`: masked examples for a tokenizer, with an audit, a visual check and an export.

    curate mask FILE... [--tokenizer NAME_OR_PATH] [--turns all|last] [--think keep|drop|mask]
                        [--max-length N --truncation drop|cut_front] [--template auto|chatml|tokenizer]
                        [--audit] [--show N] [-o OUT.jsonl] [--num-proc N]

Every example is audited (fail-closed, always): a failure stops the run with the example id and
the offending tokens, exit code 1. `--audit` also prints trained and masked tokens per segment in
total and per example (the first rows in the terminal; every row of `-o` output has its `counts`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from curate.jsonl import write_jsonl
from curate.mask import SEGMENTS, MaskedExample, Masker, MaskError, MaskPolicy, MaskResult
from curate.records import Trajectory

BATCH = 512


def read_trajectories(paths: Sequence[str], dropped: Counter[str],
                      tools: Sequence[dict[str, Any]] = ()) -> Iterator[Trajectory]:
    """Canonical records of the inputs; unreadable or invalid ones are counted, not masked.

    Records without `tools` get the `--tools` specs, so their system turn lists the tools they call.
    """
    from curate.readers import RecordReader
    from curate.records import ToolSpec

    specs = [ToolSpec.model_validate(t) for t in tools]
    reader = RecordReader()
    for path in paths:
        for result in reader.read(path):
            if result.record is None:
                dropped["unreadable_record"] += 1
            elif specs and not result.record.tools:
                yield result.record.model_copy(update={"tools": specs})
            else:
                yield result.record


def batches(items: Iterator[Trajectory], size: int) -> Iterator[list[Trajectory]]:
    batch: list[Trajectory] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_WORKER: Masker | None = None


def _init_worker(tokenizer_name: str | None, policy: dict[str, Any]) -> None:
    global _WORKER
    from curate.tokenizer import load_tokenizer

    _WORKER = Masker(load_tokenizer(tokenizer_name), MaskPolicy.model_validate(policy))


def _mask_in_worker(batch: list[dict[str, Any]]) -> MaskResult:
    assert _WORKER is not None
    return _WORKER.mask([Trajectory.model_validate(r) for r in batch])


def mask_stream(trajs: Iterator[Trajectory], masker: Masker, tokenizer_name: str | None,
                num_proc: int = 1) -> Iterator[MaskResult]:
    """Mask in batches, in this process or in `num_proc` worker processes (order kept)."""
    if num_proc <= 1:
        for batch in batches(trajs, BATCH):
            yield masker.mask(batch)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # tokenizers' thread pool does not survive fork
    with ctx.Pool(num_proc, initializer=_init_worker,
                  initargs=(tokenizer_name, masker.policy.model_dump())) as pool:
        payload = ([t.model_dump(exclude_none=True) for t in b] for b in batches(trajs, BATCH))
        yield from pool.imap(_mask_in_worker, payload)


def show_examples(examples: Sequence[MaskedExample], tokenizer: Any, out: TextIO, limit: int) -> None:
    """Trained tokens highlighted, masked tokens dimmed, alternating shades so token boundaries show."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, highlight=False, soft_wrap=True)
    backend = tokenizer.backend_tokenizer
    for ex in examples[:limit]:
        text = Text()
        for k, (tok, lab) in enumerate(zip(ex.input_ids, ex.labels, strict=True)):
            piece = backend.decode([tok], skip_special_tokens=False).replace("\n", "↵\n")
            shade = k % 2
            if lab == -100:
                style = "dim" if shade else "dim underline"
            else:
                style = "bold black on green" if shade else "bold black on bright_green"
            text.append(piece, style=style)
        counts = ", ".join(f"{k} {ex.counts[k]}" for k in (*SEGMENTS, "masked"))
        console.rule(f"[bold]{ex.id}[/] ({len(ex.input_ids)} tokens: {counts}; {ex.method})")
        console.print(text)
    console.print("[bold black on green] trained [/]  [dim]masked[/]  (alternating shades mark token boundaries)")


def print_audit(totals: Counter[str], n_examples: int, dropped: Counter[str], examples: Sequence[MaskedExample],
                out: TextIO, rows: int = 20) -> None:
    """Per-example rows (the first `rows`; every row of `-o` output carries its `counts`), then totals."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False)
    if examples:
        per = Table(title="Per example (trained tokens by segment)", title_justify="left")
        for col in ("id", "tokens", *SEGMENTS, "masked"):
            per.add_column(col, justify="left" if col == "id" else "right")
        for ex in examples[:rows]:
            per.add_row(str(ex.id), str(len(ex.input_ids)), *(str(ex.counts[k]) for k in (*SEGMENTS, "masked")))
        console.print(per)
        if len(examples) > rows:
            console.print(f"… {len(examples) - rows} more; every output row has its per-segment `counts`")
    table = Table(title=f"Mask audit: {n_examples} examples, all passed", title_justify="left")
    table.add_column("segment")
    table.add_column("tokens", justify="right")
    table.add_column("share", justify="right")
    all_tokens = sum(totals[k] for k in (*SEGMENTS, "masked")) or 1
    for k in (*SEGMENTS, "masked"):
        label = {"eot": "end-of-turn", "tool_call": "tool call"}.get(k, k)
        table.add_row(("trained: " if k != "masked" else "") + label, f"{totals[k]:,}",
                      f"{totals[k] / all_tokens:.1%}")
    console.print(table)
    if dropped:
        console.print("dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))


def run(args: Any) -> int:
    from curate.readers import ReadError, load_tool_specs
    from curate.tokenizer import TokenizerError, load_tokenizer

    try:
        policy = MaskPolicy(turns=args.turns, think=args.think, max_length=args.max_length,
                            truncation=args.truncation, template=args.template)
    except ValueError as e:
        sys.stderr.write(f"curate: error: {e}\n")
        return 2
    try:
        tools = [t for f in args.tools for t in load_tool_specs(f)]
        tokenizer = load_tokenizer(args.tokenizer)
        masker = Masker(tokenizer, policy)
    except (TokenizerError, MaskError, ReadError) as e:
        sys.stderr.write(f"curate: error: {e}\n")
        return 2
    dropped: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    kept: list[MaskedExample] = []
    notes: list[str] = []
    n_examples = 0
    keep = bool(args.output) or bool(args.show) or args.audit
    try:
        for result in mask_stream(read_trajectories(args.paths, dropped, tools), masker, args.tokenizer, args.num_proc):
            dropped.update(result.dropped)
            notes.extend(n for n in result.notes if n not in notes)
            if result.failures:
                f = result.failures[0]
                sys.stderr.write(
                    f"curate: error: mask audit failed for record {f.id}: {f.reason}\n"
                    f"  offending tokens: {f.tokens}\n"
                    "  nothing was written; report this example (it is a bug in the masking of this template)\n"
                )
                return 1
            n_examples += len(result.examples)
            for ex in result.examples:
                totals.update(ex.counts)
            if keep:
                kept.extend(result.examples)
    except ReadError as e:
        sys.stderr.write(f"curate: error: {e}\n")
        return 2
    for note in notes:
        sys.stderr.write(f"curate: note: {note}\n")
    if args.show:
        show_examples(kept, tokenizer, sys.stdout, args.show)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(out, ({"id": ex.id, "input_ids": ex.input_ids, "labels": ex.labels,
                           "attention_mask": ex.attention_mask, "counts": ex.counts} for ex in kept))
        meta = {"policy": policy.model_dump(), "tokenizer": args.tokenizer or "builtin", "method": masker.method,
                "examples": n_examples, "dropped": dict(dropped), "tokens": dict(totals), "notes": notes}
        write_jsonl(out.with_name(out.name + ".meta.jsonl"), iter([meta]))
    if args.audit:
        print_audit(totals, n_examples, dropped, kept, sys.stdout)
    elif not args.show:
        print(f"masked {n_examples} examples; trained tokens: {sum(totals[k] for k in SEGMENTS):,}, "
              f"masked tokens: {totals['masked']:,}; dropped: {dict(dropped) or 'none'}")
    return 0
