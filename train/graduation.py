"""Graduation: which checkpoint to hand to RL, and is it ready?

A low training loss does not answer that. What predicts a good RL starting point is loss on
held-out data (and that it stopped improving), a protocol the model keeps (tags and tool calls),
pass@k at the largest k, and diversity that has not collapsed; and averages hide a capability
bucket that got worse. So every checkpoint gets the same checks, each with its numbers:

- `converged`: eval loss improved by less than `converged_min_delta` over the last
  `converged_window` evaluations (the best of those against the best before them);
- `not_overfitting`: eval loss − train loss ≤ `max_generalisation_gap`, the train loss being the
  token-weighted mean over the last `train_loss_window` optimizer steps up to the evaluation (50 by
  default; the steps it covers are in the check's detail), never the few steps between an epoch's
  end and the evaluation before it;
- `format_accuracy`, `tool_call_accuracy`: over all prompts, at least the thresholds;
- `diversity`: unique ratio and pairwise-different ratio of the samples at least the thresholds;
- `no_bucket_regression`: no bucket worse than the base model on eval loss or a key generation
  metric (by more than `converged_min_delta`, so that noise does not count).

Per-bucket regressions are listed against the previous checkpoint and against the base, each
marked with whether the average improved meanwhile (the regressions an average hides).

The recommended checkpoint is chosen by generalisation, never by recency. Candidates are the
checkpoints whose protocol holds (format and tool-call checks pass); among them those that also
neither overfit nor lost diversity come first. If no checkpoint keeps the protocol, those that pass
the format check are the candidates (a policy whose answers do not parse gives RL no reward to
learn from, while tool-call accuracy is what RL goes on to improve); if none does, all are
candidates. The recommendation names the tier. Within the candidates: lowest eval loss, where losses
within `converged_min_delta` of the best count as tied (below the convergence threshold a
difference is noise); among the tied, highest pass@k at the largest k, then highest unique ratio,
then lowest eval loss, then the earliest step (less training keeps more of the base's diversity
for RL). `ready_for_rl` holds when the recommended checkpoint passes every check.

Out-of-distribution sets (`[eval] ood`, `curate_train.ood`): each set has, for the base and every
checkpoint, its loss on assistant tokens and its generation metrics (`OodSetEval`).

- A checkpoint that improves in distribution (eval loss down, or overall tool-call or format
  accuracy up, by more than `converged_min_delta`) against the previous checkpoint or the base,
  while on some OOD set its loss rises by more than `ood_loss_tolerance` or its argument match or
  pass@k falls by more than `ood_metric_tolerance` against the same reference, is flagged
  (`OodRegression`, one sentence saying what to do). The flags do not fail a check.
- When OOD sets are given, the recommendation ranks by them inside the same tiers: the OOD loss of
  a checkpoint is the mean of its per-set losses (every set weighs the same); OOD losses within
  `ood_loss_tolerance` of the lowest count as tied; among the tied, highest OOD pass@k (the mean
  over sets of pass@k at the largest k), then lowest eval loss, highest pass@k, highest unique
  ratio, then the earliest step. A checkpoint with no OOD loss measured ranks after those with one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from curate_train.metrics import BucketMetrics, GenerationEval


class GraduationThresholds(BaseModel):
    """When SFT is done and a checkpoint may go to RL. The `[graduation]` section of the train config."""

    model_config = ConfigDict(extra="forbid")

    converged_min_delta: float = Field(0.01, ge=0, description="Smallest eval-loss improvement that counts.")
    converged_window: int = Field(3, ge=1, description="Evaluations without such an improvement = converged.")
    max_generalisation_gap: float = Field(0.15, description="Largest eval loss − train loss not called overfitting.")
    train_loss_window: int = Field(
        50, ge=1, le=10_000_000, description="Optimizer steps, ending at an evaluation, whose training loss "
        "(token-weighted) its eval loss is compared with for overfitting.")
    min_format_accuracy: float = Field(0.90, ge=0, le=1)
    min_tool_call_accuracy: float = Field(0.85, ge=0, le=1)
    min_unique_ratio: float = Field(0.5, ge=0, le=1)
    min_pairwise_ratio: float = Field(0.6, ge=0, le=1)
    ood_loss_tolerance: float = Field(0.05, ge=0, description="OOD loss rising by more than this is a regression.")
    ood_metric_tolerance: float = Field(
        0.05, ge=0, le=1, description="OOD argument match or pass@k falling by more than this is a regression.")


# --- inputs: the metric history of a run ------------------------------------------------------------


class EvalLogEntry(BaseModel):
    """One evaluation during training (the training log)."""

    model_config = ConfigDict(extra="forbid")

    step: int
    epoch: float | None = None
    train_loss: float | None = Field(
        None, description="Training loss over the window of steps `train_loss_steps` ending at this step.")
    train_loss_steps: tuple[int, int] | None = Field(
        None, description="The first and last optimizer step the training loss is the mean over.")
    eval_loss: float | None = Field(None, description="Eval loss on assistant tokens, all eval records.")
    eval_loss_by_bucket: dict[str, float] = Field(default_factory=dict)
    eval_loss_by_length: dict[str, float] = Field(default_factory=dict)


class CheckpointEval(BaseModel):
    """A saved checkpoint and the generation metrics measured on it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The checkpoint folder, e.g. `checkpoint-120`.")
    step: int
    epoch: float | None = None
    generation: GenerationEval | None = None


