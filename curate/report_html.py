"""`OUT/report.html`: one self-contained page (inline SVG, no scripts, no network) to read a build at a glance.

It also holds what both HTML reports share (`curate_train.report_html` imports it, never the reverse): the page's
look (`BASE_CSS`), `table`, and the charts: `line_chart` (values over steps), `bars` and `histogram`, each an
`<svg>` as wide as the page (a `viewBox`, drawn at `width="100%"`) with gridlines and labelled axes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from curate.dedup.decontamination import METHODS
from curate.manifest import Manifest

COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d")
"""Series colours, in order (Tableau 10)."""
Series = Sequence[tuple[float, float]]
_GRID = "#e3e3e3"


def _e(text: object) -> str:
    return html.escape(str(text))


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values covering [lo, hi]: at most `most` + 1 of them, a step of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(k * power for k in (1, 2, 5, 10) if k * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels of one axis: short, no float noise, all in scientific notation when any needs it."""
    if any(t != 0 and (abs(t) >= 1e5 or abs(t) < 1e-2) for t in ticks):
        return ["0" if t == 0 else f"{t:.1e}" for t in ticks]
    return [f"{t:.4g}" for t in ticks]


class Frame:
    """A chart's plot area in a `width` × `height` viewBox, with its scales, gridlines and labelled axes."""

    def __init__(self, width: int, height: int, x: tuple[float, float], y: tuple[float, float],
                 x_label: str, y_label: str, legend: bool = False, top: int = 28) -> None:
        self.left, self.right, self.top = 76, 16, top
        self.bottom = 44 + (18 if legend else 0)
        self.width, self.height = width, height
        self.pw, self.ph = width - self.left - self.right, height - self.top - self.bottom
        (x_lo, x_hi), (y_lo, y_hi) = x, y
        if x_hi - x_lo < 1e-12:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        if y_hi - y_lo < 1e-12:
            pad = abs(y_lo) * 0.1 or 0.5
            y_lo, y_hi = y_lo - pad, y_hi + pad
        self.x_lo, self.x_hi, self.y_lo, self.y_hi = x_lo, x_hi, y_lo, y_hi
        self.x_label, self.y_label = x_label, y_label

    def sx(self, x: float) -> float:
        return self.left + (x - self.x_lo) / (self.x_hi - self.x_lo) * self.pw

    def sy(self, y: float) -> float:
        return self.top + (self.y_hi - y) / (self.y_hi - self.y_lo) * self.ph

    def axes(self, x_ticks: Sequence[float] | None = None) -> str:
        """Gridlines at round values of both axes, their labels, and the axis titles."""
        out = [f'<g class="grid" stroke="{_GRID}">']
        ys = [t for t in nice_ticks(self.y_lo, self.y_hi) if self.y_lo <= t <= self.y_hi]
        xs = [t for t in (x_ticks if x_ticks is not None else nice_ticks(self.x_lo, self.x_hi, 10))
              if self.x_lo <= t <= self.x_hi]
        out += [f'<line x1="{self.left}" x2="{self.left + self.pw}" y1="{self.sy(t):.1f}" y2="{self.sy(t):.1f}"/>'
                for t in ys]
        out += [f'<line x1="{self.sx(t):.1f}" x2="{self.sx(t):.1f}" y1="{self.top}" y2="{self.top + self.ph}"/>'
                for t in xs]
        out.append("</g>")
        out.append(f'<rect x="{self.left}" y="{self.top}" width="{self.pw}" height="{self.ph}" fill="none" '
                   'stroke="#999"/>')
        out += [f'<text x="{self.left - 5}" y="{self.sy(t) + 4:.1f}" font-size="11" text-anchor="end">{label}</text>'
                for t, label in zip(ys, _labels(ys), strict=True)]
        out += [f'<text x="{self.sx(t):.1f}" y="{self.top + self.ph + 14}" font-size="11" text-anchor="middle">'
                f'{label}</text>' for t, label in zip(xs, _labels(xs), strict=True)]
        cy = self.top + self.ph / 2
        out.append(f'<text class="axis-label" x="{self.left + self.pw / 2:.1f}" y="{self.top + self.ph + 32}" '
                   f'font-size="12" text-anchor="middle">{_e(self.x_label)}</text>'
                   f'<text class="axis-label" x="14" y="{cy:.1f}" font-size="12" text-anchor="middle" '
                   f'transform="rotate(-90 14 {cy:.1f})">{_e(self.y_label)}</text>')
        return "".join(out)


