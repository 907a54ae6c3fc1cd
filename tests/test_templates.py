"""Chat templates that drop what the data holds are refused before masking or training, naming the
fix (`--template chatml`), which renders the built-in ChatML with the model's own tokenizer."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from curate.mask import IGNORE, Masker, MaskError, MaskPolicy, TemplateSpans
from curate.render import CHATML_TEMPLATE, IM_END, SPECIAL_TOKENS
from curate.templates import probe_template
from tests.conftest import REPO, run_cli
from tests.test_mask import sample_records, trained_text, traj

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS_FILE = REPO / "sample_data" / "tools.json"

# SmolLM2-135M-Instruct's chat template: ChatML, no `tools`, only `content` printed.
SMOLLM_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Tools, calls and results shown; <think> dropped from assistant turns before the last user turn
# (Qwen3-style), so the template is not prefix-stable.
QWEN3_LIKE = (
    "{%- set ns = namespace(last_user=-1) -%}"
    "{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if tools -%}{{- '<|im_start|>system\\n<tools>' -}}"
    "{%- for t in tools -%}{{- '\\n' + (t | tojson) -}}{%- endfor -%}{{- '\\n</tools><|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- set t = namespace(c=m.content or '') -%}"
    "{%- if m.role == 'assistant' and loop.index0 < ns.last_user and '</think>' in t.c -%}"
    "{%- set t.c = t.c.split('</think>')[-1] | trim -%}{%- endif -%}"
    "{%- for tc in (m.tool_calls or []) -%}"
    "{%- set t.c = t.c + '<tool_call>\\n' + ({'name': tc.function.name, 'arguments': tc.function.arguments} | tojson)"
    " + '\\n</tool_call>' -%}{%- endfor -%}{%- set c = t.c -%}"
    "{%- if m.role == 'tool' -%}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' + c + '\\n</tool_response><|im_end|>\\n' -}}"
    "{%- else -%}{{- '<|im_start|>' + m.role + '\\n' + c + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
# The same, but <think> dropped from every assistant turn: reasoning the policy trains on is lost.
DROPS_ALL_THINK = QWEN3_LIKE.replace("loop.index0 < ns.last_user and ", "")


@pytest.fixture(scope="module")
def builtin(cache: str) -> Any:
    from curate.tokenizer import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="module")
def foreign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small byte-level BPE with SmolLM's ChatML turn tokens and template, none of the tool tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(SAMPLE.read_bytes().decode("utf-8", "replace").splitlines()[:200], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=specials[1:], clean_up_tokenization_spaces=False)
    fast.chat_template = SMOLLM_TEMPLATE
    out = tmp_path_factory.mktemp("smollm-like")
    fast.save_pretrained(str(out))
    return out


def with_template(tokenizer: Any, template: str) -> Any:
    other = copy.deepcopy(tokenizer)
    other.chat_template = template
    return other


def test_a_template_without_tools_is_refused_naming_what_is_lost_and_the_fix(builtin: Any) -> None:
    smol = with_template(builtin, SMOLLM_TEMPLATE)
    assert probe_template(TemplateSpans(smol)) == ["the tool specs", "the tool calls"]
    with pytest.raises(MaskError, match=r"drops the tool specs and the tool calls.*--template chatml"):
        Masker(smol).check()


def test_the_builtin_and_generation_templates_pass_the_probe(builtin: Any) -> None:
    Masker(builtin).check()  # the built-in renderer: nothing to probe
    generation = Masker(builtin, MaskPolicy(template="tokenizer"))  # CHATML_TEMPLATE has {% generation %}
    assert generation.method == "generation" and builtin.chat_template == CHATML_TEMPLATE
    assert probe_template(generation.template) == []
    generation.check()


def test_a_template_that_is_not_prefix_stable_keeps_reasoning_turn_by_turn_and_passes(builtin: Any) -> None:
    tok = with_template(builtin, QWEN3_LIKE)
    masker = Masker(tok)
    masker.check()  # earlier <think> dropped from the whole text, kept in each turn's own example
    t = traj(("user", "a?"), ("assistant", "<think>one</think>A."), ("user", "b?"),
             ("assistant", "<think>two</think>B."))
    result = masker.mask([t])
    assert [ex.method for ex in result.examples] == ["per_turn", "per_turn"] and not result.failures
    assert trained_text(tok, result.examples[0]) == f"<think>one</think>A.{IM_END}"


def test_a_template_that_drops_all_reasoning_is_refused_when_the_policy_trains_it(builtin: Any) -> None:
    tok = with_template(builtin, DROPS_ALL_THINK)
    assert probe_template(TemplateSpans(tok), "keep") == [
        "the <think> reasoning of earlier turns", "the <think> reasoning of the last turn"]
    assert probe_template(TemplateSpans(tok), "drop") == ["the <think> reasoning of the last turn"]
    with pytest.raises(MaskError, match="drops the <think> reasoning of earlier turns"):
        Masker(tok, MaskPolicy(think="keep")).check()


def test_a_template_that_rejects_the_tool_role_is_refused(builtin: Any) -> None:
    strict = with_template(builtin, (
        "{%- for m in messages -%}{%- if m.role == 'tool' -%}{{ raise_exception('tool role not supported') }}"
        "{%- endif -%}{{- '<|im_start|>' + m.role + '\\n' + (m.content or '') + '<|im_end|>\\n' -}}{%- endfor -%}"))
    with pytest.raises(MaskError, match=r"rejects a conversation with tools.*tool role not supported.*chatml"):
        Masker(strict).check()


def test_chatml_on_a_foreign_tokenizer_adds_the_protocol_tokens_and_the_audit_passes(foreign_dir: Path) -> None:
    from curate.tokenizer import load_tokenizer

    tok = load_tokenizer(str(foreign_dir))
    before = len(tok)
    with pytest.raises(MaskError, match="tool specs"):
        Masker(tok).check()
    masker = Masker(tok, MaskPolicy(template="chatml"))
    masker.check()
    assert masker.method == "chatml" and len(tok) == before + 6  # <|im_start|>, <|im_end|> were there
    for token in SPECIAL_TOKENS:
        assert tok.backend_tokenizer.encode(token, add_special_tokens=False).tokens == [token]
    result = masker.mask(sample_records()[:40])
    assert not result.failures and result.examples
    ex = result.examples[0]
    text = tok.backend_tokenizer.decode(ex.input_ids, skip_special_tokens=False)
    assert "<tools>" in text and '"parameters"' in text
    assert any(lab != IGNORE for lab in ex.labels)


def test_mask_cli_refuses_the_template_then_chatml_renders_the_tool_specs(
        foreign_dir: Path, cache: str, tmp_path: Path) -> None:
    env = {"CURATE_CACHE": cache}
    args = ("mask", str(SAMPLE), "--tools", str(TOOLS_FILE), "--tokenizer", str(foreign_dir))
    out = tmp_path / "m.jsonl"
    refused = run_cli(*args, "-o", str(out), env=env)
    assert refused.returncode == 2 and not out.exists()
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "tool specs" in lines[0] and "--template chatml" in lines[0], refused.stderr

    ok = run_cli(*args, "--template", "chatml", "--audit", "-o", str(out), env=env)
    assert ok.returncode == 0, ok.stderr
    assert "all passed" in ok.stdout and "the tokenizer lacked 6 ChatML token(s)" in ok.stderr
    meta = json.loads(Path(str(out) + ".meta.jsonl").read_text())
    assert meta["policy"]["template"] == "chatml" and meta["method"] == "chatml"
    assert sorted(meta["added_tokens"]) == sorted(set(SPECIAL_TOKENS) - {"<|im_start|>", IM_END})
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(foreign_dir))
    tok.add_tokens([t for t in SPECIAL_TOKENS if t not in tok.get_added_vocab()], special_tokens=True)
    row = json.loads(out.read_text().splitlines()[0])
    text = tok.backend_tokenizer.decode(row["input_ids"], skip_special_tokens=False)
    names = [t["function"]["name"] if "function" in t else t["name"] for t in json.loads(TOOLS_FILE.read_text())]
    assert "<tools>" in text and all(name in text for name in names)


def test_train_refuses_the_template_before_loading_weights(foreign_dir: Path, cache: str, tmp_path: Path) -> None:
    from curate_train import TrainError
    from curate_train.config import TrainConfig
    from curate_train.model import check_chat_template
    from curate_train.tiny import build_tiny
    from tests.test_train_core import write_build

    model = tmp_path / "model"
    build_tiny(model, seed=0)
    meta = json.loads((model / "tokenizer_config.json").read_text())
    meta.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(meta))
    (model / "chat_template.jinja").write_text(SMOLLM_TEMPLATE)
    (model / "model.safetensors").write_bytes(b"not weights: the check must come first")
    build = write_build(tmp_path / "build")
    res = run_cli("train", str(build), "--model", str(model), "-o", str(tmp_path / "run"), env={"CURATE_CACHE": cache})
    assert res.returncode == 2, res.stderr
    assert "tool specs" in res.stderr and "--template chatml" in res.stderr and "Traceback" not in res.stderr
    error = [line for line in res.stderr.splitlines() if line.startswith("curate: error:")]
    assert len(error) == 1 and error[0].count("tokenizer `") == 1, res.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()
    assert "--template {model,chatml}" in run_cli("train", "--help").stdout

    from curate.tokenizer import load_tokenizer

    tok = load_tokenizer(str(foreign_dir))
    with pytest.raises(TrainError, match="tool specs"):
        check_chat_template(tok, TrainConfig().mask)
    n = len(tok)
    check_chat_template(tok, TrainConfig.model_validate({"mask": {"template": "chatml"}}).mask)
    assert len(tok) == n + 6 and tok.chat_template == CHATML_TEMPLATE  # load_model resizes to len(tokenizer)
    shutil.rmtree(model)