class BaselineEval(BaseModel):
    """The base model before SFT (the zero-shot baseline)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "base"
    eval_loss: float | None = None
    eval_loss_by_bucket: dict[str, float] = Field(default_factory=dict)
    eval_loss_by_length: dict[str, float] = Field(default_factory=dict)
    generation: GenerationEval | None = None


class OodResult(BaseModel):
    """One model (the base or a checkpoint) on one out-of-distribution set."""

    model_config = ConfigDict(extra="forbid")

    loss: float | None = Field(None, description="Mean cross-entropy on the set's assistant (trained) tokens.")
    tokens: int = Field(0, description="Trained tokens the loss is the mean over.")
    generation: GenerationEval | None = None


class OodSetEval(BaseModel):
    """One out-of-distribution set (`[eval] ood` / `--ood`): what was read of it, and every model on it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The file stem; every record of the set is in a bucket of this name.")
    path: str
    read: int = Field(description="Records in the file, usable or not.")
    records: int = Field(description="Usable records: read, with an assistant turn to evaluate.")
    skipped: dict[str, int] = Field(default_factory=dict, description="Records left out, by reason.")
    examples: int = Field(0, description="Records masked into loss examples (with the run's tokenizer and policy).")
    dropped: dict[str, int] = Field(default_factory=dict, description="Records masking dropped, by reason.")
    base: OodResult | None = None
    checkpoints: dict[str, OodResult] = Field(default_factory=dict, description="By checkpoint name.")


def history_from_log(entries: Iterable[Mapping[str, Any]], window: int = 50) -> list[EvalLogEntry]:
    """The evaluations of a Trainer log (`RUN/metrics.jsonl` rows), each with the training loss of its window.

    Rows with `eval_loss` are evaluations; their `eval_loss/bucket/<name>` and
    `eval_loss/length/<name>` keys are the per-bucket losses. The training loss of an evaluation at
    step S is the mean over the training logs of steps S - `window` + 1 .. S, each covering the steps
    since the log before it: weighted by trained tokens where the rows have them (`train_token_loss`,
    `train_tokens`: the recipe's loss, weighted as eval_loss is), else the Trainer's `loss` rows alike.
    A log interval that starts before the window counts whole (the steps are in `train_loss_steps`).
    The run summary's `train_loss` is a whole-run mean and is not used. A step evaluated twice (a
    resumed run) keeps its last row, and so does a training log.
    """
    logged: dict[int, tuple[float, float | None]] = {}  # step -> (loss, trained tokens or None)
    evals: dict[int, Mapping[str, Any]] = {}
    for row in entries:
        step = int(row.get("step", 0))
        tokens = row.get("train_tokens")
        if isinstance(row.get("train_token_loss"), int | float) and isinstance(tokens, int | float) and tokens > 0:
            logged[step] = (float(row["train_token_loss"]), float(tokens))
        elif isinstance(row.get("loss"), int | float):
            logged[step] = (float(row["loss"]), None)
        if isinstance(row.get("eval_loss"), int | float):
            evals[step] = row
    train = sorted(logged.items())
    out = []
    for step, row in sorted(evals.items()):
        train_loss, steps = window_loss(train, step, window)
        out.append(EvalLogEntry(
            step=step, epoch=row.get("epoch"), train_loss=train_loss, train_loss_steps=steps,
            eval_loss=float(row["eval_loss"]),
            eval_loss_by_bucket={k.split("/", 2)[2]: float(v) for k, v in row.items()
                                 if k.startswith("eval_loss/bucket/")},
            eval_loss_by_length={k.split("/", 2)[2]: float(v) for k, v in row.items()
                                 if k.startswith("eval_loss/length/")}))
    return out


