"""Training throughput and peak memory: packed against padded batches, and against TRL's `SFTTrainer`.

    python bench/train_speed.py [--steps 4] [--batch-size 4] [--repeat 2] [--threads 1] [--quick] [--no-trl]

On the sample mix (`curate build sample_data/raw.jsonl --tools sample_data/tools.json`, built into
bench/data/train_build/ if missing), with the tiny model (`curate_train.tiny.tiny_dir()`, 4-bit NF4 + LoRA)
and the tiny run's config (`curate_train.tiny.tiny_train_config()`), every configuration trains the same
`--steps` batches of `--batch-size` masked examples, in the same order, one optimizer step each
(cosine schedule with warmup over the run, same lr, weight decay, clipping, seed; no evaluation, no
checkpoint, no generation):

- ours, padded: `curate_train.recipe.SFTTrainer` on right-padded batches with an attention mask (`packing = false`);
- ours, packed: the same batches flattened into one row, positions restarting per example, on the
  `sdpa_packed` attention (`packing = true`); and once more with the recipe's own token budget
  (`data.tokens_per_batch`): the same examples in more, smaller batches, so its step count differs;
- TRL, padded and padding-free: `trl.SFTTrainer` given the same 4-bit base (loaded and prepared for
  k-bit training as ours is), the same LoRA settings as a `peft_config`, and the same examples already
  tokenized and masked (`input_ids`, `labels`; `dataset_kwargs={"skip_prepare_dataset": True}`: no chat
  template, no truncation, no re-masking), with the same Trainer arguments. Its padding-free mode is
  meant for flash attention, which does not exist on CPU: on the model's SDPA attention, transformers
  builds a block-diagonal mask from `position_ids`. The last row gives TRL our `sdpa_packed`
  attention instead, so that it differs from ours only by the trainer (loss, collator, adapters).

Each configuration runs in a fresh process (so peak RSS, `ru_maxrss`, is its own), `--repeat` times,
the repeats interleaved across configurations so that a change of machine load hits all of them.
`tokens` are the real (non-padding) tokens of the timed batches, `trained` the ones carrying loss
(assistant tokens), `computed` the positions the model ran, padding included. The first step
(allocations, first kernel dispatch) is not timed: seconds run from the end of step 1 to the end of
the last step, wall clock, and CPU tok/s uses the process's CPU time instead, which moves less when
other jobs share the machine. `peak MB` is the process's peak RSS, `+train` what training added to
the peak of imports, model and data. Losses are the logged training loss (mean over trained tokens
of a step): the last step's, and the mean over all steps; the same batches give the same losses up
to floating point, which checks that every configuration trains the same thing. Figures are
medians of the repeats, with the spread (max - min) of the seconds.

Every run uses one torch thread unless `--threads` says otherwise: on a shared 2-core machine two
threads contending with other jobs are many times slower and far noisier, and the ratios between
configurations are what this measures. 7-9 minutes with the defaults on 2 busy cores; `--quick`
(3 steps, 1 repeat, no token-budget row) about 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

BUILD = REPO / "bench" / "data" / "train_build"
RESULT = "RESULT "
OURS_PADDED, OURS_PACKED, OURS_BUDGET = "ours, padded", "ours, packed", "ours, packed, {budget:,}-token budget"
TRL_PADDED, TRL_FREE = "TRL {version}, padded", "TRL {version}, padding-free"
TRL_FREE_OURS = "TRL {version}, padding-free, sdpa_packed"
OURS = (OURS_PADDED, OURS_PACKED, OURS_BUDGET)
TRL = (TRL_PADDED, TRL_FREE, TRL_FREE_OURS)
PADDED = (OURS_PADDED, TRL_PADDED)


@dataclasses.dataclass
class Run:
    """What one configuration measured in its own process (tokens and seconds: steps 2..N)."""

    steps: int
    tokens: int
    trained_tokens: int
    computed: int
    seconds: float
    cpu_seconds: float
    first_step: float
    """Wall seconds of `Trainer.train()` up to the end of step 1 (set-up and warm-up included)."""
    peak_rss_mb: float
    loaded_rss_mb: float
    """Peak RSS before training started (imports, model, data)."""
    final_loss: float
    mean_loss: float
    eval_loss: float
    """Mean loss over the trained tokens of the fixed eval examples after the last step (the same
    function for every configuration: one example per forward, no padding)."""
    step_seconds: list[float]
    """Wall seconds of each timed step (2..N)."""


# --- the parent: data, processes, table --------------------------------------------------------------


def ensure_build() -> Path:
    """The sample mix, built once into bench/data/train_build/ by `curate build`."""
    if not (BUILD / "train.jsonl").exists():
        subprocess.run([sys.executable, "-m", "curate", "build", "sample_data/raw.jsonl", "--tools",
                        "sample_data/tools.json", "-o", str(BUILD)], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
    return BUILD


def workload(steps: int, batch_size: int, out: Path) -> dict[str, Any]:
    """The examples every configuration trains, in batch order, written to `out` for the child processes.

    The tiny run's seeded training sample, masked for the tiny model's tokenizer, planned into padded
    batches (seeded); the first `steps` batches are the workload. The recipe's packed plan of the same
    examples (by its token budget) is kept beside it."""
    from curate_train.data import load_split, packed_batches, padded_batches
    from curate_train.model import open_model
    from curate_train.tiny import tiny_dir, tiny_train_config

    cfg = tiny_train_config()
    model_dir, tokenizer = open_model(str(tiny_dir()))
    limit = max(cfg.data.train_limit or 0, steps * batch_size)
    data = load_split(BUILD / "train.jsonl", tokenizer, cfg.mask, limit=limit, seed=cfg.seed)
    held_out = load_split(BUILD / "eval.jsonl", tokenizer, cfg.mask, per_bucket=cfg.data.eval_limit_per_bucket,
                          seed=cfg.seed)
    plan = padded_batches(data.examples, batch_size, seed=cfg.seed)[:steps]
    if len(plan) < steps or any(len(b) < batch_size for b in plan):
        raise SystemExit(f"the sample mix has too few examples for {steps} batches of {batch_size}")
    examples = [data.examples[i] for batch in plan for i in batch]
    batches = [list(range(k, k + batch_size)) for k in range(0, len(examples), batch_size)]
    info = {"model": model_dir, "batches": batches, "tokens_per_batch": cfg.data.tokens_per_batch,
            "budget_batches": packed_batches(examples, cfg.data.tokens_per_batch, seed=cfg.seed),
            "examples": [{"input_ids": ex.input_ids, "labels": ex.labels} for ex in examples],
            "eval_examples": [{"input_ids": ex.input_ids, "labels": ex.labels} for ex in held_out.examples]}
    out.write_text(json.dumps(info), encoding="utf-8")
    return info


def run_child(config: str, work: Path, threads: int | None) -> Run | str:
    """One configuration in a fresh process: its Run, or the reason it could not run."""
    env = dict(os.environ)
    cmd = [sys.executable, __file__, "--child", config, "--work", str(work)]
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            payload = json.loads(line[len(RESULT):])
            return payload["error"] if "error" in payload else Run(**payload)
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return f"exit {proc.returncode}: {tail}"


@dataclasses.dataclass
class Measured:
    configs: list[str]
    runs: dict[str, list[Run]]
    errors: dict[str, str]
    info: dict[str, Any]
    trl_version: str | None
    load_start: float
    started: float

    def label(self, config: str) -> str:
        return config.format(budget=self.info["tokens_per_batch"], version=self.trl_version or "")


def measure(steps: int, batch_size: int, repeat: int, threads: int | None, quick: bool = False,
            trl: bool = True) -> Measured:
    """Every configuration `repeat` times, each run in a fresh process, repeats interleaved."""
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    ensure_build()
    trl_version = installed_version("trl") if trl else None
    configs = [OURS_PADDED, OURS_PACKED] + ([] if quick else [OURS_BUDGET])
    if trl:
        configs += list(TRL)
    runs: dict[str, list[Run]] = {c: [] for c in configs}
    errors: dict[str, str] = {}
    if trl_version is None and trl:
        errors.update({c: "trl is not installed (pip install trl)" for c in TRL})
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        work = Path(tmp)
        info = workload(steps, batch_size, work / "workload.json")
        for _ in range(repeat):  # interleaved: a change of load hits every configuration alike
            for config in configs:
                if config not in errors:
                    out = run_child(config, work, threads)
                    if isinstance(out, str):
                        errors[config] = out
                    else:
                        runs[config].append(out)
    info["n_eval"] = len(info.pop("eval_examples"))
    # tokens of each timed step's batch (steps 2..N), the same batch in every configuration
    info["step_tokens"] = [sum(len(info["examples"][i]["input_ids"]) for i in batch) for batch in info["batches"][1:]]
    del info["examples"]
    return Measured(configs, runs, errors, info, trl_version, load_start, started)


def step_ratios(ours: list[Run], theirs: list[Run]) -> list[float]:
    """Their seconds over ours for each timed step of each repetition: the same batch on both sides."""
    return [t / o for a, b in zip(ours, theirs, strict=False)
            for o, t in zip(a.step_seconds, b.step_seconds, strict=True)]


def paired_verdict(ratios: list[float]) -> str:
    """Ours faster (or slower) only when every paired step says so; otherwise no finding."""
    if min(ratios) > 1.0:
        return "ours faster"
    if max(ratios) < 1.0:
        return "OURS SLOWER"
    return "same within the spread"


def run(steps: int = 6, batch_size: int = 4, repeat: int = 1, threads: int = 1) -> dict[str, Any]:
    """The side-by-side table for bench/run_all.py: ours (packed, padded) against TRL's SFTTrainer."""
    from bench.common import comparison_table, machine, table

    m = measure(steps, batch_size, repeat, threads, quick=True)
    rows, rates = [], {}
    for config in m.configs:
        if config in m.errors:
            rows.append([m.label(config), "failed: " + m.errors[config], None, None, None, None, None, None])
            continue
        rs = m.runs[config]
        mid = sorted(rs, key=lambda r: r.seconds)[(len(rs) - 1) // 2]
        per_step = [t / sec for r in rs for t, sec in zip(m.info["step_tokens"], r.step_seconds, strict=True)]
        rates[config] = mid.tokens / mid.seconds
        rows.append([m.label(config), mid.tokens / mid.seconds, f"{min(per_step):,.0f}-{max(per_step):,.0f}",
                     statistics.median(r.peak_rss_mb for r in rs), statistics.median(r.eval_loss for r in rs),
                     mid.final_loss, mid.steps, None])
    fastest_trl = max((c for c in TRL if c in rates), key=lambda c: rates[c], default=None)
    for row, config in zip(rows, m.configs, strict=True):
        if config in rates and fastest_trl:
            row[-1] = rates[config] / rates[fastest_trl]
    vs = []
    pairs = dict.fromkeys(((OURS_PACKED, fastest_trl), (OURS_PADDED, TRL_PADDED), (OURS_PACKED, TRL_FREE_OURS)))
    for ours, theirs in pairs:
        if ours in rates and theirs in rates:
            ratio = rates[ours] / rates[theirs]
            paired = step_ratios(m.runs[ours], m.runs[theirs])
            vs.append([f"tokens/s, {m.label(ours)} vs {m.label(theirs)} (per-step ratios "
                       f"{min(paired):.2f}-{max(paired):.2f})", ratio, paired_verdict(paired)])
    return {
        "stage": "train", "title": "Training: curate train's recipe vs TRL SFTTrainer (tiny Llama, 4-bit NF4 + LoRA)",
        "machine": machine(), "versions": {k: installed_version(k) for k in
                                           ("torch", "transformers", "peft", "bitsandbytes", "trl")},
        "runs": {m.label(c): [dataclasses.asdict(r) for r in m.runs[c]] for c in m.configs},
        "tables": [
            table(f"{steps} optimizer steps of the same {batch_size}-example batches, same masks, LoRA and "
                  f"arguments; steps 2..{steps} timed",
                  ["configuration", "tokens/s", "range (per step)", "peak RSS MB", "eval loss after", "last train loss",
                   "steps", "vs fastest TRL"], rows),
            comparison_table(vs),
        ],
        "notes": [f"One torch thread per run ({threads}), each configuration in a fresh process; the range is "
                  "the tokens/s of each timed step (the batches differ in length, so it shows the batches as much "
                  "as noise). The verdicts pair the steps instead: every configuration trains the same batch at "
                  "step k, so each step gives one ratio of the two sides; faster or slower is said only when all "
                  "of them agree. Eval loss: the same function for every configuration after "
                  f"the last step, on the tiny run's {m.info['n_eval']} eval examples (two per bucket), one "
                  "example per forward.",
                  "TRL's padding-free mode is meant for flash attention, which CPUs lack; the last TRL row gives "
                  "it our sdpa_packed attention so that it differs from ours only by the trainer.",
                  "The same batches give the same losses up to floating point: equal eval losses show every "
                  "configuration trained the same thing."],
        "seconds": round(time.perf_counter() - m.started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps (batches) per configuration, >= 2")
    parser.add_argument("--batch-size", type=int, default=4, help="examples per batch")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of every run (0: torch's default, every core)")
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 repeat, no token-budget row")
    parser.add_argument("--no-trl", action="store_true", help="only our configurations")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.work, args.threads)
        return
    if args.quick:
        args.steps, args.repeat = 3, 1
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step is not timed)")

    m = measure(args.steps, args.batch_size, args.repeat, args.threads, quick=args.quick, trl=not args.no_trl)
    configs, runs, errors, info, trl_version = m.configs, m.runs, m.errors, m.info, m.trl_version
    load_start, started = m.load_start, m.started

    def label(config: str) -> str:
        return config.format(budget=info["tokens_per_batch"], version=trl_version or "")

    print(f"# train speed: tiny Llama (4-bit NF4 + LoRA r=16) on the sample mix: {len(info['examples'])} examples "
          f"in {args.steps} batches of {args.batch_size}, steps 2..{args.steps} timed, median of {args.repeat}")
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {args.threads or 'default'}, Python {platform.python_version()}, "
          f"load {load_start:.1f} -> {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{time.perf_counter() - started:.0f} s in all")
    print(f"# {versions(trl_version)}")
    width = max(len(label(c)) for c in configs)
    print(f"{'configuration':<{width}} {'steps':>5} {'tokens':>7} {'trained':>7} {'computed':>8} {'seconds':>7} "
          f"{'spread':>6} {'tok/s':>6} {'CPU tok/s':>9} {'1st step':>8} {'peak MB':>7} {'+train':>6} "
          f"{'last loss':>9} {'mean loss':>9} {'eval loss':>9} {'vs padded':>9}")
    summary: dict[str, tuple[Run, float]] = {}
    for config in configs:
        if config in errors:
            print(f"{label(config):<{width}} failed: {errors[config]}")
            continue
        rs = runs[config]
        mid = sorted(rs, key=lambda r: r.seconds)[(len(rs) - 1) // 2]
        spread = max(r.seconds for r in rs) - min(r.seconds for r in rs)
        summary[config] = (mid, spread)
        rate = mid.tokens / mid.seconds
        cpu = statistics.median(r.cpu_seconds for r in rs)
        base = summary.get(OURS_PADDED)
        ratio = f"{rate / (base[0].tokens / base[0].seconds):>8.2f}x" if base else f"{'-':>9}"
        print(f"{label(config):<{width}} {mid.steps:>5} {mid.tokens:>7,} {mid.trained_tokens:>7,} "
              f"{mid.computed:>8,} {mid.seconds:>7.1f} {spread:>6.1f} {rate:>6,.0f} {mid.tokens / cpu:>9,.0f} "
              f"{statistics.median(r.first_step for r in rs):>8.1f} "
              f"{statistics.median(r.peak_rss_mb for r in rs):>7,.0f} "
              f"{statistics.median(r.peak_rss_mb - r.loaded_rss_mb for r in rs):>6,.0f} "
              f"{mid.final_loss:>9.4f} {mid.mean_loss:>9.4f} {mid.eval_loss:>9.4f} {ratio}")
    for line in verdict(summary, label):
        print(line)


def verdict(summary: dict[str, tuple[Run, float]], label: Callable[[str], str]) -> list[str]:
    """The issue's two aims, and every comparison where ours is slower, said plainly."""
    def rate(config: str) -> float:
        run = summary[config][0]
        return run.tokens / run.seconds

    def compare(ours: str, theirs: str, aim: float | None = None) -> str:
        x = rate(ours) / rate(theirs)
        # a difference inside the spread of the repeats is noise, not a finding
        noise = max(summary[c][1] / summary[c][0].seconds for c in (ours, theirs))
        if aim is not None:
            said = "met" if x >= aim else f"NOT met (aim {aim}x)"
        elif x >= 1.0:
            said = "ours is faster" if x - 1.0 > noise else "the same within the spread of the repeats"
        else:
            said = "OURS IS SLOWER" if 1.0 - x > noise else "the same within the spread of the repeats"
        return f"{label(ours)} vs {label(theirs)}: {x:.2f}x, {said}"

    lines = []
    if OURS_PACKED in summary and OURS_PADDED in summary:
        lines.append(compare(OURS_PACKED, OURS_PADDED, aim=1.5))
    trls = [c for c in TRL if c in summary]
    if OURS_PACKED in summary and trls:
        lines.append(compare(OURS_PACKED, max(trls, key=rate), aim=1.0) + " (the fastest TRL configuration)")
    for ours, theirs in ((OURS_PADDED, TRL_PADDED), (OURS_PACKED, TRL_FREE_OURS)):
        if ours in summary and theirs in summary:
            lines.append(compare(ours, theirs))
    return lines


def installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions(trl_version: str | None) -> str:
    found = [f"{n} {installed_version(n)}" for n in ("torch", "transformers", "peft", "bitsandbytes", "accelerate")]
    return ", ".join([*found, f"trl {trl_version or 'not installed'}"])


# --- the child: one configuration, one process ---------------------------------------------------------


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(config: str, work: Path, threads: int | None) -> None:
    """Train one configuration on the workload and print its Run as a RESULT line."""
    try:
        payload: dict[str, Any] = dataclasses.asdict(train_one(config, work, threads))
    except Exception as e:  # the parent prints the reason in the table
        payload = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    print(RESULT + json.dumps(payload), flush=True)


def train_one(config: str, work: Path, threads: int | None) -> Run:
    import torch
    from transformers import TrainerCallback, set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from curate.mask import IGNORE
    from curate_train import quiet_libraries
    from curate_train.data import BatchDataset, Collator, Example
    from curate_train.recipe import training_arguments
    from curate_train.tiny import tiny_train_config

    quiet_libraries()
    if threads:
        torch.set_num_threads(threads)
    info = json.loads((work / "workload.json").read_text(encoding="utf-8"))
    examples = [Example(None, e["input_ids"], e["labels"], "all", "all") for e in info["examples"]]
    plan: list[list[int]] = info["budget_batches"] if config == OURS_BUDGET else info["batches"]
    packing = config in (OURS_PACKED, OURS_BUDGET)

    cfg = tiny_train_config()
    cfg = cfg.model_copy(update={"optim": cfg.optim.model_copy(update={"max_steps": len(plan)}),
                                 "data": cfg.data.model_copy(update={"packing": packing})})
    # the recipe's own arguments, without evaluation or checkpoints, a loss logged every step, batches in order
    targs = dataclasses.replace(training_arguments(cfg, work / "run"), eval_strategy="no", save_strategy="no",
                                logging_steps=1, logging_first_step=False, train_sampling_strategy="sequential")
    set_seed(cfg.seed)
    if config in OURS:
        from curate_train.model import load_model
        from curate_train.recipe import SFTTrainer

        net, tokenizer, _ = load_model(info["model"], cfg, packed=packing)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        trainer: Any = SFTTrainer(model=net, args=targs, data_collator=Collator(packing, pad),
                                  train_dataset=BatchDataset(examples, plan), processing_class=tokenizer,
                                  eval_examples=[], eval_batches=[])
    else:
        trainer = trl_trainer(config, info, examples, cfg, targs, len(plan[0]))
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[tuple[float, float]] = []

        def on_step_end(self, *_: Any, **__: Any) -> None:
            self.ends.append((time.perf_counter(), time.process_time()))

    clock = StepClock()
    trainer.add_callback(clock)
    loaded = rss_mb()
    start = time.perf_counter()
    trainer.train()
    if trainer.state.global_step != len(plan) or len(clock.ends) != len(plan):
        raise RuntimeError(f"trained {trainer.state.global_step} steps, expected {len(plan)}")
    timed = [examples[i] for batch in plan[1:] for i in batch]
    computed = (sum(len(b) * max(len(examples[i].input_ids) for i in b) for b in plan[1:]) if config in PADDED
                else sum(len(ex.input_ids) for ex in timed))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    ends = [e[0] for e in clock.ends]
    return Run(steps=len(plan), tokens=sum(len(ex.input_ids) for ex in timed),
               trained_tokens=sum(sum(1 for lab in ex.labels[1:] if lab != IGNORE) for ex in timed),
               computed=computed, seconds=round(clock.ends[-1][0] - clock.ends[0][0], 3),
               cpu_seconds=round(clock.ends[-1][1] - clock.ends[0][1], 3),
               first_step=round(clock.ends[0][0] - start, 3), peak_rss_mb=round(rss_mb(), 1),
               loaded_rss_mb=round(loaded, 1), final_loss=losses[-1], mean_loss=statistics.fmean(losses),
               eval_loss=held_out_loss(trainer.model, info["eval_examples"]),
               step_seconds=[round(b - a, 3) for a, b in itertools.pairwise(ends)])


def held_out_loss(model: Any, rows: list[dict[str, Any]]) -> float:
    """Mean next-token loss over the trained (label != -100) tokens of `rows`, one example per forward."""
    import torch

    from curate.mask import IGNORE

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row["input_ids"]])
            labels = torch.tensor([[IGNORE, *row["labels"][1:]]])
            logits = model(input_ids=ids).logits.float()
            loss = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=IGNORE,
                                                     reduction="sum")
            total += float(loss)
            count += int((labels[0, 1:] != IGNORE).sum())
    return round(total / max(count, 1), 5)


