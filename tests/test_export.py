"""What `curate build` writes for other tools to take as they are: the `datasets` folder, the chat template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curate.records import Trajectory
from curate.render import CHATML_TEMPLATE, render_chatml
from tests.conftest import REPO, read_jsonl, run_cli

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = REPO / "sample_data" / "tools.json"


def template_text(row: dict[str, Any]) -> str:
    """A row rendered by `CHATML_TEMPLATE` as `transformers` renders a chat template (TRL, axolotl)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template([row["messages"]], tools=row.get("tools") or None,
                                        chat_template=CHATML_TEMPLATE)
    return str(rendered[0])


def renderer_text(row: dict[str, Any]) -> str:
    record = {k: row[k] for k in ("id", "messages", "tools", "tools_source") if row.get(k) is not None}
    return render_chatml(Trajectory.model_validate(record)).text


def test_exported_calls_carry_arguments_as_objects(built: Path) -> None:
    calls = [tc for r in read_jsonl(built / "train.jsonl") + read_jsonl(built / "eval.jsonl") for m in r["messages"]
             for tc in m.get("tool_calls") or ()]
    assert len(calls) > 100
    assert all(isinstance(tc["function"]["arguments"], dict) for tc in calls)


def test_the_template_renders_every_exported_record_as_our_renderer(built: Path) -> None:
    """What TRL or axolotl render through the exported template is what our masks were computed on, for the
    JSON Lines rows and for the `datasets` folder's (null where a message lacks a field)."""
    from datasets import load_from_disk

    exported = read_jsonl(built / "train.jsonl") + read_jsonl(built / "eval.jsonl")
    hf = load_from_disk(str(built / "hf"))
    folder = list(hf["train"]) + list(hf["eval"])
    assert len(folder) == len(exported) > 1000
    differ = [r["id"] for r in exported if template_text(r) != renderer_text(r)]
    assert differ == []
    differ = [r["id"] for r, f in zip(exported, folder, strict=True) if template_text(f) != renderer_text(r)]
    assert differ == []


def test_the_template_writes_string_arguments_as_they_are_and_objects_once() -> None:
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"city": "Oslo"}}}]}
    as_string = json.loads(json.dumps(call))
    as_string["tool_calls"][0]["function"]["arguments"] = '{"city": "Oslo"}'
    block = '<tool_call>\n{"name": "f", "arguments": {"city": "Oslo"}}\n</tool_call>'
    for message in (call, as_string):
        row = {"messages": [{"role": "user", "content": "weather?"}, message]}
        assert block in template_text(row)
        assert template_text(row) == renderer_text(row)


def test_the_datasets_folder_holds_nested_features_and_lints_like_the_jsonl(built: Path) -> None:
    from datasets import Json, List, load_from_disk

    train = load_from_disk(str(built / "hf"))["train"]
    features = train.features
    assert isinstance(features["messages"], List) and features["messages"].feature["role"].dtype == "string"
    call = features["messages"].feature["tool_calls"].feature
    assert call["function"]["arguments"] == Json() and features["tools"] == List(Json())
    assert set(train.column_names) >= set(read_jsonl(built / "train.jsonl")[0])
    first = read_jsonl(built / "train.jsonl")[0]
    assert train[0]["tools"] == first["tools"] and train[0]["meta"] == first["meta"]

    folder = run_cli("lint", str(built / "hf"), "--tools", str(TOOLS), "--format", "json")
    jsonl = run_cli("lint", str(built / "train.jsonl"), str(built / "eval.jsonl"), "--tools", str(TOOLS),
                    "--format", "json")
    codes = sorted(f["code"] for f in json.loads(folder.stdout))
    assert "RS002" not in codes and codes == sorted(f["code"] for f in json.loads(jsonl.stdout))


@pytest.mark.slow  # about 40 s on 2 cores: the tiny model built, two steps twice
def test_trl_trains_on_the_datasets_folder_and_on_train_jsonl_as_they_are(built: Path, tmp_path: Path) -> None:
    """Two `SFTTrainer` steps on each, loss on the assistant turns only through the exported template's
    `{% generation %}` tags; `OUT/hf` used to fail with KeyError: 'text' (messages held as JSON text)."""
    import math

    from datasets import load_dataset, load_from_disk
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from curate.tokenizer import load_tokenizer
    from curate_train.tiny import tiny_dir

    model_dir = tiny_dir(pretrained=False)
    tokenizer = load_tokenizer()
    assert tokenizer.chat_template == CHATML_TEMPLATE
    datasets = {"hf": load_from_disk(str(built / "hf"))["train"],
                "jsonl": load_dataset("json", data_files=str(built / "train.jsonl"), split="train")}
    for name, ds in datasets.items():
        ds = ds.select(range(8))
        args = SFTConfig(output_dir=str(tmp_path / name), max_steps=2, per_device_train_batch_size=2,
                         max_length=1024, assistant_only_loss=True, report_to=[], save_strategy="no",
                         use_cpu=True, logging_steps=1, dataloader_num_workers=0)
        trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=args, train_dataset=ds,
                             processing_class=tokenizer)
        labels = trainer.train_dataset[0]["labels"]
        assert 0 < sum(t != -100 for t in labels) < len(labels), name  # the assistant turns, not the prompt
        result = trainer.train()
        assert result.global_step == 2 and math.isfinite(result.training_loss), name