def window_loss(train: Sequence[tuple[int, tuple[float, float | None]]], step: int,
                window: int) -> tuple[float | None, tuple[int, int] | None]:
    """The training loss over the logs `train` (step -> (loss, tokens), by step) of steps `step` - `window` + 1 ..
    `step`, and the first and last step the logs in it cover; (None, None) when nothing was logged by `step`."""
    upto = [(s, v) for s, v in train if s <= step]
    if not upto:
        return None, None
    inside = [(s, v) for s, v in upto if s > step - window] or upto[-1:]
    earlier = [s for s, _ in upto if s < inside[0][0]]
    first = earlier[-1] + 1 if earlier else 1
    weighted = all(tokens is not None for _, (_, tokens) in inside)
    weights = [float(tokens) if weighted and tokens is not None else 1.0 for _, (_, tokens) in inside]
    loss = sum(w * loss for w, (_, (loss, _)) in zip(weights, inside, strict=True)) / sum(weights)
    return loss, (first, inside[-1][0])


# --- outputs ----------------------------------------------------------------------------------------

CheckName = Literal["converged", "not_overfitting", "format_accuracy", "tool_call_accuracy", "diversity",
                    "no_bucket_regression"]
Status = Literal["pass", "fail", "missing"]


class Check(BaseModel):
    """One graduation check of one checkpoint: `missing` when its numbers could not be measured."""

    model_config = ConfigDict(extra="forbid")

    name: CheckName
    status: Status
    value: float | None = None
    threshold: float | None = None
    detail: str = Field(description="The check in words, with the numbers.")


class Regression(BaseModel):
    """A bucket that got worse on one metric, against the previous checkpoint or the base."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str
    bucket: str
    metric: str
    against: Literal["previous", "base"]
    reference: str = Field(description="The checkpoint (or base) compared with.")
    before: float
    after: float
    overall_before: float | None = None
    overall_after: float | None = None
    average_improved: bool = Field(description="The overall value improved meanwhile: the average hides this.")

    def sentence(self) -> str:
        hidden = " while the average improved" if self.average_improved else ""
        overall = (f" (overall {self.overall_before:.3f} → {self.overall_after:.3f})"
                   if self.overall_before is not None and self.overall_after is not None else "")
        return (f"{self.checkpoint}: bucket `{self.bucket}` {self.metric} {self.before:.3f} → {self.after:.3f} "
                f"vs {self.reference}{hidden}{overall}")


OodMetric = Literal["loss", "arg_match", "pass@k"]
OOD_LABELS: dict[str, str] = {"loss": "loss", "arg_match": "argument match", "pass@k": "pass@k"}


class OodRegression(BaseModel):
    """A checkpoint better in distribution but worse on an OOD set, against the previous checkpoint or the base."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str
    against: Literal["previous", "base"]
    reference: str = Field(description="The checkpoint (or base) compared with.")
    in_distribution: str = Field(description="What improved in distribution, with the numbers.")
    set: str = Field(description="The OOD set.")
    metric: OodMetric
    before: float
    after: float

    def sentence(self) -> str:
        moved = "rose" if self.metric == "loss" else "fell"
        return (f"{self.checkpoint}: in distribution {self.in_distribution} vs {self.reference}, but on OOD set "
                f"`{self.set}` {OOD_LABELS[self.metric]} {moved} {self.before:.3f} → {self.after:.3f}: it fits the "
                f"training data at the cost of generalising; prefer an earlier checkpoint (or train fewer epochs, "
                f"at a lower learning rate), or add data like `{self.set}` to the mix")


class CheckpointVerdict(BaseModel):
    """Every check of one checkpoint, with the numbers the recommendation ranks by."""

    model_config = ConfigDict(extra="forbid")

    name: str
    step: int
    epoch: float | None = None
    train_loss: float | None = None
    eval_loss: float | None = None
    generalisation_gap: float | None = None
    pass_at_max_k: float | None = None
    max_k: int | None = None
    unique_ratio: float | None = None
    checks: list[Check]
    protocol_holds: bool = Field(description="format_accuracy and tool_call_accuracy both pass.")
    all_pass: bool
    regressions: list[Regression] = Field(default_factory=list)
    ood_loss: float | None = Field(None, description="Mean over the OOD sets of this checkpoint's loss on each.")
    ood_pass_at_max_k: float | None = Field(None, description="Mean over the OOD sets of pass@k at the largest k.")
    ood_regressions: list[OodRegression] = Field(default_factory=list)

    def check(self, name: CheckName) -> Check:
        return next(c for c in self.checks if c.name == name)


class BucketComparison(BaseModel):
    """One bucket, base against the recommended checkpoint."""

    model_config = ConfigDict(extra="forbid")

    bucket: str
    base_eval_loss: float | None = None
    sft_eval_loss: float | None = None
    base_format_accuracy: float | None = None
    sft_format_accuracy: float | None = None


class Comparison(BaseModel):
    """SFT against the base model: does training clearly help?"""

    model_config = ConfigDict(extra="forbid")

    base: str
    checkpoint: str
    buckets: list[BucketComparison]
    base_eval_loss: float | None = None
    sft_eval_loss: float | None = None
    base_format_accuracy: float | None = None
    sft_format_accuracy: float | None = None
    sft_clearly_beats_base: bool
    summary: str


