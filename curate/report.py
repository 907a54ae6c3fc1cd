"""Reporters for lint findings: text (ruff style, with a summary table), JSON, GitHub annotations."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TextIO

from curate.lint import LintStats
from curate.records import Finding
from curate.rules import all_rules

_RESET, _BOLD, _DIM, _RED, _YELLOW, _CYAN = "\033[0m", "\033[1m", "\033[2m", "\033[31m", "\033[33m", "\033[36m"


def write_text(findings: Iterable[Finding], out: TextIO, color: bool, show_excerpt: bool = True) -> None:
    """`path:line: CODE message [record …, message N]`, then the excerpt, one finding at a time.

    Paths, ids, messages and excerpts come from data: control characters are shown as escapes (a newline
    in an id must not start a line of its own) and ids are shortened to `NAME_LIMIT`."""
    from curate.terminal import NAME_LIMIT, clean  # here, not at the top: it loads rich, which JSON output skips

    def paint(text: str, *codes: str) -> str:
        return "".join(codes) + text + _RESET if color else text

    paths: dict[str, str] = {}  # a file's findings share its path: clean it once
    for f in findings:
        path = paths.get(f.path)
        if path is None:
            path = paths[f.path] = paint(clean(f.path), _BOLD)
        where = []
        if f.record_id is not None:
            where.append(f"record {clean(f.record_id, NAME_LIMIT)}")
        if f.message_index is not None:
            where.append(f"message {f.message_index}")
        suffix = paint(f" [{', '.join(where)}]", _DIM) if where else ""
        code = paint(f.code, _BOLD, _RED if f.severity == "error" else _YELLOW)
        out.write(f"{path}:{f.line}: {code} {clean(f.message)}{suffix}\n")
        if show_excerpt and f.excerpt:
            out.write(paint(f"    | {clean(f.excerpt)}", _CYAN) + "\n")


def write_json(findings: Iterable[Finding], out: TextIO) -> None:
    """A JSON array of findings (schema: schemas/findings.schema.json), streamed."""
    out.write("[")
    first = True
    for f in findings:
        out.write("\n  " if first else ",\n  ")
        out.write(f.model_dump_json())
        first = False
    out.write("\n]\n" if not first else "]\n")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def write_github(findings: Iterable[Finding], out: TextIO) -> None:
    """GitHub Actions workflow commands: `::error file=…,line=…,title=CODE::message`.

    CR, LF and % in data take GitHub's own encoding; every other control character (an ESC would reach the
    Actions log and the terminal of a local run) is shown as an escape."""
    from curate.terminal import clean

    for f in findings:
        level = "error" if f.severity == "error" else "warning"
        where = f" (record {f.record_id})" if f.record_id is not None else ""
        if f.message_index is not None:
            where += f" (message {f.message_index})"
        out.write(clean(
            f"::{level} file={_escape_property(f.path)},line={f.line},title={_escape_property(f.code)}::"
            f"{_escape_data(f.code + ' ' + f.message + where)}"
        ) + "\n")


def write_summary(stats: LintStats, out: TextIO, color: bool) -> None:
    """A table of findings by code, and the totals."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, force_terminal=color, no_color=not color, width=100, highlight=False)
    rules = all_rules()
    if stats.by_code:
        table = Table(title="Findings by rule", title_justify="left")
        table.add_column("code", style="bold")
        table.add_column("rule")
        table.add_column("severity")
        table.add_column("count", justify="right")
        for code, n in sorted(stats.by_code.items()):
            rule = rules.get(code)
            sev = rule.severity if rule else "error"
            table.add_row(code, rule.name if rule else "", f"[{'red' if sev == 'error' else 'yellow'}]{sev}[/]",
                          str(n))
        console.print(table)
    total = sum(stats.by_code.values())
    verdict = "[green]clean[/]" if total == 0 else f"[bold]{total}[/] finding{'s' * (total != 1)}"
    n = stats.unvalidated_calls
    # A call its tool's schema cannot check is neither clean nor a finding: said, never silently passed.
    unvalidated = f"; [yellow]{n:,} call{'s' * (n != 1)} not validated[/] (unusable tool schema, TS001)" if n else ""
    console.print(
        f"{verdict} in {stats.records} record{'s' * (stats.records != 1)} from {stats.files} "
        f"file{'s' * (stats.files != 1)}; {stats.records_with_errors} record"
        f"{'s' * (stats.records_with_errors != 1)} with errors{unvalidated}", soft_wrap=True,
    )


def stream_is_color(stream: TextIO) -> bool:
    """Colours for terminals, honouring NO_COLOR and FORCE_COLOR."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"
