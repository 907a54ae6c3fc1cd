"""Calls written as ReAct steps, Python-style call lists or Python dict literals, in `curate mask` and `curate
build`: rewritten as `<tool_call>` JSON by default (one rewrite, `curate.toolcalls.canonical_calls`), kept as
written when asked, and masked with a clean audit either way."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.build import build
from curate.buildconfig import BuildConfig, load_build_config
from curate.mask import IGNORE, Masker, MaskPolicy
from curate.records import Trajectory
from curate.render import render_chatml
from tests.conftest import run_cli, write_jsonl

REACT = {"id": "react", "messages": [
    {"role": "system", "content": "You are AutoGPT, you can use many tools(functions) to do the following task."},
    {"role": "user", "content": "\nWhat is the weather in Oslo?\nBegin!\n"},
    {"role": "assistant",
     "content": '\nThought: I need the current weather.\nAction: get_weather\nAction Input: {\n  "city": "Oslo"\n}'},
    {"role": "tool", "content": '{"error": "", "response": "21 C, clear"}'},
    {"role": "assistant", "content": '\nThought: I have it.\nAction: Finish\nAction Input: {\n  "return_type": '
                                     '"give_answer",\n  "final_answer": "It is 21 °C and clear in Oslo."\n}'},
]}
LIST = {"id": "list", "messages": [
    {"role": "user", "content": "Weather in Oslo and Rome?"},
    {"role": "assistant", "content": '[get_weather(city="Oslo"), get_weather(city="Rome")]'},
    {"role": "tool", "content": '{"temp": 21}'},
    {"role": "tool", "content": '{"temp": 25}'},
    {"role": "assistant", "content": "Oslo: 21 °C, Rome: 25 °C."},
]}
DICT = {"id": "dict", "messages": [
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": "<think>Look it up.</think>\n<tool_call>\n{'name': 'get_weather', 'arguments': "
                                     "{'city': 'Oslo', 'metric': True}}\n</tool_call>"},
    {"role": "tool", "content": '{"temp": 21}'},
    {"role": "assistant", "content": "It is 21 °C in Oslo."},
]}
RECORDS = [REACT, LIST, DICT]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "metric": {"type": "boolean"}},
    "required": ["city"]}}}]


@pytest.fixture(scope="module")
def tokenizer(cache: str) -> Any:
    from curate.tokenizer import load_tokenizer

    return load_tokenizer()


def trained(tokenizer: Any, example: Any) -> str:
    ids = [t for t, lab in zip(example.input_ids, example.labels, strict=True) if lab != IGNORE]
    return tokenizer.backend_tokenizer.decode(ids, skip_special_tokens=False)


def test_masks_train_the_canonical_calls_by_default(tokenizer: Any) -> None:
    result = Masker(tokenizer).mask([Trajectory.model_validate(r) for r in RECORDS])
    assert not result.failures and len(result.examples) == 3
    react, calls, dict_call = (trained(tokenizer, ex) for ex in result.examples)
    assert react == ('<think>I need the current weather.</think>\n<tool_call>\n{"name": "get_weather", "arguments": '
                     '{"city": "Oslo"}}\n</tool_call><|im_end|><think>I have it.</think>\n'
                     'It is 21 °C and clear in Oslo.<|im_end|>')
    assert calls.count('<tool_call>\n{"name": "get_weather", "arguments": {"city": ') == 2
    assert '{"city": "Oslo", "metric": true}' in dict_call and "'name'" not in dict_call
    counts = result.examples[0].counts
    assert counts["think"] and counts["tool_call"] and counts["answer"]


def test_masks_train_the_calls_as_written_when_asked(tokenizer: Any) -> None:
    result = Masker(tokenizer, MaskPolicy(calls="as-written")).mask([Trajectory.model_validate(r) for r in RECORDS])
    assert not result.failures
    react, calls, dict_call = (trained(tokenizer, ex) for ex in result.examples)
    assert react.startswith("Thought: I need the current weather.\nAction: get_weather\nAction Input: {")
    assert '"final_answer": "It is 21 °C and clear in Oslo."' in react
    assert calls.startswith('[get_weather(city="Oslo"), get_weather(city="Rome")]<|im_end|>')
    assert "{'name': 'get_weather'" in dict_call
    # the ReAct thought is the think segment, the action a tool call, Finish's final answer the answer
    segments = [(s.kind, render_chatml(Trajectory.model_validate(REACT)).text[s.start:s.end])
                for m in render_chatml(Trajectory.model_validate(REACT)).messages for s in m.segments]
    assert [k for k, _ in segments] == ["think", "tool_call", "think", "answer"]
    assert segments[1][1].startswith("Action: get_weather") and segments[3][1].startswith("Action: Finish")
    counts = result.examples[0].counts
    assert counts["think"] and counts["tool_call"] and counts["answer"]


def test_mask_command_takes_calls(tmp_path: Path, cache: str) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", RECORDS)
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    env = {"CURATE_CACHE": cache}
    outs = {}
    for calls in ("canonical", "as-written"):
        out = tmp_path / f"{calls}.jsonl"
        res = run_cli("mask", str(data), "--tools", str(tools), "--calls", calls, "-o", str(out), env=env)
        assert res.returncode == 0, res.stderr
        meta = json.loads(out.with_name(out.name + ".meta.jsonl").read_text())
        assert meta["policy"]["calls"] == calls and meta["examples"] == 3
        outs[calls] = [json.loads(line)["input_ids"] for line in out.read_text().splitlines()]
    assert all(a != b for a, b in zip(outs["canonical"], outs["as-written"], strict=True))
    res = run_cli("mask", str(data), "--calls", "json", env=env)
    assert res.returncode == 2 and "--calls" in res.stderr


def test_build_exports_canonical_calls_unless_told_to_keep_them(tmp_path: Path, cache: str) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", RECORDS)
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    config = tmp_path / "as_written.toml"
    config.write_text('[export]\ncalls = "as-written"\n[dedup]\nnear = false\n[split]\neval_fraction = 0.0\n')
    kept = load_build_config(config)
    canonical = kept.model_copy(update={"export": BuildConfig().export})
    assert (kept.export.calls, canonical.export.calls) == ("as-written", "canonical")
    contents: dict[str, dict[str, list[str]]] = {}
    for name, cfg in (("canonical", canonical), ("as-written", kept)):
        out = tmp_path / name
        build([data], out, cfg, [tools])
        rows = [json.loads(line) for f in ("train.jsonl", "eval.jsonl") for line in (out / f).read_text().splitlines()]
        contents[name] = {r["id"]: [m.get("content") or "" for m in r["messages"] if m["role"] == "assistant"]
                          for r in rows}
    assert set(contents["canonical"]) == {"react", "list", "dict"}
    assert contents["canonical"]["react"] == [
        '<think>I need the current weather.</think>\n<tool_call>\n{"name": "get_weather", "arguments": '
        '{"city": "Oslo"}}\n</tool_call>', "<think>I have it.</think>\nIt is 21 °C and clear in Oslo."]
    assert contents["as-written"]["react"] == [m["content"] for m in REACT["messages"] if m["role"] == "assistant"]
    assert contents["canonical"]["list"][0].count("<tool_call>") == 2
    assert contents["as-written"]["list"][0] == LIST["messages"][1]["content"]
    assert "'name'" not in contents["canonical"]["dict"][0]
    assert contents["as-written"]["dict"][0] == DICT["messages"][1]["content"]


def test_an_unknown_calls_value_is_a_config_error(tmp_path: Path) -> None:
    from curate.buildconfig import BuildConfigError

    config = tmp_path / "bad.toml"
    config.write_text('[export]\ncalls = "json"\n')
    with pytest.raises(BuildConfigError, match=r"\[export\] calls"):
        load_build_config(config)


PIECES = ["Thought: look it up.", "\n", "Action: get_weather", "Action: Finish", "Action Input: ", '{"city": "Oslo"}',
          '{"return_type": "give_answer", "final_answer": "21 °C"}', "[", "]", 'f(a=1)', ", ", "Get Info(id=2)",
          "<think>", "</think>", "<tool_call>", "</tool_call>", "It is 21 °C.", " ", "[]", "(", ")"]


@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_segments_tile_every_assistant_body(body: str) -> None:
    from curate.render import segment_assistant

    body = body.strip()
    segments = segment_assistant(body, 7)
    if not body:
        assert segments == []
        return
    assert segments[0].start == 7 and segments[-1].end == 7 + len(body)
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))
    assert all(s.end > s.start for s in segments)