class Graduation(BaseModel):
    """The verdict: per-checkpoint checks, the recommended checkpoint and whether it is ready for RL."""

    model_config = ConfigDict(extra="forbid")

    thresholds: GraduationThresholds
    checkpoints: list[CheckpointVerdict]
    recommended: str | None = None
    recommendation: str = Field(description="Why that checkpoint (the tie-break in words).")
    ready_for_rl: bool
    reasons: list[str] = Field(description="Every check of the recommended checkpoint, passing or not, with numbers.")
    regressions: list[Regression] = Field(default_factory=list)
    comparison: Comparison | None = None
    ood_sets: list[str] = Field(default_factory=list, description="The OOD sets the recommendation ranked by.")
    ood_regressions: list[OodRegression] = Field(
        default_factory=list, description="Checkpoints better in distribution but worse on an OOD set.")


# --- the logic --------------------------------------------------------------------------------------

KEY_METRICS: tuple[str, ...] = ("format_accuracy", "tool_call_accuracy", "answer_match", "pass@k")
"""Generation metrics watched for per-bucket regressions (higher is better), besides eval loss."""


def metric_value(m: BucketMetrics | None, name: str) -> float | None:
    """One metric of a bucket's generation results (`pass@k`: at the largest k), None when unmeasured."""
    if m is None:
        return None
    if name == "pass@k":
        return m.pass_at_max_k()
    value = getattr(m, name)
    return float(value) if isinstance(value, float | int) else None


def _at_or_before(history: Sequence[EvalLogEntry], step: int, has: Callable[[EvalLogEntry], bool]
                  ) -> EvalLogEntry | None:
    found = [e for e in history if e.step <= step and has(e)]
    return max(found, key=lambda e: e.step) if found else None


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _over(steps: tuple[int, int] | None) -> str:
    if steps is None:
        return ""
    first, last = steps
    return f" (steps {first}–{last}, {last - first + 1} steps)" if last > first else f" (step {last})"


def check_converged(history: Sequence[EvalLogEntry], step: int, t: GraduationThresholds) -> Check:
    """Eval loss improved by less than `converged_min_delta` over the last `converged_window` evaluations."""
    losses = [e.eval_loss for e in sorted(history, key=lambda e: e.step) if e.step <= step and e.eval_loss is not None]
    w = t.converged_window
    if len(losses) < w + 1:
        return Check(name="converged", status="missing", threshold=t.converged_min_delta,
                     detail=f"{len(losses)} evaluation(s) up to step {step}; convergence needs {w + 1} "
                            f"(evaluate more often, or train longer)")
    before, recent = min(losses[:-w]), min(losses[-w:])
    gain = before - recent
    ok = gain < t.converged_min_delta
    verb = "improved only" if ok else "still improved"
    return Check(name="converged", status="pass" if ok else "fail", value=gain, threshold=t.converged_min_delta,
                 detail=f"best eval loss {recent:.3f} over the last {w} evaluations vs {before:.3f} before: "
                        f"{verb} by {gain:.3f} ({'<' if ok else '≥'} {t.converged_min_delta})")


def check_overfitting(eval_loss: float | None, train_loss: float | None, t: GraduationThresholds,
                      steps: tuple[int, int] | None = None) -> Check:
    """eval − train loss within `max_generalisation_gap`; `steps`: the first and last step of the train loss."""
    if eval_loss is None or train_loss is None:
        which = "eval loss" if eval_loss is None else "train loss"
        return Check(name="not_overfitting", status="missing", threshold=t.max_generalisation_gap,
                     detail=f"no {which} logged at or before this checkpoint")
    gap = eval_loss - train_loss
    ok = gap <= t.max_generalisation_gap
    return Check(name="not_overfitting", status="pass" if ok else "fail", value=gap, threshold=t.max_generalisation_gap,
                 detail=f"eval loss {eval_loss:.3f} − train loss {train_loss:.3f}{_over(steps)} = {gap:.3f} "
                        f"({'≤' if ok else '>'} {t.max_generalisation_gap})")


def _threshold_check(name: CheckName, value: float | None, threshold: float, why_missing: str | None,
                     label: str) -> Check:
    if value is None:
        return Check(name=name, status="missing", threshold=threshold, detail=f"{label} not measured: {why_missing}")
    ok = value >= threshold
    return Check(name=name, status="pass" if ok else "fail", value=value, threshold=threshold,
                 detail=f"{label} {value:.3f} ({'≥' if ok else '<'} {threshold})")


