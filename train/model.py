"""The model of a run: a 4-bit NF4 base (bitsandbytes) wrapped in a PEFT LoRA, and the checks it needs.

    load_model(name_or_path, cfg, packed=True) -> (model, tokenizer, ModelInfo)

Loading follows the QLoRA recipe: `BitsAndBytesConfig(load_in_4bit, nf4, double quantisation,
bfloat16 compute)`, `peft.prepare_model_for_kbit_training`, then LoRA on every linear projection
(found by walking the modules, so no per-architecture list) unless the config names them. When the
tokenizer has tokens the model has no embedding for (they were added: `--template chatml` on a model
without the ChatML protocol tokens), only their rows of the input embeddings and of the output head
are trained (PEFT trainable tokens, tied like the weights they wrap); `[lora] train_embeddings = true`
trains both matrices in full instead.

`prepare_model_for_kbit_training` upcasts every frozen floating weight (embeddings, head, norms) to
fp32. Those weights were loaded in bf16, so fp32 adds no information, only cost: the residual stream,
the head's matmul over the whole vocabulary and its backward then run in fp32 while the 4-bit layers
compute in bf16. With a bf16 compute dtype they are put back in bf16 (measured on SmolLM2-135M on 2
CPU cores with AVX512-BF16: see the README's `curate train` performance figures); trained weights
(LoRA, trainable tokens, a full embedding) stay fp32 for the optimizer.

What is checked, each failure a `TrainError` that says what to do (the CLI exits with code 2):
the model folder exists and loads offline; its tokenizer loads and has a chat template when the
mask policy needs one; bitsandbytes can run 4-bit layers here (on a machine without CUDA: its CPU
backend, tried on a small layer before any weights are read); and the loaded base really is 4-bit
NF4. `ModelInfo` states the memory of the quantised base against a bf16 one.

Two things are specific to training on CPU:

- bitsandbytes (0.50) repacks a `Linear4bit` weight into an inference-only layout the first time
  the layer runs in eval mode without gradients on a CPU with AVX512-BF16; the next training step
  then fails ("a view of a leaf Variable that requires grad is being used in an in-place
  operation"), since that layout has no backward. Training models turn the repacking off
  (`support_avx512bf16_for_cpu = False`), so evaluation between steps runs the same kernels as
  training; models loaded only for generation keep it (it is faster).
- `sdpa_packed`: PyTorch's scaled-dot-product attention is only fast on CPU without a mask
  (`is_causal`); a block-diagonal mask for packed rows makes it 2-4x slower and quadratic in the
  packed length. This attention runs each packed example as its own causal segment, found from
  `position_ids` restarting at 0, so there is no cross-example attention and no mask at all.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from curate.extras import needs
from curate.mask import Masker, MaskError, MaskPolicy
from curate.network import HOW_TO_ALLOW
from curate_train import TrainError, quiet_libraries
from curate_train.config import TrainConfig

PACKED_ATTENTION = "sdpa_packed"
NO_HUB = (f"pass a local folder, `--model tiny` or `--model smollm2-135m`; no model hub access unless downloads are "
          f"allowed ({HOW_TO_ALLOW})")
REMOTE_CODE = ("it ships its own Python code (`auto_map`), which curate never runs (trust_remote_code=False); "
               "give a model that loads with plain transformers")


class ModelInfo(BaseModel):
    """What was loaded, for the run log and RUN/model.json."""

    name_or_path: str
    path: str
    architecture: str
    attention: str
    parameters: int
    """Parameters of the base, counting a 4-bit weight as its full shape."""
    trainable_parameters: int
    quantised_bytes: int
    """`get_memory_footprint()` of the 4-bit base (weights, quantisation constants, buffers)."""
    bf16_bytes: int
    """The same base with every weight in bf16 (2 bytes a parameter), for comparison."""
    linear4bit: int
    quant_type: str
    double_quant: bool
    compute_dtype: str
    unquantised_linear: list[str]
    target_modules: list[str]
    modules_to_save: list[str]
    trainable_tokens: list[int] = []
    """Token ids whose embedding (and head) rows are trained: the added tokens, when not trained in full."""
    frozen_dtype: str = "float32"
    """The dtype of the frozen unquantised weights (embeddings, head, norms) during training."""
    lora_r: int
    lora_alpha: int
    resized_embeddings: list[int] | None = None
    """[before, after] rows of the input embeddings when the tokenizer had more tokens."""

    def summary(self) -> str:
        ratio = self.quantised_bytes / self.bf16_bytes if self.bf16_bytes else 0.0
        extra = f", full: {', '.join(self.modules_to_save)}" if self.modules_to_save else ""
        if self.trainable_tokens:
            extra += f", rows of {len(self.trainable_tokens)} added tokens"
        return (f"base {self.architecture}: 4-bit {self.quant_type.upper()} "
                f"({self.linear4bit} Linear4bit layers{', double quantisation' if self.double_quant else ''}, "
                f"compute {self.compute_dtype}), {_mb(self.quantised_bytes)} in memory vs {_mb(self.bf16_bytes)} "
                f"in bf16 ({ratio:.2f}x); LoRA r={self.lora_r} alpha={self.lora_alpha} on "
                f"{', '.join(self.target_modules)}{extra}: {self.trainable_parameters:,} trainable of "
                f"{self.parameters:,} parameters ({self.trainable_parameters / max(1, self.parameters):.2%})")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


# --- attention --------------------------------------------------------------------------------------


def _segments(position_ids: Any) -> list[tuple[int, int]]:
    """[start, end) of each example in a packed row: a new one starts where positions do not go up by 1."""
    import torch

    pos = position_ids.reshape(-1)
    starts = torch.nonzero(torch.diff(pos) != 1).flatten() + 1
    bounds = [0, *starts.tolist(), pos.numel()]
    return list(pairwise(bounds))


def packed_sdpa_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                          dropout: float = 0.0, scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """SDPA attention that runs every packed example of a row as its own causal segment.

    Rows with a padding mask, with a KV cache (generation) or with one example go to the stock
    SDPA attention unchanged.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    q_len, kv_len = query.shape[2], key.shape[2]
    if attention_mask is not None or q_len != kv_len or q_len == 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    if position_ids is None:
        raise TrainError(f"{type(module).__name__} does not pass position_ids to its attention, so packed "
                         "examples cannot be kept apart; set `data.packing = false`")
    if kwargs.get("sliding_window") is not None:
        raise TrainError("packed attention does not support sliding-window layers; set `data.packing = false`")
    rows = []
    for b in range(query.shape[0]):
        pos = position_ids[b] if position_ids.shape[0] > 1 else position_ids[0]
        outs = []
        for start, end in _segments(pos):
            out, _ = sdpa_attention_forward(
                module, query[b:b + 1, :, start:end], key[b:b + 1, :, start:end], value[b:b + 1, :, start:end],
                None, dropout=dropout, scaling=scaling, is_causal=True)
            outs.append(out)  # (1, segment, heads, head_dim)
        rows.append(torch.cat(outs, dim=1) if len(outs) > 1 else outs[0])
    return (torch.cat(rows, dim=0) if len(rows) > 1 else rows[0]), None


