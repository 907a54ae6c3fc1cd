"""What the commands print: strings from data made safe for a terminal, the one console factory (`console`)
and the one progress bar (`progress`).

Ids, tool names, bucket names and content come from files the user did not write themselves. Printed
raw, an ANSI/OSC escape sets the window title or clears the screen, a newline in an id forges a finding
line, and Rich markup in a name (`[/]`, `[link=…]`) crashes a table or plants a live link. Every string
that comes from data goes through `clean` (plain output) or `markup` (Rich output) before it is printed.

>>> clean("evil\\x1b]0;owned\\x07id\\nraw.jsonl:1: TC999 forged")
'evil\\\\x1b]0;owned\\\\x07id\\\\nraw.jsonl:1: TC999 forged'
>>> markup("[/]bucket")
'\\\\[/]bucket'
>>> clean("x" * 10, limit=5)
'xxxx…'
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

# C0 and C1 controls, DEL, and the format characters that reorder or hide text on screen (bidi
# overrides and isolates, line and paragraph separators, zero-width joiners are left alone).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: object, limit: int | None = None) -> str:
    """`text` with every control character shown as an escape (`\\n`, `\\x1b`, `\\u202e`); shortened to
    `limit` characters with `…` when given (for names and ids)."""
    s = text if isinstance(text, str) else str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
        # escapes lengthen the text again: cut once more so that the result keeps to the limit
        out = _UNSAFE.sub(_visible, s)
        return out if len(out) <= limit else out[: limit - 1] + "…"
    return _UNSAFE.sub(_visible, s) if _UNSAFE.search(s) else s


def markup(text: object, limit: int | None = None) -> str:
    """`clean(text, limit)` with Rich markup escaped: for strings placed inside Rich markup or tables."""
    from rich.markup import escape  # here: plain outputs (lint's github and json formats) never load rich

    return escape(clean(text, limit))


NAME_LIMIT = 80
"""How many characters of an id, tool or bucket name a line or table shows."""


def print_error(message: str) -> int:
    """Print `curate: error: MESSAGE` (one line, data escaped) to stderr; returns 2, the exit code of errors."""
    sys.stderr.write(f"curate: error: {clean(message)}\n")
    return 2


WIDE = 200
"""Columns of a console whose output is not a terminal (a pipe, a file, a CI log), where Rich would assume 80:
tables keep their column names ("prompts", not "promp…") and a summary line stays one line."""


def console(stderr: bool = False, file: TextIO | None = None, **options: Any) -> Console:
    """The Rich console every command prints through (`stderr`, or `file`; `options` as Rich's `Console`,
    `highlight=False` by default: data must not be coloured as if it were numbers or paths).

    On a terminal, Rich's own width; elsewhere `WIDE` columns, unless `width` or the environment's `COLUMNS`
    says otherwise. `console(stderr=True)` alone is one console for the whole process, the one progress bars
    draw on: messages printed through it while a bar runs appear above the bar (another console's would be
    written across it)."""
    global _STDERR
    from rich.console import Console

    shared = stderr and file is None and not options
    if shared and _STDERR is not None:
        return _STDERR
    options.setdefault("highlight", False)
    out = Console(stderr=stderr, file=file, **options)
    if "width" not in options and not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = WIDE
    if shared:
        _STDERR = out
    return out


_STDERR: Console | None = None


_QUIET = False
_ACTIVE = False


def set_quiet(quiet: bool) -> None:
    """`--quiet`: no progress bars in this process from now on (what the commands print otherwise stays)."""
    global _QUIET
    _QUIET = quiet


class Bar:
    """One progress bar (`progress`): counts moved on with `advance`, `update` or `stage`; a bar that is not shown
    (`shown` False: stderr is not a terminal, `--quiet`) takes the same calls and does nothing."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress = progress
        self._task = task
        self._stages = 0

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, *, completed: float | None = None, total: float | None = None,
               description: str | None = None) -> None:
        """Set the count done, the total (known late: the records of a stream) or the description (escaped)."""
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=total,
                                  description=None if description is None else markup(description, NAME_LIMIT))

    def stage(self, description: str) -> None:
        """A bar of stages (total: their number): the previous stage is done, `description` is the one now running."""
        if self._progress is not None:
            self._progress.update(self._task, completed=self._stages, description=markup(description, NAME_LIMIT))
        self._stages += 1


@contextlib.contextmanager
def progress(description: str, total: float | None = None, *, on: Console | None = None,
             enabled: bool = True) -> Iterator[Bar]:
    """A progress bar on stderr (`on`: another console, as tests give one) while the block runs: the
    description, a bar, done/total, time elapsed and left; `total` None: counts only, no time left.

    Shown only when the console is an interactive terminal, `--quiet` was not given (`set_quiet`) and `enabled`
    (another process of a distributed run draws it); otherwise, and inside another bar, the calls do nothing,
    so a pipe or a CI log gets no bar at all. Lines printed to stdout or stderr meanwhile appear above it."""
    global _ACTIVE
    out = on if on is not None else console(stderr=True)
    if _QUIET or _ACTIVE or not enabled or not out.is_interactive:
        yield Bar()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=out) as bars:
        _ACTIVE = True
        try:
            yield Bar(bars, bars.add_task(markup(description, NAME_LIMIT), total=total))
        finally:
            _ACTIVE = False