def check_generation(gen: GenerationEval | None, t: GraduationThresholds) -> list[Check]:
    """The format, tool-call and diversity checks, over all prompts."""
    o = gen.overall if gen is not None else None
    if o is None:
        why = "no generation metrics for this checkpoint"
        return [Check(name=n, status="missing", detail=why)
                for n in ("format_accuracy", "tool_call_accuracy", "diversity")]
    checks = [
        _threshold_check("format_accuracy", o.format_accuracy, t.min_format_accuracy,
                         o.missing.get("format_accuracy"), "format accuracy"),
        _threshold_check("tool_call_accuracy", o.tool_call_accuracy, t.min_tool_call_accuracy,
                         o.missing.get("tool_call_accuracy"), "tool-call accuracy"),
    ]
    if o.unique_ratio is None or o.pairwise_ratio is None:
        why = o.missing.get("unique_ratio") or o.missing.get("pairwise_ratio") or "not measured"
        checks.append(Check(name="diversity", status="missing", detail=f"diversity not measured: {why}"))
    else:
        ok_u = o.unique_ratio >= t.min_unique_ratio
        ok_p = o.pairwise_ratio >= t.min_pairwise_ratio
        checks.append(Check(
            name="diversity", status="pass" if ok_u and ok_p else "fail", value=min(o.unique_ratio, o.pairwise_ratio),
            detail=f"unique ratio {o.unique_ratio:.3f} ({'≥' if ok_u else '<'} {t.min_unique_ratio}), pairwise-"
                   f"different {o.pairwise_ratio:.3f} ({'≥' if ok_p else '<'} {t.min_pairwise_ratio})"))
    return checks


def bucket_regressions(name: str, losses: dict[str, float], overall_loss: float | None, gen: GenerationEval | None,
                       ref_name: str, ref_losses: dict[str, float], ref_overall_loss: float | None,
                       ref_gen: GenerationEval | None, against: Literal["previous", "base"],
                       tolerance: float) -> list[Regression]:
    """Buckets of `name` worse than the reference (previous checkpoint or base) by more than `tolerance`."""
    found: list[Regression] = []
    for bucket in sorted(set(losses) & set(ref_losses)):
        before, after = ref_losses[bucket], losses[bucket]
        if after - before > tolerance:
            improved = overall_loss is not None and ref_overall_loss is not None and overall_loss < ref_overall_loss
            found.append(Regression(checkpoint=name, bucket=bucket, metric="eval_loss", against=against,
                                    reference=ref_name, before=before, after=after, overall_before=ref_overall_loss,
                                    overall_after=overall_loss, average_improved=improved))
    if gen is None or ref_gen is None:
        return found
    for bucket in sorted(set(gen.buckets) & set(ref_gen.buckets)):
        for metric in KEY_METRICS:
            before_m = metric_value(ref_gen.buckets[bucket], metric)
            after_m = metric_value(gen.buckets[bucket], metric)
            if before_m is None or after_m is None or before_m - after_m <= tolerance:
                continue
            o_before, o_after = metric_value(ref_gen.overall, metric), metric_value(gen.overall, metric)
            improved = o_before is not None and o_after is not None and o_after > o_before
            found.append(Regression(checkpoint=name, bucket=bucket, metric=metric, against=against,
                                    reference=ref_name, before=before_m, after=after_m, overall_before=o_before,
                                    overall_after=o_after, average_improved=improved))
    return found


def ood_value(result: OodResult | None, metric: str) -> float | None:
    """One metric of a model on an OOD set: `loss`, or an overall generation metric (`pass@k`: at the largest k)."""
    if result is None:
        return None
    if metric == "loss":
        return result.loss
    return metric_value(result.generation.overall if result.generation else None, metric)


def in_distribution_gain(eval_loss: float | None, gen: GenerationEval | None, ref_eval_loss: float | None,
                         ref_gen: GenerationEval | None, tolerance: float) -> str | None:
    """What improved in distribution against a reference by more than `tolerance` (eval loss, overall
    tool-call or format accuracy), in words with the numbers; None when nothing did."""
    parts = []
    if eval_loss is not None and ref_eval_loss is not None and ref_eval_loss - eval_loss > tolerance:
        parts.append(f"eval loss fell {ref_eval_loss:.3f} → {eval_loss:.3f}")
    for metric, label in (("tool_call_accuracy", "tool-call accuracy"), ("format_accuracy", "format accuracy")):
        before = metric_value(ref_gen.overall if ref_gen else None, metric)
        after = metric_value(gen.overall if gen else None, metric)
        if before is not None and after is not None and after - before > tolerance:
            parts.append(f"{label} rose {before:.3f} → {after:.3f}")
    return " and ".join(parts) or None