def test_lf_and_openai_forms_round_trip_through_our_readers(built: Path, tmp_path: Path) -> None:
    """Every exported record written in LLaMA-Factory's ShareGPT form and in OpenAI's fine-tuning form reads back
    through our readers as a record that renders to the very text the original renders to (what is trained)."""
    from curate.build.export import write_formats
    from curate.readers import RecordReader

    write_formats(tmp_path, ["lf", "openai"], {name: built / f"{name}.jsonl" for name in ("train", "eval")})
    exported = read_jsonl(built / "train.jsonl") + read_jsonl(built / "eval.jsonl")
    for fmt in ("lf", "openai"):
        back = [r.record for name in ("train", "eval") for r in RecordReader().read(tmp_path / fmt / f"{name}.jsonl")]
        assert len(back) == len(exported) > 1000
        differ = [r["id"] for r, b in zip(exported, back, strict=True)
                  if b is None or render_chatml(b).text != renderer_text(r)]
        assert differ == [], fmt

    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    assert info["train"] == {"file_name": "train.jsonl", "formatting": "sharegpt",
                             "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}
    lf = read_jsonl(tmp_path / "lf" / "train.jsonl") + read_jsonl(tmp_path / "lf" / "eval.jsonl")
    # LLaMA-Factory skips a conversation whose turns do not alternate human|observation, gpt|function_call
    broken = [r["id"] for r in lf if len(r["conversations"]) % 2 or any(
        t["from"] not in (("human", "observation"), ("gpt", "function_call"))[i % 2]
        for i, t in enumerate(r["conversations"]))]
    assert broken == [] and sum(t["from"] == "function_call" for r in lf for t in r["conversations"]) > 1000
    assert all(isinstance(json.loads(r["tools"]), list) for r in lf)
    # the folder lints as its records: dataset_info.json (LLaMA-Factory's registry) is not read as one
    lint = run_cli("lint", str(tmp_path / "lf"), "--tools", str(TOOLS), "--format", "json")
    assert lint.stdout and "RS002" not in {f["code"] for f in json.loads(lint.stdout)}

    openai = read_jsonl(tmp_path / "openai" / "train.jsonl") + read_jsonl(tmp_path / "openai" / "eval.jsonl")
    assert all(set(r) <= {"messages", "tools"} for r in openai)
    calls = 0
    for r in openai:
        ids: set[str] = set()
        for m in r["messages"]:
            for tc in m.get("tool_calls") or ():
                assert isinstance(json.loads(tc["function"]["arguments"]), dict)
                ids.add(tc["id"])
                calls += 1
            if m["role"] == "tool" and "tool_call_id" in m:
                assert m["tool_call_id"] in ids
    assert calls > 1000


def test_export_formats_are_checked_in_the_config_and_on_the_command_line(tmp_path: Path) -> None:
    from curate.buildconfig import BuildConfigError, load_build_config

    good = tmp_path / "good.toml"
    good.write_text('[export]\nformats = ["lf", "openai"]\n')
    assert load_build_config(good).export.formats == ["lf", "openai"]
    assert load_build_config(None).export.formats == ["hf"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[export]\nformats = ["parquet"]\n')
    with pytest.raises(BuildConfigError, match="formats"):
        load_build_config(bad)
    result = run_cli("build", str(SAMPLE), "-o", str(tmp_path / "out"), "--export", "lf,parquet")
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert "unknown format 'parquet': choose from hf, lf, openai" in result.stderr.splitlines()[-1]


def test_build_export_writes_the_formats_asked_for(tmp_path: Path, cache: str) -> None:
    out = tmp_path / "out"
    result = run_cli("build", str(SAMPLE), "--tools", str(TOOLS), "-o", str(out), "--export", "lf,openai",
                     env={"CURATE_CACHE": cache})
    assert result.returncode == 0, result.stderr
    assert not (out / "hf").exists() and (out / "lf" / "dataset_info.json").is_file()
    n = len(read_jsonl(out / "train.jsonl"))
    assert len(read_jsonl(out / "lf" / "train.jsonl")) == len(read_jsonl(out / "openai" / "train.jsonl")) == n > 1000
    assert "(train.jsonl, eval.jsonl, lf/, openai/, manifest.json" in result.stdout
    lint = run_cli("lint", str(out / "lf"), str(out / "openai"), "--tools", str(TOOLS), "--format", "json")
    assert "RS002" not in {f["code"] for f in json.loads(lint.stdout)}
