"""Masking throughput: masked tokens per second against plain tokenisation and the per-example HF path.

    python bench/mask_speed.py [--records 20000] [--repeat 3] [--per-example 500] [--num-proc 2]

On the sample corpus scaled to N trajectories (tools attached), with the built-in tokenizer:

- plain batch tokenisation of the same rendered text (`tokenizer(texts)`), the physical limit;
- `curate` masking (render, encode with offsets, map spans to labels, audit every example), in one
  process and with `--num-proc` worker processes;
- the per-example `apply_chat_template(..., return_assistant_tokens_mask=True)` path, timed on the
  first `--per-example` records (its rate is per token, so the subset is a fair comparison);
- `curate` masking with the system-turn cache off (every text encoded whole, like the limit), to
  show what the masking itself costs.

And agreement: on the per-example subset, the same input ids and the same assistant mask, example by
example and token by token, as `apply_chat_template(return_assistant_tokens_mask=True)`.

Each figure is the median of `--repeat` runs, with the spread (max − min).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from bench.common import (  # noqa: E402
    comparison_table,
    machine,
    package_version,
    print_stage,
    relative_spread,
    table,
    timed,
    verdict,
)
from curate.mask import Masker, template_messages  # noqa: E402
from curate.mask_cmd import mask_stream  # noqa: E402
from curate.readers import RecordReader, load_tool_specs  # noqa: E402
from curate.records import ToolSpec, Trajectory  # noqa: E402
from curate.render import render_chatml  # noqa: E402
from curate.tokenizer import load_tokenizer  # noqa: E402


def corpus(n: int) -> list[Trajectory]:
    tools = [ToolSpec.model_validate(t) for t in load_tool_specs(REPO / "sample_data" / "tools.json")]
    base = [r.record if r.record.tools else r.record.model_copy(update={"tools": tools})
            for r in RecordReader().read(REPO / "sample_data" / "raw.jsonl")
            if r.record is not None and r.record.messages]
    return [base[i % len(base)].model_copy(update={"id": f"{base[i % len(base)].id}~{i}"}) for i in range(n)]


def agreement(tokenizer: object, masker: Masker, records: list[Trajectory]) -> dict[str, int]:
    """Ours against `apply_chat_template(return_assistant_tokens_mask=True)`, example by example."""
    from curate.mask import IGNORE

    ours = {ex.id: ex for ex in masker.mask(records).examples}
    out = {"examples": 0, "same_ids": 0, "same_masks": 0, "tokens": 0, "tokens_agreeing": 0, "dropped_by_us": 0}
    for rec in records:
        ex = ours.get(rec.id)
        if ex is None:  # nothing to train on: the masker drops it and counts it
            out["dropped_by_us"] += 1
            continue
        messages, tools = template_messages(rec)
        ref = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,  # type: ignore[attr-defined]
                                            return_assistant_tokens_mask=True)
        mine = [int(lab != IGNORE) for lab in ex.labels]
        out["examples"] += 1
        out["same_ids"] += ref["input_ids"] == ex.input_ids
        out["same_masks"] += ref["assistant_masks"] == mine
        out["tokens"] += len(mine)
        out["tokens_agreeing"] += sum(a == b for a, b in zip(ref["assistant_masks"], mine, strict=False))
    return out


def run(records: int = 20_000, repeat: int = 3, per_example: int = 500, num_proc: int = 2) -> dict[str, Any]:
    started = time.perf_counter()
    tokenizer = load_tokenizer()
    trajs = corpus(records)
    masker = Masker(tokenizer)

    def plain() -> int:  # in batches of 512, as the masker works (and memory stays bounded)
        total = 0
        for start in range(0, len(trajs), 512):
            texts = [render_chatml(t).text for t in trajs[start:start + 512]]
            total += sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
        return total

    uncached = Masker(tokenizer)
    uncached._prefix_cache_ok = False  # every text encoded whole, as the limit does

    def ours(procs: int, m: Masker = masker) -> Callable[[], int]:
        def go() -> int:
            total = 0
            for result in mask_stream(iter(trajs), m, None, procs):
                assert not result.failures
                total += sum(len(ex.input_ids) for ex in result.examples)
            return total
        return go

    subset = trajs[:per_example]

    def per_example_hf() -> int:
        total = 0
        for t in subset:
            messages, tools = template_messages(t)
            out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
            total += len(out["input_ids"])
        return total

    paths = [("render + tokenizer(texts) (the limit)", plain), ("curate mask, 1 process", ours(1)),
             (f"curate mask, {num_proc} processes", ours(num_proc)),
             (f"apply_chat_template per example (first {len(subset):,})", per_example_hf),
             ("curate mask, 1 process, no system-turn cache", ours(1, uncached))]
    timings = [(name, timed(fn, repeat)) for name, fn in paths]
    rate = {name: t.result / t.median for name, t in timings}
    limit, hf = rate[paths[0][0]], rate[paths[3][0]]
    rows = []
    for name, t in timings:
        lo, hi = t.result / t.high, t.result / t.low
        rows.append([name, t.result, rate[name], f"{lo:,.0f}-{hi:,.0f}", rate[name] / limit, rate[name] / hf])
    ours1 = timings[1][1]
    agree = agreement(tokenizer, masker, subset)
    vs = [["tokens/s, curate mask (1 process) vs apply_chat_template per example", rate[paths[1][0]] / hf,
           verdict(rate[paths[1][0]] / hf, relative_spread(ours1, timings[3][1]))],
          ["tokens/s, curate mask (1 process) vs plain batch tokenisation", rate[paths[1][0]] / limit,
           verdict(rate[paths[1][0]] / limit, relative_spread(ours1, timings[0][1]))]]
    return {
        "stage": "mask", "title": "Masking: curate mask vs transformers apply_chat_template",
        "machine": machine(), "versions": {k: package_version(k) for k in ("transformers", "tokenizers")},
        "agreement": agree,
        "tables": [
            table(f"Masked tokens per second ({records:,} trajectories, built-in tokenizer)",
                  ["path", "tokens", "tokens/s", "range", "vs limit", "vs per-example HF"], rows),
            comparison_table(vs),
            table(f"Agreement with apply_chat_template on the first {len(subset):,} trajectories",
                  ["examples compared", "same input_ids", "same masks", "tokens", "tokens agreeing",
                   "dropped by us (nothing to train)"],
                  [[agree["examples"], agree["same_ids"], agree["same_masks"], agree["tokens"],
                    agree["tokens_agreeing"], agree["dropped_by_us"]]]),
        ],
        "notes": [f"Median of {repeat} runs. The corpus is the sample corpus's readable records with its tools, "
                  "repeated with fresh ids; 'the limit' renders the same text and tokenizes it in batches "
                  "with no mask at all.",
                  "The per-example path is timed on a subset; its rate is per token, so the ratio is fair."],
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-example", type=int, default=500)
    parser.add_argument("--num-proc", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print_stage(run(args.records, args.repeat, args.per_example, args.num_proc))


if __name__ == "__main__":
    main()