def ood_regressions(name: str, reference: str, against: Literal["previous", "base"], gain: str | None,
                    ood: Sequence[OodSetEval], t: GraduationThresholds) -> list[OodRegression]:
    """The OOD sets on which `name` is worse than `reference` while in distribution it improved (`gain`):
    loss up by more than `ood_loss_tolerance`, argument match or pass@k down by more than `ood_metric_tolerance`."""
    if gain is None:
        return []
    found: list[OodRegression] = []
    for s in ood:
        now = s.checkpoints.get(name)
        ref = s.base if against == "base" else s.checkpoints.get(reference)
        metrics: tuple[OodMetric, ...] = ("loss", "arg_match", "pass@k")
        for metric in metrics:
            before, after = ood_value(ref, metric), ood_value(now, metric)
            if before is None or after is None:
                continue
            worse = (after - before > t.ood_loss_tolerance if metric == "loss"
                     else before - after > t.ood_metric_tolerance)
            if worse:
                found.append(OodRegression(checkpoint=name, against=against, reference=reference,
                                           in_distribution=gain, set=s.name, metric=metric, before=before,
                                           after=after))
    return found


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def graduate(history: Sequence[EvalLogEntry], checkpoints: Sequence[CheckpointEval], base: BaselineEval | None,
             thresholds: GraduationThresholds | None = None, ood: Sequence[OodSetEval] = ()) -> Graduation:
    """Check every checkpoint, flag regressions (per bucket, and OOD sets that got worse while the eval split
    got better), recommend one (by the OOD sets when there are any) and say whether it is ready for RL."""
    t = thresholds or GraduationThresholds()
    history = sorted(history, key=lambda e: e.step)
    ordered = sorted(checkpoints, key=lambda c: c.step)
    verdicts: list[CheckpointVerdict] = []
    all_regressions: list[Regression] = []
    all_flags: list[OodRegression] = []
    previous: tuple[CheckpointEval, EvalLogEntry | None] | None = None
    for ckpt in ordered:
        entry = _at_or_before(history, ckpt.step, lambda e: e.eval_loss is not None)
        train_entry = _at_or_before(history, ckpt.step, lambda e: e.train_loss is not None)
        eval_loss = entry.eval_loss if entry else None
        train_loss = train_entry.train_loss if train_entry else None
        train_steps = train_entry.train_loss_steps if train_entry else None
        losses = entry.eval_loss_by_bucket if entry else {}
        regressions: list[Regression] = []
        if previous is not None:
            prev, prev_entry = previous
            regressions += bucket_regressions(
                ckpt.name, losses, eval_loss, ckpt.generation, prev.name,
                prev_entry.eval_loss_by_bucket if prev_entry else {}, prev_entry.eval_loss if prev_entry else None,
                prev.generation, "previous", t.converged_min_delta)
        vs_base: list[Regression] = []
        if base is not None:
            vs_base = bucket_regressions(ckpt.name, losses, eval_loss, ckpt.generation, base.name,
                                         base.eval_loss_by_bucket, base.eval_loss, base.generation, "base",
                                         t.converged_min_delta)
            regressions += vs_base
        checks = [check_converged(history, ckpt.step, t), check_overfitting(eval_loss, train_loss, t, train_steps),
                  *check_generation(ckpt.generation, t)]
        if base is None:
            checks.append(Check(name="no_bucket_regression", status="missing",
                                detail="no base model evaluated to compare buckets with"))
        else:
            shown = "; ".join(r.sentence() for r in vs_base[:5]) + (f"; and {len(vs_base) - 5} more"
                                                                     if len(vs_base) > 5 else "")
            checks.append(Check(name="no_bucket_regression", status="fail" if vs_base else "pass",
                                value=float(len(vs_base)), threshold=0.0,
                                detail=f"{len(vs_base)} bucket regression(s) against {base.name}"
                                       + (f": {shown}" if vs_base else "")))
        flags: list[OodRegression] = []
        if previous is not None:
            prev, prev_entry = previous
            gain = in_distribution_gain(eval_loss, ckpt.generation, prev_entry.eval_loss if prev_entry else None,
                                        prev.generation, t.converged_min_delta)
            flags += ood_regressions(ckpt.name, prev.name, "previous", gain, ood, t)
        if base is not None:
            gain = in_distribution_gain(eval_loss, ckpt.generation, base.eval_loss, base.generation,
                                        t.converged_min_delta)
            flags += ood_regressions(ckpt.name, base.name, "base", gain, ood, t)
        protocol = all(c.status == "pass" for c in checks if c.name in ("format_accuracy", "tool_call_accuracy"))
        overall = ckpt.generation.overall if ckpt.generation else None
        verdicts.append(CheckpointVerdict(
            name=ckpt.name, step=ckpt.step, epoch=ckpt.epoch, train_loss=train_loss, eval_loss=eval_loss,
            generalisation_gap=None if eval_loss is None or train_loss is None else eval_loss - train_loss,
            pass_at_max_k=overall.pass_at_max_k() if overall else None,
            max_k=max(overall.pass_at_k) if overall and overall.pass_at_k else None,
            unique_ratio=overall.unique_ratio if overall else None, checks=checks, protocol_holds=protocol,
            all_pass=all(c.status == "pass" for c in checks), regressions=regressions,
            ood_loss=_mean(ood_value(s.checkpoints.get(ckpt.name), "loss") for s in ood),
            ood_pass_at_max_k=_mean(ood_value(s.checkpoints.get(ckpt.name), "pass@k") for s in ood),
            ood_regressions=flags))
        all_regressions += regressions
        all_flags += flags
        previous = (ckpt, entry)

    recommended, why = recommend(verdicts, t, by_ood=bool(ood))
    if recommended is None:
        reasons = ["no checkpoint to recommend: " + why]
        ready = False
    else:
        reasons = [f"{recommended.name} — {why}"]
        reasons += [f"{c.name}: {c.status} — {c.detail}" for c in recommended.checks]
        reasons += [f"OOD regression: {r.sentence()}" for r in recommended.ood_regressions]
        ready = recommended.all_pass
    comparison = None
    if recommended is not None and base is not None:
        comparison = compare_with_base(base, next(c for c in ordered if c.name == recommended.name),
                                       _at_or_before(history, recommended.step, lambda e: e.eval_loss is not None), t)
    return Graduation(thresholds=t, checkpoints=verdicts, recommended=recommended.name if recommended else None,
                      recommendation=why, ready_for_rl=ready, reasons=reasons, regressions=all_regressions,
                      comparison=comparison, ood_sets=[s.name for s in ood], ood_regressions=all_flags)


