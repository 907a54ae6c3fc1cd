"""The training core on CPU with the tiny model: 4-bit LoRA, masks, packing, per-bucket eval, resume, errors.

Every test uses a tiny Llama built once per session (seeded, not pretrained: these tests are about
mechanics, not quality) and a small build folder written here, with the fields `curate build`
adds (bucket, length_bucket, ...), so that nothing depends on the sample corpus.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from curate_train import TrainError
from curate_train.config import TrainConfig, load_train_config

torch = pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")
pytest.importorskip("peft")

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Quito", "Accra", "Hanoi", "Perth", "Tunis", "Dakar", "Cusco", "Turin"]


def weather(i: int) -> dict[str, Any]:
    city = CITIES[i % len(CITIES)]
    call = json.dumps({"name": "get_weather", "arguments": {"city": city}})
    return {"id": f"w{i}", "tools": TOOLS, "messages": [
        {"role": "user", "content": f"What is the weather in {city}?"},
        {"role": "assistant", "content": f"<think>I should look up {city}.</think>\n<tool_call>\n{call}\n</tool_call>"},
        {"role": "tool", "content": json.dumps({"temp_c": 10 + i, "sky": "clear"})},
        {"role": "assistant", "content": f"It is {10 + i} degrees and clear in {city}."}]}


def chat(i: int) -> dict[str, Any]:
    return {"id": f"c{i}", "tools": TOOLS, "messages": [
        {"role": "user", "content": f"Say hello to {CITIES[i % len(CITIES)]} please."},
        {"role": "assistant", "content": f"Hello, {CITIES[i % len(CITIES)]}! " + "Nice to meet you. " * (1 + i % 3)}]}


def math_(i: int) -> dict[str, Any]:
    return {"id": f"m{i}", "tools": TOOLS, "messages": [
        {"role": "system", "content": "You are a careful calculator."},
        {"role": "user", "content": f"What is {i} + {2 * i}?"},
        {"role": "assistant", "content": f"<think>{i} + {2 * i} = {3 * i}.</think>\n{i} + {2 * i} = {3 * i}."}]}


def build_row(record: dict[str, Any], bucket: str, i: int, split: str) -> dict[str, Any]:
    return {**record, "bucket": bucket, "length_bucket": "short" if i % 2 else "long",
            "signals": [bucket], "tokens": 0, "split": split}


def write_build(out: Path, n_train: int = 4, n_eval: int = 2) -> Path:
    """A folder shaped like `curate build` output: train.jsonl and eval.jsonl with bucket labels."""
    out.mkdir(parents=True, exist_ok=True)
    makers = {"single_call": weather, "chat": chat, "math": math_}
    for split, n, offset in (("train", n_train, 0), ("eval", n_eval, 100)):
        rows = [build_row(make(offset + i), bucket, i, split) for i in range(n) for bucket, make in makers.items()]
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train-cache")
    os.environ["CURATE_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    """The tiny model, built (not pretrained) with the built-in tokenizer."""
    from curate_train.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_build(tmp_path_factory.mktemp("build") / "out")


def config(**sections: dict[str, Any]) -> TrainConfig:
    base: dict[str, Any] = {"optim": {"gradient_checkpointing": False}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return TrainConfig.model_validate(base)


@pytest.fixture(scope="module")
def loaded(tiny: Path) -> tuple[Any, Any, Any]:
    from curate_train.model import load_model

    torch.manual_seed(0)
    return load_model(str(tiny), config())


# --- model -------------------------------------------------------------------------------------------


def test_base_is_4bit_nf4_and_smaller_than_bf16(loaded: tuple[Any, Any, Any]) -> None:
    import bitsandbytes as bnb

    model, _, info = loaded
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and len(layers) == info.linear4bit
    assert {m.weight.quant_type for m in layers} == {"nf4"}
    assert all(m.weight.quant_state is not None and m.weight.dtype == torch.uint8 for m in layers)
    # every projection of the 3 layers: q, k, v, o, gate, up, down
    assert info.linear4bit == 3 * 7
    assert info.unquantised_linear == ["lm_head"]  # the output head stays in full precision, as bitsandbytes does
    assert 0 < info.quantised_bytes < info.bf16_bytes
    assert "4-bit NF4" in info.summary() and "bf16" in info.summary()


def test_only_lora_parameters_are_trainable(loaded: tuple[Any, Any, Any]) -> None:
    model, _, info = loaded
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert info.target_modules == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert info.modules_to_save == []
    # r * (in + out) for every adapted projection
    expected = 0
    for module in model.modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            expected += 16 * (module.in_features + module.out_features)
    assert sum(p.numel() for p in trainable.values()) == expected == info.trainable_parameters


def _gained_token(tiny: Path, tmp_path: Path) -> tuple[Path, Any]:
    """A copy of the tiny model whose tokenizer has one token more than the model has embeddings."""
    from transformers import AutoTokenizer

    folder = tmp_path / "model"
    shutil.copytree(tiny, folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    tok.add_tokens(["<|new_tool|>"], special_tokens=True)
    tok.save_pretrained(str(folder))
    return folder, tok


def test_only_the_added_tokens_rows_train_when_the_tokenizer_gained_tokens(tiny: Path, tmp_path: Path) -> None:
    from curate_train.model import load_model

    folder, tok = _gained_token(tiny, tmp_path)
    model, _, info = load_model(str(folder), config())
    new = len(tok) - 1
    assert info.resized_embeddings == [new, len(tok)]
    assert info.modules_to_save == [] and info.trainable_tokens == [new]
    assert "rows of 1 added tokens" in info.summary()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    tokens = [p for n, p in trainable.items() if "trainable_tokens_delta" in n]
    assert [tuple(p.shape) for p in tokens] == [(1, model.get_input_embeddings().weight.shape[1])]
    assert all(".lora_" in n or "trainable_tokens_delta" in n for n in trainable)
    lora = sum(p.numel() for n, p in trainable.items() if ".lora_" in n)
    assert info.trainable_parameters == lora + tokens[0].numel()

    # a step moves the new token's row, in the embeddings and in the tied head alike, and no other row
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    before_emb, before_head = emb(torch.arange(len(tok))[None]).detach().clone(), None
    x = torch.tensor([[1, new, 2, new, 3]])
    before_head = model(input_ids=x).logits.detach().clone()
    out = model(input_ids=x, labels=x)
    out.loss.backward()
    with torch.no_grad():
        for p in trainable.values():
            if p.grad is not None:
                p -= 0.5 * p.grad
    after_emb = emb(torch.arange(len(tok))[None]).detach()
    changed = (after_emb - before_emb).abs().sum(-1)[0]
    assert changed[new] > 0 and torch.count_nonzero(changed[:new]) == 0
    assert not torch.equal(model(input_ids=x).logits[..., new], before_head[..., new])
    assert head.weight.shape[0] == emb.weight.shape[0] == len(tok)


def test_an_added_token_starts_from_the_rows_of_its_text(tiny: Path, tmp_path: Path) -> None:
    """`<|new_tool|>` starts as the mean of the rows of the pieces its text encoded to before it was added, in
    training and in the zero-shot base alike (the same start, not one random draw each)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curate_train.model import load_for_generation, load_model, plain_token_ids

    folder, tok = _gained_token(tiny, tmp_path)
    new = len(tok) - 1
    pieces = AutoTokenizer.from_pretrained(str(tiny))("<|new_tool|>", add_special_tokens=False)["input_ids"]
    assert plain_token_ids(tok, "<|new_tool|>") == pieces and len(pieces) > 1 and new not in pieces
    base = AutoModelForCausalLM.from_pretrained(str(tiny), local_files_only=True).get_input_embeddings().weight
    expected = base[pieces].float().mean(0)

    model, _, _ = load_model(str(folder), config())
    trained_from = model.get_input_embeddings()(torch.tensor([[new]]))[0, 0].float()
    zero_shot, _ = load_for_generation(str(folder))
    evaluated = zero_shot.get_input_embeddings()(torch.tensor([[new]]))[0, 0].float()
    assert torch.allclose(trained_from, expected, atol=1e-2) and torch.allclose(evaluated, expected, atol=1e-2)
    head = zero_shot.get_output_embeddings().weight
    assert torch.allclose(head[new].float(), expected, atol=1e-2)  # the tied head reads the same row


