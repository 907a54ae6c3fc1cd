"""Progress bars (`curate.terminal.progress`) and the one console (`curate.terminal.console`): a bar with counts
on a terminal, nothing of it in a pipe or with --quiet; tables in a pipe keep their column names."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from curate import terminal
from curate.terminal import console, progress, set_quiet
from tests.conftest import REPO, run_cli

RAW = REPO / "sample_data" / "raw.jsonl"
BAR = "━"  # the bar's own character: none of the commands' other output uses it


@pytest.fixture(autouse=True)
def loud() -> Iterator[None]:
    set_quiet(False)
    yield
    set_quiet(False)


def drawn(advance: int, **options: object) -> str:
    buf = io.StringIO()
    with progress("masking", total=10, on=Console(file=buf, width=100, **options)) as bar:  # type: ignore[arg-type]
        bar.advance(advance)
    return buf.getvalue()


def test_a_terminal_gets_the_description_and_counts() -> None:
    out = drawn(4, force_terminal=True)
    assert "masking" in out and "4/10" in out and BAR in out


def test_a_pipe_gets_nothing_of_a_bar() -> None:
    assert drawn(4) == ""


def test_quiet_draws_no_bar_even_on_a_terminal() -> None:
    set_quiet(True)
    assert drawn(4, force_terminal=True) == ""


def test_stages_count_the_steps_done() -> None:
    buf = io.StringIO()
    with progress("build", total=3, on=Console(file=buf, width=100, force_terminal=True)) as bar:
        for name in ("reading", "dedup", "writing", "done"):
            bar.stage(name)
    assert "done" in buf.getvalue() and "3/3" in buf.getvalue()


def test_a_bar_inside_a_bar_is_not_drawn() -> None:
    outer, inner = io.StringIO(), io.StringIO()
    with progress("outer", total=2, on=Console(file=outer, force_terminal=True)), \
            progress("inner", total=2, on=Console(file=inner, force_terminal=True)) as bar:
        bar.advance()
        assert not bar.shown
    assert inner.getvalue() == ""
    assert not terminal._ACTIVE


def test_descriptions_from_data_are_escaped() -> None:
    buf = io.StringIO()
    with progress("[bold]x\x1b]0;t\x07", total=1, on=Console(file=buf, force_terminal=True, width=100)) as bar:
        bar.advance()
    assert "[bold]x\\x1b]0;t\\x07" in buf.getvalue() and "\x07" not in buf.getvalue()


def test_tables_in_a_pipe_keep_their_column_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # a pipe with no width given (pytest-xdist's workers set 80)
    buf = io.StringIO()
    table = Table()
    names = ["bucket", "prompts", "format_accuracy", "answer_match", "regressions", "tool_call_accuracy",
             "schema_valid_rate", "pass@k"]
    for name in names:
        table.add_column(name)
    table.add_row(*("0.50" for _ in names))
    console(file=buf).print(table)
    assert all(name in buf.getvalue() for name in names) and "…" not in buf.getvalue()


def test_build_draws_its_stages_on_a_terminal_only(tmp_path: Path, cache: str) -> None:
    forced = {"TTY_COMPATIBLE": "1", "CURATE_CACHE": cache}  # Rich's switch: stderr is taken for a terminal
    res = run_cli("build", str(RAW), "-o", str(tmp_path / "a"), env=forced)
    assert res.returncode == 0, res.stderr
    assert "build: done" in res.stderr and f"{7}/{7}" in res.stderr and BAR in res.stderr
    piped = run_cli("build", str(RAW), "-o", str(tmp_path / "b"), env={"CURATE_CACHE": cache})
    assert piped.returncode == 0 and BAR not in piped.stderr and "/7" not in piped.stderr
    assert "curate build: deduplicating" in piped.stderr  # the step lines stay
    quiet = run_cli("build", str(RAW), "-o", str(tmp_path / "c"), "--quiet", env=forced)
    assert quiet.returncode == 0 and BAR not in quiet.stderr
    # in a pipe, no line is cut at 80 columns: the summary is one line, the tables keep their names
    lines = piped.stdout.splitlines()
    assert any(line.startswith("2,458 records in → ") and line.rstrip().endswith(" s") for line in lines)
    assert any(line.startswith("wrote ") and line.rstrip().endswith("report.html)") for line in lines)


def test_build_without_tools_names_the_rule_that_dropped_most_records(tmp_path: Path, cache: str) -> None:
    env = {"CURATE_CACHE": cache}
    res = run_cli("build", str(RAW), "-o", str(tmp_path / "out"), env=env)
    assert res.returncode == 0, res.stderr
    note = res.stderr.splitlines()[-1]
    assert note.startswith("curate: note: lint errors dropped 1,537 of 2,433 readable records (63%)")
    assert "TC002 unknown-tool" in note and "--tools FILE" in note and f"`curate lint {RAW}`" in note
    with_tools = run_cli("build", str(RAW), "-o", str(tmp_path / "out"), "--tools",
                         str(REPO / "sample_data" / "tools.json"), env=env)
    assert with_tools.returncode == 0 and "curate: note: lint errors" not in with_tools.stderr


def test_mask_counts_records_on_a_terminal_only(tmp_path: Path, cache: str) -> None:
    from tests.conftest import write_jsonl

    records = [{"id": f"r{k}", "messages": [{"role": "user", "content": f"question {k}"},
                                            {"role": "assistant", "content": f"answer {k}"}]} for k in range(3)]
    data = write_jsonl(tmp_path / "d.jsonl", records)
    forced = {"TTY_COMPATIBLE": "1", "CURATE_CACHE": cache}
    res = run_cli("mask", str(data), env=forced)
    assert res.returncode == 0, res.stderr
    assert "masking records" in res.stderr and "3/3" in res.stderr and BAR in res.stderr
    for extra, env in (([], {"CURATE_CACHE": cache}), (["-q"], forced)):
        quiet = run_cli("mask", str(data), *extra, env=env)
        assert quiet.returncode == 0 and BAR not in quiet.stderr and "masking" not in quiet.stderr
        assert "masked 3 examples from 3 records" in quiet.stdout
