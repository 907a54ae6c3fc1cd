"""The sample corpus scaled up for benchmarks, deterministically."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "raw.jsonl"


def scaled_corpus(n: int, out: Path, vary: Callable[[dict[str, Any], int, random.Random], None] | None = None) -> Path:
    """The sample corpus repeated to `n` records; copies get ids `ID~K` (so RS004 doesn't fire on them)
    and, with `vary`, whatever else it changes in the record (seeded). Unreadable lines stay as they are."""
    lines = SAMPLE.read_bytes().splitlines()
    rng = random.Random(0)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        written = copy = 0
        while written < n:
            for line in lines:
                if written >= n:
                    break
                if copy:
                    try:
                        rec = json.loads(line)
                    except (ValueError, RecursionError):
                        rec = None
                    if isinstance(rec, dict):
                        if isinstance(rec.get("id"), str):
                            rec["id"] = f"{rec['id']}~{copy}"
                        if vary is not None:
                            vary(rec, copy, rng)
                        line = json.dumps(rec, ensure_ascii=False).encode()
                fh.write(line + b"\n")
                written += 1
            copy += 1
    return out
