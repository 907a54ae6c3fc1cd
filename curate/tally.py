"""What a command read, kept, could not read and dropped, by reason: the one line `curate build`, `curate mask`
and the stage commands end with, and when a build or mask refuses its result instead.

    kept 1,791 of 2,458 records; 15 unreadable (RS002 unrecognised record shape ×12, RS001 invalid JSON ×3),
    452 dropped (lint errors ×300, near duplicates ×152)

An unreadable record is one no stage can use (RS001: not read as JSON; RS002: no shape recognised, or not the
canonical schema); a dropped record was read and then left out by a stage, for the reason it names. A build
or mask that keeps nothing, or could not read most of its input, is refused (`Tally.refusal`): nothing is
written and the command exits 1 with the line and what to do, so a pipeline never trains on an empty or
mostly lost dataset by accident (`--allow-empty` accepts an empty result).
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from curate.terminal import clean

if TYPE_CHECKING:
    from curate.readers import ReadResult

TOP_REASONS = 4
"""Reasons a group lists by name, most frequent first; the rest are summed as `N others ×M`."""

REASONS: dict[str, str] = {
    "lint_error": "lint errors",
    "exact_duplicate": "exact duplicates",
    "near_duplicate": "near duplicates",
    "contaminated": "contaminated",
    "balancing": "left out by the mix",
    "empty_conversation": "empty conversations",
    "template_error": "template errors",
    "too_long": "over --max-length",
    "no_trained_tokens": "no trained tokens",
}
"""How the line names the drop reasons of the manifest (`Manifest.dropped`) and of `curate mask`."""


def unreadable_reason(code: str, message: str) -> str:
    """The reason a record is unreadable, from its RS001 or RS002 finding: the code and the kind of problem,
    so that the line tells a file in another format (an unrecognised shape) from a damaged one."""
    if code == "RS001":
        for marker, kind in (("max_record_bytes", "over max_record_bytes"), ("invalid UTF-8", "invalid UTF-8"),
                             ("invalid JSON", "invalid JSON")):
            if marker in message:
                return f"RS001 {kind}"
        return "RS001 unparseable record"
    if code == "RS002":
        # the messages of `curate.readers.shapes.adapt`
        if message.startswith("unrecognised record shape"):
            return "RS002 unrecognised record shape"
        if message.startswith("a record must be a JSON object"):
            return "RS002 not a JSON object"
        return "RS002 schema violation"
    return code


def reason_unreadable(result: ReadResult) -> str:
    """`unreadable_reason` of a record `RecordReader` could not read (`result.record` is None)."""
    if result.raw.error is not None:
        return unreadable_reason("RS001", result.raw.error)
    return unreadable_reason("RS002", result.shape_errors[0][1] if result.shape_errors else "")


@dataclass
class Tally:
    """Records read, and those unreadable and dropped by reason; the rest are kept.

    `examples`: for `curate mask`, whose output rows are examples (a record may give several, one per turn, and
    its drops count examples), the examples written; they are what it keeps."""

    records: int = 0
    unreadable: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    examples: int | None = None

    @property
    def kept(self) -> int:
        if self.examples is not None:
            return self.examples
        return self.records - self.unreadable.total() - self.dropped.total()

    def line(self) -> str:
        """The one line: what was kept of what was read, then the unreadable and dropped records by reason."""
        records = f"{self.records:,} record{'s' if self.records != 1 else ''}"
        head = (f"kept {self.kept:,} of {records}" if self.examples is None else
                f"masked {self.examples:,} example{'s' if self.examples != 1 else ''} from {records}")
        n_unreadable, n_dropped = self.unreadable.total(), self.dropped.total()
        if not n_unreadable and not n_dropped:
            return f"{head}; none unreadable or dropped"
        parts = [f"{n:,} {what} ({_reasons(counts)})" for n, what, counts in
                 ((n_unreadable, "unreadable", self.unreadable), (n_dropped, "dropped", self.dropped)) if n]
        return f"{head}; {', '.join(parts)}"

    def refusal(self, lint_args: Sequence[str], allow_empty: bool = False) -> str | None:
        """What to do when the result is refused (one line), or None when it is not: more than half of the
        records unreadable, or nothing kept without `allow_empty`. `lint_args`: the inputs and `--tools` options
        of the `curate lint` command the advice gives, to see each record's problem."""
        n_unreadable = self.unreadable.total()
        lint = f"`curate lint {shlex.join(lint_args)}`" if lint_args else "`curate lint INPUT`"
        see_why = (f"{lint} shows why at each record's line (RS001, RS002); a file in a format curate does not "
                   "read needs converting to one it reads (README: Formats read).")
        if n_unreadable * 2 > self.records:
            return f"More than half of the records are unreadable, so nothing was written. {see_why}"
        if self.kept or allow_empty:
            return None
        if not self.records:
            todo = "The input holds no record: check the paths and the files' contents."
        elif n_unreadable == self.records:
            todo = see_why
        elif self.dropped.get("lint_error", 0) * 2 > self.records - n_unreadable:
            todo = (f"{lint} shows the errors: fix them, give the tools the records call (--tools), or keep "
                    "such records with --keep-invalid.")
        else:
            todo = "The line above says which steps dropped the records."
        return f"Nothing kept, so nothing was written. {todo} --allow-empty accepts an empty result."


