"""`OUT/report.html`: one self-contained page (inline SVG, no scripts) to read a build at a glance."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from curate.dedup.decontamination import METHODS
from curate.manifest import Manifest

_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d")


def bars(title: str, series: Mapping[str, Mapping[str, int]], width: int = 720) -> str:
    """Horizontal grouped bars: one group per category, one bar per series (e.g. before / after)."""
    cats = sorted({c for s in series.values() for c in s})
    names = list(series)
    row, bar_h, left = 8 + 14 * len(names), 12, 150
    height = 40 + row * max(1, len(cats)) + 20
    top = max([v for s in series.values() for v in s.values()] + [1])
    scale = (width - left - 70) / top
    out = [f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
           f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>']
    for k, name in enumerate(names):
        out.append(f'<rect x="{left + 120 * k}" y="24" width="10" height="10" fill="{_COLORS[k % 8]}"/>'
                   f'<text x="{left + 14 + 120 * k}" y="33" font-size="12">{html.escape(name)}</text>')
    for i, cat in enumerate(cats):
        y = 44 + i * row
        out.append(f'<text x="{left - 6}" y="{y + row / 2}" font-size="12" text-anchor="end">{html.escape(cat)}</text>')
        for k, name in enumerate(names):
            v = series[name].get(cat, 0)
            w = max(v * scale, 0.5 if v else 0)
            by = y + k * 14
            out.append(f'<rect x="{left}" y="{by}" width="{w:.1f}" height="{bar_h}" fill="{_COLORS[k % 8]}">'
                       f'<title>{html.escape(cat)} {html.escape(name)}: {v}</title></rect>'
                       f'<text x="{left + w + 4:.1f}" y="{by + 10}" font-size="11">{v}</text>')
    out.append("</svg>")
    return "".join(out)


def histogram(title: str, values: Sequence[int], bins: int = 24, width: int = 340, height: int = 150) -> str:
    """A small histogram of token counts."""
    out = [f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
           f'<text x="0" y="14" font-size="12" font-weight="bold">{html.escape(title)}</text>']
    if values:
        lo, hi = min(values), max(values)
        step = max(1, -(-(hi - lo + 1) // bins))
        counts = [0] * bins
        for v in values:
            counts[min((v - lo) // step, bins - 1)] += 1
        peak = max(counts) or 1
        bw = (width - 10) / bins
        for i, c in enumerate(counts):
            h = (height - 40) * c / peak
            out.append(f'<rect x="{5 + i * bw:.1f}" y="{height - 20 - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}" '
                       f'fill="#4c78a8"><title>{lo + i * step}–{lo + (i + 1) * step - 1} tokens: {c}</title></rect>')
        out.append(f'<text x="5" y="{height - 5}" font-size="10">{lo}</text>'
                   f'<text x="{width - 5}" y="{height - 5}" font-size="10" text-anchor="end">{hi} tokens</text>')
    out.append("</svg>")
    return "".join(out)


def table(rows: Sequence[Sequence[object]], head: Sequence[str]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


BASE_CSS = """body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 760px; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f4f4f4; } .big { font-size: 20px; } svg { display: block; margin: .5em 0 1.5em; }"""
"""The look the HTML reports share (build and train): page width, tables, SVG charts."""


CONTAMINATION_EXAMPLES = 10
"""How many matched records the report shows (all of them are in `contamination.jsonl`)."""


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
            f"{html.escape(', '.join(f'{k} {v}' for k, v in d.by_method.items()) or 'none')} by method "
            f"(n-grams of {html.escape(str(d.config.get('ngram')))} words).</p>{per_file}"
            f"<h3>First matches</h3>{examples}<p>Every match in <code>contamination.jsonl</code>.</p>")


def render_report(m: Manifest, lengths_by_bucket: Mapping[str, Sequence[int]],
                  cluster_sizes: Mapping[int, int], contamination: Sequence[Mapping[str, Any]] = ()) -> str:
    """The whole page: accounting, mix before/after, splits, length histograms, dedup cluster sizes, and the
    decontamination's matches (`contamination`: the rows of `contamination.jsonl`)."""
    stages = table([(s.stage, s.records_in, s.records_out, ", ".join(f"{k} {v}" for k, v in sorted(s.dropped.items()))
                     or "—") for s in m.stages], ("stage", "in", "out", "dropped"))
    split = {"train": {b: v.get("train", 0) for b, v in m.split.items()},
             "eval": {b: v.get("eval", 0) for b, v in m.split.items()}}
    hists = "".join(histogram(f"{b} ({len(v)} records)", v) for b, v in sorted(lengths_by_bucket.items()))
    sizes = {f"size {k}": v for k, v in sorted(cluster_sizes.items())}
    lint = table(sorted(m.lint_findings.items()), ("code", "findings")) if m.lint_findings else "<p>none</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>curate build report</title>
<style>
{BASE_CSS}
.hists svg {{ display: inline-block; margin-right: 1em; }}
</style></head><body>
<h1>curate build</h1>
<p class="big"><b>{m.records_in}</b> records in → <b>{m.records_out}</b> out
({sum(v.get("train", 0) for v in m.split.values())} train, {sum(v.get("eval", 0) for v in m.split.values())} eval,
{m.copies} up-sampled copies) · <b>{sum(m.dropped.values())}</b> dropped</p>
<h2>Where records went</h2>{stages}
<h2>Capability mix</h2>{bars("records per capability bucket", {"before balancing": m.buckets_before,
                                                                  "after balancing": m.buckets_after})}
<h2>Train / eval split</h2>{bars("records per bucket and split", split)}
<h2>Lengths (tokens, {html.escape(m.tokenizer)} tokenizer)</h2>
<p>length buckets: {html.escape(", ".join(f"{k} {v}" for k, v in m.length_buckets.items()))}</p>
<div class="hists">{hists}</div>
<h2>Near-duplicate clusters</h2>
{bars("clusters by size (members)", {"clusters": sizes}) if sizes else "<p>none</p>"}
{contamination_section(m, contamination)}<h2>Lint findings over all records read</h2>{lint}
<p>Inputs: {html.escape(", ".join(f"{i.path} ({i.records} records)" for i in m.inputs))}.
Full accounting in <code>manifest.json</code>; clusters in <code>clusters.jsonl</code>.</p>
</body></html>
"""
