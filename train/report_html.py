"""`RUN/report.html` and the terminal summary of an evaluation report.

The page is self-contained like `OUT/report.html` of `curate build` (inline SVG, no scripts, no
network) and draws with its helpers (`curate.report_html`: charts with gridlines and labelled axes, tables): the
verdict first, then loss curves over steps (overall and one chart per bucket, with the base model's loss as a
dashed line), learning rate, gradient norm, throughput and memory over steps (from `metrics.jsonl`), one
bucket × metric heatmap per model (the base, then each checkpoint with its change from the base), then (with
`[eval] ood` sets) in-distribution and out-of-distribution metrics side by side, then example outputs.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from curate.report_html import BASE_CSS, COLORS, Series, line_chart, table
from curate_train.eval_report import EvalReport
from curate_train.graduation import CheckpointVerdict, metric_value, ood_value
from curate_train.metrics import GenerationEval

OOD_METRICS: tuple[tuple[str, str], ...] = (
    ("loss", "loss"), ("format_accuracy", "format"), ("parse_rate", "parse rate"),
    ("schema_valid_rate", "schema-valid"), ("arg_match", "argument match"), ("pass@k", "pass@k"))
"""What the in-distribution / out-of-distribution comparison shows (loss: lower is better; the rest higher)."""
IN_DISTRIBUTION = "eval split (in distribution)"
HEATMAP: tuple[tuple[str, str], ...] = (
    ("eval_loss", "eval loss"), ("format_accuracy", "format accuracy"), ("stop_rate", "stop rate"),
    ("parse_rate", "parse rate"), ("schema_valid_rate", "schema-valid"), ("tool_name_accuracy", "tool name"),
    ("arg_match", "argument match"), ("tool_call_accuracy", "tool-call accuracy"), ("answer_match", "answer match"),
    ("pass@k", "pass@k (largest k)"), ("unique_ratio", "unique ratio"), ("distinct_2", "distinct-2"))
"""The columns of a checkpoint's bucket × metric heatmap (eval loss: lower is better; the rest higher)."""
TRAINING_CHARTS: tuple[tuple[str, str, str], ...] = (
    ("learning_rate", "learning rate", "learning rate"),
    ("grad_norm", "gradient norm", "L2 norm, before clipping"),
    ("tokens_per_second", "throughput", "tokens per second"),
    ("peak_rss_mb", "memory", "MiB"))
"""The charts of `metrics.jsonl`'s training rows beside the losses: key, title, y axis."""
_MARK = {"pass": "✓", "fail": "✗", "missing": "?"}
_STYLE = {"pass": "green", "fail": "red", "missing": "yellow"}
_SHORT = {"converged": "converged", "not_overfitting": "gap", "format_accuracy": "format",
          "tool_call_accuracy": "calls", "diversity": "diversity", "no_bucket_regression": "buckets"}


def _e(text: object) -> str:
    return html.escape(str(text))


def _shade(v: float | None) -> str:
    if v is None:
        return "#f4f4f4"
    v = min(max(v, 0.0), 1.0)  # red (0) → white (0.5) → green (1)
    if v < 0.5:
        k = v / 0.5
        return f"rgb(240,{int(150 + 105 * k)},{int(150 + 105 * k)})"
    k = (v - 0.5) / 0.5
    return f"rgb({int(255 - 105 * k)},{int(255 - 30 * k)},{int(255 - 105 * k)})"


