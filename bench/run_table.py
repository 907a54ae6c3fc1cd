"""The figures of a finished `curate train` run as Markdown tables: base against the recommended checkpoint.

    python bench/run_table.py out/sample-real      # what the README's real-model tables are made from

Reads RUN/eval_report.json, RUN/metrics.jsonl and RUN/run.json (nothing is recomputed): training time and
tokens/s, then per set (the build's eval split, each OOD set) the loss on assistant tokens, format accuracy,
tool-call parse / schema-valid / argument-match rates and pass@k of the base and the recommended checkpoint,
then the eval loss per capability bucket.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

METRICS = (("format_accuracy", "format accuracy"), ("parse_rate", "tool-call parse rate"),
           ("schema_valid_rate", "schema-valid rate"), ("arg_match", "argument match"))


def fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def pass_at_max(overall: dict[str, Any] | None) -> tuple[str, float | None]:
    ks = (overall or {}).get("pass_at_k") or {}
    if not ks:
        return "pass@k", None
    k = max(ks, key=int)
    return f"pass@{k}", ks[k]


def tables(run: Path) -> str:
    report = json.loads((run / "eval_report.json").read_text(encoding="utf-8"))
    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    summary = next((r for r in reversed(rows) if "train_runtime" in r), {})
    best = report["graduation"].get("recommended")
    ckpt = next((c for c in report["checkpoints"] if c["name"] == best), None)
    base_entry = next((h for h in report["history"] if h["step"] == 0), None)
    ckpt_entry = next((h for h in reversed(report["history"]) if ckpt and h["step"] <= ckpt["step"]), None)
    tokens = summary.get("num_input_tokens_seen")
    seconds = summary.get("train_runtime")
    out = [f"Run `{run}`: model `{report['model']}`, {info['global_step']} optimizer steps, training "
           f"{fmt(seconds, 0)} s for {tokens:,} tokens ({fmt(tokens / seconds if tokens and seconds else None, 0)} "
           f"tokens/s, evaluations included); recommended: {best}; "
           f"ready for RL: {report['graduation']['ready_for_rl']}",
           "", f"| set | metric | base | {best} |", "|---|---|---|---|"]

    def add(name: str, loss: tuple[float | None, float | None], base: dict[str, Any] | None,
            mine: dict[str, Any] | None) -> None:
        out.append(f"| {name} | loss (assistant tokens) | {fmt(loss[0])} | {fmt(loss[1])} |")
        for key, label in METRICS:
            out.append(f"| | {label} | {fmt((base or {}).get(key))} | {fmt((mine or {}).get(key))} |")
        label, b = pass_at_max(base)
        _, m = pass_at_max(mine)
        out.append(f"| | {label} | {fmt(b)} | {fmt(m)} |")

    add("eval split", (base_entry and base_entry.get("eval_loss"), ckpt_entry and ckpt_entry.get("eval_loss")),
        report["base"]["generation"]["overall"], ckpt and ckpt["generation"]["overall"])
    for s in report.get("ood") or []:
        b, m = s.get("base") or {}, (s.get("checkpoints") or {}).get(best) or {}
        add(f"OOD `{s['name']}` ({s['records']} records)", (b.get("loss"), m.get("loss")),
            (b.get("generation") or {}).get("overall"), (m.get("generation") or {}).get("overall"))
    by_base = (base_entry or {}).get("eval_loss_by_bucket") or {}
    by_ckpt = (ckpt_entry or {}).get("eval_loss_by_bucket") or {}
    out += ["", f"| bucket | eval loss, base | eval loss, {best} |", "|---|---|---|"]
    out += [f"| {b} | {fmt(by_base.get(b))} | {fmt(by_ckpt.get(b))} |" for b in sorted(by_base)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder of `curate train`")
    args = parser.parse_args(argv)
    try:
        print(tables(args.run))
    except (OSError, ValueError, KeyError) as e:
        print(f"{args.run}: not a finished run of `curate train` ({e}); give RUN/, not RUN.partial/", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
