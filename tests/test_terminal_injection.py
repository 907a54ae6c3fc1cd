"""Strings from data never drive the terminal: every command's text output shows them escaped (issue #13, 3).

A hostile corpus, written here, puts ANSI/OSC escapes, a newline that would forge a finding line, Rich
markup, a live-link tag and a bidi override into ids, tool names, argument values, content, file names
and bucket names, and runs it through `curate lint`, `mask --show/--audit`, `build`, `dedup`, `bucket`,
`stats` and `rule`. Each must exit as it would on clean data, print no control character other than
newline and tab, start no line with the forged finding, and still show the hostile text, escaped.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from curate.terminal import NAME_LIMIT
from tests.conftest import run_cli, write_jsonl

FORGED = "raw.jsonl:1: TC999 forged finding"
OSC = "\x1b]0;owned\x07"  # sets the window title
CLEAR = "\x1b[2J"  # clears the screen
LINK = "[link=https://evil.example]x[/link]"  # Rich markup for a live hyperlink
BIDI = "\u202e"  # right-to-left override: reorders what follows on screen
LONG_ID = "long-" + "x" * 500

IDS = [f"a\n{FORGED}", f"{OSC}title", f"{CLEAR}clear", "[/]", LINK, f"{BIDI}rtl", LONG_ID]
EVIL_TOOL = f"evil{OSC}[/]{CLEAR}\n{FORGED}"
EVIL_FILE = f"e\n{FORGED}{OSC}[link=x]"  # a file name in a folder the user lints (no `/` in a name)
BUCKET = f"[/]{CLEAR}"
SCRIPT_BUCKET = "<script>alert(1)</script>"

# What each hostile string looks like once escaped: the test fails if the text were simply dropped.
SHOWN = {
    "forged id": f"a\\n{FORGED}",
    "osc id": "\\x1b]0;owned\\x07title",
    "clear id": "\\x1b[2Jclear",
    "markup id": "[/]",
    "link id": LINK,
    "bidi id": "\\u202ertl",
    "tool": f"evil\\x1b]0;owned\\x07[/]\\x1b[2J\\n{FORGED}",
    "file": f"e\\n{FORGED}\\x1b]0;owned\\x07[link=x]",
    "bucket": "[/]\\x1b[2J",
}
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Baku", "Doha", "Riga"]
TOPICS = ["hiking the fjords tomorrow morning", "a picnic by the river this weekend",
          "drying laundry on the balcony today", "cycling to work across the bridge",
          "a rooftop dinner with old friends", "repainting the garden fence outside",
          "flying a kite on the beach at noon"]


def _call(name: str, args: dict[str, object]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


def hostile_records() -> list[dict[str, object]]:
    """Records that pass lint (so the build keeps them) with escapes in ids, content and argument values,
    one that calls a tool named with escapes (a lint error), and a chat record for a second bucket."""
    records: list[dict[str, object]] = []
    for k, (rid, city, topic) in enumerate(zip(IDS, CITIES, TOPICS, strict=True)):
        records.append({"id": rid, "messages": [
            {"role": "user", "content": f"Planning {topic} in {city}{OSC}{CLEAR}: what is the weather? {LINK} [/]"},
            {"role": "assistant", "content": _call("get_weather", {"city": f"{city}{OSC}{CLEAR}[/]{BIDI}{LINK}"})},
            {"role": "tool", "content": json.dumps({"temp": k, "note": f"{OSC}{CLEAR}"})},
            {"role": "assistant", "content": f"It is {k} degrees in {city}, fine for {topic}. {CLEAR}{OSC}[/]{LINK}"},
        ]})
    records.append({"id": "calls-evil-tool", "messages": [
        {"role": "user", "content": "Run the thing."},
        {"role": "assistant", "content": _call(EVIL_TOOL, {f"arg{CLEAR}": f"value{OSC}"})}]})
    for k in range(2):
        records.append({"id": f"chat-{k}{OSC}", "messages": [
            {"role": "user", "content": f"Tell me something {['kind', 'odd'][k]} about {['owls', 'tides'][k]}{CLEAR}."},
            {"role": "assistant", "content": ["Owls can turn their heads far.", "Tides follow the moon."][k] + OSC}]})
    return records


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private cache for the built-in tokenizer, and a wide terminal so that tables don't wrap ids."""
    return {"CURATE_CACHE": str(tmp_path_factory.mktemp("cache")), "COLUMNS": "200"}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "raw.jsonl", hostile_records())


