"""The pre-commit hook as a user installs it (issue #17): the README's configuration, run by the real `pre-commit`.

A clone of this repository's HEAD stands in for its URL (`repo:` a path, `rev:` the clone's commit, so what
is tested is what is committed); pre-commit checks the manifest, builds the hook's environment by
pip-installing the clone (from the package index: the core dependencies only) and runs it on `git commit`
in a scratch repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed (the dev extra)")

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def record(rid: str, arguments: dict[str, str]) -> str:
    return json.dumps({"id": rid, "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "<tool_call>\n" + json.dumps({"name": "get_weather", "arguments": arguments})
         + "\n</tool_call>"},
        {"role": "tool", "content": "{\"temp_c\": 3}"},
        {"role": "assistant", "content": "It is 3 °C in Oslo."}]}) + "\n"


def readme_config() -> dict:
    """The README's `### Pre-commit` configuration, as a user copies it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Pre-commit", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    return yaml.safe_load(block)


def git(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    return {**os.environ, "HOME": str(home), "PRE_COMMIT_HOME": str(home / "pre-commit"), "NO_COLOR": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1",
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """A git repository with the README's hook configuration (repo: a clone of HEAD) and `pre-commit install`."""
    clone = tmp_path_factory.mktemp("hook-repo") / "curate"
    assert git("clone", "-q", str(REPO), str(clone), cwd=clone.parent, env=env).returncode == 0
    sha = git("rev-parse", "HEAD", cwd=clone, env=env).stdout.strip()
    config = readme_config()
    config["repos"][0].update(repo=str(clone), rev=sha)
    work = tmp_path_factory.mktemp("scratch")
    assert git("init", "-q", "-b", "main", cwd=work, env=env).returncode == 0
    (work / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (work / "tools.json").write_text(json.dumps(TOOLS, indent=2), encoding="utf-8")
    installed = subprocess.run([PRE_COMMIT, "install"], cwd=work, env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    return work


def test_the_readme_names_the_release_tag() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    hook = readme_config()["repos"][0]
    assert hook["rev"] == f"v{version}"
    assert hook["hooks"][0]["id"] == "curate-lint" and re.fullmatch(hook["hooks"][0]["exclude"], "tools.json")
    tags = subprocess.run(["git", "tag", "-l"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if tags:  # a clone without tags (a shallow CI checkout) cannot tell
        kind = subprocess.run(["git", "cat-file", "-t", hook["rev"]], cwd=REPO, capture_output=True, text=True)
        assert kind.stdout.strip() == "tag", f"{hook['rev']}: no annotated tag"
        manifest = subprocess.run(["git", "show", f"{hook['rev']}:.pre-commit-hooks.yaml"], cwd=REPO,
                                  capture_output=True, text=True).stdout
        assert "types_or" not in manifest and "files:" in manifest  # the release holds the installable manifest


def test_a_dirty_trajectory_file_blocks_the_commit_with_its_findings(scratch: Path, env: dict[str, str]) -> None:
    (scratch / "bad.jsonl").write_text(record("ok-1", {"city": "Oslo"}) + record("bad-1", {"town": "Oslo"}),
                                       encoding="utf-8")
    assert git("add", "bad.jsonl", "tools.json", ".pre-commit-config.yaml", cwd=scratch, env=env).returncode == 0
    res = git("commit", "-m", "dirty", cwd=scratch, env=env)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert re.search(r"curate lint \(agent trajectories\)\.+Failed", out), out
    assert "bad.jsonl:2: TC003 missing required argument `city`" in out, out
    assert "tools.json" not in out.split("Failed", 1)[1], out  # excluded: not linted as trajectories
    assert git("rev-parse", "--verify", "-q", "HEAD", cwd=scratch, env=env).returncode != 0  # nothing committed
    git("rm", "-q", "--cached", "bad.jsonl", cwd=scratch, env=env)
    (scratch / "bad.jsonl").unlink()


def test_a_clean_trajectory_file_and_the_tools_file_commit(scratch: Path, env: dict[str, str]) -> None:
    (scratch / "good.jsonl").write_text(record("ok-1", {"city": "Oslo"}), encoding="utf-8")
    assert git("add", "good.jsonl", "tools.json", ".pre-commit-config.yaml", cwd=scratch, env=env).returncode == 0
    res = git("commit", "-m", "clean", cwd=scratch, env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert re.search(r"curate lint \(agent trajectories\)\.+Passed", out), out
    files = git("ls-tree", "--name-only", "HEAD", cwd=scratch, env=env).stdout.split()
    assert {"good.jsonl", "tools.json"} <= set(files)
