"""The checkpoints of a run: which are whole, where one is written before it counts, how a run resumes.

A checkpoint (`RUN.partial/checkpoint-N`) is whole when its trainer_state.json parses and has its
step, its adapter (adapter_config.json and the weights) is there, and the optimizer and scheduler
states are complete files. Only a whole checkpoint is ever suggested for `--resume`, resumed from,
or evaluated; `checkpoint_damage` says what is wrong with one that is not, without loading it
(a truncated safetensors or torch file is found from its header and its end alone).

The Trainer writes a checkpoint into `.checkpoint-N.tmp-PID/checkpoint-N` beside the others and it
is renamed into place once every file is written (`curate_train.recipe.SFTTrainer`), so a full disk, a
kill or SIGTERM mid-save never leaves a `checkpoint-N` that looks resumable. What a killed run left
there is removed by the next run into the same folder (`remove_stale_staging`).

Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

from curate.outputs import remove_stale

PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
TORCH_STATES = ("optimizer.pt", "scheduler.pt")
"""What the Trainer needs to continue exactly; written with torch.save (a zip archive)."""

_STAGING = re.compile(r"^\.(checkpoint-\d+)\.(?:tmp|old)-\d+$")


def step_of(path: Path) -> int:
    """N of `checkpoint-N` (-1 for any other name)."""
    name = path.name
    if not name.startswith(PREFIX) or not name[len(PREFIX):].isdigit():
        return -1
    return int(name[len(PREFIX):])


def checkpoint_folders(run: Path) -> list[Path]:
    """Every `checkpoint-N` folder of `run`, whole or not, by step."""
    try:
        found = [p for p in run.iterdir() if step_of(p) >= 0 and p.is_dir()]
    except OSError:
        return []
    return sorted(found, key=step_of)


def partial_dir(run_dir: Path) -> Path:
    """RUN.partial/ beside RUN/: where a run lives until it is finished (`curate_train.recipe`)."""
    return run_dir.with_name(run_dir.name + ".partial")


def trainer_state(ckpt: Path) -> dict[str, Any]:
    """The Trainer's state saved with a checkpoint (trainer_state.json: global_step, epoch, log history)."""
    return json.loads((ckpt / TRAINER_STATE).read_text(encoding="utf-8"))


def trainer_step(ckpt: Path) -> int:
    """The global step a whole checkpoint was saved at."""
    return int(trainer_state(ckpt)["global_step"])


