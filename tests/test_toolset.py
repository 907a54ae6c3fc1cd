"""`--tools` means one thing everywhere: a record's own tools by name first, then `--tools` (issue #14, item 1).

A record that defines `translate` and calls `get_weather`, defined only in `--tools`, lints clean; it used to
be exported carrying only `translate`, so the model was trained on a call to a tool it never saw.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.cli import main
from curate.lint import Linter
from curate.readers import RecordReader
from curate.render import render_chatml
from curate.toolset import ToolSet, called_names
from tests.conftest import write_jsonl

TRANSLATE = {"type": "function", "function": {"name": "translate", "parameters": {
    "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}
# the record's own `get_weather` takes `town`, not `city`: its own spec must win over --tools'
OWN_WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"town": {"type": "string"}}, "required": ["town"]}}}


def call(name: str, **arguments: str) -> str:
    return f'<tool_call>{json.dumps({"name": name, "arguments": arguments})}</tool_call>'


def record(rid: str, tools: list[dict] | None, *calls: str) -> dict:
    messages: list[dict] = [{"role": "user", "content": f"question {rid} about the weather and a translation"}]
    for k, c in enumerate(calls):
        messages += [{"role": "assistant", "content": c},
                     {"role": "tool", "content": f'{{"result": "ok {k}"}}'}]
    messages.append({"role": "assistant", "content": f"Here is the answer for {rid}."})
    out: dict = {"id": rid, "messages": messages}
    if tools is not None:
        out["tools"] = tools
    return out


CORPUS = [
    record("mixed", [TRANSLATE], call("translate", text="hi"), call("get_weather", city="Oslo")),
    record("own-only", [TRANSLATE], call("translate", text="hello")),
    record("none", None, call("get_weather", city="Rome")),
    record("own-wins", [OWN_WEATHER], call("get_weather", town="Bergen")),
    record("unknown", [TRANSLATE], call("fly_to_mars", when="now")),
    record("twice", [TRANSLATE], call("get_weather", city="A"), call("get_weather", city="B"),
           call("search", q="x")),
]


def test_attach_adds_exactly_the_called_tools_a_record_does_not_define(tmp_path: Path) -> None:
    toolset = ToolSet.from_dicts([WEATHER, SEARCH])
    records = {r.record.id: r.record for r in RecordReader().read(write_jsonl(tmp_path / "data.jsonl", CORPUS))
               if r.record is not None}
    names = {rid: [t.function.name for t in toolset.attach(rec).tools or ()] for rid, rec in records.items()}
    assert names == {
        "mixed": ["translate", "get_weather"],
        "own-only": ["translate"],
        "none": ["get_weather", "search"],  # no tools of its own: the run's tools, as before
        "own-wins": ["get_weather"],
        "unknown": ["translate"],
        "twice": ["translate", "get_weather", "search"],
    }
    own = toolset.attach(records["own-wins"]).tools
    assert own is not None and own[0].function.parameters == OWN_WEATHER["function"]["parameters"]
    assert toolset.attach(records["own-only"]) is records["own-only"]  # nothing to add: the very record


def test_lint_and_export_make_the_same_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call lint resolves (no TC002) is to a tool the exported record carries, with the spec lint used;
    every call lint cannot resolve is to a tool the exported record does not carry."""
    data = write_jsonl(tmp_path / "data.jsonl", CORPUS)
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([WEATHER, SEARCH]))
    linter = Linter([WEATHER, SEARCH])
    unknown = {(f.record_id, f.message.split("`")[1]) for f in linter.lint_path(data) if f.code == "TC002"}
    assert unknown == {("unknown", "fly_to_mars")}
    assert not [f for f in linter.lint_path(data) if f.code in ("TC003", "TC004") and f.record_id != "unknown"]

    monkeypatch.chdir(tmp_path)
    (tmp_path / "build.toml").write_text("[mix]\nstrategy = \"none\"\n[split]\neval_fraction = 0.0\neval_min = 0\n")
    assert main(["build", str(data), "--tools", str(tools), "--keep-invalid", "--config", "build.toml",
                 "-o", "out"]) == 0
    exported = {}
    for name in ("train.jsonl", "eval.jsonl"):
        for line in (tmp_path / "out" / name).read_text().splitlines():
            row = json.loads(line)
            exported[row["id"]] = row
    assert set(exported) == {r["id"] for r in CORPUS}
    toolset = ToolSet.from_dicts([WEATHER, SEARCH])
    for rec in (r.record for r in RecordReader().read(data)):
        assert rec is not None
        carried = {t["function"]["name"]: t["function"]["parameters"] for t in exported[rec.id]["tools"]}
        for name in called_names(rec):
            resolved = toolset.resolve(rec, name)
            if (rec.id, name) in unknown:
                assert resolved is None and name not in carried
            else:
                assert resolved is not None and carried[name] == resolved.function.parameters, (rec.id, name)


def test_mask_renders_the_tools_a_record_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", [CORPUS[0]])
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([WEATHER]))
    assert main(["mask", str(data), "--tools", str(tools), "--show", "1"]) == 0
    shown = capsys.readouterr().out
    assert '"name": "get_weather"' in shown and '"name": "translate"' in shown
    rec = next(iter(RecordReader().read(data))).record
    assert rec is not None and '"get_weather"' not in render_chatml(rec).text.split("<|im_end|>")[0]