def _loss_charts(report: EvalReport, metrics: Sequence[Mapping[str, Any]] = ()) -> str:
    """Loss over steps: the training loss of every logged step (`metrics`, else the window means of the
    evaluations), the eval loss, the base's as a dashed line; then eval loss per capability and length bucket."""
    hist = report.history
    base = report.base
    logged = [(float(r["step"]), float(r["loss"])) for r in metrics if _number(r.get("loss"))]
    main: dict[str, list[tuple[float, float]]] = {
        "train (logged steps)" if logged else "train": logged or [
            (e.step, e.train_loss) for e in hist if e.train_loss is not None],
        "eval (all)": [(e.step, e.eval_loss) for e in hist if e.eval_loss is not None],
    }
    dashed = {"base eval": base.eval_loss} if base and base.eval_loss is not None else {}
    y = "loss (nats per assistant token)"
    charts = [line_chart("loss over steps", main, y_label=y, dashed=dashed)]
    buckets = sorted({b for e in hist for b in e.eval_loss_by_bucket})
    small = []
    for b in buckets:
        series = {b: [(e.step, e.eval_loss_by_bucket[b]) for e in hist if b in e.eval_loss_by_bucket],
                  "eval (all)": main["eval (all)"]}
        level = base.eval_loss_by_bucket.get(b) if base else None
        small.append(line_chart(f"eval loss: {b}", series, y_label="eval loss (nats)", width=500, height=240,
                                dashed={"base": level} if level is not None else None,
                                colors={b: COLORS[0], "eval (all)": "#bbb", "base": COLORS[3]}))
    lengths = sorted({b for e in hist for b in e.eval_loss_by_length})
    by_length = {b: [(e.step, e.eval_loss_by_length[b]) for e in hist if b in e.eval_loss_by_length]
                 for b in lengths}
    parts = ["".join(charts), f'<h3>eval loss per capability bucket</h3><div class="grid2">{"".join(small)}</div>']
    if by_length:
        parts.append(line_chart("eval loss per length bucket (tokens)", by_length, y_label="eval loss (nats)"))
    return "".join(parts)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def training_series(metrics: Sequence[Mapping[str, Any]], key: str) -> dict[str, Series]:
    """The lines of one training chart from `metrics.jsonl`'s rows: `key` over steps, and what stands in for it in a
    run logged before it was (throughput: transformers' average since the start; memory: CUDA's peak beside RSS)."""
    def over_steps(name: str) -> list[tuple[float, float]]:
        return [(float(r["step"]), float(r[name])) for r in metrics if "loss" in r and _number(r.get(name))]

    if key == "tokens_per_second":
        return {"tokens/s, all tokens": over_steps("tokens_per_second"),
                "tokens/s, trained tokens": over_steps("trained_tokens_per_second")} \
            if over_steps("tokens_per_second") else {
                "tokens/s since the start (transformers)": over_steps("train_tokens_per_second")}
    if key == "peak_rss_mb":
        return {"peak RSS": over_steps("peak_rss_mb"), "CUDA peak allocated": over_steps("cuda_peak_mb")}
    return {key.replace("_", " "): over_steps(key)}


def _training_charts(metrics: Sequence[Mapping[str, Any]]) -> str:
    charts = []
    for key, title, y in TRAINING_CHARTS:
        series = {k: v for k, v in training_series(metrics, key).items() if v}
        charts.append(line_chart(f"{title} over steps", series, y_label=y, width=500, height=260,
                                 empty=f"{title}: not in metrics.jsonl (a run logged before it was)"))
    return f'<div class="grid2">{"".join(charts)}</div>'


def _rgb_delta(d: float | None, scale: float) -> str:
    """Green for an improvement (`d` > 0), red for a loss, white for none; full colour at `scale`."""
    if d is None:
        return "#f4f4f4"
    k = min(abs(d) / scale, 1.0)
    return (f"rgb({int(255 - 105 * k)},{int(255 - 30 * k)},{int(255 - 105 * k)})" if d > 0
            else f"rgb(240,{int(255 - 105 * k)},{int(255 - 105 * k)})")


def heatmap_values(report: EvalReport) -> list[tuple[str, dict[str, dict[str, float | None]]]]:
    """Every model (the base first, then each checkpoint) with its value per bucket (and `overall`) and metric of
    `HEATMAP`; eval loss per bucket is the evaluation logged at the checkpoint's step."""
    out = []
    models: list[tuple[str, Any, Mapping[str, float], float | None]] = []
    if report.base is not None:
        b = report.base
        models.append((b.name, b.generation, b.eval_loss_by_bucket, b.eval_loss))
    for c in report.checkpoints:
        e = next((e for e in report.history if e.step == c.step and e.eval_loss is not None), None)
        models.append((c.name, c.generation, e.eval_loss_by_bucket if e else {}, e.eval_loss if e else None))
    for name, g, losses, overall_loss in models:
        buckets = sorted(set(losses) | set(g.buckets if g else ()))
        rows: dict[str, dict[str, float | None]] = {}
        for bucket in [*buckets, "overall"]:
            m = (g.overall if bucket == "overall" else g.buckets.get(bucket)) if g else None
            loss = overall_loss if bucket == "overall" else losses.get(bucket)
            rows[bucket] = {k: loss if k == "eval_loss" else metric_value(m, k) for k, _ in HEATMAP}
        out.append((name, rows))
    return out


