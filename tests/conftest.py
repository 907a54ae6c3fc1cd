from __future__ import annotations

import json
import os
import shutil
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `early` run first, the rest in their order. `make test` shares the tests among processes
    (pytest-xdist) in the order given: the longest test (minutes) started last would keep one process busy
    while the other has finished. Only tests that use no module-scoped fixture may be marked (moved out of
    their module, they would set one up twice)."""
    items.sort(key=lambda item: item.get_closest_marker("early") is None)


SHARED_CACHE_ENTRIES = ("tokenizers/builtin-*", "models/tiny-*")
"""The cache entries a test module may take from those built before it: each is keyed by its content, made once
(the built-in tokenizer takes ~9 s, the tiny base longer), and no test changes one in place."""


def copy_cache_entries(src: Path, dst: Path) -> None:
    """The finished `SHARED_CACHE_ENTRIES` of cache `src` copied into cache `dst` (those it lacks). An entry is
    renamed into place once made (`curate.tokenizer.build_once`): one being made has a dotted name and no match."""
    for pattern in SHARED_CACHE_ENTRIES:
        for entry in src.glob(pattern):
            target = dst / entry.relative_to(src)
            if entry.is_dir() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(entry, target)


@pytest.fixture(scope="session")
def cache_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared cache entries the test modules built so far this session."""
    return tmp_path_factory.mktemp("cache-store")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, cache_store: Path) -> Iterator[str]:
    """A private `CURATE_CACHE` for one test module (the built-in tokenizer, the tiny model), set in this
    process's environment, so that subprocesses and Ray workers started meanwhile inherit it; restored after.
    It starts with copies of the shared entries earlier modules built, and gives back those it built."""
    path = str(tmp_path_factory.mktemp("cache"))
    copy_cache_entries(cache_store, Path(path))
    old = os.environ.get("CURATE_CACHE")
    os.environ["CURATE_CACHE"] = path
    yield path
    copy_cache_entries(Path(path), cache_store)
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
