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


FORMATS = REPO / "tests" / "fixtures" / "formats"


def format_fixtures() -> list[tuple[str, dict[str, Any]]]:
    """Each published-format fixture (tests/fixtures/formats/NAME/): its name, data path and tools file."""
    out = []
    for folder in sorted(p for p in FORMATS.iterdir() if (p / "expected.json").is_file()):
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        data = next(p for p in sorted(folder.iterdir()) if p.name.startswith("data"))
        tools = folder / expected["tools"] if expected.get("tools") else None
        out.append((folder.name, {"data": data, "tools": tools, "records": expected["records"]}))
    return out


def format_corpus(fixture: dict[str, Any], n: int, out: Path) -> tuple[Path, int]:
    """A fixture scaled to about `n` records: the path to lint and how many records it holds.

    JSON Lines are repeated line by line (ids get `~K`, as in `scaled_corpus`); a JSON array's elements
    likewise; the files of a folder (ToolBench answers) are copied `n / records` times beside
    themselves, as `STEM~K`."""
    data: Path = fixture["data"]
    copies = max(1, round(n / fixture["records"]))
    out.mkdir(parents=True, exist_ok=True)
    if data.is_dir():
        target = out / "data"
        if not target.is_dir():
            files = sorted(p for p in data.rglob("*") if p.is_file())
            for k in range(copies):  # copies beside their original, as a bigger release would hold them
                for f in files:
                    rel = f.relative_to(data)
                    dest = target / rel.parent / (f"{f.stem}~{k}{f.suffix}" if k else f.name)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(f.read_bytes())
        return target, copies * fixture["records"]
    target = out / data.name
    if data.suffix == ".json":
        items = json.loads(data.read_text(encoding="utf-8"))
        target.write_text(json.dumps([_copy_of(r, k) for k in range(copies) for r in items], ensure_ascii=False),
                          encoding="utf-8")
        return target, copies * len(items)
    lines = [ln for ln in data.read_bytes().splitlines() if ln.strip()]
    with open(target, "wb") as fh:
        for k in range(copies):
            for line in lines:
                try:
                    rec = json.loads(line)
                except (ValueError, RecursionError):
                    rec = None
                fh.write((json.dumps(_copy_of(rec, k), ensure_ascii=False).encode() if isinstance(rec, dict)
                          else line) + b"\n")
    return target, copies * len(lines)


def _copy_of(record: Any, k: int) -> Any:
    if k and isinstance(record, dict) and isinstance(record.get("id"), (str, int)):
        record = {**record, "id": f"{record['id']}~{k}"}
    return record