def test_the_added_tokens_rows_reach_generation_and_the_merged_model(tiny: Path, tmp_path: Path) -> None:
    """A checkpoint holds only the trained rows; evaluation and `curate merge` put them back into the resized
    base (whose other rows it starts from), in the embeddings and the tied head alike."""
    from transformers import AutoModelForCausalLM

    from curate_train.merge import merge_checkpoint
    from curate_train.model import load_for_generation, load_model

    folder, tok = _gained_token(tiny, tmp_path)
    model, tokenizer, _ = load_model(str(folder), config())
    new = len(tok) - 1
    gen = torch.Generator().manual_seed(3)
    (delta,) = [p for n, p in model.named_parameters() if "trainable_tokens_delta" in n]
    with torch.no_grad():
        delta.copy_(torch.randn(delta.shape, generator=gen))  # what training would have moved it to
    trained = delta.detach().clone()[0]
    ckpt = tmp_path / "checkpoint-1"
    model.save_pretrained(str(ckpt))
    tokenizer.save_pretrained(str(ckpt))

    evaluated, _ = load_for_generation(str(folder), adapter=ckpt)
    row = evaluated.get_input_embeddings()(torch.tensor([[new]]))[0, 0].float()
    assert torch.allclose(row, trained.to(row.dtype), atol=1e-2)

    merged = AutoModelForCausalLM.from_pretrained(merge_checkpoint(ckpt, tmp_path / "merged"), local_files_only=True)
    emb, head = merged.get_input_embeddings().weight, merged.get_output_embeddings().weight
    assert emb.shape[0] == len(tok)
    assert torch.allclose(emb[new].float(), trained, atol=1e-2)
    assert torch.allclose(head[new].float(), trained, atol=1e-2)
    base = AutoModelForCausalLM.from_pretrained(str(tiny), local_files_only=True).get_input_embeddings().weight
    assert torch.allclose(emb[:new].float(), base.float(), atol=1e-2)  # every other row is the base's


