"""The sample corpus: reproducible from its generator, and linted exactly as its ground truth says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
GENERATED = ["tools.json", "raw.jsonl", "expected_findings.json", "README.md"]

Key = tuple[int, str | None, str, int | None]


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return json.loads((SAMPLE / "expected_findings.json").read_text(encoding="utf-8"))


def keys(findings: list[dict[str, Any]]) -> list[Key]:
    return sorted(((f["line"], f["record_id"], f["code"], f["message_index"]) for f in findings),
                  key=lambda k: (k[0], k[2], -1 if k[3] is None else k[3]))


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def records() -> list[dict[str, Any]]:
    """The lines of raw.jsonl that are JSON objects (the unreadable RS001 lines left out)."""
    out = []
    for line in (SAMPLE / "raw.jsonl").read_bytes().splitlines():
        try:
            data = json.loads(line, parse_constant=reject_constant)
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict):
            out.append(data)
    return out


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # output must not depend on hash randomisation
    subprocess.run([sys.executable, str(SAMPLE / "generate.py"), "--out", str(tmp_path)],
                   check=True, cwd=tmp_path, env=env, timeout=300)
    for name in GENERATED:
        fresh, committed = (tmp_path / name).read_bytes(), (SAMPLE / name).read_bytes()
        assert fresh == committed, f"sample_data/{name} is stale: run `python sample_data/generate.py`"


def test_lint_findings_match_expected(expected: dict[str, Any]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "curate", "lint", "sample_data/raw.jsonl", "--tools", "sample_data/tools.json",
         "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 1, f"exit code {proc.returncode} (expected 1: there are errors)\n{proc.stderr}"
    actual = json.loads(proc.stdout)
    got, want = keys(actual), keys(expected["findings"])
    missing = sorted(set(want) - set(got))
    unexpected = sorted(set(got) - set(want))
    assert not missing and not unexpected, (
        f"missing findings (line, record_id, code, message_index): {missing[:20]}\n"
        f"unexpected findings: {unexpected[:20]}"
    )
    assert got == want, "some findings are reported more than once"
    assert all(Path(f["path"]).name == "raw.jsonl" for f in actual)


def test_readme_counts_match_expected(expected: dict[str, Any]) -> None:
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    table = {m[1]: int(m[2]) for m in re.finditer(r"^\| ([A-Z]{2}\d{3}) \| (\d+) \|", readme, re.MULTILINE)}
    assert table == expected["counts"]
    total = re.search(r"^\| \*\*total\*\* \| \*\*(\d+)\*\* \|", readme, re.MULTILINE)
    assert total is not None and int(total[1]) == len(expected["findings"])
    near = re.search(r"^\| near duplicate \| (\d+) \|", readme, re.MULTILINE)
    exact = re.search(r"^\| exact duplicate \| (\d+) \|", readme, re.MULTILINE)
    assert near is not None and int(near[1]) == len(expected["near_duplicates"])
    assert exact is not None and int(exact[1]) == len(expected["exact_duplicates"])


def test_expected_findings_are_consistent(expected: dict[str, Any]) -> None:
    findings = expected["findings"]
    assert [f["line"] for f in findings] == sorted(f["line"] for f in findings)
    assert dict(Counter(f["code"] for f in findings)) == expected["counts"]
    assert all(n >= 8 for n in expected["counts"].values())
    lines = [ln for ln in (SAMPLE / "raw.jsonl").read_bytes().split(b"\n")[:-1] if ln.strip()]
    assert expected["records"] == len(lines) >= 2000
    # every defect record (and only those) appears in the findings, once
    flagged = Counter(f["record_id"] for f in findings if f["record_id"] is not None)
    defects = {r["id"] for r in records() if (r.get("meta") or {}).get("category") == "defect"}
    assert set(flagged) == defects
    assert all(n == 1 for n in flagged.values())


def test_planted_duplicates(expected: dict[str, Any]) -> None:
    by_id = {r["id"]: r for r in records() if isinstance(r.get("id"), str)}
    assert len(expected["near_duplicates"]) >= 50 and len(expected["exact_duplicates"]) >= 25
    for dup, original in expected["exact_duplicates"].items():
        assert by_id[dup]["messages"] == by_id[original]["messages"]
        assert by_id[dup]["meta"]["planted"] == f"exact_duplicate_of:{original}"
    for dup, original in expected["near_duplicates"].items():
        a, b = by_id[dup]["messages"], by_id[original]["messages"]
        assert a != b and len(a) == len(b)
        assert sum(x != y for x, y in zip(a, b, strict=True)) == 1  # only the first user turn was edited
        assert by_id[dup]["meta"]["planted"] == f"near_duplicate_of:{original}"
    assert (SAMPLE / "raw.jsonl").stat().st_size < 4_000_000
