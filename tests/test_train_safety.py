"""`curate train` and `curate merge` against hostile model folders, outputs, faults and data (issue #13).

Each test builds its hostile input or fault itself, in a scratch tree: a model folder that ships code,
`-o` pointed at the user's own folders, a disk that fills up mid-checkpoint (a monkeypatched write:
the tests run as root, which permissions do not stop), SIGTERM during a save, a damaged checkpoint,
config values that would exhaust memory, and bucket names that carry terminal escapes and Rich markup.
The model is the tiny Llama built offline (not pretrained), trained for two short epochs.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.test_train_core import build_row, chat, math_, weather, write_build

torch = pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")
pytest.importorskip("peft")

QUICK = """
seed = 0
[optim]
lr = 1e-3
epochs = 2
gradient_checkpointing = false
[data]
tokens_per_batch = 1200
[eval]
eval_steps = 2
[generation]
prompts_per_bucket = 1
samples = 2
max_new_tokens = 8
"""


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """`curate.cli.main` sets the offline variables of `curate.network`; restored after each test."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        monkeypatch.setenv(name, "1")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("safety-cache")
    os.environ["CURATE_CACHE"] = str(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    from curate_train.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_build(tmp_path_factory.mktemp("build") / "out")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "quick.toml"
    path.write_text(QUICK, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def partial(tiny: Path, build: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A trained run left in RUN.partial/ (two epoch checkpoints), as a run stopped before its evaluation."""
    from curate_train.config import validated
    from curate_train.recipe import run_training

    cfg = validated(tomllib.loads(QUICK), "quick")
    return run_training(build, str(tiny), cfg, tmp_path_factory.mktemp("runs") / "run", finalize=False)


@pytest.fixture(scope="module")
def finished(partial: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished RUN/ (run.json complete) made from a copy of `partial`."""
    from curate_train.recipe import finalize_run

    root = tmp_path_factory.mktemp("finished")
    shutil.copytree(partial.run_dir, root / "run.partial")
    copy = dataclasses.replace(partial, run_dir=root / "run.partial",
                               checkpoints=[root / "run.partial" / c.name for c in partial.checkpoints])
    return finalize_run(copy, root / "run").run_dir


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (links as their target path), for byte-for-byte comparisons."""
    files = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            files[str(p.relative_to(root))] = os.readlink(p).encode()
        elif p.is_file():
            files[str(p.relative_to(root))] = p.read_bytes()
    return files


def curate(*args: str) -> int:
    from curate.cli import main

    return main([str(a) for a in args])


def error_line(err: str) -> str:
    """The one `curate: error:` line of a failed command (progress lines may come before it, no traceback)."""
    errors = [line for line in err.splitlines() if line.startswith("curate: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert err.rstrip("\n").endswith(errors[0])
    return errors[0]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- 1. model folders that ship code ----------------------------------------------------------------

EVIL = '''import pathlib
pathlib.Path({sentinel!r}).write_text("the folder's code ran")
from transformers import PreTrainedTokenizerFast, LlamaConfig, LlamaForCausalLM


class EvilTokenizer(PreTrainedTokenizerFast):
    pass


class EvilConfig(LlamaConfig):
    model_type = "evil-llama"


class EvilModel(LlamaForCausalLM):
    config_class = EvilConfig
'''


def plant_code(folder: Path, sentinel: Path, tokenizer: bool = True, model: bool = False) -> Path:
    """Make `folder` ship `evil.py` through `auto_map`, for its tokenizer and/or its model."""
    (folder / "evil.py").write_text(EVIL.format(sentinel=str(sentinel)), encoding="utf-8")
    if tokenizer:
        meta = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        meta["tokenizer_class"] = "EvilTokenizer"  # a class transformers does not know: only the code has it
        meta["auto_map"] = {"AutoTokenizer": [None, "evil.EvilTokenizer"]}
        (folder / "tokenizer_config.json").write_text(json.dumps(meta), encoding="utf-8")
    if model:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["model_type"] = "evil-llama"
        config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def run_answering_yes(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`curate ARGS` with `y` waiting on stdin, as a user who would answer transformers' prompt."""
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
           "HF_HOME": str(tmp_path / "hf"), "CURATE_CACHE": os.environ["CURATE_CACHE"]}
    return subprocess.run([sys.executable, "-m", "curate", *args], capture_output=True, text=True, input="y\ny\ny\n",
                          cwd=tmp_path, env=env, timeout=600)


def test_a_tokenizer_folder_that_ships_code_is_never_run(tmp_path: Path, cache: Path) -> None:
    from curate.tokenizer import builtin_tokenizer_dir

    sentinel = tmp_path / "SENTINEL"
    folder = plant_code(Path(shutil.copytree(builtin_tokenizer_dir(), tmp_path / "evil-tokenizer")), sentinel)
    records = tmp_path / "raw.jsonl"
    records.write_text(json.dumps(weather(0)) + "\n", encoding="utf-8")
    res = run_answering_yes(tmp_path, "mask", str(records), "--tokenizer", str(folder))
    assert not sentinel.exists()
    assert "[y/N]" not in res.stdout + res.stderr  # no prompt: the answer is always no
    assert res.returncode == 2
    line = error_line(res.stderr)
    assert "ships its own Python code" in line and "never runs" in line


def test_a_model_folder_that_ships_code_is_never_run_by_train(tmp_path: Path, tiny: Path, build: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    by_tokenizer = plant_code(Path(shutil.copytree(tiny, tmp_path / "evil-tokenizer")), sentinel)
    by_model = plant_code(Path(shutil.copytree(tiny, tmp_path / "evil-model")), sentinel, tokenizer=False, model=True)
    for folder in (by_tokenizer, by_model):
        res = run_answering_yes(tmp_path, "train", str(build), "--model", str(folder), "-o", str(tmp_path / "run"))
        assert not sentinel.exists(), folder
        assert "[y/N]" not in res.stdout + res.stderr
        assert res.returncode == 2, res.stderr
        assert "ships its own Python code" in error_line(res.stderr)
        assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_loading_for_generation_and_merging_never_runs_model_code(tmp_path: Path, tiny: Path, partial: Any) -> None:
    """The other two loaders of train: the evaluation's (`load_for_generation`) and merge's base."""
    from curate_train import TrainError
    from curate_train.merge import merge_checkpoint
    from curate_train.model import load_4bit

    sentinel = tmp_path / "SENTINEL"
    evil = plant_code(Path(shutil.copytree(tiny, tmp_path / "evil-model")), sentinel, tokenizer=False, model=True)
    with pytest.raises(TrainError, match="ships its own Python code"):
        load_4bit(str(evil), "evil-model", training=False)
    ckpt = Path(shutil.copytree(partial.checkpoints[0], tmp_path / "checkpoint"))
    meta = json.loads((ckpt / "adapter_config.json").read_text())
    (ckpt / "adapter_config.json").write_text(json.dumps({**meta, "base_model_name_or_path": str(evil)}))
    with pytest.raises(TrainError, match="ships its own Python code"):
        merge_checkpoint(ckpt, tmp_path / "merged")
    assert not sentinel.exists() and not (tmp_path / "merged").exists()


# --- 3. where -o may point ----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, build: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project folder (the current folder), holding their files and a build."""
    root = tmp_path / "project"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "plan.md").write_text("my plan\n")
    (root / "data.jsonl").write_bytes(b'{"id": "mine"}\n')
    shutil.copytree(build, root / "build")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".bashrc").write_text("export X=1\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.txt").write_text("keep\n")
    (root / "link").symlink_to(tmp_path / "elsewhere")
    (root / "exp.partial").mkdir()
    (root / "exp.partial" / "draft.txt").write_text("not a run\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return root


@pytest.mark.parametrize(("output", "reason"), [
    ("/", "is the root folder"),
    (".", "is the current folder"),
    ("build", "is an input"),
    ("..", "holds the current folder"),
    ("HOME", "is your home folder"),
    ("link", "is a symbolic link"),
    ("notes", "exists and was not written by `curate train`"),
    ("exp", "exp.partial: exists and was not written by `curate train`"),
])
def test_train_never_writes_over_the_users_folders(project: Path, tiny: Path, quick: Path, output: str, reason: str,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    before = snapshot(project.parent)
    out = os.environ["HOME"] if output == "HOME" else output
    assert curate("train", "build", "--model", tiny, "--config", quick, "-o", out) == 2
    assert reason in error_line(capfd.readouterr().err)
    assert snapshot(project.parent) == before  # every file the user had, byte for byte, and nothing new


def test_a_second_train_into_the_same_run_exits_2(project: Path, tiny: Path, quick: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    from curate.outputs import output_lock

    with output_lock((project / "run").resolve(), "train"):  # a first run is writing RUN
        assert curate("train", "build", "--model", tiny, "--config", quick, "-o", "run") == 2
    line = error_line(capfd.readouterr().err)
    assert "another `curate train`" in line and f"(pid {os.getpid()})" in line
    assert not (project / "run").exists() and not (project / "run.partial").exists()


def test_merge_replaces_only_a_model_it_wrote(project: Path, partial: Any, tiny: Path,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(partial.run_dir, project / "run.partial"))
    ckpt = run / partial.checkpoints[-1].name
    before = snapshot(project.parent)

    for force in ((), ("--force",)):  # a folder merge did not write: never, --force or not
        assert curate("merge", ckpt, "-o", "notes", *force) == 2
        assert "not written by `curate merge`" in error_line(capfd.readouterr().err)
    for place, reason in ((".", "is the current folder"), (str(tiny), "is an input"), ("run.partial", "holds an input"),
                          ("link", "is a symbolic link")):
        assert curate("merge", ckpt, "-o", place, "--force") == 2
        assert reason in error_line(capfd.readouterr().err)
    assert snapshot(project.parent) == before

    assert curate("merge", ckpt, "-o", "merged") == 0
    info = json.loads((project / "merged" / "merge.json").read_text())
    assert info["checkpoint"] == str(ckpt.resolve()) and info["base_model"] == str(tiny)
    assert curate("merge", ckpt, "-o", "merged") == 2  # without --force, an earlier merge stays
    assert "pass --force" in error_line(capfd.readouterr().err)
    first = run / partial.checkpoints[0].name
    assert curate("merge", first, "-o", "merged", "--force") == 0
    assert json.loads((project / "merged" / "merge.json").read_text())["checkpoint"] == str(first.resolve())
    assert (project / "merged" / "config.json").exists()
    assert not [p for p in project.iterdir() if p.name.startswith(".merged")]  # no .tmp-/.old-/.lock left
    after = snapshot(project.parent)
    assert {k: v for k, v in after.items() if not k.startswith("project/merged/")} == before


# --- 4. faults while training --------------------------------------------------------------------------


def test_a_checkpoint_cut_short_by_a_full_disk_is_never_kept(project: Path, tiny: Path, quick: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    from curate_train.recipe import SFTTrainer

    saves = []
    original = SFTTrainer._save_optimizer_and_scheduler

    def disk_full_on_the_second(self: Any, output_dir: str) -> None:
        saves.append(output_dir)
        if len(saves) < 2:
            return original(self, output_dir)
        half = Path(output_dir) / "optimizer.pt"
        half.write_bytes(b"PK\x03\x04 half an optimizer")  # what a full disk leaves: a truncated file
        raise OSError(errno.ENOSPC, "No space left on device", str(half))

    monkeypatch.setattr(SFTTrainer, "_save_optimizer_and_scheduler", disk_full_on_the_second)
    assert curate("train", "build", "--model", tiny, "--config", quick, "-o", "run") == 2
    line = error_line(capfd.readouterr().err)
    work = (project / "run.partial").resolve()
    kept = names(work)
    ckpts = [n for n in kept if n.startswith("checkpoint-")]
    assert len(ckpts) == 1  # the first epoch's; the second was never renamed into place
    assert not [n for n in kept if n.startswith(".")]  # no staging folder, no temporary file
    assert "cannot write the checkpoint (optimizer.pt: No space left on device); free some space" in line
    assert line.endswith(f"the run stays in {work}; continue with --resume {work / ckpts[0]}")
    assert not (project / "run").exists()
    from curate_train.checkpoints import checkpoint_damage

    assert checkpoint_damage(work / ckpts[0]) is None


def test_a_damaged_checkpoint_is_never_suggested_or_resumed(tmp_path: Path, partial: Any, tiny: Path,
                                                            build: Path) -> None:
    from curate_train import TrainError
    from curate_train.checkpoints import checkpoint_damage
    from curate_train.config import validated
    from curate_train.recipe import run_training

    cfg = validated(tomllib.loads(QUICK), "quick")
    work = Path(shutil.copytree(partial.run_dir, tmp_path / "run.partial"))
    first, last = (work / c.name for c in partial.checkpoints)
    (last / "trainer_state.json").unlink()  # the old failure: saving stopped before the trainer state
    with pytest.raises(TrainError, match=rf"holds an interrupted run; resume with --resume {first}, or delete"):
        run_training(build, str(tiny), cfg, tmp_path / "run")
    optimizer = first / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])
    assert checkpoint_damage(first) == "optimizer.pt is truncated"
    with pytest.raises(TrainError, match="holds an interrupted run with no whole checkpoint; delete it"):
        run_training(build, str(tiny), cfg, tmp_path / "run")
    with pytest.raises(TrainError, match=r"a damaged checkpoint \(optimizer.pt is truncated\)"):
        run_training(build, str(tiny), cfg, tmp_path / "run", resume=str(first))

    weights = last / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    (last / "trainer_state.json").write_text('{"epoch": 2}')
    assert checkpoint_damage(last) == "trainer_state.json has no global_step (damaged)"
    (last / "trainer_state.json").write_text('{"global_step": 6')
    assert checkpoint_damage(last) == "trainer_state.json cannot be read (damaged)"
    (last / "trainer_state.json").write_text('{"global_step": 6}')
    assert checkpoint_damage(last) == "adapter_model.safetensors is truncated"


@pytest.mark.parametrize("fault", ["read-only", "no-permission"])
def test_a_run_folder_that_cannot_be_written_is_one_line_and_exit_2(project: Path, tiny: Path, quick: Path,
                                                                    monkeypatch: pytest.MonkeyPatch, fault: str,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    import curate_train.recipe
    from curate_train.callbacks import MetricsLog

    if fault == "read-only":  # the first file of RUN.partial/
        def refuse(path: Path, text: str) -> None:
            raise OSError(errno.EROFS, "Read-only file system", str(path))

        monkeypatch.setattr(curate_train.recipe, "write_file", refuse)
        expected = "run.json: Read-only file system; the file system is read-only: choose another -o"
    else:  # the metrics log, once training has started
        def refuse_log(self: Any, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if state.global_step >= 1:
                raise PermissionError(errno.EACCES, "Permission denied", str(self.path))

        monkeypatch.setattr(MetricsLog, "on_log", refuse_log)
        expected = "metrics.jsonl: Permission denied; no permission: fix the folder's permissions"
    assert curate("train", "build", "--model", tiny, "--config", quick, "-o", "run") == 2
    line = error_line(capfd.readouterr().err)
    assert expected in line and line.endswith("nothing was written")
    assert not (project / "run").exists() and not (project / "run.partial").exists()


def safetensors_error() -> Exception:
    """How safetensors reports a full disk (its own exception type, the errno only in the text)."""
    kind = type("SafetensorError", (Exception,), {})
    return kind('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on '
                'device" })')


@pytest.mark.parametrize("raised", ["oserror", "safetensors"])
def test_merge_on_a_full_disk_is_one_line_and_writes_nothing(project: Path, partial: Any, raised: str,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    from transformers import PreTrainedModel

    def full(self: Any, save_directory: Any, *args: Any, **kwargs: Any) -> None:
        Path(save_directory).mkdir(parents=True, exist_ok=True)
        (Path(save_directory) / "model.safetensors").write_bytes(b"half")
        if raised == "oserror":
            raise OSError(errno.ENOSPC, "No space left on device", str(Path(save_directory) / "model.safetensors"))
        raise safetensors_error()

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full)
    assert curate("merge", partial.checkpoints[-1], "-o", "merged") == 2
    line = error_line(capfd.readouterr().err)
    assert "No space left on device" in line and "free some space" in line and line.endswith("merged was not written")
    assert not [p for p in project.iterdir() if "merged" in p.name]


def test_a_damaged_checkpoint_of_a_finished_run_changes_nothing(tmp_path: Path, finished: Path, tiny: Path,
                                                                build: Path, quick: Path,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    ckpt = sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[0]
    optimizer = ckpt / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    before = snapshot(tmp_path)
    for out in (run, tmp_path / "new"):
        assert curate("train", build, "--model", tiny, "--config", quick, "--resume", ckpt, "-o", out) == 2
        assert "a damaged checkpoint (optimizer.pt is truncated)" in error_line(capfd.readouterr().err)
        assert snapshot(tmp_path) == before  # RUN/ as it was (metrics.jsonl too), no RUN.partial/, no new run


def test_a_finished_run_is_resumed_only_into_a_new_run(tmp_path: Path, finished: Path, tiny: Path, build: Path,
                                                       quick: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from curate_train.config import validated
    from curate_train.recipe import run_training

    run = Path(shutil.copytree(finished, tmp_path / "run"))
    ckpts = sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    before = snapshot(run)
    assert curate("train", build, "--model", tiny, "--config", quick, "--resume", ckpts[0], "-o", run) == 2
    assert "is a finished run and stays as it is" in error_line(capfd.readouterr().err)
    assert not (tmp_path / "run.partial").exists()

    resumed = run_training(build, str(tiny), validated(tomllib.loads(QUICK), "quick"), tmp_path / "new",
                           resume=str(ckpts[0]))
    assert snapshot(run) == before
    finished_info = json.loads((run / "run.json").read_text())
    assert resumed.complete and resumed.global_step == finished_info["global_step"]
    assert [p.name for p in resumed.checkpoints] == [p.name for p in ckpts]
    steps = [json.loads(line)["step"] for line in (tmp_path / "new" / "metrics.jsonl").read_text().splitlines()
             if "eval_loss" in line]
    assert steps[0] == 0 and steps == sorted(steps) and len(steps) == len(set(steps))


def test_a_full_disk_while_copying_a_finished_runs_checkpoint_leaves_nothing(tmp_path: Path, finished: Path,
                                                                             tiny: Path, build: Path, quick: Path,
                                                                             monkeypatch: pytest.MonkeyPatch,
                                                                             capfd: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    ckpt = sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
    before = snapshot(tmp_path)
    copyfile = shutil.copyfile

    def full(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(dst).name == "optimizer.pt":
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return copyfile(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", full)
    assert curate("train", build, "--model", tiny, "--config", quick, "--resume", ckpt, "-o", tmp_path / "new") == 2
    line = error_line(capfd.readouterr().err)
    assert "optimizer.pt: No space left on device); free some space" in line and line.endswith("nothing was written")
    assert snapshot(tmp_path) == before  # the finished run as it was, no new.partial/


def test_build_once_removes_what_dead_builds_left(tmp_path: Path) -> None:
    from curate.tokenizer import build_once

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # a process that has exited
    target = tmp_path / "tiny-pretrained-0123"
    stale = tmp_path / f".{target.name}.building-{dead}"
    alive = tmp_path / f".{target.name}.building-1"  # pid 1 runs: a build in progress elsewhere
    other = tmp_path / f".tiny-pretrained-4567.building-{dead}"  # another target's: not ours to remove
    for folder in (stale, alive, other):
        folder.mkdir()
        (folder / "weights").write_bytes(b"x" * 100)
    seen = []

    def make(tmp: Path) -> None:
        seen.append((tmp.name, stale.exists()))
        (tmp / "config.json").write_text("{}")

    assert build_once(target, "config.json", make) == target
    assert seen == [(f".{target.name}.building-{os.getpid()}", False)]
    assert not stale.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, alive.name, other.name])

    def fails(tmp: Path) -> None:
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        build_once(tmp_path / "another", "config.json", fails)
    assert not list(tmp_path.glob(".another.*"))


def test_sigterm_during_a_checkpoint_leaves_a_resumable_run(project: Path, tiny: Path, quick: Path, build: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capfd: pytest.CaptureFixture[str]) -> None:
    from curate_train.config import validated
    from curate_train.recipe import SFTTrainer, run_training

    saves = []
    original = SFTTrainer._save_rng_state

    def sigterm_on_the_second(self: Any, output_dir: str) -> None:
        saves.append(output_dir)
        original(self, output_dir)
        if len(saves) == 2:  # half-way through the second checkpoint: the weights are written, the state not
            assert (Path(output_dir) / "adapter_model.safetensors").exists()
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(SFTTrainer, "_save_rng_state", sigterm_on_the_second)
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("the test runner handles SIGTERM itself")
    assert curate("train", "build", "--model", tiny, "--config", quick, "-o", "run") == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the default comes back
    err = capfd.readouterr().err
    work = (project / "run.partial").resolve()
    ckpts = [n for n in names(work) if n.startswith("checkpoint-")]
    assert len(ckpts) == 1 and not [n for n in names(work) if n.startswith(".")]
    assert f"curate: stopped (SIGTERM); the run stays in {work}; continue with --resume {work / ckpts[0]}" in err
    assert "Traceback" not in err

    monkeypatch.setattr(SFTTrainer, "_save_rng_state", original)
    resumed = run_training(build, str(tiny), validated(tomllib.loads(QUICK), "quick"), project / "run",
                           resume=str(work / ckpts[0]))
    assert resumed.complete and len(resumed.checkpoints) == 2 and not work.exists()


def test_a_stale_checkpoint_staging_folder_is_removed_on_resume(tmp_path: Path, partial: Any) -> None:
    from curate_train.checkpoints import remove_stale_staging, staging_dir

    work = Path(shutil.copytree(partial.run_dir, tmp_path / "run.partial"))
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = staging_dir(work, 9, int(done.stdout))
    live = staging_dir(work, 9, 1)
    for folder in (dead, live):
        (folder / "checkpoint-9").mkdir(parents=True)
    assert remove_stale_staging(work) == [dead]
    assert not dead.exists() and live.exists()


# --- 5. sizes that multiply memory ------------------------------------------------------------------------


@pytest.mark.parametrize(("toml", "message"), [
    ("[lora]\nr = 4096", "[lora] r: 4096 is out of range; allowed: 1..1024"),
    ("[lora]\nr = 0", "[lora] r: 0 is out of range; allowed: 1..1024"),
    ("[lora]\nalpha = 1_000_000", "[lora] alpha: 1000000 is out of range; allowed: 1..65536"),
    ("[data]\ntokens_per_batch = 100_000_000", "[data] tokens_per_batch: 100000000 is out of range; allowed: "
                                                 "64..1048576"),
    ("[data]\nbatch_size = 100_000", "[data] batch_size: 100000 is out of range; allowed: 1..4096"),
    ("[data]\neval_limit_per_bucket = 10_000_000", "[data] eval_limit_per_bucket: 10000000 is out of range; "
                                                     "allowed: 1..1000000"),
    ("[eval]\ntokens_per_batch = 10_000_000", "[eval] tokens_per_batch: 10000000 is out of range; allowed: "
                                                "64..1048576"),
    ("[optim]\nepochs = 1e6", "[optim] epochs: 1000000.0 is out of range; allowed: > 0 and <= 1000"),
    ("[optim]\nmax_steps = 1_000_000_000", "[optim] max_steps: 1000000000 is out of range; allowed: 1..10000000"),
    ("[optim]\ngrad_accumulation = 100_000", "[optim] grad_accumulation: 100000 is out of range; allowed: 1..4096"),
    ("[generation]\nsamples = 10_000", "[generation] samples: 10000 is out of range; allowed: 1..256"),
    ("[generation]\nmax_new_tokens = 1_000_000", "[generation] max_new_tokens: 1000000 is out of range; allowed: "
                                                   "1..32768"),
    ("[generation]\nprompts_per_bucket = 1_000_000", "[generation] prompts_per_bucket: 1000000 is out of range; "
                                                       "allowed: 1..10000"),
    ("[generation]\nbatch_size = 100_000", "[generation] batch_size: 100000 is out of range; allowed: 1..1024"),
    ("[generation]\nbatch_size = 1024\nsamples = 256", "[generation]: batch_size x samples = 262144 sequences "
                                                        "decoded at once; at most 4096"),
    ("seed = -1", "seed: -1 is out of range; allowed: 0..4294967295"),
    ("seed = 18446744073709551616", "seed: 18446744073709551616 is out of range; allowed: 0..4294967295"),
])
def test_sizes_that_multiply_memory_are_bounded_naming_key_and_range(tmp_path: Path, toml: str, message: str) -> None:
    from curate_train import TrainError
    from curate_train.config import load_train_config

    path = tmp_path / "train.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(TrainError) as err:
        load_train_config(path)
    assert str(err.value) == f"{path}: {message}" or str(err.value).startswith(f"{path}: {message}")


def test_bounds_are_checked_before_the_model_loads(tmp_path: Path, build: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("not json: loading this model would fail first if it were read")
    config = tmp_path / "train.toml"
    config.write_text("[lora]\nr = 100000\n")
    assert curate("train", build, "--model", model, "--config", config, "-o", tmp_path / "run") == 2
    assert "train.toml: [lora] r: 100000 is out of range; allowed: 1..1024" in error_line(capfd.readouterr().err)
    assert curate("train", build, "--model", "tiny", "--seed", "-5", "-o", tmp_path / "run") == 2
    assert "--seed: seed: -5 is out of range" in error_line(capfd.readouterr().err)
    assert names(tmp_path) == ["model", "train.toml"]


# --- 6. names from data in the terminal -------------------------------------------------------------------

HOSTILE = "[/]\x1b[2J"


def hostile_build(out: Path) -> Path:
    """A build whose eval (and train) rows carry a bucket named `[/]` + clear-screen, and ids with OSC escapes."""
    out.mkdir(parents=True)
    makers = {"single_call": weather, HOSTILE: chat, "math": math_}
    for split, n, offset in (("train", 4, 0), ("eval", 2, 100)):
        rows = []
        for i in range(n):
            for bucket, make in makers.items():
                row = build_row(make(offset + i), bucket, i, split)
                row["id"] = f"{row['id']}\x1b]0;owned\x07"
                rows.append(row)
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out


@pytest.mark.slow
def test_bucket_names_from_data_never_reach_the_terminal_raw(tmp_path: Path, tiny: Path, quick: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    build = hostile_build(tmp_path / "build")
    assert curate("train", build, "--model", tiny, "--config", quick, "-o", tmp_path / "run") == 0
    out, err = capfd.readouterr()
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "\\x1b[2J" in err  # the eval lines name the bucket, made visible
    assert "[/]\\x" in out  # and so does the report's table (shortened to its column)
    report = json.loads((tmp_path / "run" / "eval_report.json").read_text())
    assert HOSTILE in {b["bucket"] for b in report["graduation"]["comparison"]["buckets"]}  # the data is kept as is


def test_a_damaged_weights_file_is_one_line_naming_the_model_and_the_fix(tmp_path: Path) -> None:
    """safetensors raises its own error (not an OSError) for a damaged file: it must not escape as a traceback."""
    from transformers import LlamaConfig

    from curate_train.model import TrainError, load_4bit

    folder = tmp_path / "model"
    LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=2).save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}" + b"\x00" * 64)
    with pytest.raises(TrainError) as err:
        load_4bit(str(folder), "model")
    message = str(err.value)
    assert "\n" not in message and "`model`" in message and "damaged" in message and "save or copy" in message