def _heatmaps(report: EvalReport) -> str:
    """One bucket × metric heatmap per model: the base's values, then each checkpoint's with its change from the
    base; a cell's colour is its value (rates: red 0 → white 0.5 → green 1) or, for eval loss, its change."""
    maps = heatmap_values(report)
    base = maps[0][1] if report.base is not None and maps else None
    gens = {c.name: c.generation for c in report.checkpoints}
    if report.base is not None:
        gens[report.base.name] = report.base.generation

    def why(name: str, bucket: str, key: str) -> str:
        """Why a cell is empty (the hover text)."""
        if key == "eval_loss":
            return "no eval loss logged at this step"
        g = gens.get(name)
        m = (g.overall if bucket == "overall" else g.buckets.get(bucket)) if g else None
        return m.missing.get("pass_at_k" if key == "pass@k" else key, "not measured") if m else "not evaluated"

    head = "".join(f"<th>{_e(label)}</th>" for _, label in HEATMAP)
    parts = []
    for i, (name, rows) in enumerate(maps):
        is_base = base is not None and i == 0
        body = []
        for bucket, values in rows.items():
            cells = []
            for key, _ in HEATMAP:
                v = values[key]
                before = base.get(bucket, {}).get(key) if base is not None and not is_base else None
                delta = None if v is None or before is None else v - before
                if key == "eval_loss":
                    colour = _rgb_delta(None if delta is None else -delta, 0.5) if not is_base else "#fff"
                    text = "—" if v is None else f"{v:.3f}"
                    change = "" if delta is None else f"<small>{delta:+.3f}</small>"
                else:
                    colour, text = _shade(v), "—" if v is None else f"{v:.2f}"
                    change = "" if delta is None else f"<small>{delta:+.2f}</small>"
                hover = f' title="{_e(why(name, bucket, key))}"' if v is None else ""
                cells.append(f'<td class="cell" data-bucket="{_e(bucket)}" data-metric="{_e(key)}" '
                             f'style="background:{colour}"{hover}>{text}{change}</td>')
            style = ' class="overall"' if bucket == "overall" else ""
            body.append(f"<tr{style}><th>{_e(bucket)}</th>{''.join(cells)}</tr>")
        what = "the base model" if is_base else (f"change from {report.base.name} below each value"
                                                 if report.base is not None else "no base evaluated")
        parts.append(f'<h3>{_e(name)} <small>({_e(what)})</small></h3><table class="heatmap" data-model="{_e(name)}">'
                     f"<thead><tr><th>bucket</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return "".join(parts) or "<p>no model evaluated</p>"


def _verdict(report: EvalReport) -> str:
    g = report.graduation
    ready = ('<span class="ok">ready for RL</span>' if g.ready_for_rl
             else '<span class="bad">not ready for RL</span>')
    rec = f"recommended checkpoint: <b>{_e(g.recommended)}</b>" if g.recommended else "no checkpoint recommended"
    items = "".join(f"<li>{_e(r)}</li>" for r in g.reasons)
    comp = f"<p><b>SFT vs base.</b> {_e(g.comparison.summary)}</p>" if g.comparison else ""
    return f'<div class="verdict"><p class="big">{ready} · {rec}</p><ul>{items}</ul>{comp}</div>'


def _checkpoint_table(verdicts: Sequence[CheckpointVerdict]) -> str:
    def mark(v: CheckpointVerdict, name: Any) -> str:
        return _MARK[v.check(name).status]

    def num(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    rows = [(v.name, v.step, num(v.train_loss), num(v.eval_loss), num(v.generalisation_gap),
             num(v.pass_at_max_k), num(v.unique_ratio), mark(v, "converged"), mark(v, "not_overfitting"),
             mark(v, "format_accuracy"), mark(v, "tool_call_accuracy"), mark(v, "diversity"),
             mark(v, "no_bucket_regression"), len(v.regressions)) for v in verdicts]
    return table(rows, ("checkpoint", "step", "train loss", "eval loss", "gap", "pass@k", "unique", "converged",
                        "no overfit", "format", "tool calls", "diversity", "buckets ≥ base", "flags"))


def _comparison_table(report: EvalReport) -> str:
    c = report.graduation.comparison
    if c is None:
        return "<p>no base model evaluated</p>"

    def num(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    rows = [(b.bucket, num(b.base_eval_loss), num(b.sft_eval_loss), num(b.base_format_accuracy),
             num(b.sft_format_accuracy)) for b in c.buckets]
    rows.append(("overall", num(c.base_eval_loss), num(c.sft_eval_loss), num(c.base_format_accuracy),
                 num(c.sft_format_accuracy)))
    return table(rows, ("bucket", f"eval loss {c.base}", f"eval loss {c.checkpoint}", f"format {c.base}",
                        f"format {c.checkpoint}"))


def side_by_side(report: EvalReport) -> tuple[list[str], list[tuple[str, str, list[float | None]]]]:
    """The models (base, then every checkpoint) and one row per (set, metric of `OOD_METRICS`) with a value per
    model: the eval split first (in distribution), then every OOD set; empty rows without OOD sets."""
    if not report.ood:
        return [], []
    models = ([report.base.name] if report.base else []) + [c.name for c in report.checkpoints]
    losses = {v.name: v.eval_loss for v in report.graduation.checkpoints}
    gens = {c.name: c.generation for c in report.checkpoints}
    if report.base is not None:
        losses[report.base.name], gens[report.base.name] = report.base.eval_loss, report.base.generation
    rows: list[tuple[str, str, list[float | None]]] = []
    for metric, _ in OOD_METRICS:
        values = [losses.get(m) if metric == "loss" else metric_value(g.overall if (g := gens.get(m)) else None,
                                                                      metric) for m in models]
        rows.append((IN_DISTRIBUTION, metric, values))
    for s in report.ood:
        results = [s.base if report.base is not None and m == report.base.name else s.checkpoints.get(m)
                   for m in models]
        rows += [(s.name, metric, [ood_value(r, metric) for r in results]) for metric, _ in OOD_METRICS]
    return models, rows


def _ood_section(report: EvalReport) -> str:
    models, rows = side_by_side(report)
    if not rows:
        return ""
    head = "".join(f"<th>{_e(m)}</th>" for m in models)
    tables = []
    for metric, label in OOD_METRICS:
        body = []
        for name, _, values in (r for r in rows if r[1] == metric):
            cells = "".join(
                f'<td style="background:{"#fff" if metric == "loss" else _shade(v)}">'
                f'{"—" if v is None else f"{v:.3f}" if metric == "loss" else f"{v:.2f}"}</td>' for v in values)
            style = ' style="font-weight:bold"' if name == IN_DISTRIBUTION else ""
            body.append(f"<tr{style}><td>{_e(name)}</td>{cells}</tr>")
        tables.append(f"<h3>{_e(label)}</h3><table class=\"metric\"><thead><tr><th>set</th>{head}</tr></thead>"
                      f"<tbody>{''.join(body)}</tbody></table>")
    info = table([(s.name, s.path, s.read, s.records, ", ".join(f"{k} {v}" for k, v in s.skipped.items()) or "—",
                   s.examples, ", ".join(f"{k} {v}" for k, v in s.dropped.items()) or "—") for s in report.ood],
                 ("set", "file", "records read", "usable", "left out", "loss examples", "dropped by masking"))
    g = report.graduation
    flags = "".join(f"<li>{_e(r.sentence())}</li>" for r in g.ood_regressions) or "<li>none</li>"
    return (f"<h2>In distribution and out of distribution</h2><p>Loss on assistant tokens (lower is better) and "
            f"generation metrics over every prompt of the set; the eval split first.</p>{info}{''.join(tables)}"
            f"<h3>OOD regressions while in distribution improved</h3><ul>{flags}</ul>")


def _examples(gen: GenerationEval | None) -> str:
    if gen is None:
        return "<p>none</p>"
    out = []
    for bucket, m in gen.buckets.items():
        for ex in m.examples:
            verdict = "passed" if ex.passed else "failed"
            problems = "".join(f"<li>{_e(p)}</li>" for p in ex.problems)
            out.append(f"<details><summary>{_e(bucket)} · {_e(ex.id)} · {verdict}, format "
                       f"{'ok' if ex.format_ok else 'broken'}</summary><p>reference</p><pre>{_e(ex.reference)}</pre>"
                       f"<p>output</p><pre>{_e(ex.output)}</pre><ul>{problems}</ul></details>")
    return "".join(out) or "<p>none</p>"


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's `metrics.jsonl` (none when it is missing; a line cut short by a crash is skipped)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append(row)
    return rows


def render_report(report: EvalReport, metrics: Sequence[Mapping[str, Any]] = ()) -> str:
    """The whole page as one HTML string; `metrics`: the rows of the run's `metrics.jsonl` (the training loss of
    every logged step, learning rate, grad norm, throughput and memory over steps)."""
    g = report.graduation
    models: list[tuple[str, GenerationEval | None]] = []
    if report.base is not None:
        models.append((report.base.name, report.base.generation))
    models += [(c.name, c.generation) for c in report.checkpoints]
    regress = "".join(f"<li>{_e(r.sentence())}</li>" for r in g.regressions) or "<li>none</li>"
    rec = next((c for c in report.checkpoints if c.name == g.recommended), None)
    settings = next((gen.settings for _, gen in models if gen is not None), None)
    how = (f"{settings.prompts_per_bucket} prompts per bucket ({settings.turns} turns), greedy + {settings.n_samples} "
           f"samples at temperature {settings.temperature}, up to {settings.max_new_tokens} new tokens, seed "
           f"{settings.seed}" if settings else "no generation")
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>curate train report</title>
<style>
{BASE_CSS}
.verdict {{ border: 2px solid #888; padding: .2em 1em; }} .ok {{ color: #2a7a2a; }} .bad {{ color: #b22; }}
.wide {{ overflow-x: auto; font-size: 12px; }}
table.heatmap td {{ text-align: right; min-width: 4.5em; }} table.heatmap td small {{ display: block; color: #555; }}
table.heatmap tr.overall th, table.heatmap tr.overall td {{ border-top: 2px solid #888; font-weight: bold; }}
table.heatmap th {{ text-align: left; }}
</style></head><body>
<h1>curate train</h1>
<p>model <code>{_e(report.model)}</code>{f" on <code>{_e(report.data)}</code>" if report.data else ""};
{len(report.history)} evaluations, {len(report.checkpoints)} checkpoints.</p>
<h2>Verdict</h2>{_verdict(report)}
<h2>Checkpoints</h2><div class="wide">{_checkpoint_table(g.checkpoints)}</div>
<h2>SFT against the base model</h2>{_comparison_table(report)}
<h2>Loss</h2>{_loss_charts(report, metrics)}
<h2>Training</h2><p>From <code>metrics.jsonl</code>, every logged step: learning rate, gradient norm, throughput
(tokens of the steps since the last log over their time) and memory (peak resident set size of process 0; CUDA's peak
allocated memory on a GPU).</p>{_training_charts(metrics)}
<h2>Generation metrics per bucket</h2><p>{_e(how)}. One heatmap per model: a row per capability bucket, a column per
metric; eval loss is the evaluation at the checkpoint's step. Hover an empty cell for why it is empty.</p>
{_heatmaps(report)}
<h2>Per-bucket regressions</h2><ul>{regress}</ul>
{_ood_section(report)}
<h2>Example outputs ({_e(rec.name if rec else "none")})</h2>{_examples(rec.generation if rec else None)}
<p>curate-agents {_e(report.version)}; {_e(versions)}. Thresholds: {_e(g.thresholds.model_dump())}.</p>
</body></html>
"""


def write_html(report: EvalReport, path: Path, metrics: Path | None = None) -> None:
    """Write `render_report` of `report` and the metrics log `metrics` (default: `metrics.jsonl` beside `path`, the
    run folder's) to `path`, via a temporary file (never half-written)."""
    rows = read_metrics(metrics if metrics is not None else path.with_name("metrics.jsonl"))
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(render_report(report, rows), encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def print_report(report: EvalReport, console: Any) -> None:
    """The report in the terminal: checkpoints, a per-bucket table (base vs recommended), the verdict.

    Bucket and checkpoint names and the reasons that quote them come from data: every one goes through
    `curate.terminal.markup` (control characters made visible, Rich markup escaped, names shortened).
    """
    from rich.panel import Panel
    from rich.table import Table

    from curate.terminal import NAME_LIMIT, markup

    g = report.graduation

    def num(x: float | None, digits: int = 3) -> str:
        return "—" if x is None else f"{x:.{digits}f}"

    ck = Table(title="checkpoints", show_lines=False)
    for col in ("checkpoint", "step", "train", "eval", "gap", "format", "tool calls", "pass@k", "unique", "checks"):
        ck.add_column(col, justify="left" if col in ("checkpoint", "checks") else "right")
    for v in g.checkpoints:
        gen = next((c.generation for c in report.checkpoints if c.name == v.name), None)
        o = gen.overall if gen else None
        marks = " ".join(f"[{_STYLE[c.status]}]{_MARK[c.status]}{_SHORT[c.name]}[/]" for c in v.checks)
        name = f"[bold]{markup(v.name, NAME_LIMIT)}[/] ★" if v.name == g.recommended else markup(v.name, NAME_LIMIT)
        ck.add_row(name, str(v.step), num(v.train_loss), num(v.eval_loss), num(v.generalisation_gap),
                   num(o.format_accuracy if o else None, 2), num(o.tool_call_accuracy if o else None, 2),
                   num(v.pass_at_max_k, 2), num(v.unique_ratio, 2), marks)
    console.print(ck)

    rec = next((c for c in report.checkpoints if c.name == g.recommended), None)
    comp = g.comparison
    base_gen = report.base.generation if report.base else None
    rec_gen = rec.generation if rec else None
    bt = Table(title=f"per bucket: {markup(report.base.name if report.base else 'base', NAME_LIMIT)} → "
                     f"{markup(g.recommended or '—', NAME_LIMIT)}")
    for col in ("bucket", "prompts", "eval loss", "format", "tool calls", "answer", "pass@k", "unique", "regressions"):
        bt.add_column(col, justify="left" if col == "bucket" else "right")
    losses = {b.bucket: (b.base_eval_loss, b.sft_eval_loss) for b in comp.buckets} if comp else {}
    buckets = sorted(set(losses) | set(rec_gen.buckets if rec_gen else ()) | set(base_gen.buckets if base_gen else ()))

    def pair(metric: str, bucket: str) -> str:
        before = metric_value(base_gen.buckets.get(bucket) if base_gen else None, metric)
        after = metric_value(rec_gen.buckets.get(bucket) if rec_gen else None, metric)
        return f"{num(before, 2)} → {num(after, 2)}"

    for b in buckets:
        lb, la = losses.get(b, (None, None))
        flagged = [r for r in g.regressions if r.bucket == b and r.checkpoint == g.recommended]
        m = rec_gen.buckets.get(b) if rec_gen else None
        bt.add_row(markup(b, NAME_LIMIT), str(m.prompts if m else 0), f"{num(lb)} → {num(la)}",
                   pair("format_accuracy", b), pair("tool_call_accuracy", b), pair("answer_match", b),
                   pair("pass@k", b), pair("unique_ratio", b),
                   f"[red]{len(flagged)}[/]" if flagged else "0")
    console.print(bt)

    models, rows = side_by_side(report)
    if rows:
        ot = Table(title="in distribution and out of distribution (loss: lower is better)")
        ot.add_column("set", overflow="fold")  # set names are whole (folded), never cut short
        ot.add_column("metric", no_wrap=True)
        for m in models:
            ot.add_column(markup(m, NAME_LIMIT) + (" ★" if m == g.recommended else ""), justify="right")
        labels = dict(OOD_METRICS)
        for i, (name, metric, values) in enumerate(rows):
            first = i == 0 or rows[i - 1][0] != name
            ot.add_row(markup(name, NAME_LIMIT) if first else "", labels[metric],
                       *(num(v, 3 if metric == "loss" else 2) for v in values), end_section=i + 1 < len(rows)
                       and rows[i + 1][0] != name)
        console.print(ot)
        for r in g.ood_regressions[:5]:
            console.print(f"[red]OOD regression[/]: {markup(r.sentence())}")
        if len(g.ood_regressions) > 5:
            console.print(f"and {len(g.ood_regressions) - 5} more OOD regressions (report.html lists them all)")

    head = "[green]ready for RL[/]" if g.ready_for_rl else "[red]not ready for RL[/]"
    body = "\n".join([f"recommended: [bold]{markup(g.recommended or '—', NAME_LIMIT)}[/]",
                      *(f"• {markup(r)}" for r in g.reasons)] + ([markup(comp.summary)] if comp else []))
    console.print(Panel(body, title=head, expand=False))
