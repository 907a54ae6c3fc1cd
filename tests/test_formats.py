"""Published dataset formats: each fixture under tests/fixtures/formats/ lints exactly as its expected.json says.

A fixture folder holds the data as its authors publish it (`data.jsonl`, `data.json`, or a `data/` folder of
files) and `expected.json`:

    {"format": "what the data is, and where its shape is described",
     "records": 22,                     # records read (every one of them: nothing unreadable, nothing dropped)
     "tools": "tools.json",             # optional: a file in the folder passed as --tools
     "findings": [{"line": 7, "code": "TC003", "message_index": 2, "planted": "why this is a defect"}]}

`findings` is every finding `curate lint` must print, no more (zero false alarms) and no fewer (each planted
defect caught with the right code). Records are written from each format's public description; the clean
ones are what a careful author of that dataset would publish.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "tests" / "fixtures" / "formats"
FIXTURES = sorted(p.name for p in FORMATS.iterdir() if (p / "expected.json").is_file()) if FORMATS.is_dir() else []

Key = tuple[int, str, int | None]


def expected_of(name: str) -> dict[str, Any]:
    return json.loads((FORMATS / name / "expected.json").read_text(encoding="utf-8"))


def data_of(name: str) -> Path:
    found = [p for p in sorted((FORMATS / name).iterdir()) if p.name.startswith("data")]
    assert len(found) == 1, f"{name}: expected one data file or folder, found {[p.name for p in found]}"
    return found[0]


def lint(name: str, *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    exp = expected_of(name)
    args = [sys.executable, "-m", "curate", "lint", str(data_of(name)), "--format", "json", "--isolated", *extra]
    if exp.get("tools"):
        args += ["--tools", str(FORMATS / name / exp["tools"])]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), f"{name}: exit {proc.returncode}\n{proc.stderr}"
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def keys(findings: list[dict[str, Any]]) -> list[Key]:
    return sorted((f["line"], f["code"], f.get("message_index")) for f in findings)


def test_readme_formats_table_and_fixtures_agree() -> None:
    """Every row of the README's "Formats read" table names its fixture, and every fixture has its row."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Formats read"):]
    section = section[:section.index("\n#")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Format")]
    named = [m[1] for line in rows if (m := re.match(r"\| [^|]*\(`([a-z_]+)`\) \|", line))]
    assert len(named) == len(rows), f"rows without a (`fixture`) name: {[r[:60] for r in rows if '(`' not in r]}"
    assert sorted(named) == FIXTURES
    assert len(FIXTURES) >= 9


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_lints_exactly_as_expected(name: str) -> None:
    exp = expected_of(name)
    rc, findings, _ = lint(name)
    got, want = keys(findings), keys(exp["findings"])
    unexpected = list((Counter(got) - Counter(want)).elements())
    missing = list((Counter(want) - Counter(got)).elements())
    shown = {(f["line"], f["code"], f.get("message_index")): f["message"] for f in findings}
    assert not unexpected, f"{name}: false alarms: {[(k, shown[k]) for k in unexpected]}"
    assert not missing, f"{name}: planted defects not caught (line, code, message_index): {missing}"
    assert rc == (1 if any(f["severity"] == "error" for f in findings) else 0)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_is_a_real_test(name: str) -> None:
    """At least 20 records, every one read, and planted defects to catch."""
    from curate.readers import RecordReader

    exp = expected_of(name)
    results = list(RecordReader().read(data_of(name)))
    unread = [(r.raw.line, r.raw.error or r.shape_errors) for r in results if r.record is None]
    assert not unread, f"{name}: records not read: {unread[:5]}"
    assert len(results) == exp["records"] >= 20
    assert exp["findings"], f"{name}: no planted defect"
    assert all(f.get("planted") for f in exp["findings"]), f"{name}: say why each expected finding is a defect"
