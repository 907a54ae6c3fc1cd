"""`curate mask`: masked examples for a tokenizer, with an audit, a visual check and an export.

    curate mask FILE... [--tokenizer NAME_OR_PATH] [--turns all|last] [--think keep|drop|mask]
                        [--max-length N --truncation drop|cut_front] [--template model|chatml|tokenizer]
                        [--calls canonical|as-written]
                        [--audit] [--show N] [-o OUT.jsonl] [--jobs N] [--allow-empty]

Every example is audited (fail-closed, always): a failure stops the run with the example id and
the offending tokens, exit code 1. `--audit` also prints trained and masked tokens per segment in
total and per example (the first rows in the terminal; every row of `-o` output has its `counts`).
The last line counts the records read, the examples masked, and the records unreadable and examples
dropped by reason (`curate.tally`); no example at all (unless `--allow-empty`), or most records
unreadable, is exit code 1 with nothing written.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from curate.jsonl import JsonlWriter, commit_together
from curate.mask import SEGMENTS, MaskedExample, Masker, MaskError, MaskPolicy, MaskResult
from curate.outputs import first_row_has
from curate.records import Trajectory
from curate.tally import Tally, print_refusal, reason_unreadable
from curate.terminal import NAME_LIMIT, clean, print_error, progress

BATCH = 512


def read_trajectories(paths: Sequence[str], tally: Tally, tools: Sequence[dict[str, Any]] = ()) -> Iterator[Trajectory]:
    """Canonical records of the inputs; every record read is counted in `tally`, the unreadable ones by reason
    (as the build counts them), and not masked.

    Every record carries the tools it calls (`ToolSet.attach`: the `--tools` specs when it has none of its
    own), so its system turn lists them as training will, and the id the build gives it: its own, or
    `STEM-LINE` when it has none (`fallback_id`), `~N` added when repeated (`unique_name`)."""
    from curate.build.gate import unique_name, with_id
    from curate.readers import RecordReader, fallback_id
    from curate.toolset import ToolSet

    toolset = ToolSet.from_dicts(tools)
    reader = RecordReader()
    seen_ids: set[str] = set()
    for path in paths:
        for result in reader.read(path):
            tally.records += 1
            record = result.record
            if record is None:
                tally.unreadable[reason_unreadable(result)] += 1
                continue
            rid = record.id if record.id is not None else fallback_id(result.raw.path, result.raw.line)
            yield toolset.attach(with_id(record, unique_name(rid, seen_ids)))


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
                jobs: int = 1) -> Iterator[MaskResult]:
    """Mask in batches, in this process or in `jobs` worker processes (order kept)."""
    if jobs <= 1:
        for batch in batches(trajs, BATCH):
            yield masker.mask(batch)
        return
    from curate.parallel import ordered_map

    payload = ([t.model_dump(exclude_none=True) for t in b] for b in batches(trajs, BATCH))
    yield from ordered_map(_mask_in_worker, payload, jobs, "mask", initializer=_init_worker,
                           initargs=(tokenizer_name, masker.policy.model_dump()), tokenizers=True)


def show_examples(examples: Sequence[MaskedExample], tokenizer: Any, out: TextIO, limit: int) -> None:
    """Trained tokens highlighted, masked tokens dimmed, alternating shades so token boundaries show.

    Token pieces come from data: line breaks stay line breaks (marked ↵) and tabs stay tabs, every other
    control character is shown escaped; ids are shortened to `NAME_LIMIT`."""
    from rich.text import Text

    from curate.terminal import NAME_LIMIT, clean, markup
    from curate.terminal import console as terminal_console

    def visible(piece: str) -> str:
        if "\n" not in piece and "\t" not in piece:
            return clean(piece)
        return "↵\n".join("\t".join(clean(p) for p in line.split("\t")) for line in piece.split("\n"))

    console = terminal_console(file=out, soft_wrap=True)
    backend = tokenizer.backend_tokenizer
    for ex in examples[:limit]:
        text = Text()
        for k, (tok, lab) in enumerate(zip(ex.input_ids, ex.labels, strict=True)):
            piece = visible(backend.decode([tok], skip_special_tokens=False))
            shade = k % 2
            if lab == -100:
                style = "dim" if shade else "dim underline"
            else:
                style = "bold black on green" if shade else "bold black on bright_green"
            text.append(piece, style=style)
        counts = ", ".join(f"{k} {ex.counts[k]}" for k in (*SEGMENTS, "masked"))
        console.rule(f"[bold]{markup(ex.id, NAME_LIMIT)}[/] ({len(ex.input_ids)} tokens: {counts}; {ex.method})")
        console.print(text)
    console.print("[bold black on green] trained [/]  [dim]masked[/]  (alternating shades mark token boundaries)")


def print_audit(totals: Counter[str], n_examples: int, examples: Sequence[MaskedExample], out: TextIO,
                rows: int = 20) -> None:
    """Per-example rows (the first `rows`; every row of `-o` output carries its `counts`), then totals.

    Ids come from data: shown with control characters escaped and Rich markup taken literally, shortened
    to `NAME_LIMIT`."""
    from rich.table import Table

    from curate.terminal import NAME_LIMIT, markup
    from curate.terminal import console as terminal_console

    console = terminal_console(file=out)  # a pipe gets the tables' column names whole
    if examples:
        per = Table(title="Per example (trained tokens by segment)", title_justify="left")
        for col in ("id", "tokens", *SEGMENTS, "masked"):
            per.add_column(col, justify="left" if col == "id" else "right")
        for ex in examples[:rows]:
            per.add_row(markup(ex.id, NAME_LIMIT), str(len(ex.input_ids)),
                        *(str(ex.counts[k]) for k in (*SEGMENTS, "masked")))
        console.print(per)
        if n_examples > rows:
            console.print(f"… {n_examples - rows} more; every output row has its per-segment `counts`")
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


def _take(result: MaskResult, tally: Tally, totals: Counter[str], notes: list[str], writer: JsonlWriter | None,
          shown: list[MaskedExample], limit: int) -> int | None:
    """A batch's examples counted, written and kept for the terminal (`limit`); exit code 1 when its audit failed
    (said on stderr), else None."""
    tally.dropped.update(result.dropped)
    notes.extend(n for n in result.notes if n not in notes)
    if result.failures:
        f = result.failures[0]
        sys.stderr.write(
            f"curate: error: mask audit failed for record {clean(f.id, NAME_LIMIT)}: {clean(f.reason)}\n"
            f"  offending tokens: {clean(f.tokens)}\n"
            "  nothing was written; report this example (it is a bug in the masking of this template)\n"
        )
        return 1
    for ex in result.examples:
        totals.update(ex.counts)
        if writer is not None:
            writer.write({"id": ex.id, "input_ids": ex.input_ids, "labels": ex.labels,
                          "attention_mask": ex.attention_mask, "counts": ex.counts})
    if len(shown) < limit:
        shown.extend(result.examples[: limit - len(shown)])
    return None


def count_records(paths: Sequence[str]) -> int | None:
    """The records of `paths` when every one is a JSON Lines file (its non-blank lines), for a progress bar's
    total; None for anything else (folders, other formats, stdin): the bar then counts without a total."""
    total = 0
    for p in paths:
        path = Path(p)
        if path.suffix != ".jsonl" or not path.is_file():
            return None
        with path.open("rb") as f:
            total += sum(1 for line in f if line.strip())
    return total


AUDIT_ROWS = 20
"""Per-example rows `--audit` prints (every row of `-o` output carries its `counts`)."""


def mask_marker(path: Path) -> bool:
    """An earlier `curate mask -o` output: its `.meta.jsonl` is beside it and its rows are masked examples."""
    meta = path.with_name(path.name + ".meta.jsonl")
    return meta.is_file() and (path.stat().st_size == 0 or first_row_has(path, ("input_ids", "labels")))


def cmd_mask(args: Any) -> int:
    from curate.outputs import OutputError, check_output_file, io_error_message
    from curate.readers import ReadError, load_tool_specs
    from curate.tokenizer import TokenizerError, load_tokenizer

    try:
        policy = MaskPolicy(turns=args.turns, think=args.think, max_length=args.max_length,
                            truncation=args.truncation, template=args.template, calls=args.calls)
    except ValueError as e:
        return print_error(str(e))
    out = Path(args.output) if args.output else None
    try:
        if out is not None:
            inputs = [Path(p) for p in (*args.paths, *args.tools) if p != "-"]
            check_output_file(out, inputs, mask_marker, "mask output", args.force)
        tools = [t for f in args.tools for t in load_tool_specs(f)]
        tokenizer = load_tokenizer(args.tokenizer)
        masker = Masker(tokenizer, policy)
        masker.check()
    except (TokenizerError, MaskError, ReadError, OutputError) as e:
        return print_error(str(e))
    try:
        with contextlib.ExitStack() as stack:
            writer = None
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                writer = stack.enter_context(JsonlWriter(out))
            return _mask_all(args, policy, tokenizer, masker, tools, writer)
    except ReadError as e:
        return print_error(str(e))
    except OSError as e:
        return print_error(io_error_message(e, args.output))


def _mask_all(args: Any, policy: MaskPolicy, tokenizer: Any, masker: Masker, tools: Sequence[dict[str, Any]],
              writer: JsonlWriter | None) -> int:
    """Mask every record, streaming examples to `writer` (kept in memory: only the few the terminal shows).

    Ends with the tally line (`curate.tally`); a run that masks nothing (unless `--allow-empty`) or could not
    read most records writes nothing and exits 1 with that line and what to do."""
    tally = Tally()
    totals: Counter[str] = Counter()
    shown: list[MaskedExample] = []
    limit = max(args.show, AUDIT_ROWS if args.audit else 0)
    notes: list[str] = []
    added = {t: tokenizer.convert_tokens_to_ids(t) for t in masker.added_tokens}
    if added:
        notes.append(f"the tokenizer lacked {len(added)} ChatML token(s) ({', '.join(added)}); added as special tokens "
                     f"with ids {min(added.values())}-{max(added.values())}: a model trained on this output needs "
                     "embeddings for them (`curate train --template chatml` adds them)")
    n_examples = 0
    with progress("masking records", total=None) as bar:
        if bar.shown:  # counted only for the bar's total and time left
            bar.update(total=count_records(args.paths))
        for result in mask_stream(read_trajectories(args.paths, tally, tools), masker, args.tokenizer, args.jobs):
            bar.update(completed=tally.records)
            code = _take(result, tally, totals, notes, writer, shown, limit)
            if code is not None:
                return code
            n_examples += len(result.examples)
    for note in notes:
        sys.stderr.write(f"curate: note: {clean(note)}\n")
    tally.examples = n_examples
    todo = tally.refusal([*args.paths, *(a for t in args.tools for a in ("--tools", t))], args.allow_empty)
    if todo is not None:
        return print_refusal(tally.line(), todo)
    if writer is not None:
        meta = {"policy": policy.model_dump(), "tokenizer": args.tokenizer or "builtin", "method": masker.method,
                "records": tally.records, "examples": n_examples, "unreadable": dict(tally.unreadable),
                "dropped": dict(tally.dropped), "tokens": dict(totals), "notes": notes,
                "added_tokens": added}
        with JsonlWriter(writer.path.with_name(writer.path.name + ".meta.jsonl")) as companion:
            companion.write(meta)
            commit_together([writer, companion])
    if args.show:
        show_examples(shown, tokenizer, sys.stdout, args.show)
    if args.audit:
        print_audit(totals, n_examples, shown, sys.stdout, rows=AUDIT_ROWS)
    elif not args.show:
        print(f"trained tokens: {sum(totals[k] for k in SEGMENTS):,}, masked tokens: {totals['masked']:,}")
    print(clean(tally.line()))
    return 0