def packed_attention_mask(batch_size: int, q_length: int, kv_length: int, q_offset: int = 0, kv_offset: int = 0,
                          attention_mask: Any = None, **kwargs: Any) -> Any:
    """No mask for unpadded self-attention (segments come from position_ids); else SDPA's own mask."""
    from transformers.masking_utils import sdpa_mask

    if attention_mask is None and q_length == kv_length and q_offset == 0 and kv_offset == 0:
        return None
    return sdpa_mask(batch_size=batch_size, q_length=q_length, kv_length=kv_length, q_offset=q_offset,
                     kv_offset=kv_offset, attention_mask=attention_mask, **kwargs)


def register_packed_attention() -> str:
    """Register `sdpa_packed` with transformers' attention and mask interfaces (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(PACKED_ATTENTION, packed_sdpa_attention)
    AttentionMaskInterface.register(PACKED_ATTENTION, packed_attention_mask)
    return PACKED_ATTENTION


# --- checks -----------------------------------------------------------------------------------------


def check_4bit_backend() -> None:
    """Raise TrainError unless bitsandbytes can run a 4-bit NF4 layer here (CUDA, or its CPU backend)."""
    quiet_libraries()
    try:
        import bitsandbytes as bnb
        import torch
    except ImportError as e:
        raise TrainError(needs(f"4-bit training needs bitsandbytes ({e})", "train")
                         + " (bitsandbytes >= 0.46: its CPU backend runs without a GPU)") from None
    if torch.cuda.is_available():
        return
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            layer = bnb.nn.Linear4bit(64, 64, bias=False, compute_dtype=torch.float32, quant_type="nf4")
            layer = layer.to("cpu")
            out = layer(torch.randn(2, 64))
        if out.shape != (2, 64) or not torch.isfinite(out).all():
            raise RuntimeError("the 4-bit layer returned a wrong or non-finite result")
    except Exception as e:
        raise TrainError(f"no GPU, and bitsandbytes {getattr(bnb, '__version__', '?')} cannot run 4-bit layers "
                         f"on this CPU ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); install "
                         "bitsandbytes>=0.46 (CPU backend) or run on a GPU") from None


def check_chat_template(tokenizer: Any, policy: MaskPolicy) -> None:
    """Raise TrainError when masks cannot be made with this tokenizer (e.g. it has no chat template), or
    when its chat template drops what the data holds (`curate.templates`). With `template = "chatml"`
    the tokenizer gets the protocol tokens it lacks (the caller resizes the embeddings)."""
    try:
        Masker(tokenizer, policy).check()
    except MaskError as e:
        named = str(e).startswith("tokenizer `")  # the template probe names the tokenizer itself
        raise TrainError(str(e) if named else f"tokenizer `{getattr(tokenizer, 'name_or_path', '?')}`: {e}") from None


def quantisation_report(model: Any) -> tuple[int, set[str], list[str]]:
    """(number of Linear4bit layers, their quant types, names of linear layers left unquantised)."""
    import bitsandbytes as bnb
    from torch import nn

    n, types, plain = 0, set(), []
    for name, module in model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            n += 1
            types.add(getattr(module.weight, "quant_type", None) or "?")
        elif isinstance(module, nn.Linear):
            plain.append(name)
    return n, types, plain


def assert_4bit(model: Any, where: str) -> tuple[int, list[str]]:
    """Raise TrainError unless the base is 4-bit NF4 (Linear4bit layers present, every one NF4)."""
    n, types, plain = quantisation_report(model)
    if n == 0 or types != {"nf4"}:
        found = f"{n} Linear4bit layers with quant types {sorted(types)}" if n else "no Linear4bit layer"
        raise TrainError(f"{where}: the base did not load as 4-bit NF4 ({found}); a pre-quantised checkpoint of "
                         "another format, or a bitsandbytes that ignored the quantisation config? "
                         "Give an unquantised (bf16/fp32) model folder")
    return n, plain


def find_linear_names(model: Any) -> list[str]:
    """Leaf names of every linear projection (Linear4bit or nn.Linear), the output head excepted."""
    import bitsandbytes as bnb
    from torch import nn

    head = model.get_output_embeddings()
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, (bnb.nn.Linear4bit, nn.Linear)) and module is not head}
    return sorted(names)


def memory_bytes_bf16(model: Any) -> int:
    """Bytes of the model's parameters and buffers with every floating-point weight in bf16."""
    import bitsandbytes as bnb

    total = 0
    for p in model.parameters():
        if isinstance(p, bnb.nn.Params4bit) and p.quant_state is not None:
            shape = p.quant_state.shape
            total += 2 * int(shape[0]) * int(shape[1])
        else:
            total += 2 * p.numel() if p.is_floating_point() else p.numel() * p.element_size()
    for b in model.buffers():
        total += 2 * b.numel() if b.is_floating_point() else b.numel() * b.element_size()
    return total


