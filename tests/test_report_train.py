"""`RUN/report.html` of `curate train`, and what `metrics.jsonl` logs for it, on a report and logs written by hand:
no model is trained or loaded.

The page: the verdict first; charts of loss, learning rate, grad norm, throughput and memory over steps, each an
`<svg>` with gridlines and labelled axes; one bucket × metric heatmap per model with a cell per bucket and metric,
the checkpoints' change from the base in the cell; every string from data escaped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from curate_train.eval_report import EvalReport, build_report
from curate_train.graduation import BaselineEval, CheckpointEval, EvalLogEntry
from curate_train.metrics import BucketMetrics, GenerationEval, GenerationSettings
from curate_train.report_html import HEATMAP, heatmap_values, render_report, training_series, write_html

SETTINGS = GenerationSettings(prompts_per_bucket=4, n_samples=4, temperature=0.7, max_new_tokens=64, seed=0,
                              turns="last")
HOSTILE = "<script>alert(1)</script>"


def metrics(fmt: float, tool: float) -> BucketMetrics:
    return BucketMetrics(prompts=4, samples=16, prompts_with_calls=2, format_accuracy=fmt, stop_rate=fmt,
                         tool_call_accuracy=tool, tool_name_accuracy=tool, answer_match=0.5, unique_ratio=0.8,
                         pairwise_ratio=0.9, distinct_1=0.5, distinct_2=0.7, pass_at_k={1: tool / 2, 4: tool},
                         missing={"parse_rate": "no reference call to parse against"})


def generation(fmt: float, tool: float) -> GenerationEval:
    return GenerationEval(settings=SETTINGS, overall=metrics(fmt, tool),
                          buckets={"chat": metrics(fmt, tool), HOSTILE: metrics(fmt, tool)})


@pytest.fixture
def report() -> EvalReport:
    history = [EvalLogEntry(step=s, train_loss=tr, eval_loss=ev, eval_loss_by_bucket={"chat": ev, HOSTILE: ev + 0.1})
               for s, tr, ev in ((10, 1.3, 1.4), (20, 1.1, 1.2), (30, 1.09, 1.198), (40, 1.08, 1.196))]
    base = BaselineEval(eval_loss=3.0, eval_loss_by_bucket={"chat": 3.0, HOSTILE: 3.1},
                        generation=generation(0.25, 0.0))
    ckpts = [CheckpointEval(name="checkpoint-20", step=20, generation=generation(0.75, 0.5)),
             CheckpointEval(name="checkpoint-40", step=40, generation=generation(1.0, 0.9))]
    return build_report("tiny", history, ckpts, base, data="OUT")


LOGGED = [
    {"step": 0, "eval_loss": 3.0},
    {"step": 1, "loss": 4.4, "grad_norm": 4.5, "learning_rate": 0.0, "num_input_tokens_seen": 100,
     "tokens_per_second": 50.0, "trained_tokens_per_second": 20.0, "peak_rss_mb": 900.0},
    {"step": 10, "loss": 2.8, "grad_norm": 2.3, "learning_rate": 7.5e-4, "num_input_tokens_seen": 1000,
     "tokens_per_second": 60.0, "trained_tokens_per_second": 25.0, "peak_rss_mb": 950.5},
    {"step": 20, "loss": 2.1, "grad_norm": 1.9, "learning_rate": 5e-4, "num_input_tokens_seen": 2000,
     "tokens_per_second": 61.0, "trained_tokens_per_second": 26.0, "peak_rss_mb": 960.0},
]


def svgs(page: str) -> dict[str, str]:
    """Every chart of the page by its title (aria-label)."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<svg class="chart"[^>]*aria-label="([^"]*)".*?</svg>', page,
                                                          re.S)}


def test_the_verdict_comes_first_then_charts_with_gridlines_and_labelled_axes(report: EvalReport) -> None:
    page = render_report(report, LOGGED)
    assert page.index("<h2>Verdict</h2>") < page.index("<svg")
    charts = svgs(page)
    for title, y_label in (("loss over steps", "loss (nats per assistant token)"),
                           ("learning rate over steps", "learning rate"),
                           ("gradient norm over steps", "L2 norm, before clipping"),
                           ("throughput over steps", "tokens per second"), ("memory over steps", "MiB")):
        svg = charts[title]
        assert 'width="100%"' in svg and 'class="grid"' in svg and svg.count("<line") >= 4, title
        assert re.findall(r'class="axis-label"[^>]*>([^<]*)<', svg) == ["step", y_label], title
        assert "<polyline" in svg, title
    assert "<script" not in page.replace(HOSTILE.replace("<", "&lt;").replace(">", "&gt;"), "")
    assert "http://" not in page.replace("http://www.w3.org", "")


