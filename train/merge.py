"""`curate merge`: a checkpoint's LoRA adapter merged into a bf16 copy of its base, a standalone model.

    merge_checkpoint(RUN/checkpoint-N, OUT) -> OUT      # loads with plain transformers

The base is the one the adapter names, loaded in bf16 (not 4-bit, so the merged weights are not
quantised), from a local folder only, running no code a folder ships. OUT is written beside its place
and renamed into it, with merge.json naming the checkpoint and the base; an existing OUT is replaced
only with `force` and only when `curate merge` wrote it (`check_merge_output`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from curate_train import INSTALL_HINT, TrainError
from curate_train.checkpoints import adapter_damage, saved_step

MERGE_INFO = "merge.json"
"""What `curate merge` writes into its output beside the model: the checkpoint and base it came from. It is
also how a later `curate merge --force` knows that the folder is one it may replace."""


def merge_marker(folder: Path) -> bool:
    """A folder `curate merge` wrote: its merge.json names the checkpoint and the base."""
    try:
        info = json.loads((folder / MERGE_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and "checkpoint" in info and "base_model" in info


def check_merge_output(output: Path, inputs: list[Path], force: bool) -> None:
    """Raise OutputError or TrainError unless `output` may be written: absent or empty, or, with `force`, a
    model `curate merge` wrote; never a symbolic link, `/`, the current folder, home, or an input (the
    checkpoint, the base) or a folder holding one."""
    from curate.outputs import check_output_dir

    if (output.exists() or output.is_symlink()) and not output.is_dir():
        raise TrainError(f"{output}: exists and is not a folder; give a new folder for the merged model")
    # force=True here leaves only the checks that hold even with --force; what merge replaces is narrower (below)
    check_output_dir(output, inputs, merge_marker, "merged model", force=True)
    if not output.exists() or not any(output.iterdir()):
        return
    if not merge_marker(output):
        raise TrainError(f"{output}: exists and was not written by `curate merge` (no {MERGE_INFO}); give a new "
                         "folder (--force only replaces a merged model)")
    if not force:
        raise TrainError(f"{output}: holds a model merged earlier; pass --force to replace it, or give a new folder")


def base_folder(base: str) -> str:
    """The local folder of the base an adapter names: a named model (`tiny`, `smollm2-135m`: what checkpoints of
    `curate train` record) resolved to its cache folder here, made on first use (`curate_train.packaged`); anything else
    as it is."""
    from curate_train.packaged import is_named, resolve_model

    return resolve_model(base) if is_named(base) else base


def merge_checkpoint(checkpoint: Path, output: Path, force: bool = False) -> Path:
    """Merge the LoRA adapter of `checkpoint` into a bf16 copy of its base and save it with its tokenizer.

    The base is the one the adapter names (`base_model_name_or_path`), loaded in bf16 rather than 4-bit
    so that the merged weights are not quantised; no code the folders ship is run. Written beside
    `output` (`.DIR.tmp-PID`) and renamed into place, with merge.json; an existing `output` is replaced only
    with `force` and only when merge wrote it (`check_merge_output`).
    """
    from curate.outputs import output_lock, remove_stale

    config = checkpoint / "adapter_config.json"
    if not config.exists():
        raise TrainError(f"{checkpoint}: no adapter_config.json; give a checkpoint folder of `curate train` "
                         "(RUN/checkpoint-N)")
    try:
        adapter = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TrainError(f"{config}: cannot be read ({e}); give a checkpoint folder of `curate train`") from None
    named = (adapter.get("base_model_name_or_path") if isinstance(adapter, dict) else None) or ""
    base_path = base_folder(named)
    if not base_path or not Path(base_path).exists():
        raise TrainError(f"{checkpoint}: its base model `{named}` is not a local folder; no model hub access here")
    damage = adapter_damage(checkpoint)
    if damage is not None:
        raise TrainError(f"{checkpoint}: a damaged checkpoint ({damage}); give a whole one")
    inputs = [checkpoint, Path(base_path)]
    check_merge_output(output, inputs, force)
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        raise TrainError(f"{INSTALL_HINT} ({e})") from None
    from curate_train import quiet_libraries
    from curate_train.model import (
        REMOTE_CODE,
        load_errors,
        load_tokenizer_for,
        model_load_error,
        resize_for_added_tokens,
    )

    quiet_libraries()
    tokenizer = load_tokenizer_for(str(checkpoint) if (checkpoint / "tokenizer_config.json").exists() else base_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.bfloat16, local_files_only=True,
                                                     trust_remote_code=False)
    except load_errors() as e:
        text = str(e).strip()
        if "custom code" in text or "trust_remote_code" in text:
            raise TrainError(f"base model `{base_path}`: {REMOTE_CODE}") from None
        if type(e).__name__ == "SafetensorError":  # a damaged weights file: say so, and what to do
            raise model_load_error(str(base_path), e) from None
        raise TrainError(f"cannot load the base `{base_path}`: {text.splitlines()[0] if text else e!r}") from None
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        resize_for_added_tokens(model, tokenizer)  # the rows training started from; the adapter's trained ones win
    merged = PeftModel.from_pretrained(model, str(checkpoint), trust_remote_code=False).merge_and_unload()
    output.resolve().parent.mkdir(parents=True, exist_ok=True)
    with output_lock(output.resolve(), "merge"):
        check_merge_output(output, inputs, force)  # again, now that no other merge can write it
        remove_stale(output)
        tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            merged.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            info = {"checkpoint": str(checkpoint.resolve()), "base_model": named,
                    "global_step": saved_step(checkpoint)}
            (tmp / MERGE_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            if output.exists():  # an empty folder, or (with --force) a model merged earlier
                output.rename(old)
            tmp.rename(output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not output.exists():
                old.rename(output)  # put the earlier model back
            raise
        shutil.rmtree(old, ignore_errors=True)
    return output