def recommend(verdicts: Sequence[CheckpointVerdict], t: GraduationThresholds,
              by_ood: bool = False) -> tuple[CheckpointVerdict | None, str]:
    """The checkpoint to hand to RL, and why (see the module docstring for the rule and tie-break; `by_ood`:
    OOD sets were evaluated, and rank first within a tier)."""
    if not verdicts:
        return None, "no checkpoint was evaluated"
    healthy = [v for v in verdicts if v.protocol_holds and v.check("not_overfitting").status == "pass"
               and v.check("diversity").status == "pass"]
    protocol = [v for v in verdicts if v.protocol_holds]
    formatted = [v for v in verdicts if v.check("format_accuracy").status == "pass"]
    n = len(verdicts)
    if healthy:
        pool, tier = healthy, (f"{len(healthy)} of {n} checkpoint(s) keep the protocol, do not overfit and keep "
                               "diversity")
    elif protocol:
        pool, tier = protocol, (f"{len(protocol)} of {n} checkpoint(s) keep the protocol (none of them also avoids "
                                "overfitting and keeps diversity)")
    elif formatted:
        pool, tier = formatted, (f"no checkpoint keeps the whole protocol (format and tool-call thresholds); "
                                 f"{len(formatted)} of {n} keep the format (tags closed, turns ended: what an RL "
                                 "reward parser needs to score an answer at all), so only they are ranked")
    else:
        pool, tier = list(verdicts), (f"no checkpoint keeps the protocol (format and tool-call thresholds), so all "
                                      f"{n} are ranked")
    if by_ood and any(v.ood_loss is not None for v in pool):
        return _recommend_by_ood(pool, tier, t)
    with_loss = [v for v in pool if v.eval_loss is not None]
    if with_loss:
        best = min(v.eval_loss for v in with_loss if v.eval_loss is not None)
        tied = [v for v in with_loss if v.eval_loss is not None and v.eval_loss <= best + t.converged_min_delta]
    else:
        best, tied = None, pool

    def key(v: CheckpointVerdict) -> tuple[float, float, float, int]:
        return (-(v.pass_at_max_k if v.pass_at_max_k is not None else -1.0),
                -(v.unique_ratio if v.unique_ratio is not None else -1.0),
                v.eval_loss if v.eval_loss is not None else float("inf"), v.step)

    chosen = min(tied, key=key)
    parts = [tier]
    if best is not None:
        parts.append(f"{len(tied)} within {t.converged_min_delta} of the best eval loss {best:.3f}")
    else:
        parts.append("no eval loss logged, ranked by pass@k")
    tie_break = " (ties broken by pass@k, unique ratio, eval loss, then the earlier step)" if len(tied) > 1 else ""
    parts.append(f"{chosen.name} has eval loss {_fmt(chosen.eval_loss)}, pass@{chosen.max_k or '?'} "
                 f"{_fmt(chosen.pass_at_max_k)}, unique ratio {_fmt(chosen.unique_ratio)}{tie_break}")
    return chosen, "; ".join(parts)