def test_training_charts_plot_what_metrics_jsonl_logged(report: EvalReport) -> None:
    assert training_series(LOGGED, "learning_rate") == {"learning rate": [(1.0, 0.0), (10.0, 7.5e-4), (20.0, 5e-4)]}
    assert training_series(LOGGED, "tokens_per_second")["tokens/s, trained tokens"][-1] == (20.0, 26.0)
    assert training_series(LOGGED, "peak_rss_mb")["peak RSS"] == [(1.0, 900.0), (10.0, 950.5), (20.0, 960.0)]
    # a run logged before throughput was measured here: transformers' average since the start stands in
    old = [{"step": 1, "loss": 4.0, "train_tokens_per_second": 161.3}]
    assert training_series(old, "tokens_per_second") == {"tokens/s since the start (transformers)": [(1.0, 161.3)]}
    assert "memory: not in metrics.jsonl" in render_report(report, old)


def test_one_heatmap_per_model_with_a_cell_per_bucket_and_metric(report: EvalReport) -> None:
    page = render_report(report)
    tables = re.findall(r'<table class="heatmap" data-model="([^"]*)">(.*?)</table>', page, re.S)
    assert [name for name, _ in tables] == ["base", "checkpoint-20", "checkpoint-40"]
    escaped = HOSTILE.replace("<", "&lt;").replace(">", "&gt;")
    for _, body in tables:
        cells = re.findall(r'data-bucket="([^"]*)" data-metric="([^"]*)"', body)
        assert sorted(set(cells)) == sorted((b, k) for b in ("chat", escaped, "overall") for k, _ in HEATMAP)
        assert len(cells) == 3 * len(HEATMAP)
    assert "pass@k (largest k)" in page and HOSTILE not in page
    values = dict(heatmap_values(report))
    assert values["checkpoint-40"]["chat"]["eval_loss"] == 1.196 and values["base"]["chat"]["eval_loss"] == 3.0
    assert values["checkpoint-20"]["overall"]["format_accuracy"] == 0.75
    # the checkpoint's cell holds its value and its change from the base
    cell = re.search(r'data-bucket="chat" data-metric="format_accuracy"[^>]*>([^<]*)<small>([^<]*)</small>',
                     tables[2][1])
    assert cell is not None and cell.groups() == ("1.00", "+0.75")
    loss = re.search(r'data-bucket="chat" data-metric="eval_loss"[^>]*>([^<]*)<small>([^<]*)</small>', tables[2][1])
    assert loss is not None and loss.groups() == ("1.196", "-1.804")


def test_write_html_reads_the_runs_metrics_beside_it(report: EvalReport, tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in LOGGED) + '{"step": 3', "utf-8")
    write_html(report, tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == render_report(report, LOGGED)
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    write_html(report, elsewhere / "report.html")  # no metrics.jsonl there: the evaluations only
    assert (elsewhere / "report.html").read_text(encoding="utf-8") == render_report(report)


def _state(step: int, tokens: int) -> Any:
    return SimpleNamespace(global_step=step, num_input_tokens_seen=tokens, is_world_process_zero=True)


def test_metrics_log_adds_throughput_and_memory_to_training_rows(tmp_path: Path, monkeypatch: Any) -> None:
    import curate_train.callbacks as callbacks

    clock = iter([0.0, 2.0, 10.0, 12.0])  # two steps of 2 s each, 8 s between them (an evaluation)
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    log = callbacks.MetricsLog(tmp_path / "metrics.jsonl")
    log.on_train_begin(None, _state(0, 500), None)  # resumed: 500 tokens seen before
    for _ in range(2):
        log.on_step_begin(None, _state(1, 500), None)
        log.on_step_end(None, _state(1, 500), None)
    log.on_log(None, _state(2, 1300), None, logs={"loss": 2.0, "train_tokens": 200, "grad_norm": 1.5})
    log.on_log(None, _state(2, 1300), None, logs={"eval_loss": 1.9})
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["loss"] == 2.0 and rows[0]["grad_norm"] == 1.5 and rows[0]["step"] == 2
    assert rows[0]["tokens_per_second"] == 200.0 and rows[0]["trained_tokens_per_second"] == 50.0
    assert rows[0]["peak_rss_mb"] > 10
    assert rows[1] == {"step": 2, "eval_loss": 1.9}  # evaluation rows as they were


def test_an_empty_heatmap_cell_says_why(report: EvalReport) -> None:
    page = render_report(report)
    # no parse rate measured: the cell is empty and says why, as the metrics do
    cell = re.search(r'data-bucket="chat" data-metric="parse_rate"[^>]*title="([^"]*)">—<', page)
    assert cell is not None and cell.group(1) == "no reference call to parse against"