def _svg(title: str, width: int, height: int) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{_e(title)}" '
            f'font-family="system-ui, sans-serif"><text x="0" y="16" font-size="14" font-weight="bold">{_e(title)}'
            "</text>")


def _legend(frame: Frame, names: Sequence[tuple[str, str]]) -> str:
    out, lx = [], frame.left
    for label, colour in names:
        out.append(f'<rect x="{lx}" y="{frame.height - 14}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{lx + 14}" y="{frame.height - 5}" font-size="12">{_e(label)}</text>')
        lx += 26 + 7 * len(label)
    return "".join(out)


def line_chart(title: str, series: Mapping[str, Series], *, y_label: str, x_label: str = "step",
               width: int = 1000, height: int = 300, dashed: Mapping[str, float] | None = None,
               colors: Mapping[str, str] | None = None, empty: str = "nothing logged") -> str:
    """Lines over steps with gridlines, labelled axes and a legend; `dashed`: horizontal reference levels (e.g. the
    base's loss). `width`/`height` are the viewBox's: the chart is drawn as wide as its container."""
    dashed = {k: v for k, v in (dashed or {}).items() if v is not None and math.isfinite(v)}
    series = {k: [(x, y) for x, y in v if math.isfinite(y)] for k, v in series.items()}
    points = [p for s in series.values() for p in s]
    ys = [y for _, y in points] + list(dashed.values())
    out = [_svg(title, width, height)]
    if not points:
        out.append(f'<text x="0" y="44" font-size="12">{_e(empty)}</text></svg>')
        return "".join(out)
    names = list(series) + [n for n in dashed if n not in series]
    palette = {n: (colors or {}).get(n, COLORS[i % len(COLORS)]) for i, n in enumerate(names)}
    pad = (max(ys) - min(ys)) * 0.05  # no point on the frame's edge
    frame = Frame(width, height, (min(x for x, _ in points), max(x for x, _ in points)),
                  (min(ys) - pad, max(ys) + pad), x_label, y_label, legend=True)
    out.append(frame.axes())
    for name, level in dashed.items():
        out.append(f'<line x1="{frame.left}" x2="{frame.left + frame.pw}" y1="{frame.sy(level):.1f}" '
                   f'y2="{frame.sy(level):.1f}" stroke="{palette[name]}" stroke-width="1.5" stroke-dasharray="6,4">'
                   f'<title>{_e(name)}: {level:.4g}</title></line>')
    for name, pts in series.items():
        pts = sorted(pts)
        if len(pts) > 1:
            path = " ".join(f"{frame.sx(x):.1f},{frame.sy(y):.1f}" for x, y in pts)
            out.append(f'<polyline fill="none" stroke="{palette[name]}" stroke-width="2" points="{path}"/>')
        for x, y in pts:
            out.append(f'<circle cx="{frame.sx(x):.1f}" cy="{frame.sy(y):.1f}" r="2.5" fill="{palette[name]}">'
                       f'<title>{_e(name)}, {_e(x_label)} {x:g}: {y:.4g}</title></circle>')
    out.append(_legend(frame, [(n if n in series else f"{n} (dashed)", palette[n]) for n in names]))
    out.append("</svg>")
    return "".join(out)