def _recommend_by_ood(pool: Sequence[CheckpointVerdict], tier: str,
                      t: GraduationThresholds) -> tuple[CheckpointVerdict, str]:
    """Within a tier: lowest mean OOD loss (within `ood_loss_tolerance` tied), then highest mean OOD pass@k,
    eval loss, pass@k, unique ratio, the earliest step."""
    best = min(v.ood_loss for v in pool if v.ood_loss is not None)
    tied = [v for v in pool if v.ood_loss is not None and v.ood_loss <= best + t.ood_loss_tolerance]

    def key(v: CheckpointVerdict) -> tuple[float, float, float, float, int]:
        return (-(v.ood_pass_at_max_k if v.ood_pass_at_max_k is not None else -1.0),
                v.eval_loss if v.eval_loss is not None else float("inf"),
                -(v.pass_at_max_k if v.pass_at_max_k is not None else -1.0),
                -(v.unique_ratio if v.unique_ratio is not None else -1.0), v.step)

    chosen = min(tied, key=key)
    tie_break = (" (ties broken by OOD pass@k, eval loss, pass@k, unique ratio, then the earlier step)"
                 if len(tied) > 1 else "")
    return chosen, "; ".join([
        tier, f"ranked by the OOD sets: {len(tied)} within {t.ood_loss_tolerance} of the best mean OOD loss "
        f"{best:.3f}", f"{chosen.name} has OOD loss {_fmt(chosen.ood_loss)}, OOD pass@k "
        f"{_fmt(chosen.ood_pass_at_max_k)}, eval loss {_fmt(chosen.eval_loss)}, pass@{chosen.max_k or '?'} "
        f"{_fmt(chosen.pass_at_max_k)}{tie_break}"])


def compare_with_base(base: BaselineEval, ckpt: CheckpointEval, entry: EvalLogEntry | None,
                      t: GraduationThresholds) -> Comparison:
    """Per-bucket eval loss and format accuracy, base against `ckpt`, and a sentence on whether SFT
    clearly beats the base: lower eval loss by at least `converged_min_delta` in every bucket
    measured for both, and higher overall format accuracy by at least as much."""
    sft_losses = entry.eval_loss_by_bucket if entry else {}
    base_gen, sft_gen = base.generation, ckpt.generation
    buckets = sorted(set(base.eval_loss_by_bucket) | set(sft_losses)
                     | set(base_gen.buckets if base_gen else ()) | set(sft_gen.buckets if sft_gen else ()))
    rows = [BucketComparison(
        bucket=b, base_eval_loss=base.eval_loss_by_bucket.get(b), sft_eval_loss=sft_losses.get(b),
        base_format_accuracy=metric_value(base_gen.buckets.get(b) if base_gen else None, "format_accuracy"),
        sft_format_accuracy=metric_value(sft_gen.buckets.get(b) if sft_gen else None, "format_accuracy"))
        for b in buckets]
    both = [r for r in rows if r.base_eval_loss is not None and r.sft_eval_loss is not None]
    worse = [r for r in both if r.sft_eval_loss > r.base_eval_loss - t.converged_min_delta]  # type: ignore[operator]
    base_fmt = metric_value(base_gen.overall if base_gen else None, "format_accuracy")
    sft_fmt = metric_value(sft_gen.overall if sft_gen else None, "format_accuracy")
    loss_ok = bool(both) and not worse
    fmt_ok = base_fmt is not None and sft_fmt is not None and sft_fmt - base_fmt >= t.converged_min_delta
    sft_overall = entry.eval_loss if entry else None

    if both:
        gains = [r.base_eval_loss - r.sft_eval_loss for r in both]  # type: ignore[operator]
        loss_text = (f"eval loss lower in {len(both) - len(worse)} of {len(both)} buckets (by {min(gains):.3f} to "
                     f"{max(gains):.3f}; overall {_fmt(base.eval_loss)} → {_fmt(sft_overall)})")
        if worse:
            loss_text += "; not lower by ≥ {d} in: {b}".format(
                d=t.converged_min_delta,
                b=", ".join(f"{r.bucket} ({r.base_eval_loss:.3f} → {r.sft_eval_loss:.3f})" for r in worse[:5]))
    else:
        loss_text = "no bucket has an eval loss for both the base and the checkpoint"
    fmt_text = (f"format accuracy {_fmt(base_fmt)} → {_fmt(sft_fmt)}" if base_fmt is not None and sft_fmt is not None
                else "format accuracy not measured for both")
    verdict = "clearly beats" if loss_ok and fmt_ok else "does not clearly beat"
    summary = f"SFT ({ckpt.name}) {verdict} the base model ({base.name}): {loss_text}; {fmt_text}."
    return Comparison(base=base.name, checkpoint=ckpt.name, buckets=rows, base_eval_loss=base.eval_loss,
                      sft_eval_loss=sft_overall, base_format_accuracy=base_fmt, sft_format_accuracy=sft_fmt,
                      sft_clearly_beats_base=loss_ok and fmt_ok, summary=summary)
