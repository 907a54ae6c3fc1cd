"""Masking throughput: masked tokens per second against plain tokenisation and the per-example HF path.

    python bench/mask_speed.py [--records 100000] [--repeat 3] [--per-example 1000] [--num-proc 2]

On the sample corpus scaled to N trajectories (tools attached), with the built-in tokenizer:

- plain batch tokenisation of the same rendered text (`tokenizer(texts)`), the physical limit;
- `curate` masking (render, encode with offsets, map spans to labels, audit every example), in one
  process and with `--num-proc` worker processes;
- the per-example `apply_chat_template(..., return_assistant_tokens_mask=True)` path, timed on the
  first `--per-example` records (its rate is per token, so the subset is a fair comparison);
- `curate` masking with the system-turn cache off (every text encoded whole, like the limit), to
  show what the masking itself costs.

Each figure is the median of `--repeat` runs, with the spread (max − min).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

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


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, float, int]:
    times, out = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times) - min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-example", type=int, default=1000)
    parser.add_argument("--num-proc", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    tokenizer = load_tokenizer()
    trajs = corpus(args.records)
    masker = Masker(tokenizer)

    def plain() -> int:  # in batches of 512, as the masker works (and memory stays bounded)
        total = 0
        for start in range(0, len(trajs), 512):
            texts = [render_chatml(t).text for t in trajs[start:start + 512]]
            total += sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
        return total

    uncached = Masker(tokenizer)
    uncached._prefix_cache_ok = False  # every text encoded whole, as the limit does

    def ours(num_proc: int, m: Masker = masker) -> Callable[[], int]:
        def run() -> int:
            total = 0
            for result in mask_stream(iter(trajs), m, None, num_proc):
                assert not result.failures
                total += sum(len(ex.input_ids) for ex in result.examples)
            return total
        return run

    subset = trajs[: args.per_example]

    def per_example() -> int:
        total = 0
        for t in subset:
            messages, tools = template_messages(t)
            out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
            total += len(out["input_ids"])
        return total

    rows = []
    for name, fn in [("render + tokenizer(texts) (limit)", plain), ("curate mask, 1 process", ours(1)),
                     (f"curate mask, {args.num_proc} processes", ours(args.num_proc)),
                     (f"apply_chat_template per example ({len(subset)})", per_example),
                     ("curate mask, 1 process, no system-turn cache", ours(1, uncached))]:
        t, spread, tokens = timed(fn, args.repeat)
        rows.append((name, t, spread, tokens / t))
    limit = rows[0][3]
    hf = rows[3][3]
    print(f"# mask speed: {args.records:,} trajectories, built-in tokenizer, median of {args.repeat}")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"{'path':<44} {'seconds':>8} {'spread':>7} {'tokens/s':>11} {'vs limit':>9} {'vs per-ex':>10}")
    for name, t, spread, rate in rows:
        print(f"{name:<44} {t:>8.2f} {spread:>7.2f} {rate:>11,.0f} {rate / limit:>8.2f}x {rate / hf:>9.1f}x")


if __name__ == "__main__":
    main()
