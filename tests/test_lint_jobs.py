"""`curate lint --jobs N`: the same findings, in the same order, as one process, whatever the batching."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from curate import cli, lint_jobs
from curate.lint import Linter
from curate.lint_jobs import ParallelLinter
from curate.readers import load_tool_specs
from tests.conftest import REPO, run_cli, write_jsonl

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = REPO / "sample_data" / "tools.json"

# a --tools spec with a schema problem (TS001 reports it once per run, at the first readable record)
BROKEN_SPEC = {"name": "broken", "description": "d",
               "parameters": {"type": "object", "properties": {"x": {"type": "tensor"}}}}
OWN_BROKEN = {"type": "function", "function": {"name": "mine", "description": "d", "parameters": {
    "type": "dict", "properties": {"y": {"type": "matrix"}}, "required": ["y"]}}}


def call(name: str, args: dict[str, object]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


def cross_record_corpus() -> list[object]:
    """Duplicate ids far apart and side by side, tools with problems redefined or not, unreadable lines."""
    out: list[object] = []
    for k in range(60):
        rec: dict[str, object] = {"id": f"r{k % 23}", "messages": [
            {"role": "user", "content": f"q{k}"},
            {"role": "assistant", "content": call("broken", {"x": k, "z": 1} if k % 5 == 0 else {"x": k})}]}
        if k % 5 == 0:
            rec["tools"] = [OWN_BROKEN, {"type": "function", "function": BROKEN_SPEC}]
        if k % 7 == 0:
            rec["tools"] = [{"type": "function", "function": {**BROKEN_SPEC, "parameters": {
                "type": "object", "properties": {"x": {"type": "integer"}}}}}]
        out.append(rec)
        if k % 11 == 0:
            out.append("not json")
    return out


def lint_both(paths: list[Path], specs: list[dict], jobs: int = 2, **kw: object) -> tuple[list, list]:
    one = Linter(specs, **kw)  # type: ignore[arg-type]
    expected = [f for p in paths for f in one.lint_path(p)]
    with ParallelLinter(specs, jobs=jobs, **kw) as many:  # type: ignore[arg-type]
        got = [f for p in paths for f in many.lint_path(p)]
    assert many.stats == one.stats
    return expected, got


@pytest.mark.parametrize("batch", [1, 7, 512])
def test_same_findings_as_one_process_across_batches_and_files(tmp_path: Path, batch: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint_jobs, "BATCH", batch)
    lines = [json.dumps(r) if not isinstance(r, str) else r for r in cross_record_corpus()]
    a = tmp_path / "a.jsonl"
    a.write_text("\n".join(lines) + "\n", encoding="utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text("\n".join(lines[:20]) + "\n", encoding="utf-8")  # ids again in a second file
    expected, got = lint_both([a, b], [{"type": "function", "function": BROKEN_SPEC}])
    assert got == expected
    codes = {f.code for f in expected}
    assert {"RS001", "RS004", "TS001", "TC004"} <= codes  # the cross-record rules did fire, beside others
    assert sum(f.code == "TS001" and "`broken`" in f.message for f in expected) == 1  # once per run


def test_same_findings_on_the_sample_corpus_with_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint_jobs, "BATCH", 100)
    specs = load_tool_specs(TOOLS)
    expected, got = lint_both([SAMPLE], specs)
    assert got == expected and len(expected) == 258
    expected, got = lint_both([SAMPLE], specs, select=["RS004", "TC"], ignore=["TC003"])
    assert got == expected and {f.code for f in got} >= {"RS004", "TC001"} and "TC003" not in {f.code for f in got}
    expected, got = lint_both([SAMPLE], specs, jobs=3, ignore=["RS004", "TS001"])
    assert got == expected


def test_cli_output_is_byte_identical_for_any_jobs(tmp_path: Path) -> None:
    for fmt in ("json", "text"):
        outs = [run_cli("lint", str(SAMPLE), "--tools", str(TOOLS), "--isolated", "--format", fmt, "--jobs", j)
                for j in ("1", "2", "0")]
        assert all(o.returncode == 1 for o in outs), outs[1].stderr
        assert outs[0].stdout == outs[1].stdout == outs[2].stdout
    text = "".join((json.dumps(r) if not isinstance(r, str) else r) + "\n" for r in cross_record_corpus())
    piped = [run_cli("lint", "-", "--isolated", "--format", "json", "-j", j, stdin=text) for j in ("1", "2")]
    assert piped[0].stdout == piped[1].stdout and '"RS004"' in piped[1].stdout


def test_bad_jobs_and_a_dying_worker_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = run_cli("lint", str(SAMPLE), "--isolated", "--jobs", "-1")
    assert bad.returncode == 2 and "--jobs must be 0" in bad.stderr and "Traceback" not in bad.stderr

    def die(*_: object) -> None:  # a worker killed (out of memory, say) as it starts
        os._exit(9)

    monkeypatch.setattr(lint_jobs, "_init_worker", die)
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "x", "messages": [{"role": "user", "content": "hi"}]}])
    assert cli.main(["lint", str(data), "--isolated", "--format", "json", "-j", "2"]) == 2
    err = capsys.readouterr().err
    assert "a lint worker process died" in err and "--jobs" in err
