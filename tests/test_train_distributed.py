"""`curate train` on 2 CPU processes (torchrun, gloo): the same eval losses as one process, one writer,
and a failing or killed process gives a clear message and a run that is never presented as finished.

The two-process run uses `grad_accumulation = 1` and the one-process run `grad_accumulation = 2`:
both then take the same 2 planned batches per optimizer step (the seeded sampler orders the batches
the same way; process r gets batches r, r + 2, ...), so their training, not only their evaluation,
must agree. LoRA dropout is off, since each process draws its own dropout masks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli
from tests.test_train_core import write_build

pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")
pytest.importorskip("peft")

# 12 train records in 4 batches of <= 800 tokens (an even number: no batch repeated to even out the
# processes), 6 eval records in 3 batches of <= 500 tokens (process 0 evaluates 2, process 1 one),
# an evaluation at every step; generation one prompt a batch, so the 3 prompts are split too.
CONFIG = """
seed = 0
[lora]
dropout = 0.0
[optim]
lr = 1e-3
epochs = {epochs}
gradient_checkpointing = false
grad_accumulation = {accumulation}
[data]
tokens_per_batch = 800
[eval]
eval_steps = 1
tokens_per_batch = 500
[generation]
prompts_per_bucket = 1
samples = 2
max_new_tokens = 8
batch_size = 1
"""

# Equal up to float rounding: eval sums are float64 over the same float32 token losses, added in
# another order (~1e-16 relative), and DDP adds the two processes' float32 gradients in another order
# than gradient accumulation does (~1e-7 relative), which a few optimizer steps carry into the eval
# loss at well under 1e-6 relative. (On the machine this was written on they are bitwise equal.)
REL = 1e-6

FAIL = """
import os
import sys

from curate_train.recipe import SFTTrainer

original = SFTTrainer.training_step


def training_step(self, *args, **kwargs):
    if os.environ.get("RANK") == "1" and self.state.global_step >= 2:  # after checkpoint-2 is saved
        if os.environ["FAIL_MODE"] == "kill":
            os.kill(os.getpid(), 9)
        raise RuntimeError("simulated failure in this process")
    return original(self, *args, **kwargs)


SFTTrainer.training_step = training_step
from curate.cli import main  # noqa: E402

sys.exit(main())
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, built (not pretrained): these tests are about mechanics."""
    os.environ.setdefault("CURATE_CACHE", str(tmp_path_factory.mktemp("train-cache")))
    from curate_train.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_build(tmp_path_factory.mktemp("build") / "out")


def env() -> dict[str, str]:
    return {"CURATE_CACHE": os.environ["CURATE_CACHE"], "OMP_NUM_THREADS": "1"}


def write_config(path: Path, accumulation: int, epochs: int = 1) -> Path:
    path.write_text(CONFIG.format(accumulation=accumulation, epochs=epochs), encoding="utf-8")
    return path


def torchrun(*args: str, extra: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`python -m torch.distributed.run --standalone --nproc_per_node 2 ARGS` (a free port, one machine)."""
    base = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **env(),
            **(extra or {})}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           *args], capture_output=True, text=True, cwd=REPO, timeout=timeout, env=base)


def evaluations(run: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if "eval_loss" in r]


def compared(row: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if k.startswith("eval_loss") or k in ("eval_tokens", "loss_since_last_eval")}


def test_shards_split_the_batches_and_a_plain_run_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from curate_train.distributed import Processes, StoppedByLauncher, launched, lost_peer

    shares = [Processes(r, 2).shard(range(5)) for r in (0, 1)]
    assert shares == [[0, 2, 4], [1, 3]]  # every item once, in rank order, uneven shares allowed
    plain = Processes()
    assert plain.is_main and not plain.distributed and plain.shard([1, 2]) == [1, 2]
    assert plain.sum([1, 2.5]) == [1.0, 2.5] and plain.gather("x") == ["x"]
    plain.barrier()  # a no-op without a process group
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launched() == Processes(1, 2) and launched().describe() == "rank 1 of 2"
    # a collective that failed because another process died points elsewhere; a real error does not
    assert lost_peer(RuntimeError("[pair.cc:553] Connection closed by peer [127.0.0.1]:55707"))
    assert lost_peer(StoppedByLauncher("stopped by the launcher (SIGTERM)"))
    assert not lost_peer(RuntimeError("CUDA out of memory"))


