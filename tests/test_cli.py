"""`curate lint` and `curate rule` as a user runs them: formats, exit codes, configuration."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.conftest import REPO, run_cli, write_jsonl

GOOD = {"id": "g", "messages": [{"role": "user", "content": "Weather in Oslo?"},
                                {"role": "assistant", "content": "<tool_call>\n{\"name\": \"get_weather\", "
                                 "\"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"}]}
BAD = {"id": "b", "messages": [{"role": "user", "content": "Weather?"},
                               {"role": "assistant", "content": "<tool_call>\n{\"name\": \"get_weather\", "
                                "\"arguments\": {\"unit\": \"k\"}}\n</tool_call>"}]}
WARN = {"id": "w", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}


def test_exit_codes(tmp_path: Path, weather_tools: Path) -> None:
    clean = write_jsonl(tmp_path / "clean.jsonl", [GOOD, WARN])
    dirty = write_jsonl(tmp_path / "dirty.jsonl", [GOOD, BAD])
    assert run_cli("lint", str(clean), "--tools", str(weather_tools), "--isolated").returncode == 0  # warnings only
    assert run_cli("lint", str(dirty), "--tools", str(weather_tools), "--isolated").returncode == 1
    assert run_cli("lint", str(dirty), "--tools", str(weather_tools), "--isolated", "--exit-zero").returncode == 0
    missing = run_cli("lint", str(tmp_path / "nope.jsonl"), "--isolated")
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    assert run_cli("lint", str(dirty), "--tools", str(tmp_path / "none.json"), "--isolated").returncode == 2
    assert run_cli("lint").returncode == 2
    unknown = run_cli("lint", str(dirty), "--select", "XX9", "--isolated")
    assert unknown.returncode == 2 and "matches no rule" in unknown.stderr


def test_text_format_names_file_line_code_record_and_message(tmp_path: Path, weather_tools: Path) -> None:
    dirty = write_jsonl(tmp_path / "dirty.jsonl", [GOOD, BAD])
    out = run_cli("lint", str(dirty), "--tools", str(weather_tools), "--isolated").stdout
    lines = out.splitlines()
    assert f"{dirty}:2: TC003 missing required argument `city` in the call to `get_weather` [record b, message 1]" \
        in lines
    assert any(line.startswith("    | {\"name\": \"get_weather\"") for line in lines)
    assert "TC006" in out and "Findings by rule" in out and "2 findings in 2 records from 1 file" in out


def test_json_format_matches_its_schema(tmp_path: Path, weather_tools: Path) -> None:
    dirty = write_jsonl(tmp_path / "dirty.jsonl", [GOOD, BAD, WARN])
    res = run_cli("lint", str(dirty), "--tools", str(weather_tools), "--isolated", "--format", "json")
    findings = json.loads(res.stdout)
    schema = json.loads((REPO / "schemas" / "findings.schema.json").read_text())
    jsonschema.validate(findings, schema)
    assert [(f["line"], f["record_id"], f["message_index"], f["code"], f["severity"]) for f in findings] == [
        (2, "b", 1, "TC003", "error"), (2, "b", 1, "TC006", "error"), (3, "w", 1, "RL005", "warning")]
    empty = run_cli("lint", str(write_jsonl(tmp_path / "c.jsonl", [GOOD])), "--tools", str(weather_tools),
                    "--isolated", "--format", "json")
    assert json.loads(empty.stdout) == [] and empty.returncode == 0


def test_github_format_is_workflow_commands(tmp_path: Path, weather_tools: Path) -> None:
    dirty = write_jsonl(tmp_path / "dirty.jsonl", [BAD, WARN])
    out = run_cli("lint", str(dirty), "--tools", str(weather_tools), "--isolated", "--format", "github").stdout
    lines = out.splitlines()
    assert lines[0].startswith(f"::error file={dirty},line=1,title=TC003::TC003 missing required argument")
    assert lines[-1].startswith(f"::warning file={dirty},line=2,title=RL005::")


def test_pyproject_configuration(tmp_path: Path) -> None:
    (tmp_path / "tools.json").write_text(json.dumps([{"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]))
    write_jsonl(tmp_path / "d.jsonl", [BAD, WARN])
    (tmp_path / "pyproject.toml").write_text('[tool.curate.lint]\ntools = ["tools.json"]\nignore = ["RL005"]\n')
    res = run_cli("lint", "d.jsonl", "--format", "json", cwd=tmp_path)
    assert [f["code"] for f in json.loads(res.stdout)] == ["TC003", "TC004"]  # tools from config, RL005 ignored
    res = run_cli("lint", "d.jsonl", "--format", "json", "--select", "RL", cwd=tmp_path)
    assert [f["code"] for f in json.loads(res.stdout)] == ["RL005"]  # the command line replaces the config
    (tmp_path / "pyproject.toml").write_text('[tool.curate.lint]\nselct = ["TC"]\n')
    res = run_cli("lint", "d.jsonl", cwd=tmp_path)
    assert res.returncode == 2 and "selct" in res.stderr and "pyproject.toml" in res.stderr


def test_rule_command_explains_a_rule() -> None:
    res = run_cli("rule", "tc003")
    assert res.returncode == 0
    assert res.stdout.startswith("TC003 (missing-required-argument)")
    assert "Anti-pattern" in res.stdout and "Best practice" in res.stdout
    listing = run_cli("rule", "--all").stdout.splitlines()
    assert len(listing) >= 20 and any(line.startswith("TC007  unpaired-call-response") for line in listing)
    assert run_cli("rule", "ZZ001").returncode == 2


def test_stdin_and_statistics(weather_tools: Path) -> None:
    res = run_cli("lint", "-", "--tools", str(weather_tools), "--isolated", "--statistics",
                  stdin=json.dumps(BAD) + "\n")
    assert res.returncode == 1
    assert "TC003" in res.stdout and "missing-required-argument" in res.stdout and "[record" not in res.stdout


def test_pre_commit_hook_is_declared() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    assert "id: curate-lint" in text and "entry: curate lint" in text


def test_jobs_is_one_option_on_every_command_and_num_proc_its_alias() -> None:
    from curate.cli import build_parser

    parser = build_parser(plugins=False)
    commands = {"lint": ["x"], "mask": ["x"], "build": ["x", "-o", "o"], "dedup": ["x", "-o", "o.jsonl"]}
    for command, rest in commands.items():
        for flag in ("-j", "--jobs", "--num-proc"):
            assert parser.parse_args([command, *rest, flag, "3"]).jobs == 3, (command, flag)
        help_text = " ".join(run_cli(command, "--help").stdout.split())
        assert "-j N, --jobs N, --num-proc N" in help_text and "0: one per core" in help_text
    for command in ("mask", "dedup"):
        res = run_cli(command, "x.jsonl", *(["-o", "o.jsonl"] if command == "dedup" else []), "--num-proc", "-2")
        assert res.returncode == 2 and "--jobs must be 0 (one per core) or more, not -2" in res.stderr
        assert "Traceback" not in res.stderr


def test_help_lists_the_commands_in_pipeline_order() -> None:
    out = run_cli("--help").stdout
    listed = [line.split()[0] for line in out.split("COMMAND\n", 1)[1].split("\n\n")[0].splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed == ["lint", "dedup", "decontam", "bucket", "stats", "build", "mask", "train", "merge", "rule"]
    assert "Exit codes" in out


def test_every_command_help_ends_with_an_example_and_its_exit_codes() -> None:
    from curate.cli import PIPELINE_ORDER

    for command in PIPELINE_ORDER:
        out = run_cli(command, "--help").stdout
        example = out.split("example:\n", 1)[1]
        assert example.startswith(f"  curate {command} "), command
        codes = out.split("exit codes:\n", 1)[1].splitlines()
        assert codes[0].startswith("  0 ") and any(line.startswith("  2 ") for line in codes), command


def test_every_option_and_argument_has_help_text() -> None:
    import argparse

    from curate.cli import build_parser

    parser = build_parser(plugins=True)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [(name, a.dest) for name, p in [("curate", parser), *sub.choices.items()] for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and not a.help]
    assert missing == []
    assert all(a.help for a in sub._choices_actions)


def test_an_abbreviated_option_is_an_error_not_a_guess(tmp_path: Path, weather_tools: Path) -> None:
    dirty = write_jsonl(tmp_path / "dirty.jsonl", [BAD])
    for args in (("lint", str(dirty), "--tool", str(weather_tools)),
                 ("build", str(dirty), "-o", str(tmp_path / "out"), "--tool", str(weather_tools)),
                 ("mask", str(dirty), "--max-len", "10"),
                 ("--allow-down", "lint", str(dirty))):
        res = run_cli(*args)
        assert res.returncode == 2 and "unrecognized arguments" in res.stderr, args
    assert not (tmp_path / "out").exists()
