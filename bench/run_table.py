"""The figures of a finished `curate train` run as Markdown tables: the base and every checkpoint (★: recommended).

    python bench/run_table.py out/sample-real      # what the README's real-model tables are made from

Reads RUN/eval_report.json, RUN/metrics.jsonl and RUN/run.json (nothing is recomputed): training time and
tokens/s, then per set (the build's eval split, each OOD set) the loss on assistant tokens, format accuracy,
tool-call parse / schema-valid / argument-match rates and pass@k of the base and of every checkpoint, then the
eval loss per capability bucket.
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


def regraded(report: dict[str, Any]) -> dict[str, Any]:
    """The graduation of the run's measurements by the installed `curate_train.graduation` (its rule may be newer
    than the run's), with the run's own thresholds."""
    from curate_train.eval_report import EvalReport
    from curate_train.graduation import graduate

    r = EvalReport.model_validate(report)
    return graduate(r.history, r.checkpoints, r.base, r.graduation.thresholds, r.ood).model_dump(mode="json")


def tables(run: Path, regrade: bool = False) -> str:
    report = json.loads((run / "eval_report.json").read_text(encoding="utf-8"))
    graded = ""
    if regrade:
        was = report["graduation"].get("recommended")
        report["graduation"] = regraded(report)
        graded = f" (graded again by this version's rule; the run's own report recommended {was})"
    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    summary = next((r for r in reversed(rows) if "train_runtime" in r), {})
    best = report["graduation"].get("recommended")
    ckpts = report["checkpoints"]
    history = report["history"]
    base_entry = next((h for h in history if h["step"] == 0), None)
    entries = [next((h for h in reversed(history) if h["step"] <= c["step"] and h.get("eval_loss") is not None),
                    None) for c in ckpts]
    names = [c["name"] + (" ★" if c["name"] == best else "") for c in ckpts]
    tokens = summary.get("num_input_tokens_seen")
    seconds = summary.get("train_runtime")
    out = [f"Run `{run}`: model `{report['model']}`, {info['global_step']} optimizer steps, training "
           f"{fmt(seconds, 0)} s for {tokens:,} tokens ({fmt(tokens / seconds if tokens and seconds else None, 0)} "
           f"tokens/s, evaluations included); recommended (★): {best}{graded}; "
           f"ready for RL: {report['graduation']['ready_for_rl']}",
           "", "| set | metric | base | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(ckpts)]

    def add(name: str, losses: list[float | None], overall: list[dict[str, Any] | None]) -> None:
        out.append(f"| {name} | loss (assistant tokens) | " + " | ".join(fmt(x) for x in losses) + " |")
        for key, label in METRICS:
            out.append(f"| | {label} | " + " | ".join(fmt((o or {}).get(key)) for o in overall) + " |")
        label = next((pass_at_max(o)[0] for o in overall if o), "pass@k")
        out.append(f"| | {label} | " + " | ".join(fmt(pass_at_max(o)[1]) for o in overall) + " |")

    add("eval split", [base_entry and base_entry.get("eval_loss")] + [e and e.get("eval_loss") for e in entries],
        [report["base"]["generation"]["overall"]] + [c["generation"]["overall"] for c in ckpts])
    for s in report.get("ood") or []:
        sets = [s.get("base") or {}] + [(s.get("checkpoints") or {}).get(c["name"]) or {} for c in ckpts]
        add(f"OOD `{s['name']}` ({s['records']} records)", [x.get("loss") for x in sets],
            [(x.get("generation") or {}).get("overall") for x in sets])
    by_base = (base_entry or {}).get("eval_loss_by_bucket") or {}
    by_ckpt = [(e or {}).get("eval_loss_by_bucket") or {} for e in entries]
    out += ["", "| bucket | eval loss, base | " + " | ".join(f"eval loss, {n}" for n in names) + " |",
            "|---|---|" + "---|" * len(ckpts)]
    out += [f"| {b} | {fmt(by_base.get(b))} | " + " | ".join(fmt(x.get(b)) for x in by_ckpt) + " |"
            for b in sorted(by_base)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder of `curate train`")
    parser.add_argument("--regrade", action="store_true",
                        help="recommend by the installed graduation rule, not the one the run was graded with")
    args = parser.parse_args(argv)
    try:
        print(tables(args.run, args.regrade))
    except (OSError, ValueError, KeyError) as e:
        print(f"{args.run}: not a finished run of `curate train` ({e}); give RUN/, not RUN.partial/", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
