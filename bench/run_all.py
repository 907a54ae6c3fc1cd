"""Every side-by-side benchmark in one run: writes bench/RESULTS.md and bench/results.json.

    python bench/run_all.py [--only STAGE,...] [--keep] [--quick] [--out DIR]      (or: make bench)

Stages, each in a fresh process (its own memory, its own imports), in this order:

  toolcalls   tool-call validation vs the Berkeley Function Calling Leaderboard's AST checker (bfcl-eval)
  schema_suite  the JSON Schema test suite's cases through our validator vs jsonschema's own
  dedup       near-duplicate detection vs datasketch (loop, MinHash.bulk) and rensa
  mask        masking vs transformers apply_chat_template(return_assistant_tokens_mask=True)
  train       QLoRA SFT steps vs TRL's SFTTrainer
  lint_build  curate lint and curate build end to end on 100,000 trajectories, 1 and 2 processes
  engines     curate build on the local engine vs the Ray engine, 1 and 2 workers
  decontam    the index of all BFCL categories; curate build of 100,000 trajectories with and without
              --decontaminate against it; the planted-contamination corpus's recall and precision
  scale       curate build at 100,000, 300,000, 1,000,000 and 2,000,000 trajectories (local engine) and
              1,000,000 and 2,000,000 (Ray engine, 2 workers): wall, records/s, peak memory per process, memory
              slope per record of each engine, seconds per stage. Run only when named (--only scale): about
              45 minutes.

Every corpus is generated deterministically (seeded) from the repository's sample data and the BFCL
data in ../shared/real/bfcl/; nothing is downloaded. A stage that fails is reported in both files
with its error, the others still run, and the exit code is 1. `--quick` runs tiny sizes (a smoke
test of the harness, minutes; its figures mean little). The default sizes fit in about 20 minutes on
a 2-core machine. `--only STAGE --keep` runs that stage again and keeps every other stage's result from
the folder's results.json (a failed or changed stage, without running the rest again); the files then
say which stages were kept and from when.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import SUMMARY_TABLES, fmt, machine  # noqa: E402

# stage -> (module, keyword arguments of its run(): full, quick)
STAGES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "toolcalls": ("bench.toolcall_agreement", {}, {"repeat": 1}),
    "schema_suite": ("bench.schema_suite_speed", {}, {"repeat": 1, "rounds": 1}),
    "dedup": ("bench.dedup_speed", {}, {"pairs": 300, "singles": 300, "subset": 200, "repeat": 1}),
    "mask": ("bench.mask_speed", {"records": 5000}, {"records": 300, "repeat": 1, "per_example": 50}),
    "train": ("bench.train_speed", {"steps": 6}, {"steps": 2}),
    "lint_build": ("bench.build_speed", {}, {"records": 3000, "repeat": 1, "build_repeat": 1}),
    "engines": ("bench.build_ray_speed", {}, {"records": 2000, "repeat": 1}),
    "decontam": ("bench.decontam_speed", {}, {"records": 2000, "repeat": 1}),
    "scale": ("bench.scale", {}, {"records": [1500, 3000], "ray": [1500, 3000]}),
}
OPT_IN = ("scale",)
"""Stages run only when named (`--only scale`): the scale stage's builds of up to 2,000,000 records take ~45 min."""


def run_stage(name: str, quick: bool, out: Path) -> dict[str, Any]:
    """One stage in a fresh process; its result, or a record of why it failed."""
    module, full, small = STAGES[name]
    kwargs = small if quick else full
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import importlib; "
            "r = importlib.import_module(sys.argv[2]).run(**json.loads(sys.argv[3])); "
            "open(sys.argv[4], 'w').write(json.dumps(r))")
    path = out / f".{name}.json"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(REPO), module, json.dumps(kwargs), str(path)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    seconds = round(time.perf_counter() - start, 1)
    if proc.returncode != 0 or not path.exists():
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()][-12:]
        return {"stage": name, "title": name, "error": "\n".join(tail) or f"exit {proc.returncode}",
                "seconds": seconds, "machine": machine(), "tables": [], "notes": []}
    result = json.loads(path.read_text(encoding="utf-8"))
    path.unlink()
    result["stage"] = name  # the harness's name for it (what --only and --keep take)
    result["wall_seconds"] = seconds
    return result


def md_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[fmt(v).replace("|", "\\|") for v in r] for r in rows]
    head = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return head + ["| " + " | ".join(r) + " |" for r in cells]


def tables_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A stage's tables; a stage that returns only `rows` (a list of dicts) gets one table of them."""
    if result.get("tables"):
        return list(result["tables"])
    rows = result.get("rows") or []
    if not rows or not all(isinstance(r, dict) for r in rows):
        return []
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return [{"title": "Figures", "columns": columns, "rows": [[r.get(c) for c in columns] for r in rows]}]


