"""`curate lint --jobs N`: the same findings, in the same order, as one process, whatever the batching; and the
cross-record rules decided by one decider for `lint`, `lint --jobs` and the build's lint gate."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from curate import cli, lint_jobs
from curate.lint import CrossRecordRules, Linter
from curate.lint_jobs import ParallelLinter
from curate.readers import load_tool_specs
from curate.records import Finding
from curate.rules import all_rules
from curate.rules.base import CrossRecordRule, RecordContext
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


# --- cross-record rules: one decider for lint, lint --jobs and the build --------------------------------------

def test_the_rules_keeping_state_are_the_cross_record_rules() -> None:
    """A rule keeping state between records gives wrong findings wherever records are linted in batches,
    unless it is declared cross-record (and so decided by `CrossRecordRules`, in input order)."""
    stateful = [code for code, rule in all_rules().items() if "__init__" in vars(rule)]
    assert stateful == [code for code, rule in all_rules().items() if rule.cross_record] == ["RS004", "TS001"]
    assert all(issubclass(all_rules()[code], CrossRecordRule) for code in stateful)


def test_lint_lint_jobs_and_the_build_decide_cross_record_rules_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                      ) -> None:
    """On a corpus with repeated ids and broken tool schemas, `Linter`, `ParallelLinter(jobs=2)` and the build's
    gate count the same findings, each deciding every cross-record rule through `CrossRecordRules.decide`, once
    per readable record."""
    from curate.build import build
    from curate.buildconfig import BuildConfig

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    corpus = cross_record_corpus()
    data = tmp_path / "data.jsonl"
    data.write_text("".join((json.dumps(r) if not isinstance(r, str) else r) + "\n" for r in corpus), encoding="utf-8")
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([{"type": "function", "function": BROKEN_SPEC}]), encoding="utf-8")
    readable = sum(not isinstance(r, str) for r in corpus)
    cross = sorted(code for code, rule in all_rules().items() if rule.cross_record)

    decided: list[list[str]] = []
    real = CrossRecordRules.decide

    def spy(self: CrossRecordRules, ctx: RecordContext, observed: dict) -> list[Finding]:
        decided.append(self.codes)
        return real(self, ctx, observed)

    monkeypatch.setattr(CrossRecordRules, "decide", spy)
    counts = {}
    specs = load_tool_specs(tools)
    one = Linter(specs)
    list(one.lint_path(data))
    counts["lint"] = one.stats.by_code
    with ParallelLinter(specs, jobs=2) as many:
        list(many.lint_path(data))
    counts["lint -j 2"] = many.stats.by_code
    counts["build"] = build([data], tmp_path / "out", BuildConfig(), [tools]).manifest.lint_findings
    assert decided == [cross] * (3 * readable)
    assert counts["lint"] == counts["lint -j 2"] == counts["build"]
    assert counts["build"]["RS004"] > 5 and counts["build"]["TS001"] == 2  # `broken` in --tools, `mine` in records


class RS099(CrossRecordRule):
    """A record asks what an earlier record asked (a rule registered by a test).

    **Anti-pattern**::

        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]}
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hi!"}]}

    **Best practice**::

        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]}
        {"messages": [{"role": "user", "content": "bye"}, {"role": "assistant", "content": "Bye!"}]}
    """

    code = "RS099"
    name = "repeated-request"
    group = "record"
    severity = "warning"

    def __init__(self) -> None:
        self.first: dict[str, tuple[str, int]] = {}

    def observe(self, ctx: RecordContext) -> str | None:
        assert ctx.record is not None
        return next((m.content for m in ctx.record.messages if m.role == "user"), None)

    def decide(self, ctx: RecordContext, observed: str | None) -> list[Finding]:
        if observed is None:
            return []
        first = self.first.setdefault(observed, (ctx.path, ctx.line))
        return [] if first == (ctx.path, ctx.line) else [ctx.finding(self, f"asked before at line {first[1]}")]


def test_a_new_cross_record_rule_is_decided_alike_with_any_jobs_and_in_the_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cross-record rule registered beside the others, observing records in the workers, gets the same findings
    from `lint`, `lint --jobs` and the build's gate, which keeps the workers' `lint_alone` results and finishes
    them in input order (the workers are forked: they see it registered)."""
    from curate.build import build
    from curate.build import facts as build_facts
    from curate.buildconfig import BuildConfig

    monkeypatch.setattr(lint_jobs, "BATCH", 7)
    monkeypatch.setitem(all_rules(), "RS099", RS099)
    monkeypatch.setattr(build_facts, "_WORKERS", {})  # a worker built before the rule was registered: not reused
    records = [{"id": f"r{k % 9}", "messages": [{"role": "user", "content": f"q{k % 13}"},
                                               {"role": "assistant", "content": "ok"}]} for k in range(60)]
    a, b = write_jsonl(tmp_path / "a.jsonl", records), write_jsonl(tmp_path / "b.jsonl", records)
    expected, got = lint_both([a, b], [])
    assert got == expected
    assert sum(f.code == "RS099" for f in got) == (60 - 13) + 60 and {"RS004", "RS099"} <= {f.code for f in got}
    linted = Counter(f.code for f in got)
    for num_proc in (1, 2):
        built = build([a, b], tmp_path / f"out{num_proc}", BuildConfig(num_proc=num_proc)).manifest.lint_findings
        assert built == dict(sorted(linted.items())), num_proc
