"""`OUT/dropped/<reason>.jsonl`: what each stage of `curate build` left out, and why (as datatrove keeps what each
filter removed).

One file per reason a stage drops readable records for: `lint_error`, `exact_duplicate`, `near_duplicate`,
`contaminated` (with `--decontaminate`, mode drop) and `balancing`; at most `[export] dropped_cap` records each
(the first in input order; 0: no folder). A line is the record as the readers read it back (its dump, calls as
written, tools included) plus a `dropped` object: the `reason` and what decided it:

- lint_error: `findings`, the record's lint findings (code, severity, message, message index). These are the
  findings of the record alone (`Linter.lint_alone`, as the workers kept them): the cross-record rules (TS001,
  RS004) are warnings and never drop a record.
- exact_duplicate: `duplicate_of`, the id of the copy kept.
- near_duplicate: `representative`, the id of its cluster's kept record, `jaccard`, their Jaccard similarity
  estimated from the MinHash signatures (`curate.dedup`, the share of equal signature values), `cluster`, and
  `representative_excerpt`, the start of the kept record's first user turn.
- contaminated: the match, as a line of `contamination.jsonl` has it (turn, method, overlap, benchmark, item).
- balancing: the `bucket` the mix capped and the record's `cluster`.

Unreadable records are counted in the manifest (`unreadable`) but not written: there is no record to write.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.build.gate import GatedRecords, with_id
from curate.build.raw import column, take
from curate.dedup.models import DedupArrays, DropReason
from curate.jsonl import write_jsonl

REASONS = ("lint_error", "exact_duplicate", "near_duplicate", "contaminated", "balancing")
"""The reasons written, in the order the stages drop them."""
EXCERPT = 300
"""Characters of a record's first user turn kept as an excerpt."""


@dataclass
class Drop:
    """One dropped record by its raw row: the id it had (None: its own) and what dropped it."""

    row: int
    id: str | None
    detail: dict[str, Any]


def first_user_text(dump: dict[str, Any], limit: int = EXCERPT) -> str:
    """The start of a record dump's first user turn (its first turn when none is the user's)."""
    messages = dump.get("messages") or []
    msg = next((m for m in messages if m.get("role") == "user"), messages[0] if messages else {})
    content = msg.get("content")
    text = content if isinstance(content, str) else "" if content is None else str(content)
    return text[:limit]


def lint_drops(facts: Any, gated: GatedRecords, cap: int) -> list[Drop]:
    """The first `cap` readable records the lint gate dropped (readable, not gated), each with its findings."""
    dropped = column(facts, "readable").to_numpy()
    dropped[gated.rows] = False
    rows = np.flatnonzero(dropped)[:cap]
    if not len(rows):
        return []
    out = []
    for row, linted in zip(rows.tolist(), take(facts, "linted", rows), strict=True):
        findings = pickle.loads(linted).findings if linted is not None else []  # this run's own pickles
        out.append(Drop(row, None, {"findings": [
            {"code": f.code, "severity": f.severity, "message": f.message, "message_index": f.message_index}
            for f in findings]}))
    return out


def dedup_drops(dres: DedupArrays, gated: GatedRecords, reason: DropReason, cap: int) -> list[Drop]:
    """The first `cap` records dedup dropped as `reason` (exact_duplicate or near_duplicate), with what they copy."""
    out = []
    for k in dres.dropped(reason)[:cap].tolist():
        g, kept = gated[k], gated[int(dres.kept_of[k])]
        detail: dict[str, Any] = ({"duplicate_of": kept.id} if reason == "exact_duplicate" else
                                  {"representative": kept.id, "jaccard": round(float(dres.jaccard[k]), 4),
                                   "cluster": int(dres.cluster_of[k]), "representative_row": kept.row})
        out.append(Drop(g.row, g.id, detail))
    return sorted(out, key=lambda d: d.row)


def write_dropped(folder: Path, drops: dict[str, list[Drop]], records: Callable[[list[int]], Iterable[Any]],
                  dump: Callable[[Any], dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Write `folder/<reason>.jsonl` for every reason with drops; the lines written, by reason.

    `records(rows)` reads the records of raw rows back in that order, `dump(record)` gives a record's JSON form.
    A near duplicate's `representative_row` is replaced by `representative_excerpt`."""
    written: dict[str, list[dict[str, Any]]] = {}
    reps = sorted({d.detail["representative_row"] for d in drops.get("near_duplicate", [])})
    rep_text = {row: first_user_text(dump(r)) for row, r in zip(reps, records(reps), strict=True)}
    for reason in REASONS:
        items = drops.get(reason) or []
        if not items:
            continue
        lines = []
        for d, record in zip(items, records([d.row for d in items]), strict=True):
            detail = dict(d.detail)
            if "representative_row" in detail:
                detail["representative_excerpt"] = rep_text[detail.pop("representative_row")]
            row = dump(with_id(record, d.id) if d.id is not None else record)
            row["dropped"] = {"reason": reason, **detail}
            lines.append(row)
        folder.mkdir(exist_ok=True)
        write_jsonl(folder / f"{reason}.jsonl", lines)
        written[reason] = lines
    return written