@pytest.mark.slow
def test_two_processes_give_the_eval_losses_of_one_and_one_copy_of_the_run(tiny: Path, build: Path,
                                                                          tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    res = run_cli("train", str(build), "--model", str(tiny), "--config", str(write_config(tmp_path / "1.toml", 2)),
                  "-o", str(one), env=env(), timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    res = torchrun("-m", "curate", "train", str(build), "--model", str(tiny),
                   "--config", str(write_config(tmp_path / "2.toml", 1)), "-o", str(two))
    assert res.returncode == 0, res.stderr[-3000:]

    # per-bucket and per-length eval loss, at every step (0: the base model), as one process measures them
    single, double = evaluations(one), evaluations(two)
    assert [r["step"] for r in double] == [r["step"] for r in single] == [0, 1, 2]
    for a, b in zip(single, double, strict=True):
        assert sum(k.startswith("eval_loss/bucket/") for k in b) == 3 and "eval_loss/length/short" in b
        assert compared(b) == pytest.approx(compared(a), rel=REL)
    assert compared(double[0]) == compared(single[0])  # the base model: the same batches, no training yet
    report_one = json.loads((one / "eval_report.json").read_text(encoding="utf-8"))
    report_two = json.loads((two / "eval_report.json").read_text(encoding="utf-8"))
    assert report_two["base"]["eval_loss_by_bucket"] == report_one["base"]["eval_loss_by_bucket"]
    assert report_two["base"]["generation"] == report_one["base"]["generation"]  # prompts split, outputs gathered
    assert report_two["graduation"]["recommended"] == report_one["graduation"]["recommended"]

    # each process trained on its own shard: together every planned batch once, in the same steps
    data = json.loads((two / "data.json").read_text(encoding="utf-8"))
    assert (data["processes"], data["batches_per_step"], data["steps_per_epoch"]) == (2, 2, 2)
    for run in (one, two):
        state = json.loads((run / "checkpoint-2" / "trainer_state.json").read_text(encoding="utf-8"))
        assert state["global_step"] == 2 and state["num_input_tokens_seen"] == data["train"]["tokens"]
    assert json.loads((two / "run.json").read_text(encoding="utf-8"))["processes"] == 2

    # one writer: the run is complete, renamed once, reported once, logged once
    assert not two.with_name("two.partial").exists()
    info = json.loads((two / "run.json").read_text(encoding="utf-8"))
    assert info["complete"] is True and info["checkpoints"] == ["checkpoint-2"]
    assert {p.name for p in two.iterdir()} == {p.name for p in one.iterdir()}
    # TensorBoard files: the Trainer's and, after evaluation, the generation metrics', all from process 0
    events = [p.name for p in (two / "tb").iterdir()]  # events.out.tfevents.TIME.HOST.PID.N
    assert events and len({name.split(".")[-2] for name in events}) == 1
    assert {p.name for p in (two / "checkpoint-2").glob("rng_state*")} == {"rng_state_0.pth", "rng_state_1.pth"}
    assert res.stdout.count("wrote ") == 1 and res.stdout.count("recommended") == 1
    assert res.stderr.count("base model, before training") == 1
    assert len(evaluations(two)) == 3  # metrics.jsonl: one line per evaluation, not one per process


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["raise", "kill"])
def test_a_failing_process_names_its_rank_and_the_run_stays_unfinished(tiny: Path, build: Path, tmp_path: Path,
                                                                      mode: str) -> None:
    script = tmp_path / "fail_on_rank_1.py"
    script.write_text(FAIL, encoding="utf-8")
    run = tmp_path / "run"
    res = torchrun(str(script), "train", str(build), "--model", str(tiny),
                   "--config", str(write_config(tmp_path / "2.toml", 1, epochs=2)), "-o", str(run),
                   extra={"FAIL_MODE": mode})
    assert res.returncode != 0
    err = res.stderr
    if mode == "raise":
        assert "rank 1 of 2 failed (RuntimeError: simulated failure in this process)" in err
    else:
        assert "SIGKILL" in err  # the launcher's summary: rank 1, killed
    assert "rank      : 1 (local_rank: 1)" in err  # the launcher's summary names the process that failed first
    assert "rank 0 of 2 stopped: another process of the run failed or was killed" in err
    assert f"--resume {run}.partial/checkpoint-2" in err  # what to do
    # nothing presented as finished: no RUN/, RUN.partial/ keeps the checkpoint to resume, without reports
    assert not run.exists()
    partial = tmp_path / "run.partial"
    assert (partial / "checkpoint-2" / "adapter_model.safetensors").exists()
    assert not (partial / "eval_report.json").exists()
    assert json.loads((partial / "run.json").read_text())["complete"] is False  # a run, marked unfinished