def test_rows_a_checkpoint_did_not_train_are_the_ones_training_saw(tiny: Path, tmp_path: Path) -> None:
    """`[lora] train_embeddings = false`: the added token's rows stay frozen at their start in training, and
    evaluating the checkpoint or merging it gives the model those same rows, not a fresh random draw (PEFT saves
    the resized matrices with the adapter, and every load resizes from the same deterministic start)."""
    from transformers import AutoModelForCausalLM

    from curate_train.merge import merge_checkpoint
    from curate_train.model import load_for_generation, load_model

    folder, tok = _gained_token(tiny, tmp_path)
    new = len(tok) - 1
    model, tokenizer, info = load_model(str(folder), config(lora={"train_embeddings": False}))
    assert info.trainable_tokens == [] and info.modules_to_save == []
    seen = model.get_input_embeddings()(torch.tensor([[new]]))[0, 0].float().detach()
    ckpt = tmp_path / "checkpoint-1"
    model.save_pretrained(str(ckpt))
    tokenizer.save_pretrained(str(ckpt))

    evaluated, _ = load_for_generation(str(folder), adapter=ckpt)
    assert torch.allclose(evaluated.get_input_embeddings()(torch.tensor([[new]]))[0, 0].float(), seen, atol=1e-2)
    merged = AutoModelForCausalLM.from_pretrained(merge_checkpoint(ckpt, tmp_path / "merged"), local_files_only=True)
    assert torch.allclose(merged.get_input_embeddings().weight[new].float(), seen, atol=1e-2)


def test_train_embeddings_true_trains_both_matrices_in_full(tiny: Path, tmp_path: Path) -> None:
    from curate_train.model import load_model

    folder, tok = _gained_token(tiny, tmp_path)
    model, _, info = load_model(str(folder), config(lora={"train_embeddings": True}))
    assert info.modules_to_save == ["embed_tokens", "lm_head"] and info.trainable_tokens == []
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("embed_tokens.modules_to_save" in n for n in trainable)
    assert all(".lora_" in n or ".modules_to_save." in n for n in trainable)
    # the tiny model ties its head to its embeddings: the trained copies stay one matrix
    assert model.get_input_embeddings().weight.data_ptr() == model.get_output_embeddings().weight.data_ptr()
    assert model.get_input_embeddings().weight.shape[0] == len(tok)