@pytest.fixture
def empty_answers(tmp_path: Path) -> Path:
    """A record per hostile id, each with one RL005 finding (an empty answer): every id reaches the output."""
    return write_jsonl(tmp_path / "ids.jsonl", [{"id": rid, "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]} for rid in IDS])


@pytest.fixture
def build_config(tmp_path: Path) -> Path:
    """Custom buckets named with escapes, Rich markup and HTML; one of them never holds a record, so the
    build's log says so (`mix: bucket … has no records`)."""
    config = {"buckets": {"rules": {BUCKET: {"min_calls": 1}, SCRIPT_BUCKET: {"no_tools": True},
                                    LINK: {"min_calls": 99}}},
              "split": {"eval_min": 1}}
    path = tmp_path / "build.toml"
    path.write_text(_toml(config), encoding="utf-8")
    return path


def _toml(data: dict[str, object], prefix: str = "") -> str:
    """A TOML document for nested dicts of scalars; keys quoted as JSON strings (a TOML basic string)."""
    lines, tables = [], []
    for key, value in data.items():
        name = f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key)
        if isinstance(value, dict):
            tables.append(f"[{name}]\n" + _toml(value, name))
        else:
            lines.append(f"{json.dumps(key)} = {json.dumps(value)}")
    return "\n".join(lines) + "\n" + "".join(tables)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_safe(output: str, *shown: str) -> None:
    """No control character but newline and tab, no forged finding line, and every `shown` text there."""
    bad = _CONTROL.search(output)
    assert bad is None, f"raw {bad.group()!r} at {bad.start()}: {output[max(0, bad.start() - 80):bad.end() + 80]!r}"
    forged = [line for line in output.splitlines() if line.startswith("raw.jsonl:1: TC999")]
    assert forged == []
    missing = [s for s in shown if s not in output]
    assert missing == [], output


def test_hostile_config_is_what_the_build_reads(build_config: Path) -> None:
    from curate.buildconfig import load_build_config

    assert list(load_build_config(build_config).buckets.rules or {}) == [BUCKET, SCRIPT_BUCKET, LINK]


def test_lint_text_shows_ids_tools_and_file_names_escaped(tmp_path: Path, corpus: Path, weather_tools: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / f"{EVIL_FILE}.jsonl").write_bytes(corpus.read_bytes())
    res = run_cli("lint", str(corpus), str(folder), "--tools", str(weather_tools), "--isolated")
    assert res.returncode == 1, res.stderr
    assert_safe(res.stdout + res.stderr, SHOWN["forged id"], SHOWN["tool"], SHOWN["file"])
    lines = res.stdout.splitlines()
    # one finding line per hostile-tool finding, whole: the id and tool name did not break it in two
    assert f"{corpus}:8: TC002 unknown tool `{SHOWN['tool']}` (known: get_weather) [record calls-evil-tool, " \
           "message 1]" in lines
    assert any(line.startswith(f"{folder}/{SHOWN['file']}.jsonl:8: TC002 ") for line in lines)
    assert "Findings by rule" in res.stdout and "TC002" in res.stdout


def test_lint_text_escapes_every_id_and_shortens_long_ones(empty_answers: Path) -> None:
    res = run_cli("lint", str(empty_answers), "--isolated", "--select", "RL005")
    assert res.returncode == 0  # warnings only
    shown = [SHOWN[k] for k in ("forged id", "osc id", "clear id", "markup id", "link id", "bidi id")]
    assert_safe(res.stdout, *(f"[record {s}, message 1]" for s in shown))
    long_shown = LONG_ID[: NAME_LIMIT - 1] + "…"
    assert f"[record {long_shown}, message 1]" in res.stdout and LONG_ID not in res.stdout


def test_lint_colour_keeps_its_own_escapes_only(corpus: Path, empty_answers: Path, weather_tools: Path) -> None:
    res = run_cli("lint", str(corpus), str(empty_answers), "--tools", str(weather_tools), "--isolated",
                  env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert res.returncode == 1
    assert "\x1b[1m" in res.stdout  # colour is on: the only escapes are the reporter's own
    assert re.findall("\x1b[^\\[]|\x1b\\[(?![0-9;]*m)", res.stdout) == []
    for raw in ("\x07", BIDI, f"\n{FORGED}"):
        assert raw not in res.stdout
    assert all(SHOWN[k] in res.stdout for k in ("tool", "forged id", "osc id", "clear id", "bidi id"))


def test_lint_github_and_json_stay_machine_readable(corpus: Path, empty_answers: Path, weather_tools: Path) -> None:
    inputs = (str(corpus), str(empty_answers), "--tools", str(weather_tools), "--isolated")
    github = run_cli("lint", *inputs, "--format", "github")
    assert github.returncode == 1
    # GitHub's own encoding for newlines (%0A), escapes for every other control character
    assert_safe(github.stdout, f"TC002 unknown tool `evil\\x1b]0;owned\\x07[/]\\x1b[2J%0A{FORGED}`",
                f"(record a%0A{FORGED})", "(record \\x1b]0;owned\\x07title)", "(record \\u202ertl)")
    assert all(line.startswith(("::error ", "::warning ")) for line in github.stdout.splitlines())
    res = run_cli("lint", *inputs, "--format", "json")
    assert res.returncode == 1
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout  # JSON escapes control characters itself
    findings = json.loads(res.stdout)  # and the ids and names come back exact
    assert [f["record_id"] for f in findings if f["code"] == "RL005"] == IDS
    assert any(EVIL_TOOL in f["message"] for f in findings if f["code"] == "TC002")


def test_mask_show_and_audit(corpus: Path, weather_tools: Path, cache: dict[str, str]) -> None:
    shown = run_cli("mask", str(corpus), "--tools", str(weather_tools), "--show", "20", env=cache)
    assert shown.returncode == 0, shown.stderr  # the `[/]` id no longer crashes it (exit 1: "audit failed")
    assert_safe(shown.stdout + shown.stderr, *(SHOWN[k] for k in ("forged id", "osc id", "clear id", "markup id",
                                                                  "link id", "bidi id")))
    # content decoded token by token: the escapes in it are shown, its line breaks kept
    assert "\\x1b]0;owned\\x07" in shown.stdout and "\\x1b[2J" in shown.stdout and "↵\n" in shown.stdout
    assert LONG_ID[: NAME_LIMIT - 1] + "…" in shown.stdout
    audit = run_cli("mask", str(corpus), "--tools", str(weather_tools), "--audit", env=cache)
    assert audit.returncode == 0, audit.stderr
    assert "all passed" in audit.stdout
    assert_safe(audit.stdout + audit.stderr, *(SHOWN[k] for k in ("forged id", "osc id", "clear id", "markup id",
                                                                  "bidi id")), LINK[:20])


def test_build_tables_log_and_report(tmp_path: Path, corpus: Path, weather_tools: Path, build_config: Path,
                                     cache: dict[str, str]) -> None:
    out = tmp_path / "out"
    res = run_cli("build", str(corpus), "-o", str(out), "--tools", str(weather_tools), "--config", str(build_config),
                  env=cache)
    assert res.returncode == 0, res.stderr  # a bucket named `[/]` crashed it after writing
    assert_safe(res.stdout + res.stderr, SHOWN["bucket"], SCRIPT_BUCKET, f"wrote {out}/")
    mix_rows = [line for line in res.stdout.splitlines() if SHOWN["bucket"] in line]
    assert len(mix_rows) == 1 and " 7 " in mix_rows[0]  # the seven weather records, in the mix table
    # the log names the empty bucket, its link markup shown as text
    assert f"curate build: mix: bucket `{LINK}` has no records" in res.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["buckets_before"][BUCKET] == 7 and manifest["buckets_before"][SCRIPT_BUCKET] == 2
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in report and html.escape(SCRIPT_BUCKET) in report  # the HTML report escapes its own way


def test_dedup_bucket_and_stats(tmp_path: Path, corpus: Path, weather_tools: Path, build_config: Path,
                                cache: dict[str, str]) -> None:
    out = tmp_path / f"kept{CLEAR}[link=x].jsonl"
    dedup = run_cli("dedup", str(corpus), "-o", str(out), env=cache)
    assert dedup.returncode == 0, dedup.stderr
    assert_safe(dedup.stdout + dedup.stderr, f"wrote {tmp_path}/kept\\x1b[2J[link=x].jsonl")
    for command in ("bucket", "stats"):
        # --keep-invalid: the evil tool's call (TC002, an error) passes the lint gate, as in the build with it
        res = run_cli(command, str(corpus), "--config", str(build_config), "--tools", str(weather_tools),
                      "--keep-invalid", env=cache)
        assert res.returncode == 0, res.stderr
        assert_safe(res.stdout + res.stderr, SHOWN["bucket"], SCRIPT_BUCKET, f"signals: {SHOWN['bucket']} 8")
        rows = [line for line in res.stdout.splitlines() if SHOWN["bucket"] in line and "│" in line]
        assert len(rows) == 1 and " 8 " in rows[0]  # seven weather records and the evil tool's call
    assert "lint findings: TC002 1" in res.stdout  # stats


def test_rule_names_an_unknown_code_escaped() -> None:
    res = run_cli("rule", f"X{CLEAR}{OSC}")
    assert res.returncode == 2
    assert_safe(res.stdout + res.stderr, "no rule `X\\x1b[2J\\x1b]0;owned\\x07`")
