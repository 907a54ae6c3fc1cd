"""A wheel install works without the repository (issue #17).

The wheel is built from this checkout (`pip wheel --no-deps`, no build isolation: offline) and installed with
`--no-deps` into fresh venvs made here. The full install's venv sees this venv's third-party packages through a
`.pth` line, which adds the folder without running its own `.pth` files, so the editable install of this
checkout is not on the path: the `curate` that runs is the wheel's. The bare install's venv sees only the
packages the core dependencies install (their closure, from this venv's metadata), linked one by one.
"""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from curate.extras import COMMAND_EXTRAS
from tests.conftest import REPO

SITE_PACKAGES = Path(site.getsitepackages()[0])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(REPO)], check=True, capture_output=True, text=True, timeout=300)
    (path,) = out.glob("curate_agents-*.whl")
    return path


def make_venv(root: Path, wheel: Path, deps: list[Path]) -> Path:
    """A venv at `root` holding the wheel (no dependencies installed) and seeing `deps` through a `.pth` line."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    (venv_site,) = root.glob("lib/python*/site-packages")
    (venv_site / "deps.pth").write_text("".join(f"{d}\n" for d in deps), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    return root


def run(venv: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`curate ARGS` through the venv's console script, from `cwd`, with only `env` (no PYTHONPATH)."""
    return subprocess.run([str(venv / "bin" / "curate"), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("home")
    yield {"PATH": "/usr/bin:/bin", "HOME": str(home), "NO_COLOR": "1", "CURATE_CACHE": str(home / "cache"),
           "HF_HUB_OFFLINE": "1"}


def test_the_wheel_ships_the_schemas_and_the_tokenizer_corpus(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        shipped = {n for n in names if n.startswith("curate/data/")}
        schemas = sorted(p.name for p in (REPO / "schemas").glob("*.schema.json"))
        assert len(schemas) >= 5
        assert shipped == {f"curate/data/schemas/{s}" for s in schemas} | {
            "curate/data/sample/raw.jsonl", "curate/data/sample/tools.json"}
        for s in schemas:  # copies of the sources of truth, not links
            assert z.read(f"curate/data/schemas/{s}") == (REPO / "schemas" / s).read_bytes()
        assert z.read("curate/data/sample/raw.jsonl") == (REPO / "sample_data" / "raw.jsonl").read_bytes()
        assert z.read("curate/data/sample/tools.json") == (REPO / "sample_data" / "tools.json").read_bytes()
        assert not any(n.startswith(("sample_data/", "schemas/", "tests/")) for n in names)


def test_a_wheel_install_runs_lint_build_mask_from_an_unrelated_folder(
        wheel: Path, tmp_path: Path, user_env: dict[str, str]) -> None:
    venv = make_venv(tmp_path / "venv", wheel, [SITE_PACKAGES])
    work = tmp_path / "elsewhere"
    work.mkdir()
    # A user's own `train.py` and `train/` in the folder shadow nothing: the training package is `curate_train`.
    (work / "train.py").write_text("raise SystemExit('the user train.py was imported')\n", encoding="utf-8")
    (work / "train").mkdir()
    (work / "train" / "__init__.py").write_text("raise SystemExit('the user train/ was imported')\n",
                                                encoding="utf-8")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import curate, curate_train; "
                            "print(curate.__file__); print(curate_train.__file__)"],
                           capture_output=True, text=True, cwd=work, env=user_env)
    assert where.returncode == 0, where.stderr
    assert len(where.stdout.splitlines()) == 2
    for line in where.stdout.splitlines():
        assert Path(line).is_relative_to(venv) and not Path(line).is_relative_to(REPO), line
    helped = subprocess.run([str(venv / "bin" / "python"), "-m", "curate", "--help"], capture_output=True,
                            text=True, cwd=work, env=user_env)
    assert helped.returncode == 0, helped.stderr
    assert "unavailable" not in helped.stdout and re.search(r"^\s+train\s", helped.stdout, re.M), helped.stdout

    lines = (REPO / "sample_data" / "raw.jsonl").read_bytes().splitlines(keepends=True)  # some deliberately not UTF-8
    (work / "raw.jsonl").write_bytes(b"".join(lines[:60]))
    (work / "tools.json").write_bytes((REPO / "sample_data" / "tools.json").read_bytes())

    lint = run(venv, "lint", "raw.jsonl", "--tools", "tools.json", "--format", "json", cwd=work, env=user_env)
    assert lint.returncode in (0, 1), lint.stderr
    findings = json.loads(lint.stdout)
    assert all(f["path"] == "raw.jsonl" for f in findings)

    # The built-in tokenizer is made from the corpus in the wheel: nothing of the repository is read.
    build = run(venv, "build", "raw.jsonl", "--tools", "tools.json", "-o", "out", cwd=work, env=user_env)
    assert build.returncode == 0, build.stderr
    train_rows = (work / "out" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert train_rows and (work / "out" / "manifest.json").exists()
    assert list(Path(user_env["CURATE_CACHE"], "tokenizers").glob("builtin-*/tokenizer.json"))

    mask = run(venv, "mask", "out/train.jsonl", "-o", "masked.jsonl", cwd=work, env=user_env)
    assert mask.returncode == 0, mask.stderr
    masked = [json.loads(r) for r in (work / "masked.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(masked) == len(train_rows)
    assert all(len(m["labels"]) == len(m["input_ids"]) and any(x != -100 for x in m["labels"]) for m in masked)

    # The shipped schemas are the ones the installed models generate.
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "curate.schemas", "--check"], capture_output=True,
                           text=True, cwd=work, env=user_env)
    assert check.returncode == 0, check.stderr


def core_closure() -> list[Path]:
    """This venv's files and folders of every distribution the bare `curate-agents` depends on, transitively."""
    todo, seen, paths = ["curate-agents"], set(), []
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
        if key != "curate-agents":
            tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
            paths += [SITE_PACKAGES / t for t in sorted(tops) if t != "__pycache__" and not t.endswith(".pth")]
    return paths


def test_a_bare_install_names_the_extra_each_command_needs(
        wheel: Path, tmp_path: Path, user_env: dict[str, str]) -> None:
    core = tmp_path / "core"
    core.mkdir()
    for path in core_closure():
        if path.exists():
            (core / path.name).symlink_to(path)
    assert (core / "pydantic").exists() and not (core / "numpy").exists() and not (core / "transformers").exists()
    venv = make_venv(tmp_path / "venv", wheel, [core])
    work = tmp_path / "elsewhere"
    work.mkdir()
    lines = (REPO / "sample_data" / "raw.jsonl").read_bytes().splitlines(keepends=True)  # some deliberately not UTF-8
    (work / "raw.jsonl").write_bytes(b"".join(lines[:20]))

    lint = run(venv, "lint", "raw.jsonl", "--statistics", cwd=work, env=user_env)
    assert lint.returncode in (0, 1) and "findings in 20 records" in lint.stdout, lint.stderr

    commands = {"build": ["-o", "out"], "bucket": [], "stats": [], "dedup": ["-o", "d.jsonl"],
                "decontam": ["--against", "raw.jsonl"], "mask": ["-o", "m.jsonl"],
                "train": ["--model", "tiny", "-o", "run"]}
    assert set(commands) <= set(COMMAND_EXTRAS)
    for command, rest in commands.items():
        res = run(venv, command, "raw.jsonl", *rest, cwd=work, env=user_env)
        extras = ",".join(COMMAND_EXTRAS[command])
        assert res.returncode == 2, (command, res.stderr)
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, (command, res.stderr)
        assert f"pip install 'curate-agents[{extras}]'" in res.stderr, (command, res.stderr)
        assert "pip install -e" not in res.stderr

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"messages": [json.dumps([{"role": "user", "content": "hi"}])]}), work / "x.parquet")
    parquet = run(venv, "lint", "x.parquet", cwd=work, env=user_env)
    assert parquet.returncode == 2 and parquet.stderr.count("\n") == 1, parquet.stderr
    assert "x.parquet: reading Parquet needs pyarrow: pip install 'curate-agents[data]'" in parquet.stderr


