"""Tokenizers for masking and training: the built-in byte-level BPE, or any Hugging Face tokenizer.

The built-in tokenizer is a byte-level BPE trained with `tokenizers` on rendered trajectories (the
sample corpus by default), with the protocol tags as atomic special tokens, saved as a standard
Hugging Face tokenizer folder whose chat template is `curate.render.CHATML_TEMPLATE`, so that
`AutoTokenizer.from_pretrained(folder)` loads it offline. It is built on first use into a cache
folder named by a hash of its corpus and settings, so the same corpus always gives the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from curate.extras import needs
from curate.render import CHATML_TEMPLATE, IM_END, SPECIAL_TOKENS, render_chatml
from curate.resources import SAMPLE_CORPUS, SAMPLE_TOOLS

# transformers warns at import that torch is missing; masking never needs torch.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

BUILTIN = "builtin"
PAD_TOKEN = "<|endoftext|>"
DEFAULT_VOCAB_SIZE = 4096
# The sample corpus and tools, shipped as package data: a wheel install builds the same tokenizer.
DEFAULT_CORPUS = SAMPLE_CORPUS
DEFAULT_TOOLS = SAMPLE_TOOLS


class TokenizerError(RuntimeError):
    """A tokenizer that cannot be loaded or used, with what to do about it."""


def cache_dir() -> Path:
    return Path(os.environ.get("CURATE_CACHE", Path.home() / ".cache" / "curate"))


def _corpus_texts(paths: Iterable[Path], tools: list[Any]) -> Iterator[str]:
    from curate.readers import RecordReader
    from curate.toolset import ToolSet

    toolset = ToolSet(tools)
    reader = RecordReader()
    for path in paths:
        for result in reader.read(path):
            rec = result.record
            if rec is not None and rec.messages:
                yield render_chatml(toolset.attach(rec)).text  # rendered as they will be trained: with their tools


def build_builtin_tokenizer(corpus: Iterable[Path], out_dir: Path, vocab_size: int = DEFAULT_VOCAB_SIZE,
                            tools_file: Path | None = None) -> Path:
    """Train the built-in byte-level BPE on rendered trajectories and save it as a HF tokenizer folder.

    Records without tools are rendered with the specs of `tools_file`, as training will see them.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from curate.readers import load_tool_specs
    from curate.records import ToolSpec

    tools = [ToolSpec.model_validate(t) for t in load_tool_specs(tools_file)] if tools_file else []

    specials = [PAD_TOKEN, *SPECIAL_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_corpus_texts(corpus, tools), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=IM_END, pad_token=PAD_TOKEN,
        additional_special_tokens=list(SPECIAL_TOKENS), clean_up_tokenization_spaces=False,
        model_max_length=1 << 20,
    )
    fast.chat_template = CHATML_TEMPLATE
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return out_dir


def builtin_tokenizer_dir(corpus: Path = DEFAULT_CORPUS, vocab_size: int = DEFAULT_VOCAB_SIZE,
                          tools_file: Path | None = DEFAULT_TOOLS) -> Path:
    """The built-in tokenizer's folder for `corpus`, built (atomically) if it isn't cached yet."""
    try:
        import tokenizers
    except ImportError:
        raise TokenizerError(needs("the built-in tokenizer needs `tokenizers` and `transformers`", "mask")) from None
    if not corpus.exists():  # the packaged corpus is missing only from a broken install
        raise TokenizerError(f"{corpus}: corpus for the built-in tokenizer not found; reinstall curate-agents "
                             "or pass --tokenizer NAME_OR_PATH")
    h = hashlib.sha256()
    h.update(corpus.read_bytes())
    if tools_file is not None and tools_file.exists():
        h.update(tools_file.read_bytes())
    else:
        tools_file = None
    h.update(json.dumps([vocab_size, tokenizers.__version__, CHATML_TEMPLATE, SPECIAL_TOKENS]).encode())
    target = cache_dir() / "tokenizers" / f"builtin-{h.hexdigest()[:16]}"
    return build_once(target, "tokenizer.json",
                      lambda tmp: build_builtin_tokenizer([corpus], tmp, vocab_size, tools_file))


def build_once(target: Path, marker: str, make: Callable[[Path], Any]) -> Path:
    """A cached folder: `target` if it holds `marker`, else made by `make(tmp)` in a folder beside it and
    renamed into place, so a killed build never leaves a half-made cache entry and two processes
    building at once both end up with the one that won the rename.

    The folder beside is `.TARGET.building-PID`: what a killed process left there is removed by the next
    build of the same target (`curate.outputs.remove_stale`), never while its process runs.
    """
    if (target / marker).exists():
        return target
    from curate.outputs import remove_stale

    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    tmp = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # an earlier attempt of this process that could not clean up
    tmp.mkdir()
    try:
        make(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process built it first
            if not (target / marker).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_tokenizer(name_or_path: str | None = None) -> Any:
    """A fast Hugging Face tokenizer: the built-in one (None or "builtin"), a local folder or a hub name.

    Code a tokenizer folder ships (`auto_map` in its tokenizer_config.json) is never run
    (`trust_remote_code=False`): such a tokenizer loads without it or not at all. A hub name is looked up
    only when downloads are allowed (`curate.network`).
    """
    if name_or_path in (None, BUILTIN):
        name_or_path = str(builtin_tokenizer_dir())
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise TokenizerError(needs("masking needs `transformers` and `tokenizers`", "mask")) from None
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
    except (OSError, ValueError) as e:
        from curate.network import hub_hint

        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "custom code" in str(e) or "trust_remote_code" in str(e):
            hint = ("it ships its own Python code (`auto_map` in tokenizer_config.json), which curate never runs; "
                    "give a tokenizer that loads without custom code")
        elif Path(name_or_path).exists():
            hint = f"the folder has no loadable tokenizer files ({first})"
        else:
            hint = f"{hub_hint()}; give a local folder, or omit --tokenizer for the built-in one ({first})"
        raise TokenizerError(f"cannot load tokenizer `{name_or_path}`: {hint}") from None
    if not getattr(tok, "is_fast", False):
        raise TokenizerError(f"tokenizer `{name_or_path}` is not a fast tokenizer; masks need character offsets")
    return tok