def logical_parameters(model: Any) -> int:
    import bitsandbytes as bnb

    n = 0
    for p in model.parameters():
        if isinstance(p, bnb.nn.Params4bit) and p.quant_state is not None:
            n += int(p.quant_state.shape[0]) * int(p.quant_state.shape[1])
        else:
            n += p.numel()
    return n


# --- loading ----------------------------------------------------------------------------------------


def quantisation_config() -> Any:
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists() or name.count("/") > 1


def load_tokenizer_for(path: str) -> Any:
    """The model folder's own tokenizer (masks must be made with the tokenizer the model was trained with).

    Never runs code the folder ships (`curate.tokenizer.load_tokenizer` passes trust_remote_code=False).
    """
    from curate.network import hub_hint
    from curate.tokenizer import TokenizerError, load_tokenizer

    try:
        return load_tokenizer(path)
    except TokenizerError as e:
        if Path(path).expanduser().exists():
            raise TrainError(str(e)) from None
        raise TrainError(f"model `{path}`: {hub_hint()}; {NO_HUB.split(';')[0]}") from None


def open_model(name_or_path: str, log: Callable[[str], None] | None = None) -> tuple[str, Any]:
    """Resolve `name_or_path` (a named model is made on first use: `curate_train.packaged`) and load its tokenizer.

    Checks what can be checked before any weight is read: the folder exists, is a Hugging Face
    model folder, and has a loadable tokenizer.
    """
    from curate_train.packaged import resolve_model

    quiet_libraries()
    path = resolve_model(name_or_path, log)
    local = Path(path).expanduser()
    if _looks_like_path(path) and not local.exists():
        raise TrainError(f"model `{name_or_path}`: no such folder; {NO_HUB}")
    if local.exists() and not (local / "config.json").exists():
        raise TrainError(f"model `{name_or_path}`: {local} has no config.json (not a Hugging Face model folder); "
                         f"{NO_HUB}")
    path = str(local.resolve()) if local.exists() else path
    return path, load_tokenizer_for(path)