def lint_drop_note(tally: Tally, findings: Mapping[str, int], lint_args: Sequence[str],
                   tools_given: bool) -> str | None:
    """When lint errors dropped most of the readable records: how many, the error rule found most often (its
    code, name and what it means) and what to do; None otherwise. `findings`: findings by code (the manifest's
    `lint_findings`); `lint_args`: the inputs and `--tools` options of the `curate lint` command that shows
    each error at its line; `tools_given`: whether the run had `--tools` (the fix of TC002 when not)."""
    from curate.rules import all_rules

    readable = tally.records - tally.unreadable.total()
    dropped = tally.dropped.get("lint_error", 0)
    if not readable or dropped * 2 <= readable:
        return None
    rules = all_rules()
    errors = {code: n for code, n in findings.items()
              if n and code in rules and rules[code].severity == "error" and code not in ("RS001", "RS002")}
    lint = f"`curate lint {shlex.join(lint_args)}`" if lint_args else "`curate lint INPUT`"
    head = f"lint errors dropped {dropped:,} of {readable:,} readable records ({dropped / readable:.0%})"
    if not errors:
        return f"{head}; {lint} shows why at each record's line."
    code = max(errors, key=lambda c: (errors[c], c))
    rule = rules[code]
    head += (f"; the most frequent error is {code} {rule.name} ({rule.summary().rstrip('.')}; {errors[code]:,} "
             "findings)")
    if code == "TC002" and not tools_given:
        todo = ("the records call tools they do not define: give the tools' specs with --tools FILE (a JSON array "
                "or JSONL of specs)")
    else:
        todo = "fix the records, or keep them with --keep-invalid"
    return f"{head}. {todo[0].upper()}{todo[1:]}; {lint} shows each error at its line."


def print_refusal(line: str, todo: str) -> int:
    """`curate: error: LINE` and `  TODO` on stderr (data escaped); returns 1, the exit code of a refused result."""
    sys.stderr.write(f"curate: error: {clean(line)}\n  {clean(todo)}\n")
    return 1


def _reasons(counts: Mapping[str, int]) -> str:
    ranked = sorted(((n, REASONS.get(k, k.replace("_", " "))) for k, n in counts.items() if n),
                    key=lambda nk: (-nk[0], nk[1]))
    shown = [f"{what} ×{n:,}" for n, what in ranked[:TOP_REASONS]]
    rest = ranked[TOP_REASONS:]
    if len(rest) == 1:
        shown.append(f"{rest[0][1]} ×{rest[0][0]:,}")
    elif rest:
        shown.append(f"{len(rest)} others ×{sum(n for n, _ in rest):,}")
    return ", ".join(shown)