def saved_step(ckpt: Path) -> int | None:
    """The global step of any checkpoint folder; None when it records none (not saved by `curate train`)."""
    try:
        step = trainer_state(ckpt).get("global_step")
    except (OSError, ValueError, AttributeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _safetensors_damage(path: Path) -> str | None:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8 or n > 100 << 20:
                return f"{path.name} is truncated"
            header = json.loads(fh.read(n))
    except (OSError, ValueError):
        return f"{path.name} cannot be read"
    if not isinstance(header, dict):
        return f"{path.name} is not a safetensors file"
    end = max((t["data_offsets"][1] for k, t in header.items()
               if k != "__metadata__" and isinstance(t, dict) and len(t.get("data_offsets", ())) == 2), default=0)
    return f"{path.name} is truncated" if 8 + n + end > size else None


def adapter_damage(folder: Path) -> str | None:
    """What makes the LoRA adapter in `folder` unusable (its config or weights missing, unreadable or cut
    short); None when it is whole."""
    try:
        json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {ADAPTER_CONFIG}"
    except (OSError, ValueError):
        return f"{ADAPTER_CONFIG} cannot be read (damaged)"
    weights = next((folder / w for w in ADAPTER_WEIGHTS if (folder / w).is_file()), None)
    if weights is None:
        return f"no adapter weights ({ADAPTER_WEIGHTS[0]})"
    if weights.suffix == ".safetensors":
        return _safetensors_damage(weights)
    return None


def set_adapter_base(folder: Path, base: str) -> None:
    """Name the adapter's base `base` in its adapter_config.json (`base_model_name_or_path`): a named model (`tiny`,
    `smollm2-135m`) rather than the cache folder it was resolved to on the machine that trained
    (`curate_train.merge.base_folder` resolves it again where the checkpoint is used)."""
    path = folder / ADAPTER_CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def checkpoint_damage(ckpt: Path) -> str | None:
    """What makes `ckpt` unusable for resuming or evaluation, as a short phrase; None when it is whole."""
    if not ckpt.is_dir():
        return "not a folder" if ckpt.exists() else "no such folder"
    try:
        state = json.loads((ckpt / TRAINER_STATE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {TRAINER_STATE} (not a checkpoint of `curate train`, or one whose saving was cut short)"
    except (OSError, ValueError):
        return f"{TRAINER_STATE} cannot be read (damaged)"
    step = state.get("global_step") if isinstance(state, dict) else None
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return f"{TRAINER_STATE} has no global_step (damaged)"
    if (damage := adapter_damage(ckpt)) is not None:
        return damage
    for name in TORCH_STATES:
        path = ckpt / name
        if not path.is_file():
            return f"no {name}"
        if not zipfile.is_zipfile(path):  # torch.save writes a zip: a cut-short file has no central directory
            return f"{name} is truncated"
    return None


def whole_checkpoints(run: Path) -> list[Path]:
    """The whole checkpoints of `run`, by step (damaged ones left out)."""
    return [c for c in checkpoint_folders(run) if checkpoint_damage(c) is None]


def latest_whole(run: Path) -> Path | None:
    ckpts = whole_checkpoints(run)
    return ckpts[-1] if ckpts else None


def resume_hint(work: Path) -> str:
    """What to do after a run in `work` (RUN.partial/) stopped: resume from its last whole checkpoint, or
    start over."""
    last = latest_whole(work) if work.exists() else None
    if last is not None:
        return f"continue with --resume {last}"
    if work.exists():
        return f"no whole checkpoint was saved: delete {work} and run again"
    return "no checkpoint was saved: run again"


def staging_dir(run: Path, step: int, pid: int | None = None) -> Path:
    """Where checkpoint-`step` of `run` is written before it is renamed into place (its parent folder)."""
    return run / f".{PREFIX}{step}.tmp-{pid if pid is not None else os.getpid()}"


def remove_stale_staging(run: Path) -> list[Path]:
    """Remove the checkpoint staging folders (`.checkpoint-N.tmp-PID`, and `.old-PID` of a replaced one) of
    `run` whose process is gone; returns them."""
    removed: list[Path] = []
    try:
        names = sorted({m.group(1) for p in run.iterdir() if (m := _STAGING.match(p.name))})
    except OSError:
        return removed
    for name in names:
        removed += remove_stale(run / name)
    return removed


def install(staged: Path, final: Path) -> None:
    """Rename the written checkpoint `staged` to `final`, replacing an older `final` (a resumed run saves
    the same step again) only once the new one is in place."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    try:
        staged.rename(final)
    except BaseException:
        if old.exists() and not final.exists():
            old.rename(final)  # the earlier checkpoint stays
        raise
    shutil.rmtree(old, ignore_errors=True)


def copy_for_resume(ckpt: Path, work: Path, metrics: str, also: tuple[str, ...] = ()) -> Path:
    """Start the new run `work` from `ckpt` of another run: its whole checkpoints up to `ckpt`'s step, its
    metrics log up to that step and the files named in `also` (the base model's evaluation) are copied; the other
    run is only read. Returns the copy of `ckpt`."""
    step = trainer_step(ckpt)
    source = ckpt.parent
    for c in whole_checkpoints(source):
        if step_of(c) <= step_of(ckpt) and c != ckpt:
            shutil.copytree(c, work / c.name)
    shutil.copytree(ckpt, work / ckpt.name)
    log = source / metrics
    if log.is_file():
        (work / metrics).write_text("".join(line + "\n" for line in metrics_until(log, step)), encoding="utf-8")
    for name in also:
        if (source / name).is_file():
            shutil.copyfile(source / name, work / name)
    return work / ckpt.name


def metrics_until(path: Path, step: int) -> list[str]:
    """The lines of the metrics log `path` logged at or before `step` (a line cut short by a crash is dropped)."""
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        logged = entry.get("step", 0) if isinstance(entry, dict) else None
        if isinstance(logged, int) and logged <= step:
            kept.append(line)
    return kept