def load_errors() -> tuple[type[BaseException], ...]:
    """What loading a model folder raises for a bad folder rather than a bug: a file missing or unreadable, a
    config transformers rejects, a damaged weights file (safetensors' own error, not an OSError)."""
    from safetensors import SafetensorError

    return (OSError, ValueError, SafetensorError)


def model_load_error(name: str, e: BaseException) -> TrainError:
    """Why the weights of model `name` did not load, in one line: remote code refused, a damaged weights file,
    or the file problem."""
    text = str(e).strip()
    if "custom code" in text or "trust_remote_code" in text:
        return TrainError(f"model `{name}`: {REMOTE_CODE}")
    first = text.splitlines()[0] if text else type(e).__name__
    if type(e).__name__ == "SafetensorError":
        return TrainError(f"cannot load model `{name}`: its weights file is damaged ({first}); save or copy the "
                          "model folder again")
    return TrainError(f"cannot load model `{name}` ({first}); {NO_HUB}")


def load_4bit(path: str, name: str, training: bool = True, attention: str = "sdpa") -> Any:
    """The 4-bit NF4 model of an opened `path`, checked to be 4-bit (`name` is what the user gave).

    `training=True` keeps bitsandbytes from repacking weights for inference on CPU (see the module
    docstring); a model only used for generation may leave it on for speed.
    """
    quiet_libraries()
    import bitsandbytes as bnb
    import torch
    from transformers import AutoModelForCausalLM

    check_4bit_backend()
    if attention == PACKED_ATTENTION:
        register_packed_attention()
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, quantization_config=quantisation_config(), dtype=torch.bfloat16,
            device_map={"": torch.cuda.current_device()} if torch.cuda.is_available() else None,
            local_files_only=Path(path).exists(), attn_implementation=attention, trust_remote_code=False)
    except load_errors() as e:
        raise model_load_error(name, e) from None
    assert_4bit(model, name)
    if training:
        for module in model.modules():
            if isinstance(module, bnb.nn.Linear4bit):
                module.support_avx512bf16_for_cpu = False
    return model


