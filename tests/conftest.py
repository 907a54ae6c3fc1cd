from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | None = None, stdin: str | None = None,
            env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `python -m curate ARGS` as a user would, capturing output."""
    base = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "curate", *args], capture_output=True, text=True, cwd=cwd or REPO,
        input=stdin, timeout=timeout, env={**base, **(env or {})},
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private `CURATE_CACHE` for one test module (the built-in tokenizer, the tiny model), set in this
    process's environment, so that subprocesses and Ray workers started meanwhile inherit it; restored after."""
    path = str(tmp_path_factory.mktemp("cache"))
    old = os.environ.get("CURATE_CACHE")
    os.environ["CURATE_CACHE"] = path
    yield path
    if old is None:
        os.environ.pop("CURATE_CACHE", None)
    else:
        os.environ["CURATE_CACHE"] = old


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, cache: str) -> Path:
    """The sample corpus built with its tools (`curate build sample_data/raw.jsonl --tools
    sample_data/tools.json`), once per test module."""
    from curate.build import build
    from curate.buildconfig import BuildConfig

    out = tmp_path_factory.mktemp("b") / "out"
    build([REPO / "sample_data" / "raw.jsonl"], out, BuildConfig(), [REPO / "sample_data" / "tools.json"])
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def weather_tools(tmp_path: Path) -> Path:
    tools = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city"],
            },
        },
    }]
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(tools), encoding="utf-8")
    return path
