"""`--model tiny`: a small Llama decoder with the built-in tokenizer, built offline, seeded, and cached.

The tiny model exists so that the whole pipeline (lint → build → train → evaluation) runs on a
2-core CPU with no model hub. It is a standard Hugging Face architecture (`LlamaForCausalLM`), so
everything downstream (4-bit loading, LoRA, generation, merging) is exercised exactly as on a
real base model. Not Qwen2: transformers 5 loads the tokenizer of any `qwen2` model folder as
`Qwen2Tokenizer` whatever its tokenizer_config says (`MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS`),
which rebuilds the pre-tokenizer with Qwen2's regex and NFC normalisation, so the folder's
tokenizer would no longer tokenize like the built-in one. A `llama` folder keeps the saved
tokenizer as it is (a test checks that both give the same ids).

A randomly initialised decoder is not a base model: SFT would then be compared with noise, and
"SFT beats the base" would say nothing. So `pretrain_tiny` gives it a short plain causal-LM
pretraining (every token trained, no masks, no SFT objective) on the rendered text of the sample
corpus (`sample_data/raw.jsonl` through `curate.render`, with the sample tool specs, as training
renders them). That teaches it the language of the data, the ChatML layout and the tool specs,
which is what a real pretrained base brings to SFT. The choices, and why:

- The whole raw corpus is used, dirty records included, and nothing is held out. The pretraining
  cache is shared by every build of the corpus, so it cannot know any build's eval split. Seeing
  eval conversations unmasked here lowers the *base* model's eval loss, which only makes "SFT
  beats the base" harder to claim; every SFT checkpoint starts from these same weights, so the
  comparison between checkpoints and the base is like for like.
- A system turn (the tool specs, ~1,600 of the ~1,800 tokens of a sample record) is kept the first
  `system_repeats` times it is seen and dropped afterwards: repeating identical text teaches
  nothing more, and the token budget goes to conversations instead.
- The budget is small on purpose (`PretrainSpec`: 300k tokens, under half a pass over the
  conversations, about 80 s on one core): the loss goes from 8.4 to about 2.7, and greedy outputs
  use the protocol's vocabulary but are malformed (a turn that opens with `<tool_response>`, runaway
  JSON), so the base is a language model of the data, not an assistant. Teaching it the turn
  structure is left to SFT, which is what the run's report then measures against it.

Built models are cached under `curate.tokenizer.cache_dir()/models/`, in folders named by a hash
of everything that shapes the weights (architecture, seed, tokenizer files, corpus, pretraining
settings, library versions), and written atomically (built beside, renamed into place), like the
built-in tokenizer. The same seed gives the same weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from curate.terminal import progress
from curate.tokenizer import DEFAULT_CORPUS, DEFAULT_TOOLS, PAD_TOKEN, build_once, builtin_tokenizer_dir, cache_dir
from curate_train import quiet_libraries

TINY = "tiny"
TINY_INFO = "tiny.json"
ARCHITECTURE = "LlamaForCausalLM"
RECIPE_VERSION = 1
"""Bump when the build or pretraining code changes what is produced: cached models are rebuilt."""


class TinySpec(BaseModel):
    """Architecture of the tiny decoder (Llama); the vocabulary comes from the tokenizer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden_size: int = 192
    num_layers: int = 3
    num_heads: int = 6
    num_kv_heads: int = 2
    intermediate_size: int = 512
    max_position_embeddings: int = 8192


class PretrainSpec(BaseModel):
    """The short plain causal-LM pretraining of the tiny base (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: int = Field(300_000, ge=1, description="tokens trained on (one pass; blocks are drawn without repeats)")
    block_size: int = Field(512, ge=16)
    batch_blocks: int = Field(1, ge=1, description="blocks a step: a small model learns more from more steps "
                              "than from bigger batches (loss 2.7 against 4.1 with 8 blocks, same tokens)")
    lr: float = 3e-3
    warmup_steps: int = 10
    weight_decay: float = 0.1
    system_repeats: int = Field(2, ge=0, description="keep an identical system turn this many times")


class PretrainStats(BaseModel):
    tokens: int
    steps: int
    seconds: float
    corpus_tokens: int
    first_loss: float
    last_loss: float
    losses: list[float]


def _hash_files(h: Any, folder: Path) -> None:
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        h.update(f.name.encode())
        h.update(f.read_bytes())


def library_versions() -> list[str]:
    import torch
    import transformers

    return [torch.__version__, transformers.__version__]


def tiny_config(tokenizer: Any, spec: TinySpec) -> Any:
    """The Llama config for `spec` and `tokenizer` (vocabulary, pad and end-of-turn ids)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads, max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )


def build_tiny(out_dir: Path, seed: int = 0, spec: TinySpec | None = None,
               tokenizer_dir: Path | None = None) -> Path:
    """Build a randomly initialised tiny decoder with `seed` and save it, with its tokenizer, in `out_dir`.

    Deterministic: the same seed, spec and tokenizer give the same weights. Not cached (see `tiny_dir`).
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    quiet_libraries()
    spec = spec or TinySpec()
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir or builtin_tokenizer_dir()), trust_remote_code=False)
    config = tiny_config(tokenizer, spec)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    info = {"seed": seed, "spec": spec.model_dump(), "parameters": sum(p.numel() for p in model.parameters()),
            "pretrain": None}
    (out_dir / TINY_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out_dir


def pretraining_texts(corpus: Path = DEFAULT_CORPUS, tools_file: Path | None = DEFAULT_TOOLS,
                      system_repeats: int = 2) -> Iterator[str]:
    """Rendered records of `corpus`, as training renders them; a repeated system turn is dropped after
    its first `system_repeats` occurrences (it would only be memorised again)."""
    from curate.readers import RecordReader, load_tool_specs
    from curate.render import IM_END, IM_START, render_chatml
    from curate.toolset import ToolSet

    toolset = ToolSet.from_dicts(load_tool_specs(tools_file) if tools_file else [])
    seen: dict[str, int] = {}
    for result in RecordReader().read(corpus):
        rec = result.record
        if rec is None or not rec.messages:
            continue
        text = render_chatml(toolset.attach(rec)).text
        if text.startswith(f"{IM_START}system"):
            cut = text.find(IM_END) + len(IM_END) + 1
            system = text[:cut]
            seen[system] = seen.get(system, 0) + 1
            if seen[system] > system_repeats:
                text = text[cut:]
        yield text


def pretrain_tiny(model_dir: Path, out_dir: Path, corpus: Path = DEFAULT_CORPUS,
                  tools_file: Path | None = DEFAULT_TOOLS, seed: int = 0, spec: PretrainSpec | None = None,
                  log: Callable[[str], None] | None = None) -> PretrainStats:
    """Plain causal-LM pretraining of the model in `model_dir` on `corpus`; saves the result in `out_dir`.

    Documents are joined with the tokenizer's `<|endoftext|>` and cut into blocks (GPT style); a
    seeded permutation of the blocks is trained once, up to `spec.tokens`, in full precision with
    AdamW and a cosine schedule.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_libraries()
    spec = spec or PretrainSpec()
    say = log or (lambda _m: None)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    sep = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    texts = list(pretraining_texts(corpus, tools_file, spec.system_repeats))
    encodings = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    stream: list[int] = []
    for enc in encodings:
        stream.extend(enc.ids)
        stream.append(sep)
    n_blocks = len(stream) // spec.block_size
    blocks = torch.tensor(stream[: n_blocks * spec.block_size], dtype=torch.long).view(n_blocks, spec.block_size)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n_blocks, generator=generator)
    steps = max(1, min(n_blocks, spec.tokens // spec.block_size) // spec.batch_blocks)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, trust_remote_code=False)
        model.config.use_cache = False
        model.train()
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=spec.lr, betas=(0.9, 0.95))

        def lr_at(step: int) -> float:
            if step < spec.warmup_steps:
                return spec.lr * (step + 1) / spec.warmup_steps
            progress = (step - spec.warmup_steps) / max(1, steps - spec.warmup_steps)
            return spec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

        losses: list[float] = []
        start = time.perf_counter()
        with progress("pretraining the tiny base (steps)", total=steps) as bar:
            for step in range(steps):
                idx = order[step * spec.batch_blocks:(step + 1) * spec.batch_blocks]
                batch = blocks[idx]
                for group in opt.param_groups:
                    group["lr"] = lr_at(step)
                loss = model(input_ids=batch, labels=batch, use_cache=False).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses.append(round(loss.item(), 4))
                if step % 100 == 0 or step == steps - 1:
                    say(f"pretraining the tiny base: step {step + 1}/{steps}, loss {losses[-1]:.3f}")
                bar.advance()
        seconds = time.perf_counter() - start
        model.config.use_cache = True
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    stats = PretrainStats(tokens=steps * spec.batch_blocks * spec.block_size, steps=steps,
                          seconds=round(seconds, 2), corpus_tokens=len(stream), first_loss=losses[0],
                          last_loss=losses[-1], losses=losses)
    info_path = model_dir / TINY_INFO
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    info["pretrain"] = {"spec": spec.model_dump(), "corpus": str(corpus), **stats.model_dump(exclude={"losses"})}
    (out_dir / TINY_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return stats


def cached_model(name: str, key: list[Any], make: Callable[[Path], Any]) -> Path:
    """`cache_dir()/models/NAME-HASH`, made by `make(tmp)` in a folder beside it and renamed into place.

    A file or folder in `key` counts by its name and content, never by where it is: the same inputs on another
    machine, or moved, give the same HASH."""
    h = hashlib.sha256(json.dumps([f"<{p.name}>" if isinstance(p, Path) else p for p in key], sort_keys=True,
                                  default=str).encode())
    for part in key:
        if isinstance(part, Path) and part.is_dir():
            _hash_files(h, part)
        elif isinstance(part, Path) and part.is_file():
            h.update(part.read_bytes())
    return build_once(cache_dir() / "models" / f"{name}-{h.hexdigest()[:16]}", "config.json", make)


def tiny_dir(seed: int = 0, pretrained: bool = True, spec: TinySpec | None = None,
             pretrain: PretrainSpec | None = None, corpus: Path = DEFAULT_CORPUS,
             tools_file: Path | None = DEFAULT_TOOLS, log: Callable[[str], None] | None = None) -> Path:
    """The cached folder of the tiny model (built, and pretrained unless `pretrained=False`)."""
    spec = spec or TinySpec()
    tok_dir = builtin_tokenizer_dir()
    key = ["tiny", ARCHITECTURE, RECIPE_VERSION, spec.model_dump(), seed, tok_dir, *library_versions()]
    base = cached_model("tiny", key, lambda tmp: build_tiny(tmp, seed, spec, tok_dir))
    if not pretrained:
        return base
    pretrain = pretrain or PretrainSpec()
    if log and not corpus.exists():
        log(f"{corpus}: no corpus to pretrain the tiny base on")
    return cached_model("tiny-pretrained", ["pretrained", base.name, pretrain.model_dump(), seed, corpus,
                                            tools_file if tools_file and tools_file.exists() else None],
                        lambda tmp: pretrain_tiny(base, tmp, corpus, tools_file, seed, pretrain, log))


def tiny_train_config() -> Any:
    """A TrainConfig sized for `--model tiny` on a 2-core CPU (about 2-3 minutes of training).

    What differs from the defaults, and why: a LoRA on a 192-wide model learns at a higher rate
    (3e-3); smaller batches (4,096 tokens, about two sample records) give more optimizer steps for
    the same compute; 96 training records twice give two epoch checkpoints to compare; two eval
    records per bucket keep each evaluation to a few seconds; three prompts per bucket, four samples
    and 96 new tokens (a tool-call turn of the sample data fits) bound the generation-based
    evaluation of the base and the two checkpoints; no gradient checkpointing (memory is not the
    constraint here, time is).
    """
    from curate_train.config import TrainConfig

    return TrainConfig.model_validate({
        "optim": {"lr": 3e-3, "epochs": 2, "gradient_checkpointing": False},
        "data": {"tokens_per_batch": 4096, "train_limit": 96, "eval_limit_per_bucket": 2},
        "eval": {"eval_steps": 20},
        "generation": {"prompts_per_bucket": 3, "samples": 4, "max_new_tokens": 96},
    })