def load_base(name_or_path: str, training: bool = True, attention: str = "sdpa") -> tuple[Any, Any, str]:
    """The checked 4-bit NF4 base and its tokenizer: (model, tokenizer, resolved path)."""
    path, tokenizer = open_model(name_or_path)
    return load_4bit(path, name_or_path, training, attention), tokenizer, path


def load_model(name_or_path: str, cfg: TrainConfig, log: Callable[[str], None] | None = None,
               packed: bool = True) -> tuple[Any, Any, ModelInfo]:
    """The model to train: the checked 4-bit base, prepared for k-bit training, wrapped in LoRA.

    `packed`: the batches it will see are packed rows (`curate_train.data.Batching` decides), so its attention runs
    each example of a row on its own (`sdpa_packed`); padded rows get PyTorch's SDPA."""
    quiet_libraries()
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    attention = PACKED_ATTENTION if packed else "sdpa"
    path, tokenizer = open_model(name_or_path, log)
    check_chat_template(tokenizer, cfg.mask)
    model = load_4bit(path, name_or_path, training=True, attention=attention)
    n4, unquantised = assert_4bit(model, name_or_path)
    quantised_bytes = model.get_memory_footprint()
    bf16_bytes = memory_bytes_bf16(model)
    parameters = logical_parameters(model)
    quant = quantisation_config()

    rows = model.get_input_embeddings().weight.shape[0]
    resized = None
    added: list[int] = []
    if len(tokenizer) > rows:  # tokens were added to the tokenizer: they need embeddings, trained in full
        added = resize_for_added_tokens(model, tokenizer)
        resized = [rows, len(tokenizer)]

    model.config.use_cache = False
    model = prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=cfg.optim.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False})
    targets = cfg.lora.target_modules or find_linear_names(model)
    names = {id(m): n.rsplit(".", 1)[-1] for n, m in model.named_modules()}
    embeddings = [names[id(model.get_input_embeddings())], names[id(model.get_output_embeddings())]]
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    modules_to_save = embeddings if cfg.lora.train_embeddings else []
    tokens = added if cfg.lora.train_embeddings is None else []
    # a tied head follows the embedding's trainable rows by itself; an untied one is named with the same rows
    token_indices: list[int] | dict[str, list[int]] | None = (
        (tokens if tied else dict.fromkeys(embeddings, tokens)) if tokens else None)
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.lora_alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(targets), modules_to_save=list(modules_to_save) or None,
                      trainable_token_indices=token_indices, bias="none", task_type="CAUSAL_LM",
                      ensure_weight_tying=tied and bool(modules_to_save))
    try:
        model = get_peft_model(model, lora)
    except ValueError as e:
        raise TrainError(f"LoRA target modules {targets}: {e}") from None
    frozen = frozen_to_compute_dtype(model, quantisation_config().bnb_4bit_compute_dtype)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    info = ModelInfo(
        name_or_path=name_or_path, path=path, architecture=type(model.get_base_model()).__name__,
        attention=attention, parameters=parameters, trainable_parameters=trainable,
        quantised_bytes=quantised_bytes, bf16_bytes=bf16_bytes, linear4bit=n4, quant_type=quant.bnb_4bit_quant_type,
        double_quant=quant.bnb_4bit_use_double_quant, compute_dtype=str(quant.bnb_4bit_compute_dtype).split(".")[-1],
        unquantised_linear=unquantised, target_modules=list(targets), modules_to_save=modules_to_save,
        trainable_tokens=tokens, frozen_dtype=str(frozen).split(".")[-1],
        lora_r=cfg.lora.r, lora_alpha=cfg.lora.lora_alpha, resized_embeddings=resized)
    return model, tokenizer, info