def render(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """RESULTS.md: the summary of every ours-vs-peer ratio, then each stage's tables and notes."""
    m = meta["machine"]
    lines = ["# Benchmarks: curate beside the tools people would use instead", "",
             f"Generated by `make bench` (`python bench/run_all.py{' --quick' if meta['quick'] else ''}`) on "
             f"{m['date']}: {m['processor']}, {m['cores']} cores, Python {m['python']}, load average "
             f"{m['load']} at the start; {meta['minutes']:.1f} minutes in all.", "",
             "Each figure is the median of several runs with the range (min-max; training: one run per "
             "configuration, the range over its timed steps); every ratio compares two "
             "figures measured in the same run, on the same data. Ratios above 1 favour curate. A difference "
             "inside the spread of the repeats is reported as such, and where a peer is faster the verdict "
             "says OURS SLOWER.", ""]
    if meta.get("kept"):
        lines += ["Stages " + ", ".join(f"`{k}`" for k in meta["kept"]) + " were kept from an earlier run of the same "
                  "command (`--keep`); the date beside each stage says when it ran.", ""]
    if meta["quick"]:
        lines += ["**Quick mode: tiny inputs, one repetition. These figures only show that the harness runs.**", ""]
    summary = []
    for r in results:
        for t in tables_of(r):
            if t["title"] in SUMMARY_TABLES:
                summary += [[r["stage"], *row] for row in t["rows"]]
    lines += ["## Summary", ""]
    lines += md_table(["stage", "comparison", "ratio", "verdict"], summary) if summary else ["(no comparison ran)"]
    failed = [r for r in results if "error" in r]
    if failed:
        lines += ["", "Stages that failed: " + ", ".join(f"`{r['stage']}`" for r in failed) + " (below)."]
    for r in results:
        lines += ["", f"## {r.get('title') or r['stage']}", ""]
        rm = r.get("machine", {})
        lines += [f"Stage `{r['stage']}`: {r.get('wall_seconds', r.get('seconds', 0)):.0f} s; {rm.get('date', '')}, "
                  f"load {rm.get('load', '?')} at the end" + (" (kept from an earlier run: `--keep`)." if r.get("kept")
                                                              else ".")
                  + ("" if not r.get("versions") else " Versions: "
                     + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + "."), ""]
        if "error" in r:
            lines += ["**Failed:**", "", "```", r["error"], "```"]
            continue
        for t in tables_of(r):
            lines += [f"### {t['title']}", "", *md_table(t["columns"], t["rows"]), ""]
        lines += [f"- {note}" for note in r.get("notes", ())]
    return "\n".join(lines).rstrip() + "\n"


def kept_results(out: Path, rerun: list[str], quick: bool, error: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    """The results of the stages not run again, from OUT/results.json (same mode: quick or full)."""
    path = out / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        earlier = {r["stage"]: r for r in data["results"]}
        same_mode = data["meta"]["quick"] == quick
    except (OSError, ValueError, KeyError, TypeError) as e:
        error(f"--keep: cannot read the earlier results in {path} ({e.__class__.__name__}: {e}); run without --keep")
    if not same_mode:
        error(f"--keep: {path} holds {'quick' if data['meta']['quick'] else 'full'} figures; "
              "mixing them with this run's would mislead")
    return {name: r for name, r in earlier.items() if name in STAGES and name not in rerun}


def main(argv: list[str] | None = None, log: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated stages (default: all but " + ", ".join(OPT_IN) + "): "
                        + ", ".join(STAGES))
    parser.add_argument("--keep", action="store_true",
                        help="with --only: keep the other stages' results from the folder's results.json")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, not the speed")
    parser.add_argument("--out", type=Path, default=REPO / "bench", help="folder for RESULTS.md and results.json")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.only.split(",")] if args.only else [s for s in STAGES if s not in OPT_IN]
    unknown = [s for s in names if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage {unknown[0]!r}; stages: {', '.join(STAGES)}")
    kept = kept_results(args.out, names, args.quick, parser.error) if args.keep else {}
    args.out.mkdir(parents=True, exist_ok=True)
    start, at_start = time.perf_counter(), machine()
    fresh = {}
    for name in names:
        log(f"bench: {name} ...")
        result = run_stage(name, args.quick, args.out)
        log(f"bench: {name} {'FAILED' if 'error' in result else 'done'} in {result.get('wall_seconds', 0):.0f} s"
            + (f"\n{result['error']}" if "error" in result else ""))
        fresh[name] = result
    order = [s for s in STAGES if s in fresh or s in kept]
    results = [fresh[s] if s in fresh else {**kept[s], "kept": True} for s in order]
    meta = {"machine": at_start, "quick": args.quick, "stages": order, "kept": sorted(kept),
            "minutes": (time.perf_counter() - start) / 60 + sum(r.get("wall_seconds", 0) for r in kept.values()) / 60}
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n",
                                           encoding="utf-8")
    (args.out / "RESULTS.md").write_text(render(results, meta), encoding="utf-8")
    log(f"bench: wrote {args.out / 'RESULTS.md'} and results.json in {meta['minutes']:.1f} minutes")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
