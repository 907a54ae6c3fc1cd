"""Graduation on crafted metric histories, and the report built from it (JSON schema, HTML, terminal).

No model: histories and generation metrics are written by hand, so each test states the numbers
the verdict must follow from.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError
from rich.console import Console

from curate.schemas import SCHEMA_DIR
from curate_train.eval_report import SCHEMA_FILE, EvalReport, build_report, main, schema_text, write_report
from curate_train.graduation import (
    BaselineEval,
    CheckpointEval,
    EvalLogEntry,
    GraduationThresholds,
    check_converged,
    check_overfitting,
    graduate,
    history_from_log,
)
from curate_train.metrics import BucketMetrics, GenerationEval, GenerationSettings
from curate_train.report_html import print_report, render_report, write_html

T = GraduationThresholds()
SETTINGS = GenerationSettings(prompts_per_bucket=4, n_samples=4, temperature=0.7, max_new_tokens=64, seed=0,
                              turns="last")


def bucket(fmt: float | None = 0.95, tool: float | None = 0.9, unique: float | None = 0.8,
           pairwise: float | None = 0.9, passk: float = 0.6, answer: float | None = 0.5) -> BucketMetrics:
    return BucketMetrics(prompts=4, samples=16, prompts_with_calls=2, format_accuracy=fmt, stop_rate=fmt,
                         tool_call_accuracy=tool, tool_name_accuracy=tool, answer_match=answer, unique_ratio=unique,
                         pairwise_ratio=pairwise, distinct_1=0.5, distinct_2=0.7,
                         pass_at_k={1: passk / 2, 4: passk},
                         missing={} if tool is not None else {"tool_call_accuracy": "no prompt with calls"})


def gen(overall: dict[str, Any] | None = None, **buckets: dict[str, Any]) -> GenerationEval:
    buckets = buckets or {"chat": {}, "tools": {}}
    return GenerationEval(settings=SETTINGS, overall=bucket(**(overall or {})),
                          buckets={b: bucket(**kw) for b, kw in buckets.items()})


def entry(step: int, eval_loss: float, train_loss: float | None = None, **by_bucket: float) -> EvalLogEntry:
    return EvalLogEntry(step=step, train_loss=train_loss, eval_loss=eval_loss, eval_loss_by_bucket=by_bucket)


def flat_history(*points: tuple[int, float, float]) -> list[EvalLogEntry]:
    """Evaluations (step, train, eval) with the same eval loss in both buckets."""
    return [entry(s, ev, tr, chat=ev, tools=ev) for s, tr, ev in points]


BASE = BaselineEval(eval_loss=3.0, eval_loss_by_bucket={"chat": 3.0, "tools": 3.1},
                    generation=gen({"fmt": 0.0, "tool": 0.0, "passk": 0.0},
                                   chat={"fmt": 0.0, "tool": 0.0, "passk": 0.0},
                                   tools={"fmt": 0.0, "tool": 0.0, "passk": 0.0}))


# --- single checks ----------------------------------------------------------------------------------


def test_converged_vs_still_improving() -> None:
    flat = flat_history((10, 2.5, 2.0), (20, 1.6, 1.5), (30, 1.3, 1.2), (40, 1.2, 1.198), (50, 1.15, 1.195),
                        (60, 1.1, 1.193))
    c = check_converged(flat, 60, T)
    assert c.status == "pass" and c.value == pytest.approx(1.2 - 1.193)
    assert "1.193" in c.detail and "1.200" in c.detail

    improving = flat_history((10, 2.5, 2.0), (20, 1.6, 1.5), (30, 1.3, 1.2), (40, 1.1, 1.0), (50, 1.0, 0.9),
                             (60, 0.9, 0.8))
    c = check_converged(improving, 60, T)
    assert c.status == "fail" and c.value == pytest.approx(0.4)
    # Only the evaluations up to the checkpoint count: at step 40 there are too few.
    c = check_converged(improving, 30, T)
    assert c.status == "missing" and "3 evaluation(s)" in c.detail
    # The window is the config's.
    assert check_converged(improving[:3], 30, GraduationThresholds(converged_window=2)).status == "fail"


def test_overfitting_gap() -> None:
    assert check_overfitting(1.30, 1.20, T).status == "pass"
    c = check_overfitting(1.40, 1.20, T)
    assert c.status == "fail" and c.value == pytest.approx(0.2) and "0.200 (> 0.15)" in c.detail
    assert check_overfitting(None, 1.2, T).status == "missing"
    assert check_overfitting(1.4, None, T).status == "missing"


def test_history_from_the_trainer_log() -> None:
    log = [{"step": 5, "loss": 3.0, "learning_rate": 1e-4}, {"step": 10, "loss": 2.5},
           {"step": 10, "epoch": 0.5, "eval_loss": 2.7, "eval_loss/bucket/chat": 2.6, "eval_loss/bucket/tools": 2.8,
            "eval_loss/length/<100": 2.4, "eval_runtime": 1.0},
           {"step": 15, "loss": 2.0},
           {"step": 20, "epoch": 1.0, "eval_loss": 2.2, "eval_loss/bucket/chat": 2.1},
           {"step": 20, "epoch": 1.0, "eval_loss": 2.1, "eval_loss/bucket/chat": 2.0},  # resumed: the last row wins
           {"step": 20, "train_loss": 2.4, "train_runtime": 9.0}]
    h = history_from_log(log, window=5)
    assert [(e.step, e.epoch, e.train_loss, e.eval_loss) for e in h] == [(10, 0.5, 2.5, 2.7), (20, 1.0, 2.0, 2.1)]
    assert [e.train_loss_steps for e in h] == [(6, 10), (11, 15)]  # the logs of the window, each whole
    assert h[0].eval_loss_by_bucket == {"chat": 2.6, "tools": 2.8} and h[0].eval_loss_by_length == {"<100": 2.4}
    assert h[1].eval_loss_by_bucket == {"chat": 2.0}
    assert history_from_log([{"step": 1, "loss": 1.0}]) == []


def test_the_overfitting_check_compares_with_the_train_loss_of_a_stated_window_not_a_sliver() -> None:
    # logs every 10 steps, an evaluation every 50, an epoch that ends at step 52 (evaluated there): the
    # checkpoint's train loss is over the 50 steps up to 52 (token-weighted), not over steps 51-52 alone
    log = [{"step": s, "loss": 9.0, "train_token_loss": 2.0 - s / 100, "train_tokens": 1000} for s in range(10, 51, 10)]
    log += [{"step": 50, "eval_loss": 1.7, "loss_since_last_eval": 1.6},
            {"step": 52, "loss": 9.0, "train_token_loss": 0.5, "train_tokens": 100},
            {"step": 52, "eval_loss": 1.72, "loss_since_last_eval": 0.5}]
    h = history_from_log(log, window=50)
    at_52 = h[-1]
    assert at_52.train_loss_steps == (1, 52)  # the log at step 10 covers steps 1-10: it counts whole
    expected = (sum((2.0 - s / 100) * 1000 for s in range(10, 51, 10)) + 0.5 * 100) / 5100
    assert at_52.train_loss == pytest.approx(expected)
    c = check_overfitting(at_52.eval_loss, at_52.train_loss, T, at_52.train_loss_steps)
    assert c.status == "pass" and "(steps 1–52, 52 steps)" in c.detail
    assert history_from_log(log, window=2)[-1].train_loss_steps == (51, 52)  # a 2-step window only when asked
    assert GraduationThresholds().train_loss_window == 50


def test_thresholds_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        GraduationThresholds.model_validate({"min_format_acc": 0.9})
    assert GraduationThresholds().model_dump() == {
        "converged_min_delta": 0.01, "converged_window": 3, "max_generalisation_gap": 0.15, "train_loss_window": 50,
        "min_format_accuracy": 0.90, "min_tool_call_accuracy": 0.85, "min_unique_ratio": 0.5,
        "min_pairwise_ratio": 0.6, "ood_loss_tolerance": 0.05, "ood_metric_tolerance": 0.05}


# --- regressions ------------------------------------------------------------------------------------


def test_a_bucket_regression_while_the_average_improves_is_flagged() -> None:
    history = [entry(20, 1.5, 1.4, chat=1.4, tools=1.6), entry(40, 1.3, 1.2, chat=1.0, tools=1.7)]
    ckpts = [CheckpointEval(name="checkpoint-20", step=20, generation=gen({"fmt": 0.9}, chat={"fmt": 0.8},
                                                                          tools={"fmt": 1.0})),
             CheckpointEval(name="checkpoint-40", step=40, generation=gen({"fmt": 0.95}, chat={"fmt": 1.0},
                                                                          tools={"fmt": 0.75}))]
    g = graduate(history, ckpts, None)
    found = {(r.checkpoint, r.bucket, r.metric, r.against): r for r in g.regressions}
    loss = found["checkpoint-40", "tools", "eval_loss", "previous"]
    assert (loss.before, loss.after, loss.overall_before, loss.overall_after) == (1.6, 1.7, 1.5, 1.3)
    assert loss.average_improved and "while the average improved" in loss.sentence()
    fmt = found["checkpoint-40", "tools", "format_accuracy", "previous"]
    assert (fmt.before, fmt.after) == (1.0, 0.75) and fmt.average_improved
    assert ("checkpoint-40", "chat", "eval_loss", "previous") not in found  # chat improved
    assert all(r.checkpoint == "checkpoint-40" for r in g.regressions)  # the first has no previous
    assert len(g.checkpoints[1].regressions) == len(g.regressions)


def test_regressions_against_the_base_fail_the_bucket_check() -> None:
    base = BaselineEval(eval_loss=2.0, eval_loss_by_bucket={"chat": 1.2, "tools": 2.6},
                        generation=gen({"fmt": 0.5}, chat={"fmt": 0.5}, tools={"fmt": 0.5}))
    history = [entry(20, 1.5, 1.4, chat=1.3, tools=1.6)]
    g = graduate(history, [CheckpointEval(name="checkpoint-20", step=20, generation=gen())], base)
    r = next(r for r in g.regressions if r.against == "base")
    assert (r.bucket, r.metric, r.before, r.after, r.average_improved) == ("chat", "eval_loss", 1.2, 1.3, True)
    check = g.checkpoints[0].check("no_bucket_regression")
    assert check.status == "fail" and "chat" in check.detail
    assert not g.ready_for_rl


# --- the recommendation -------------------------------------------------------------------------------


def test_the_latest_checkpoint_is_not_recommended_when_it_overfits() -> None:
    history = flat_history((20, 1.25, 1.30), (40, 1.10, 1.20), (60, 0.90, 1.195))
    ckpts = [CheckpointEval(name=f"checkpoint-{s}", step=s, generation=gen({"passk": p}))
             for s, p in ((20, 0.5), (40, 0.6), (60, 0.9))]
    g = graduate(history, ckpts, None)
    latest = g.checkpoints[-1]
    assert latest.check("not_overfitting").status == "fail"
    assert latest.generalisation_gap == pytest.approx(0.295)
    assert g.recommended == "checkpoint-40"  # not the latest, although its loss and pass@k are the best
    assert "2 of 3" in g.recommendation


def test_the_latest_checkpoint_is_not_recommended_when_it_loses_diversity() -> None:
    history = flat_history((20, 1.25, 1.30), (40, 1.15, 1.20), (60, 1.05, 1.10))
    ckpts = [CheckpointEval(name="checkpoint-20", step=20, generation=gen()),
             CheckpointEval(name="checkpoint-40", step=40, generation=gen()),
             CheckpointEval(name="checkpoint-60", step=60, generation=gen({"unique": 0.2, "pairwise": 0.3}))]
    g = graduate(history, ckpts, None)
    assert g.checkpoints[-1].check("diversity").status == "fail"
    assert "unique ratio 0.200 (< 0.5)" in g.checkpoints[-1].check("diversity").detail
    assert g.recommended == "checkpoint-40"


def test_ties_within_the_loss_tolerance_go_to_pass_at_k_then_the_earlier_step() -> None:
    history = flat_history((20, 1.15, 1.200), (40, 1.10, 1.195), (60, 1.05, 1.192))
    by_pass = [CheckpointEval(name="checkpoint-20", step=20, generation=gen({"passk": 0.8})),
               CheckpointEval(name="checkpoint-40", step=40, generation=gen({"passk": 0.5})),
               CheckpointEval(name="checkpoint-60", step=60, generation=gen({"passk": 0.5}))]
    g = graduate(history, by_pass, None)
    assert g.recommended == "checkpoint-20" and "ties broken by pass@k" in g.recommendation
    same = [c.model_copy(update={"generation": gen()}) for c in by_pass]
    assert graduate(history, same, None).recommended == "checkpoint-60"  # equal pass@k: the lower loss
    level = flat_history((20, 1.15, 1.2), (40, 1.10, 1.2), (60, 1.05, 1.2))
    assert graduate(level, same, None).recommended == "checkpoint-20"  # equal on all: the earliest, not the latest
    # Outside the tolerance the lower eval loss wins, whatever pass@k says.
    spread = flat_history((20, 1.15, 1.30), (40, 1.10, 1.20))
    assert graduate(spread, by_pass[:2], None).recommended == "checkpoint-40"


def test_protocol_first_then_everything_when_no_checkpoint_keeps_it() -> None:
    history = flat_history((20, 1.15, 1.20), (40, 1.10, 1.10))
    ckpts = [CheckpointEval(name="checkpoint-20", step=20, generation=gen()),
             CheckpointEval(name="checkpoint-40", step=40, generation=gen({"fmt": 0.5}))]
    g = graduate(history, ckpts, None)
    assert g.recommended == "checkpoint-20"  # the lower loss breaks the protocol
    assert not g.checkpoints[1].protocol_holds
    broken = [c.model_copy(update={"generation": gen({"fmt": 0.5})}) for c in ckpts]
    g = graduate(history, broken, None)
    assert g.recommended == "checkpoint-40" and "no checkpoint keeps the protocol" in g.recommendation
    assert not g.ready_for_rl


def test_without_the_whole_protocol_the_checkpoints_that_keep_the_format_rank_first() -> None:
    """Neither checkpoint reaches the tool-call threshold; the one whose answers parse (format passes) is
    recommended over one with a lower loss whose answers RL could not score."""
    history = flat_history((20, 1.15, 1.10), (40, 1.10, 1.20))
    ckpts = [CheckpointEval(name="checkpoint-20", step=20, generation=gen({"fmt": 0.84, "tool": 0.1})),
             CheckpointEval(name="checkpoint-40", step=40, generation=gen({"fmt": 0.98, "tool": 0.3}))]
    g = graduate(history, ckpts, None)
    assert not any(v.protocol_holds for v in g.checkpoints)
    assert g.recommended == "checkpoint-40" and "1 of 2 keep the format" in g.recommendation
    assert not g.ready_for_rl


# --- ready for RL -------------------------------------------------------------------------------------


def _converged_run(generation: GenerationEval) -> tuple[list[EvalLogEntry], list[CheckpointEval]]:
    history = flat_history((10, 1.3, 1.40), (20, 1.1, 1.20), (30, 1.09, 1.198), (40, 1.08, 1.196), (50, 1.08, 1.195))
    return history, [CheckpointEval(name="checkpoint-50", step=50, epoch=1.0, generation=generation)]


def test_ready_for_rl_when_every_check_passes() -> None:
    g = graduate(*_converged_run(gen()), BASE)
    assert g.ready_for_rl and g.recommended == "checkpoint-50"
    assert [r.split(":")[0] for r in g.reasons[1:]] == [
        "converged", "not_overfitting", "format_accuracy", "tool_call_accuracy", "diversity", "no_bucket_regression"]
    assert all(": pass —" in r for r in g.reasons[1:])


def test_not_ready_for_rl_with_the_failing_checks_and_their_numbers() -> None:
    g = graduate(*_converged_run(gen({"fmt": 0.8, "unique": 0.4})), BASE)
    assert not g.ready_for_rl
    text = "\n".join(g.reasons)
    assert "format_accuracy: fail — format accuracy 0.800 (< 0.9)" in text
    assert "diversity: fail — unique ratio 0.400 (< 0.5)" in text
    assert "tool_call_accuracy: pass — tool-call accuracy 0.900 (≥ 0.85)" in text


def test_a_metric_that_could_not_be_measured_is_missing_never_a_pass() -> None:
    g = graduate(*_converged_run(gen({"tool": None})), BASE)
    check = g.checkpoints[0].check("tool_call_accuracy")
    assert check.status == "missing" and "no prompt with calls" in check.detail
    assert not g.ready_for_rl and not g.checkpoints[0].protocol_holds
    assert graduate([], [], None).recommended is None


# --- SFT against the base -----------------------------------------------------------------------------


def test_sft_clearly_beats_the_base_with_numbers() -> None:
    g = graduate(*_converged_run(gen()), BASE)
    c = g.comparison
    assert c is not None and c.sft_clearly_beats_base
    assert [(b.bucket, b.base_eval_loss, b.sft_eval_loss) for b in c.buckets] == [
        ("chat", 3.0, 1.195), ("tools", 3.1, 1.195)]
    assert c.summary.startswith("SFT (checkpoint-50) clearly beats the base model (base)")
    assert "eval loss lower in 2 of 2 buckets" in c.summary and "format accuracy 0.000 → 0.950" in c.summary


def test_sft_does_not_clearly_beat_the_base_when_one_bucket_is_not_better() -> None:
    base = BASE.model_copy(update={"eval_loss_by_bucket": {"chat": 3.0, "tools": 1.2}})
    c = graduate(*_converged_run(gen()), base).comparison
    assert c is not None and not c.sft_clearly_beats_base
    assert "does not clearly beat" in c.summary and "tools (1.200 → 1.195)" in c.summary


# --- the report -----------------------------------------------------------------------------------------


@pytest.fixture
def report() -> EvalReport:
    history, ckpts = _converged_run(gen())
    history[2].eval_loss_by_length = {"<100": 1.1, ">=100": 1.3}
    return build_report("tiny", history, ckpts, BASE, data="OUT")


def test_schema_file_matches_the_model() -> None:
    path = SCHEMA_DIR / SCHEMA_FILE
    assert path.exists(), f"missing {path}; run `python -m curate_train.eval_report`"
    assert path.read_text(encoding="utf-8") == schema_text(), (
        f"{SCHEMA_FILE} is stale; run `python -m curate_train.eval_report`")
    assert main(["--check"]) == 0


def test_report_validates_against_the_schema_and_round_trips(report: EvalReport, tmp_path: Any) -> None:
    path = tmp_path / "eval_report.json"
    write_report(report, path)
    data = json.loads(path.read_text())
    jsonschema.validate(data, json.loads((SCHEMA_DIR / SCHEMA_FILE).read_text()))
    assert EvalReport.model_validate(data) == report
    assert data["graduation"]["ready_for_rl"] is True and data["graduation"]["thresholds"]["converged_window"] == 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "surprise": 1}, json.loads((SCHEMA_DIR / SCHEMA_FILE).read_text()))


def test_html_report_is_self_contained_with_plots(report: EvalReport, tmp_path: Any) -> None:
    page = render_report(report)
    assert page.count("<svg") >= 4  # overall loss, one per bucket, per length bucket
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert "ready for RL" in page and "checkpoint-50" in page and "clearly beats" in page
    assert "pass@k (largest k)" in page and "<polyline" in page
    write_html(report, tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == page


def test_terminal_report_shows_buckets_and_verdict(report: EvalReport) -> None:
    console = Console(record=True, width=200, color_system=None)
    print_report(report, console)
    text = console.export_text()
    assert "chat" in text and "tools" in text and "checkpoint-50" in text
    assert "ready for RL" in text and "3.000 → 1.195" in text
