"""The sample corpus scaled up for benchmarks, deterministically."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "raw.jsonl"


def json_loads_every_line(path: Path) -> None:
    """Parse every line of a JSONL file with `json.loads` and nothing else: the floor of any Python
    JSONL tool, the baseline lint figures are compared with."""
    with open(path, "rb") as fh:
        for line in fh:
            with contextlib.suppress(ValueError, RecursionError):
                json.loads(line)


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


def planted_corpus(seed: int = 0, n_pairs: int = 700, n_single: int = 600) -> tuple[list[str], list[tuple[int, int]]]:
    """Texts of never-repeated tokens: pairs sharing all but one replaced block, with J spread over 0.5-1."""
    rng = random.Random(seed)
    fresh = (f"t{k}" for k in itertools.count())
    docs: list[list[str]] = []
    pairs = []
    for _ in range(n_pairs):
        length = rng.randint(60, 160)
        a = [next(fresh) for _ in range(length)]
        target = rng.uniform(0.5, 1.0)
        # a block of m new words replaces about m + 4 of the n - 4 shingles: J ~ (n - m - 4) / (n + m + 4)
        m = max(0, round((length - 4) * (1 - target) / (1 + target)) - 4)
        start = rng.randrange(0, length - m + 1)
        b = a[:start] + [next(fresh) for _ in range(m)] + a[start + m:]
        pairs.append((len(docs), len(docs) + 1))
        docs += [a, b]
    docs += [[next(fresh) for _ in range(rng.randint(5, 160))] for _ in range(n_single)]
    order = list(range(len(docs)))
    rng.shuffle(order)
    where = {old: new for new, old in enumerate(order)}
    return [" ".join(docs[k]) for k in order], [tuple(sorted((where[a], where[b]))) for a, b in pairs]