def bars(title: str, series: Mapping[str, Mapping[str, int]], width: int = 1000) -> str:
    """Horizontal grouped bars: one group per category, one bar per series (e.g. before / after), with vertical
    gridlines at round counts."""
    cats = sorted({c for s in series.values() for c in s})
    names = list(series)
    row, bar_h, left = 8 + 14 * len(names), 12, 170
    height = 44 + row * max(1, len(cats)) + 40
    top = max([v for s in series.values() for v in s.values()] + [1])
    scale = (width - left - 70) / top
    out = [_svg(title, width, height)]
    for k, name in enumerate(names):
        out.append(f'<rect x="{left + 160 * k}" y="24" width="10" height="10" fill="{COLORS[k % 8]}"/>'
                   f'<text x="{left + 14 + 160 * k}" y="33" font-size="12">{_e(name)}</text>')
    bottom = 44 + row * max(1, len(cats))
    ticks = nice_ticks(0, top, 8)
    for t, label in zip(ticks, _labels(ticks), strict=True):
        x = left + t * scale
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="40" y2="{bottom}" stroke="{_GRID}"/>'
                   f'<text x="{x:.1f}" y="{bottom + 14}" font-size="11" text-anchor="middle">{label}</text>')
    out.append(f'<text class="axis-label" x="{left + (width - left - 70) / 2:.1f}" y="{bottom + 30}" font-size="12" '
               'text-anchor="middle">records</text>')
    for i, cat in enumerate(cats):
        y = 44 + i * row
        out.append(f'<text x="{left - 6}" y="{y + row / 2}" font-size="12" text-anchor="end">{_e(cat)}</text>')
        for k, name in enumerate(names):
            v = series[name].get(cat, 0)
            w = max(v * scale, 0.5 if v else 0)
            by = y + k * 14
            out.append(f'<rect x="{left}" y="{by}" width="{w:.1f}" height="{bar_h}" fill="{COLORS[k % 8]}">'
                       f'<title>{_e(cat)} {_e(name)}: {v}</title></rect>'
                       f'<text x="{left + w + 4:.1f}" y="{by + 10}" font-size="11">{v}</text>')
    out.append("</svg>")
    return "".join(out)


def quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile of `values` (nearest rank, as `numpy.percentile(..., method="inverted_cdf")`)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def histogram(title: str, values: Sequence[int], *, x_label: str = "tokens per record", bins: int = 40,
              width: int = 1000, height: int = 250) -> str:
    """A histogram with gridlines and labelled axes (x: `x_label`, y: records), the median and the 95th percentile
    marked as labelled vertical lines."""
    out = [_svg(title, width, height)]
    if not values:
        out.append('<text x="0" y="44" font-size="12">no record</text></svg>')
        return "".join(out)
    lo, hi = min(values), max(values)
    step = max(1, math.ceil((hi - lo + 1) / bins))
    counts = [0] * bins
    for v in values:
        counts[min((v - lo) // step, bins - 1)] += 1
    used = max(i for i, c in enumerate(counts) if c) + 1
    frame = Frame(width, height, (lo, lo + used * step), (0, max(counts) * 1.05), x_label, "records", top=56)
    out.append(frame.axes())
    bw = frame.pw / used
    for i, c in enumerate(counts[:used]):
        y = frame.sy(c)
        out.append(f'<rect x="{frame.sx(lo + i * step) + 0.5:.1f}" y="{y:.1f}" width="{max(bw - 1, 0.5):.1f}" '
                   f'height="{frame.top + frame.ph - y:.1f}" fill="#4c78a8"><title>{lo + i * step}–'
                   f'{lo + (i + 1) * step - 1}: {c} records</title></rect>')
    # labels above the plot, one row each (they never overlap), right of their line unless it would leave the chart
    for name, v, colour, row in (("median", quantile(values, 0.5), "#e45756", 18),
                                 ("p95", quantile(values, 0.95), "#b279a2", 4)):
        x = frame.sx(v)
        label = f"{name} {v:g}"
        anchor = "start" if x + 8 + 7 * len(label) < width else "end"
        tx = x + 3 if anchor == "start" else x - 3
        out.append(f'<line class="marker-{name}" x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top - row + 2}" '
                   f'y2="{frame.top + frame.ph}" stroke="{colour}" stroke-width="2" stroke-dasharray="5,3"/>'
                   f'<text x="{tx:.1f}" y="{frame.top - row}" font-size="12" fill="{colour}" '
                   f'text-anchor="{anchor}">{label}</text>')
    out.append("</svg>")
    return "".join(out)


def table(rows: Sequence[Sequence[object]], head: Sequence[str]) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


BASE_CSS = """body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1.5em;
color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f4f4f4; } .big { font-size: 20px; } svg.chart { display: block; margin: .5em 0 1.5em; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0 1.5em; }
code, pre { font-size: 12px; }
pre { white-space: pre-wrap; word-break: break-all; background: #f7f7f7; padding: .5em; }"""
"""The look the HTML reports share (build and train): page width, tables, SVG charts, two-column chart grids."""


CONTAMINATION_EXAMPLES = 10
"""How many matched records the report shows (all of them are in `contamination.jsonl`)."""
DROPPED_EXAMPLES = 3
"""How many records of each drop reason the report shows (up to `[export] dropped_cap` are in `dropped/`)."""
NEAR_DUPLICATE_PAIRS = 8
"""How many near-duplicate pairs the report shows."""


def contamination_section(m: Manifest, rows: Sequence[Mapping[str, Any]]) -> str:
    """Decontamination: the records matched per benchmark file and method, and the first matches."""
    d = m.decontamination
    if d is None:
        return ""
    per_file = table([(f.path, f.records, f.items, f.calls, *(f.matched.get(k, 0) for k in METHODS),
                       sum(f.matched.values())) for f in m.decontaminate],
                     ("benchmark", "records", "items", "answer calls", *METHODS, "matched"))
    examples = table([(r["id"], r["turn"], r["method"], r["overlap"], r["benchmark"], r["item"], r["item_turn"],
                       r["item_text"][:120]) for r in rows[:CONTAMINATION_EXAMPLES]],
                     ("record", "turn", "method", "overlap", "benchmark", "item", "item turn", "item text")) \
        if rows else "<p>no record matched</p>"
    action = "dropped" if d.mode == "drop" else "kept and marked (<code>contamination</code> field)"
    return (f"<h2>Decontamination</h2><p><b>{d.matched}</b> records matched a benchmark item, {action}; "
            f"{_e(', '.join(f'{k} {v}' for k, v in d.by_method.items()) or 'none')} by method "
            f"(n-grams of {_e(d.config.get('ngram'))} words).</p>{per_file}"
            f"<h3>First matches</h3>{examples}<p>Every match in <code>contamination.jsonl</code>.</p>")


def _why(detail: Mapping[str, Any]) -> str:
    """What dropped a record, in a line (the `dropped` object of a `dropped/<reason>.jsonl` line)."""
    reason = detail.get("reason")
    if reason == "lint_error":
        errors = [f for f in detail.get("findings", []) if f.get("severity") == "error"]
        return "; ".join(f"{f['code']}: {f['message']}" for f in errors[:3]) + \
            (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
    if reason == "exact_duplicate":
        return f"same text as {detail.get('duplicate_of')}"
    if reason == "near_duplicate":
        return f"Jaccard {detail.get('jaccard')} to {detail.get('representative')} (cluster {detail.get('cluster')})"
    if reason == "contaminated":
        return (f"{detail.get('method')} match in turn {detail.get('turn')} (overlap {detail.get('overlap')}) with "
                f"{detail.get('benchmark')} item {detail.get('item')}")
    if reason == "balancing":
        return f"bucket {detail.get('bucket')} capped by the mix"
    return ""


def dropped_section(m: Manifest, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """What each stage left out: a few records of each reason with what dropped them, and near-duplicate pairs with
    their Jaccard (`rows`: the lines of `dropped/<reason>.jsonl`, by reason)."""
    from curate.build.dropped import first_user_text

    files = m.dropped_files
    if files is None:
        return ""
    if files.cap == 0:
        return "<h2>Dropped records</h2><p>Not written (<code>[export] dropped_cap = 0</code>).</p>"
    counts = table([(reason, m.dropped.get(reason, 0), n, f"dropped/{reason}.jsonl")
                    for reason, n in files.written.items()], ("reason", "dropped", "written", "file"))
    parts = [f"<h2>Dropped records</h2><p>Up to {files.cap} records per reason (<code>[export] dropped_cap</code>) "
             f"in <code>dropped/</code>, each as it was read, with what dropped it in its <code>dropped</code> "
             f"field. Unreadable records ({m.dropped.get('unreadable', 0)}) are counted, not written.</p>{counts}"]
    for reason, lines in rows.items():
        shown = table([(r.get("id"), _why(r["dropped"]), first_user_text(dict(r), 160))
                       for r in lines[:DROPPED_EXAMPLES]], ("record", "why", "first user turn"))
        parts.append(f"<h3>{_e(reason)}: {m.dropped.get(reason, 0)} records</h3>{shown}")
    near = rows.get("near_duplicate", ())
    if near:
        mh = m.minhash or {}
        parts.append(
            f"<h3>Near-duplicate pairs</h3><p>Jaccard similarity of the word {_e(mh.get('shingle', '?'))}-shingles, "
            f"estimated from the MinHash signatures ({_e(mh.get('num_perm', '?'))} permutations: the share of equal "
            f"signature values); records at or above the threshold {_e(m.config.get('dedup', {}).get('threshold'))} "
            "join a cluster whose first record is kept.</p>"
            + table([(r["dropped"].get("jaccard"), r.get("id"), first_user_text(dict(r), 160),
                      r["dropped"].get("representative"), str(r["dropped"].get("representative_excerpt", ""))[:160])
                     for r in near[:NEAR_DUPLICATE_PAIRS]],
                    ("Jaccard", "dropped", "its first user turn", "kept", "kept record's first user turn")))
    return "".join(parts)


def provenance_section(m: Manifest) -> str:
    """What the build depends on: seed, tokenizer, MinHash settings, inputs with their hashes, library versions."""
    mh = ", ".join(f"{k} {v}" for k, v in (m.minhash or {}).items()) or "no near-dup stage"
    rows = [("seed", m.config.get("seed")), ("tokenizer", m.tokenizer), ("MinHash", mh),
            ("curate-agents", m.version), ("libraries", ", ".join(f"{k} {v}" for k, v in m.versions.items())),
            *((f"input {i.path}", f"{i.records} records, {i.bytes:,} bytes, sha256 {i.sha256}") for i in m.inputs),
            *((f"benchmark {f.path}", f"sha256 {f.sha256}") for f in m.decontaminate)]
    return f"<h2>Provenance</h2>{table(rows, ('', 'value'))}"


def render_report(m: Manifest, lengths_by_bucket: Mapping[str, Sequence[int]],
                  cluster_sizes: Mapping[int, int], contamination: Sequence[Mapping[str, Any]] = (),
                  dropped: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> str:
    """The whole page: accounting, mix before/after, splits, length histograms (tokens per record: all records and
    per bucket, median and p95 marked), dedup cluster sizes, the decontamination's matches (`contamination`: the
    rows of `contamination.jsonl`), examples of the dropped records (`dropped`: the lines of `dropped/<reason>.jsonl`
    by reason) and the provenance."""
    stages = table([(s.stage, s.records_in, s.records_out, ", ".join(f"{k} {v}" for k, v in sorted(s.dropped.items()))
                     or "—") for s in m.stages], ("stage", "in", "out", "dropped"))
    split = {"train": {b: v.get("train", 0) for b, v in m.split.items()},
             "eval": {b: v.get("eval", 0) for b, v in m.split.items()}}
    everything = [n for v in lengths_by_bucket.values() for n in v]
    hists = "".join(histogram(f"{b} ({len(v)} records)", v, bins=24, width=500, height=240)
                    for b, v in sorted(lengths_by_bucket.items()))
    sizes = {f"size {k}": v for k, v in sorted(cluster_sizes.items())}
    lint = table(sorted(m.lint_findings.items()), ("code", "findings")) if m.lint_findings else "<p>none</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>curate build report</title>
<style>
{BASE_CSS}
</style></head><body>
<h1>curate build</h1>
<p class="big"><b>{m.records_in}</b> records in → <b>{m.records_out}</b> out
({sum(v.get("train", 0) for v in m.split.values())} train, {sum(v.get("eval", 0) for v in m.split.values())} eval,
{m.copies} up-sampled copies) · <b>{sum(m.dropped.values())}</b> dropped</p>
<h2>Where records went</h2>{stages}
<h2>Capability mix</h2>{bars("records per capability bucket", {"before balancing": m.buckets_before,
                                                                  "after balancing": m.buckets_after})}
<h2>Train / eval split</h2>{bars("records per bucket and split", split)}
<h2>Lengths (tokens per record, {_e(m.tokenizer)} tokenizer)</h2>
<p>The records written (copies included). Length buckets: {_e(", ".join(f"{k} {v}" for k, v in
                                                                           m.length_buckets.items()))}.</p>
{histogram(f"all records ({len(everything)})", everything)}
<div class="grid2">{hists}</div>
<h2>Near-duplicate clusters</h2>
{bars("clusters by size (members)", {"clusters": sizes}) if sizes else "<p>none</p>"}
{contamination_section(m, contamination)}{dropped_section(m, dropped or {})}
<h2>Lint findings over all records read</h2>{lint}
{provenance_section(m)}
<p>Full accounting in <code>manifest.json</code>; clusters in <code>clusters.jsonl</code>.</p>
</body></html>
"""