def plain_token_ids(tokenizer: Any, text: str) -> list[int]:
    """The ids `text` encodes to with the tokenizer's own vocabulary, its added tokens ignored: `</think>` as
    `</`, `think`, `>` even after `</think>` was added as one token (normaliser, pre-tokeniser, then the model)."""
    backend = tokenizer.backend_tokenizer
    if backend.normalizer is not None:
        text = backend.normalizer.normalize_str(text)
    pieces = backend.pre_tokenizer.pre_tokenize_str(text) if backend.pre_tokenizer is not None else [(text, None)]
    return [token.id for piece, _ in pieces for token in backend.model.tokenize(piece)]


def resize_for_added_tokens(model: Any, tokenizer: Any) -> list[int]:
    """Give the tokens added to `tokenizer` embedding (and untied head) rows; returns their ids.

    Each new row starts as the mean of the rows of the pieces its text encodes to without it (`</think>`: the mean of
    `</`, `think` and `>`), so a protocol token starts where the model already reads and writes its text, rather than
    at one random draw around the mean of all rows (transformers' `mean_resizing`), which the few hundred steps of a
    small SFT run must first pull apart for six tokens at once. A token whose text encodes to nothing known gets
    the mean of all rows. Deterministic, so training, evaluation (base and checkpoints) and `curate merge` all call
    it: rows a checkpoint did not train (`[lora] train_embeddings = false`) are the ones training saw."""
    import torch

    rows = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    added = list(range(rows, len(tokenizer)))
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    matrices = [emb] + ([head.weight] if head is not None and head.weight.data_ptr() != emb.data_ptr() else [])
    with torch.no_grad():
        for i in added:
            text = tokenizer.added_tokens_decoder[i].content if i in tokenizer.added_tokens_decoder else (
                tokenizer.convert_ids_to_tokens(i))
            pieces = [p for p in plain_token_ids(tokenizer, text) if p < rows]
            for weight in matrices:
                source = weight[pieces] if pieces else weight[:rows]
                weight[i] = source.float().mean(0).to(weight.dtype)
    return added


def frozen_to_compute_dtype(model: Any, compute_dtype: Any) -> Any:
    """Put the frozen fp32 weights `prepare_model_for_kbit_training` upcast back in `compute_dtype` when that is
    bf16 (they were loaded in bf16: see the module docstring); trained ones stay fp32. Returns the frozen dtype."""
    import torch

    if compute_dtype != torch.bfloat16:
        return torch.float32
    for p in model.parameters():
        if not p.requires_grad and p.dtype == torch.float32:
            p.data = p.data.to(torch.bfloat16)
    return torch.bfloat16


def load_for_generation(name_or_path: str, adapter: Path | None = None, template: str = "model") -> tuple[Any, Any]:
    """A 4-bit base (the zero-shot baseline) or a base with a checkpoint's LoRA adapter, in eval mode.

    `template="chatml"` (the run's `[mask] template`): the tokenizer renders the built-in ChatML, with the
    protocol tokens it lacks added as in training (`curate.templates.use_chatml`), base and checkpoints alike."""
    quiet_libraries()
    from peft import PeftModel

    from curate.templates import use_chatml

    model, tokenizer, _ = load_base(name_or_path, training=False)
    if template == "chatml":
        use_chatml(tokenizer)
    if adapter is not None and not (adapter / "adapter_config.json").exists():
        raise TrainError(f"{adapter}: no adapter_config.json (not a LoRA checkpoint of `curate train`)")
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:  # the rows training started from; a checkpoint's adapter then puts back those it trained
        resize_for_added_tokens(model, tokenizer)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter), trust_remote_code=False)
    model.config.use_cache = True
    model.eval()
    return model, tokenizer