def trl_trainer(config: str, info: dict[str, Any], examples: list[Any], cfg: Any, targs: Any,
                batch_size: int) -> Any:
    """TRL's SFTTrainer on the same base, LoRA settings, examples, masks and Trainer arguments as ours."""
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from trl import SFTConfig, SFTTrainer

    from curate.mask import IGNORE
    from curate_train.model import PACKED_ATTENTION, find_linear_names, load_4bit, load_tokenizer_for

    tokenizer = load_tokenizer_for(info["model"])
    attention = PACKED_ATTENTION if config == TRL_FREE_OURS else "sdpa"
    base = load_4bit(info["model"], info["model"], training=True, attention=attention)
    base.config.use_cache = False
    # as curate_train.model.load_model does before wrapping in LoRA (norms and embeddings in fp32)
    base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=cfg.optim.gradient_checkpointing,
                                           gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.lora_alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules or find_linear_names(base), bias="none",
                      task_type="CAUSAL_LM")
    # labels as our collators make them: the first token of an example never carries loss
    rows = {"input_ids": [ex.input_ids for ex in examples],
            "labels": [[IGNORE, *ex.labels[1:]] for ex in examples]}
    sft = SFTConfig(**{
        **targs.to_dict(),
        "hub_token": None,  # to_dict() masks it as "<HUB_TOKEN>"
        "per_device_train_batch_size": batch_size,
        "dataset_kwargs": {"skip_prepare_dataset": True},  # tokenized and masked already: no template, no re-mask
        "max_length": None,  # the mask policy has already applied its length limit
        "packing": False,
        "padding_free": config in (TRL_FREE, TRL_FREE_OURS),
        "assistant_only_loss": False,
        "completion_only_loss": False,
    })
    return SFTTrainer(model=base, args=sft, train_dataset=Dataset.from_dict(rows), processing_class=tokenizer,
                      peft_config=lora)


if __name__ == "__main__":
    main()