def test_frozen_weights_are_bf16_and_trained_ones_fp32(loaded: tuple[Any, Any, Any]) -> None:
    """prepare_model_for_kbit_training upcasts the frozen embeddings, head and norms to fp32; they were loaded in
    bf16, so they go back to bf16 (the 4-bit layers compute in bf16), while the optimizer's weights stay fp32."""
    model, _, info = loaded
    dtypes = {(p.requires_grad, p.dtype) for p in model.parameters() if p.is_floating_point()}
    assert dtypes == {(False, torch.bfloat16), (True, torch.float32)}
    assert info.frozen_dtype == "bfloat16"


def test_packed_attention_matches_padding_and_keeps_examples_apart(loaded: tuple[Any, Any, Any],
                                                                    build_dir: Path) -> None:
    from curate_train.data import collate_packed, collate_padded, load_split
    from curate_train.recipe import token_losses

    model, tokenizer, _ = loaded
    examples = load_split(build_dir / "eval.jsonl", tokenizer, TrainConfig().mask).examples[:4]
    assert len({len(ex.input_ids) for ex in examples}) > 1  # different lengths: padding is really used
    _nudge_lora(model)
    model.eval()
    with torch.no_grad(), full_precision(model):
        packed = collate_packed(examples)
        padded = collate_padded(examples, tokenizer.pad_token_id)
        loss_packed = token_losses(model, packed)[0].mean().item()
        loss_padded = token_losses(model, padded)[0].mean().item()
        # transformers' own loss on the padded batch: an independent implementation of the same mean
        hf = model(**padded, use_cache=False).loss.item()
        # what packing would give if examples could see each other: positions not restarting
        leaky = {**packed, "position_ids": torch.arange(packed["input_ids"].shape[1])[None]}
        loss_leaky = token_losses(model, leaky)[0].mean().item()
    assert loss_packed == pytest.approx(loss_padded, abs=1e-5)
    assert hf == pytest.approx(loss_padded, abs=1e-5)
    assert abs(loss_leaky - loss_packed) > 1e-3  # 100x the tolerance above


def test_packed_attention_matches_transformers_block_mask(loaded: tuple[Any, Any, Any], build_dir: Path) -> None:
    """The per-segment attention against transformers' own packed-sequence mask (stock sdpa)."""
    from curate_train.data import collate_packed, load_split
    from curate_train.recipe import token_losses

    model, tokenizer, _ = loaded
    examples = load_split(build_dir / "train.jsonl", tokenizer, TrainConfig().mask).examples[:3]
    batch = collate_packed(examples)
    base = model.get_base_model()
    model.eval()
    with torch.no_grad(), full_precision(model):
        alone = torch.cat([token_losses(model, collate_packed([ex]))[0] for ex in examples])
        ours = token_losses(model, batch)[0]
        base.config._attn_implementation = "sdpa"
        try:
            stock = token_losses(model, batch)[0]
        finally:
            base.config._attn_implementation = "sdpa_packed"
    assert torch.equal(ours, alone)  # each example exactly as if it were alone in its batch
    assert torch.allclose(ours, stock, atol=1e-5)


@contextmanager
def full_precision(model: Any) -> Iterator[None]:
    """4-bit layers computing in fp32 instead of bf16, so that two batchings of the same tokens can be
    compared to 1e-5: in bf16 a different GEMM blocking flips roundings (~1e-3 per token loss)."""
    import bitsandbytes as bnb

    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    before = [m.compute_dtype for m in layers]
    frozen = [p for p in model.parameters() if p.dtype == torch.bfloat16]  # embeddings, head, norms
    for m in layers:
        m.compute_dtype = torch.float32
    for p in frozen:
        p.data = p.data.float()
    try:
        yield
    finally:
        for m, dtype in zip(layers, before, strict=True):
            m.compute_dtype = dtype
        for p in frozen:
            p.data = p.data.to(torch.bfloat16)


