"""The lint summary's last line: the files a folder holds, and the calls no schema could check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

UNUSABLE = {"name": "book", "parameters": {"when": {"type": "datetime"}, "who": {"type": "str"}}}
USABLE = {"name": "weather", "parameters": {"city": {"type": "str"}}}


def record(rid: str, tool: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    call = json.dumps({"name": tool["name"], "arguments": arguments})
    return {"id": rid, "tools": [tool], "messages": [
        {"role": "user", "content": "Please do it."},
        {"role": "assistant", "content": f"<tool_call>{call}</tool_call>"}]}


def write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def last_line(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "curate", "lint", "--isolated", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout.rstrip("\n").rsplit("\n", 1)[-1]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path / "data" / "a.jsonl", [record("a1", UNUSABLE, {"when": "noon", "who": "Ann"}),
                                          record("a2", UNUSABLE, {"when": "noon", "who": "Bo"})])
    write(tmp_path / "data" / "part" / "b.jsonl", [record("b1", USABLE, {"city": "Oslo"})])
    (tmp_path / "data" / "notes.txt").write_text("not data", encoding="utf-8")
    return tmp_path / "data"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_folder_counts_its_files_and_the_calls_not_validated(folder: Path, jobs: str) -> None:
    line = last_line(str(folder), "-j", jobs)
    assert line == ("1 finding in 3 records from 2 files; 0 records with errors; "
                    "2 calls not validated (unusable tool schema, TS001)")
    assert last_line(str(folder), "--statistics", "-j", jobs) == line


def test_files_given_one_by_one_and_no_unvalidated_calls(folder: Path) -> None:
    b = folder / "part" / "b.jsonl"
    assert last_line(str(b), str(b)) == "clean in 2 records from 2 files; 0 records with errors"


def test_calls_are_counted_only_when_calls_are_checked(folder: Path) -> None:
    # TS001 ignored: the calls are still not validated, and the line says so; no call rule selected: none is.
    assert last_line(str(folder), "--ignore", "TS001").endswith("; 2 calls not validated (unusable tool schema, TS001)")
    assert last_line(str(folder), "--select", "RL") == "clean in 3 records from 2 files; 0 records with errors"


def test_a_build_output_is_linted_as_its_records_once(tmp_path: Path) -> None:
    """`curate lint OUT/`: its train and eval splits, not the manifest, the clusters, a masked output or the
    `hf/` copy of the same records (which read as thousands of schema violations before)."""
    cities = ["Oslo", "Paris", "Lima", "Rome", "Kyiv", "Baku", "Doha", "Suva", "Apia", "Riga"]
    write(tmp_path / "in.jsonl", [record(f"r{i}", USABLE, {"city": c}) for i, c in enumerate(cities)])
    out = tmp_path / "out"
    build = subprocess.run([sys.executable, "-m", "curate", "build", str(tmp_path / "in.jsonl"), "-o", str(out)],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    assert (out / "hf").is_dir() and (out / "clusters.jsonl").is_file() and (out / "manifest.json").is_file()
    write(out / "train.masked.jsonl", [{"input_ids": [1, 2], "labels": [-100, 2]}])  # what `curate mask -o` writes
    assert last_line(str(out)) == "clean in 10 records from 2 files; 0 records with errors"
    # a build output inside a folder given is still never read back as input
    write(tmp_path / "in2.jsonl", [record("x", USABLE, {"city": "Oslo"})])
    assert last_line(str(tmp_path)).endswith("records from 2 files; 0 records with errors")
