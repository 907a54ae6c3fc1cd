"""The shape registry: a new source shape is one adapter, picked up by `RecordReader` with no other file edited.

A contributor adding a format writes a module in `curate/readers/shapes/` defining `ADAPTER` (or, from
outside the package, calls `register`). These tests hold the promises that workflow relies on: registered
adapters are read by the reader, tried in their declared order, named in the error for unknown shapes, and
files beside the data (BFCL's answers) are loaded once per reader.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curate.readers import RecordReader, ShapeAdapter, ShapeError, Source, adapt, adapters, register, unregister
from curate.readers.shapes import bfcl
from tests.conftest import REPO, write_jsonl

PROMPT_RECORD = {"id": 7, "prompt": "Weather in Paris?", "completion": "Sunny.",
                 "tools": [{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}]}


def from_prompt_completion(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """A `prompt`/`completion` pair as one user turn and one assistant turn."""
    out: dict[str, Any] = {"messages": [{"role": "user", "content": data["prompt"]},
                                        {"role": "assistant", "content": data["completion"]}]}
    if "tools" in data:
        out["tools"] = data["tools"]
    if "id" in data:
        out["id"] = str(data["id"])
    return out


PROMPT_COMPLETION = ShapeAdapter(
    name="prompt_completion",
    expected="`prompt`/`completion`",
    matches=lambda data: "prompt" in data and "completion" in data,
    adapt=from_prompt_completion,
)


@pytest.fixture
def prompt_completion() -> Iterator[ShapeAdapter]:
    register(PROMPT_COMPLETION)
    try:
        yield PROMPT_COMPLETION
    finally:
        unregister(PROMPT_COMPLETION.name)


def test_builtin_adapters_are_the_modules_of_the_shapes_folder_in_order() -> None:
    folder = REPO / "curate" / "readers" / "shapes"
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "base"}
    names = [a.name for a in adapters()]
    assert sorted(names) == sorted(modules)
    assert names == ["messages", "conversations", "instruction", "bfcl", "xlam", "glaive", "toolbench"]


def test_a_registered_adapter_is_read_by_the_record_reader(tmp_path: Path, prompt_completion: ShapeAdapter) -> None:
    path = write_jsonl(tmp_path / "pc.jsonl", [PROMPT_RECORD])
    (result,) = RecordReader().read(path)
    assert result.shape_errors == []
    assert result.record is not None and result.record_id == "7"
    assert [(m.role, m.content) for m in result.record.messages] == [("user", "Weather in Paris?"),
                                                                     ("assistant", "Sunny.")]
    # the registry normalises every adapter's tools: the bare spec is now OpenAI-shaped
    assert [t.function.name for t in result.record.tools] == ["get_weather"]


def test_without_the_adapter_the_shape_is_unrecognised(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pc.jsonl", [PROMPT_RECORD])
    (result,) = RecordReader().read(path)
    assert result.record is None and result.record_id == "7"
    [(index, message)] = result.shape_errors
    assert index is None and message.startswith("unrecognised record shape (keys: `id`, `prompt`")
    assert "prompt_completion" not in [a.name for a in adapters()]


def test_the_unrecognised_shape_error_names_every_adapter(prompt_completion: ShapeAdapter) -> None:
    with pytest.raises(ShapeError) as e:
        adapt({"text": "x"})
    assert str(e.value) == (
        "unrecognised record shape (keys: `text`); expected `messages`, `conversations`, `instruction`/`output`, "
        "a BFCL `question`/`function` (or `involved_classes`) row, xLAM's `query`/`answers`, glaive's `system`/`chat`, "
        "a ToolBench answer file (`answer_generation.train_messages`) or `prompt`/`completion`")


def test_adapters_are_tried_in_their_declared_order() -> None:
    tagged = ShapeAdapter(
        name="tagged_messages", expected="`messages` with `format: tagged`", order=0,
        matches=lambda data: data.get("format") == "tagged",
        adapt=lambda data, source: {"messages": [{"role": "user", "content": "from the tagged adapter"}]},
    )
    record = {"format": "tagged", "messages": [{"role": "user", "content": "as written"}]}
    assert adapt(record)["messages"][0]["content"] == "as written"
    register(tagged)
    try:
        assert adapters()[0] is tagged
        assert adapt(record)["messages"][0]["content"] == "from the tagged adapter"
        assert adapt({"messages": []}) == {"messages": []}  # not tagged: still the messages adapter
    finally:
        unregister("tagged_messages")
    assert adapt(record)["messages"][0]["content"] == "as written"


def test_register_refuses_a_taken_name_and_unregister_an_unknown_one() -> None:
    clash = ShapeAdapter("messages", "`messages`", lambda data: False, lambda data, source: {})
    with pytest.raises(ValueError, match="'messages' is already registered"):
        register(clash)
    assert adapters()[0].matches({"messages": []})  # the built-in is still there
    with pytest.raises(KeyError):
        unregister("no_such_shape")


def test_adding_a_module_to_the_shapes_folder_adds_a_shape(tmp_path: Path) -> None:
    """A new module beside the built-in adapters is found by name, with no other file edited."""
    folder = tmp_path / "more_shapes"
    folder.mkdir()
    (folder / "prompt_completion.py").write_text(textwrap.dedent('''
        from curate.readers.shapes.base import ShapeAdapter

        def matches(data):
            return "prompt" in data and "completion" in data

        def adapt(data, source):
            return {"id": str(data["id"]), "messages": [{"role": "user", "content": data["prompt"]},
                                                        {"role": "assistant", "content": data["completion"]}]}

        ADAPTER = ShapeAdapter("prompt_completion", "`prompt`/`completion`", matches, adapt, order=50)
    '''))
    data = write_jsonl(tmp_path / "pc.jsonl", [PROMPT_RECORD])
    script = textwrap.dedent(f'''
        import curate.readers.shapes as shapes
        shapes.__path__.append({str(folder)!r})  # as if the file were in curate/readers/shapes/
        from curate.readers import RecordReader, adapters
        print([a.name for a in adapters()])
        (result,) = RecordReader().read({str(data)!r})
        print(result.record.model_dump_json(exclude_none=True))
    ''')
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names, record = proc.stdout.splitlines()
    assert names == str(["messages", "conversations", "instruction", "bfcl", "xlam", "glaive", "prompt_completion",
                         "toolbench"])
    assert json.loads(record)["messages"][1] == {"role": "assistant", "content": "Sunny."}


def test_bfcl_answers_are_found_through_the_registry_and_loaded_once_per_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"id": f"simple_{i}", "question": [[{"role": "user", "content": f"q{i}"}]],
             "function": [{"name": "f", "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}}}]}
            for i in range(3)]
    write_jsonl(tmp_path / "BFCL_v3_simple.json", rows)
    (tmp_path / "possible_answer").mkdir()
    write_jsonl(tmp_path / "possible_answer" / "BFCL_v3_simple.json",
                [{"id": f"simple_{i}", "ground_truth": [{"f": {"a": [i]}}]} for i in range(3)])
    loads: list[Path] = []
    real = bfcl.load_bfcl_answers
    monkeypatch.setattr(bfcl, "load_bfcl_answers", lambda path: loads.append(path) or real(path))

    results = list(RecordReader().read(tmp_path / "BFCL_v3_simple.json"))
    assert [r.record.messages[-1].content for r in results if r.record is not None] == [
        f'<tool_call>\n{{"name": "f", "arguments": {{"a": {i}}}}}\n</tool_call>' for i in range(3)]
    assert loads == [tmp_path / "possible_answer" / "BFCL_v3_simple.json"]
    # a bare value has no file beside it: the row is read without its answer
    assert [m["role"] for m in adapt(rows[0])["messages"]] == ["user"]


def test_source_loads_each_key_once_per_cache() -> None:
    cache: dict[Any, Any] = {}
    calls: list[str] = []
    first, second = Source("a.json", cache), Source("b.json", cache)
    assert first.cached("k", lambda: calls.append("k") or 1) == 1
    assert second.cached("k", lambda: calls.append("k") or 2) == 1
    assert Source("a.json").cached("k", lambda: calls.append("k") or 3) == 3  # a cache of its own
    assert calls == ["k", "k"]