def _nudge_lora(model: Any) -> None:
    """LoRA B starts at zero; give it values so the adapter takes part in the computation."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


def test_masked_tokens_carry_no_loss(loaded: tuple[Any, Any, Any], build_dir: Path) -> None:
    """Gradients do not change when masked tokens after the last trained one change; they do before it."""
    from curate.mask import IGNORE
    from curate_train.data import collate_packed, load_split
    from curate_train.recipe import token_losses

    model, tokenizer, _ = loaded
    # the weather records end on an assistant turn; append an untrained user turn to get masked tokens at the end
    ex = load_split(build_dir / "train.jsonl", tokenizer, TrainConfig().mask).examples[0]
    tail = tokenizer("<|im_start|>user\nthanks, and tomorrow?<|im_end|>\n", add_special_tokens=False)["input_ids"]
    ex.input_ids = ex.input_ids + tail
    ex.labels = ex.labels + [IGNORE] * len(tail)
    last_trained = max(i for i, lab in enumerate(ex.labels) if lab != IGNORE)
    first_trained = min(i for i, lab in enumerate(ex.labels) if lab != IGNORE)
    _nudge_lora(model)
    model.eval()  # no dropout: two passes must be comparable

    def grads(input_ids: list[int]) -> tuple[float, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        batch = collate_packed([type(ex)(ex.id, input_ids, ex.labels, ex.bucket, ex.length_bucket)])
        losses, _, _ = token_losses(model, batch)
        losses.mean().backward()
        flat = torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad and p.grad is not None])
        return losses.mean().item(), flat

    loss0, g0 = grads(ex.input_ids)
    after = list(ex.input_ids)
    for k in range(last_trained + 1, len(after)):
        after[k] = (after[k] + 7) % len(tokenizer)
    loss1, g1 = grads(after)
    before = list(ex.input_ids)
    before[first_trained - 3] = (before[first_trained - 3] + 7) % len(tokenizer)
    loss2, g2 = grads(before)
    model.zero_grad(set_to_none=True)
    assert loss1 == loss0 and torch.equal(g1, g0)  # masked tokens after the last trained token: no effect at all
    assert loss2 != loss0 and not torch.allclose(g2, g0)  # context before trained tokens does matter


def test_gradient_checkpointing_gives_the_same_gradients(tiny: Path, build_dir: Path) -> None:
    """The default config checkpoints activations (use_reentrant=False) with the packed attention."""
    from curate_train.data import collate_packed, load_split
    from curate_train.model import load_model
    from curate_train.recipe import token_losses

    grads = []
    for checkpointing in (True, False):
        torch.manual_seed(0)
        model, tokenizer, _ = load_model(str(tiny), config(optim={"gradient_checkpointing": checkpointing},
                                                           lora={"dropout": 0.0}))
        base = model.get_base_model()
        assert getattr(base, "is_activation_checkpointing", None) == checkpointing  # transformers 5 name
        batch = collate_packed(load_split(build_dir / "train.jsonl", tokenizer, TrainConfig().mask).examples[:3])
        _nudge_lora(model)
        model.train()
        token_losses(model, batch)[0].mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
    assert grads[0].abs().sum() > 0 and torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


# --- data --------------------------------------------------------------------------------------------


def test_packing_is_decided_once_and_the_model_loader_is_told(tiny: Path) -> None:
    """`[data] packing` is read in one place (`Batching.of`): plans, collator, and the attention the loader is
    told to use; the loader itself does not read the data section."""
    from curate_train.data import Batching, Example, packed_batches, padded_batches
    from curate_train.model import PACKED_ATTENTION, load_model

    examples = [Example(f"e{k}", list(range(3 + k)), list(range(3 + k)), "b", "all") for k in range(9)]
    packed = Batching.of(config(data={"tokens_per_batch": 64}))
    padded = Batching.of(config(data={"packing": False, "batch_size": 2}))
    assert packed.train_plan(examples, seed=1) == packed_batches(examples, 64, seed=1)
    assert padded.train_plan(examples, seed=1) == padded_batches(examples, 2, seed=1)
    assert padded.eval_plan(examples) == padded_batches(examples, 2)
    rows = [[examples[0], examples[1]]]
    assert "position_ids" in packed.collator(None)(rows) and "attention_mask" not in packed.collator(None)(rows)
    assert "attention_mask" in padded.collator(0)(rows)
    told = {packing: load_model(str(tiny), config(data={"packing": not packing}), packed=packing)[2].attention
            for packing in (True, False)}
    assert told == {True: PACKED_ATTENTION, False: "sdpa"}


def test_examples_keep_their_buckets_and_packing_restarts_positions(loaded: tuple[Any, Any, Any],
                                                                     build_dir: Path) -> None:
    from curate.mask import IGNORE
    from curate_train.data import collate_packed, load_split, packed_batches

    _, tokenizer, _ = loaded
    data = load_split(build_dir / "eval.jsonl", tokenizer, TrainConfig().mask)
    assert {ex.bucket for ex in data.examples} == {"single_call", "chat", "math"}
    assert {ex.length_bucket for ex in data.examples} == {"short", "long"}
    assert data.bucket_counts()["bucket/chat"]["examples"] == 2
    plan = packed_batches(data.examples, 600, seed=0)
    assert sorted(i for b in plan for i in b) == list(range(len(data.examples)))
    assert all(sum(len(data.examples[i].input_ids) for i in b) <= 600 or len(b) == 1 for b in plan)
    assert plan == packed_batches(data.examples, 600, seed=0) != packed_batches(data.examples, 600, seed=1)
    batch = collate_packed([data.examples[i] for i in plan[0]])
    pos, labels = batch["position_ids"][0].tolist(), batch["labels"][0].tolist()
    starts = [k for k, p in enumerate(pos) if p == 0]
    assert len(starts) == len(plan[0]) and all(labels[k] == IGNORE for k in starts)


def test_a_row_that_is_not_a_build_record_is_an_error_with_its_line(tmp_path: Path) -> None:
    from curate_train.data import read_build_split

    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(build_row(chat(1), "chat", 1, "train")) + "\n" + '{"messages": 3}\n')
    with pytest.raises(TrainError, match=r"train.jsonl:2: not a record written by `curate build`"):
        read_build_split(path)
    path.write_text(path.read_text().splitlines()[0] + "\n")
    rows = read_build_split(path)
    assert rows[0].bucket == "chat" and rows[0].length_bucket == "short"
    assert not {"bucket", "length_bucket", "signals", "split"} & set(rows[0].record.model_extra or {})


# --- training ----------------------------------------------------------------------------------------


def run_config() -> TrainConfig:
    # 12 short records in batches of ~1,000 tokens: 3 steps an epoch, an evaluation every 2 steps
    return config(data={"tokens_per_batch": 1200}, optim={"epochs": 2, "lr": 1e-3}, eval={"eval_steps": 2})


@pytest.fixture(scope="module")
def trained(tiny: Path, build_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from curate_train.recipe import run_training

    return run_training(build_dir, str(tiny), run_config(), tmp_path_factory.mktemp("runs") / "run")


def test_a_run_logs_eval_loss_per_bucket_and_keeps_every_epoch_checkpoint(trained: Any) -> None:
    run = trained.run_dir
    assert trained.complete and run.exists() and not (run.parent / (run.name + ".partial")).exists()
    assert json.loads((run / "run.json").read_text())["complete"] is True
    steps_per_epoch = json.loads((run / "data.json").read_text())["train"]["batches"]
    assert [p.name for p in trained.checkpoints] == [f"checkpoint-{steps_per_epoch}",
                                                     f"checkpoint-{2 * steps_per_epoch}"]
    assert all((p / "adapter_model.safetensors").exists() for p in trained.checkpoints)
    keys = {f"eval_loss/bucket/{b}" for b in ("single_call", "chat", "math")} | {
        "eval_loss/length/short", "eval_loss/length/long"}
    assert trained.evaluations and all(keys <= set(e) for e in trained.evaluations)
    # the base model (step 0) and every checkpoint have an evaluation at their own step
    assert trained.base_evaluation is not None
    for p in trained.checkpoints:
        assert trained.evaluation_at(int(p.name.split("-")[1])) is not None
    # the overall loss is the token-weighted mean of the per-bucket losses
    last = trained.evaluations[-1]
    counts = {k: v["trained_tokens"] for k, v in trained.eval_buckets.items()}
    weighted = sum(last[f"eval_loss/{k}"] * n for k, n in counts.items() if k.startswith("bucket/"))
    assert last["eval_loss"] == pytest.approx(weighted / sum(n for k, n in counts.items() if k.startswith("bucket/")))
    # learning happened, on every bucket
    base = trained.base_evaluation
    assert last["eval_loss"] < base["eval_loss"]
    assert all(last[k] < base[k] for k in keys)
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged if "eval_loss" in e] == [e["step"] for e in trained.evaluations]
    assert any("loss" in e for e in logged) and any(p.name.startswith("events") for p in (run / "tb").iterdir())


def test_resume_continues_from_the_saved_step(trained: Any, build_dir: Path, tiny: Path, tmp_path: Path) -> None:
    from curate_train.recipe import run_training

    run = tmp_path / "run"
    shutil.copytree(trained.run_dir, run)
    first = trained.checkpoints[0]
    saved = json.loads((first / "trainer_state.json").read_text())["global_step"]
    new = tmp_path / "new"  # a finished run stays as it is: it is resumed into a new one
    resumed = run_training(build_dir, str(tiny), run_config(), new, resume=str(run / first.name))
    assert resumed.global_step > saved
    assert resumed.global_step == trained.global_step
    assert resumed.complete and resumed.run_dir == new.resolve()
    assert resumed.evaluations[-1]["eval_loss"] == pytest.approx(trained.evaluations[-1]["eval_loss"], abs=1e-4)
    steps = [json.loads(line)["step"] for line in (new / "metrics.jsonl").read_text().splitlines()
             if "eval_loss" in line]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # nothing logged twice


def test_early_stopping_counts_only_improvements_of_min_delta() -> None:
    from curate_train.callbacks import EarlyStopping

    stop = EarlyStopping(patience=3, min_delta=0.01)
    # 2.0 → 1.5 is progress; then three evaluations each better than the last, but by < 0.01 below the best
    assert [stop.update(x) for x in (2.0, 1.5, 1.495, 1.492, 1.491)] == [False, False, False, False, True]
    stop = EarlyStopping(patience=3, min_delta=0.01)
    assert [stop.update(x) for x in (2.0, 1.995, 1.98, 1.979, 1.975, 1.972)] == [False] * 5 + [True]
    restored = EarlyStopping(**stop.state()["args"])
    assert (restored.best, restored.bad_evaluations) == (stop.best, stop.bad_evaluations)


# --- bad input ---------------------------------------------------------------------------------------


def test_unknown_config_key_names_the_key_and_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("[optim]\nlrr = 0.1\n\n[mask]\nturn = 'last'\n")
    with pytest.raises(TrainError) as err:
        load_train_config(path)
    msg = str(err.value)
    assert f"{path}: [optim] lrr: unknown key; did you mean `lr`? valid keys: epochs," in msg
    assert "[mask] turn: unknown key; did you mean `turns`?" in msg
    path.write_text("epoch = 3\n")
    with pytest.raises(TrainError, match=r"train.toml: epoch: unknown key; valid keys: .*optim"):
        load_train_config(path)
    path.write_text("seed = 1\n[lora]\nr = 8\n[graduation]\nmin_format_accuracy = 0.95\n")
    cfg = load_train_config(path)
    assert (cfg.lora.r, cfg.lora.lora_alpha, cfg.graduation.min_format_accuracy) == (8, 16, 0.95)


def test_missing_model_folder_is_a_clear_error_and_writes_nothing(build_dir: Path, tmp_path: Path) -> None:
    from curate_train.model import load_model
    from curate_train.recipe import run_training

    with pytest.raises(TrainError, match=r"no such folder; pass a local folder, `--model tiny` or `--model "
                                         r"smollm2-135m`; no model hub"):
        load_model(str(tmp_path / "nope"), TrainConfig())
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainError, match=r"no config\.json"):
        load_model(str(tmp_path / "empty"), TrainConfig())
    run = tmp_path / "run"
    with pytest.raises(TrainError, match="no such folder"):
        run_training(build_dir, str(tmp_path / "nope"), TrainConfig(), run)
    assert not run.exists() and not (tmp_path / "run.partial").exists()


def test_a_tokenizer_without_chat_template_is_refused_before_loading_weights(tiny: Path, tmp_path: Path) -> None:
    from curate_train.model import load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    meta = json.loads((folder / "tokenizer_config.json").read_text())
    meta.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(meta))
    (folder / "model.safetensors").write_bytes(b"not weights: the check must come first")
    with pytest.raises(TrainError, match="has no chat template"):
        load_model(str(folder), config(mask={"template": "tokenizer"}))


def test_no_4bit_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import bitsandbytes as bnb

    from curate_train.model import check_4bit_backend

    if torch.cuda.is_available():
        pytest.skip("the CPU backend is only tried without CUDA")

    def broken(self: Any, x: Any) -> Any:
        raise NotImplementedError("no kernel for this device")

    monkeypatch.setattr(bnb.nn.Linear4bit, "forward", broken)
    with pytest.raises(TrainError, match=r"cannot run 4-bit layers on this CPU .*bitsandbytes>=0.46.* GPU"):
        check_4bit_backend()


def test_an_interrupted_run_is_never_taken_for_a_finished_one(build_dir: Path, tiny: Path, tmp_path: Path) -> None:
    from curate_train.recipe import run_training

    run = tmp_path / "run"
    (tmp_path / "run.partial" / "checkpoint-3").mkdir(parents=True)
    (tmp_path / "run.partial" / "run.json").write_text('{"complete": false, "global_step": 0, "checkpoints": []}')
    with pytest.raises(TrainError, match=r"holds an interrupted run with no whole checkpoint; delete it"):
        run_training(build_dir, str(tiny), run_config(), run)
    with pytest.raises(TrainError, match="not a checkpoint folder"):
        run_training(build_dir, str(tiny), run_config(), run, resume=str(tmp_path / "run.partial" / "checkpoint-3"))
    assert not run.exists()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(build_dir: Path, tiny: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from curate_train.recipe import SFTTrainer, run_training

    def fail(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(SFTTrainer, "training_step", fail)
    with pytest.raises(RuntimeError, match="simulated"):
        run_training(build_dir, str(tiny), run_config(), tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_importing_train_and_its_config_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, curate_train, curate_train.config; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["False", "False"]


# --- the tiny model ----------------------------------------------------------------------------------


def _state_hash(folder: Path) -> str:
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].float().numpy().tobytes())
    return h.hexdigest()


def test_tiny_build_is_deterministic(tiny: Path, tmp_path: Path) -> None:
    from transformers import AutoConfig

    from curate_train.tiny import build_tiny

    again = build_tiny(tmp_path / "again", seed=0)
    other = build_tiny(tmp_path / "other", seed=1)
    assert _state_hash(again) == _state_hash(tiny) != _state_hash(other)
    cfg = AutoConfig.from_pretrained(str(tiny))
    assert cfg.model_type == "llama" and cfg.vocab_size == 4096 and cfg.num_hidden_layers == 3


def test_the_tiny_models_tokenizer_tokenizes_like_the_builtin_one(tiny: Path) -> None:
    from curate.tokenizer import load_tokenizer
    from curate_train.tiny import pretraining_texts

    builtin, own = load_tokenizer(None), load_tokenizer(str(tiny))
    assert own.chat_template == builtin.chat_template and len(own) == len(builtin)
    texts = [t for _, t in zip(range(50), pretraining_texts(), strict=False)]
    assert [own(t)["input_ids"] for t in texts] == [builtin(t)["input_ids"] for t in texts]


def test_pretraining_lowers_the_loss_of_the_tiny_base(tiny: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from curate_train.tiny import TINY_INFO, PretrainSpec, pretrain_tiny

    spec = PretrainSpec(tokens=8 * 4 * 128, block_size=128, batch_blocks=4, warmup_steps=2)
    stats = pretrain_tiny(tiny, tmp_path / "pretrained", seed=0, spec=spec)
    assert stats.steps == 8 and stats.tokens == 8 * 4 * 128 and stats.corpus_tokens > stats.tokens
    assert all(math.isfinite(x) for x in stats.losses)
    assert sum(stats.losses[-3:]) / 3 < stats.losses[0] - 0.5
    info = json.loads((tmp_path / "pretrained" / TINY_INFO).read_text())
    assert info["seed"] == 0 and info["pretrain"]["steps"] == 8
    assert AutoModelForCausalLM.from_pretrained(str(tmp_path / "pretrained")).config.model_type == "llama"


def test_resolve_model_leaves_names_and_paths_alone() -> None:
    from curate_train.packaged import resolve_model

    assert resolve_model("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"
    assert resolve_model("./models/mine") == "./models/mine"