def test_no_message_tells_a_user_to_install_from_the_checkout() -> None:
    """Install hints are worded in `curate.extras`; none asks for the repository (`pip install -e`)."""
    for folder in ("curate", "train"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "pip install -e" not in text, path
            assert not re.search(r"""["']pip install '?curate-agents""", text), path  # use extras.install_command


def test_every_package_of_the_checkout_is_listed_for_the_wheel() -> None:
    """pyproject.toml lists the packages (the `train/` folder is the `curate_train` package): a subpackage
    added without its line would be missing from the wheel."""
    import tomllib

    tool = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert tool["package-dir"] == {"curate_train": "train"}
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "curate").rglob("__init__.py")}
    found |= {"curate_train." + ".".join(p.parent.relative_to(REPO / "train").parts)
              for p in (REPO / "train").rglob("*/__init__.py")}
    assert set(tool["packages"]) == found | {"curate_train"}


def test_package_data_is_read_through_the_package() -> None:
    import curate
    from curate.resources import SAMPLE_CORPUS, SAMPLE_TOOLS, SCHEMA_DIR

    package = Path(curate.__file__).parent
    for path in (SAMPLE_CORPUS, SAMPLE_TOOLS, SCHEMA_DIR):
        assert path.is_relative_to(package / "data") and path.exists(), path
    # In the checkout they are links to the sources of truth, so regenerating writes the top-level files.
    assert SCHEMA_DIR.resolve() == (REPO / "schemas").resolve()
    assert SAMPLE_CORPUS.resolve() == (REPO / "sample_data" / "raw.jsonl").resolve()
    assert os.path.islink(SCHEMA_DIR)
