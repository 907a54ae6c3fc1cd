"""Strings from data, made safe for a terminal.

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

import re
import sys

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
