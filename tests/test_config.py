"""One config loader, one error format: `FILE: [section] key: problem; what to do`, for the lint config in
pyproject.toml, a build config and a training config alike, and one line with exit code 2 on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.buildconfig import BuildConfigError, load_build_config
from curate.config import ConfigError
from curate.lint_config import load_lint_config
from curate_train.config import TrainConfigError, load_train_config
from tests.conftest import run_cli, write_jsonl

LOADERS = {
    "pyproject.toml": lambda p: load_lint_config(p),
    "build.toml": load_build_config,
    "train.toml": load_train_config,
}


@pytest.mark.parametrize(("name", "text", "line"), [
    # an unknown key: the closest valid one, then every valid one
    ("pyproject.toml", "[tool.curate.lint]\nslect = ['RL']",
     "[tool.curate.lint] slect: unknown key; did you mean `select`? valid keys: ignore, max_record_bytes, select, "
     "tools"),
    ("build.toml", "[dedup]\nshingel = 3", "[dedup] shingel: unknown key; did you mean `shingle`? valid keys: exact,"),
    ("train.toml", "[optim]\nlrr = 0.1", "[optim] lrr: unknown key; did you mean `lr`? valid keys: epochs,"),
    # a number out of range: the allowed range
    ("pyproject.toml", "[tool.curate.lint]\nmax_record_bytes = 10",
     "[tool.curate.lint] max_record_bytes: 10 is out of range; allowed: 1024..1073741824"),
    ("build.toml", "[dedup]\nnum_perm = 8", "[dedup] num_perm: 8 is out of range; allowed: 16..1024"),
    ("train.toml", "[lora]\nr = 4096", "[lora] r: 4096 is out of range; allowed: 1..1024"),
    # a key at the top level has no section; a value in a table of values is the key's path
    ("build.toml", "num_proc = 0", "num_proc: 0 is out of range; allowed: 1..256"),
    ("train.toml", "seed = -1", "seed: -1 is out of range; allowed: 0..4294967295"),
    ("build.toml", "[mix]\nfloors = {chat = -1}", "[mix] floors.chat: -1 is out of range; allowed: >= 0"),
    # a nested table is named as TOML names it
    ("build.toml", "[buckets.rules.x]\nmin_calls = 1\n[buckets.rules.x.any_of]\nbad = 1",
     "[buckets.rules.x] any_of: input should be a valid list"),
    ("build.toml", "[buckets.rules.x]\nany_of = [{min_calls = 1}, {min_calls = -1}]",
     "[buckets.rules.x.any_of[1]] min_calls: -1 is out of range; allowed: >= 0"),
    # bucket rules are compiled when the file is read
    ("build.toml", "[buckets.rules.x]\npattern = \"(\"",
     "[buckets] rule `x`: `pattern` is not a valid regular expression"),
    ("build.toml", "[buckets]\nprecedence = [\"chat\"]", "[buckets] `precedence` leaves out rule(s) `error_recovery`"),
    # a whole section's own check
    ("build.toml", "[length]\nedges = [512, 256]", "[length]: `edges` must be strictly increasing"),
    # the file itself
    ("build.toml", "seed = ", "not valid TOML (Invalid value (at line 1, column 8)); fix the file"),
])
def test_every_config_error_reads_file_section_key_problem(tmp_path: Path, name: str, text: str, line: str) -> None:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        LOADERS[name](path)
    assert str(e.value).startswith(f"{path}: {line}")
    assert "\n" not in str(e.value)


def test_several_problems_are_one_message_each_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("epoch = 3\n[lora]\nr = 0\n", encoding="utf-8")
    with pytest.raises(TrainConfigError) as e:
        load_train_config(path)
    problems = str(e.value).removeprefix(f"{path}: ").split("; ")
    assert problems[0] == "[lora] r: 0 is out of range" and problems[1] == "allowed: 1..1024"
    assert problems[2].startswith("epoch: unknown key")


def test_a_missing_config_file_names_it(tmp_path: Path) -> None:
    for name, load in LOADERS.items():
        with pytest.raises(ConfigError, match=rf"{tmp_path / 'none'}/{name}: config file not found; check the path"):
            load(tmp_path / "none" / name)


def test_one_error_class_for_every_config() -> None:
    from curate.buckets import BucketConfigError
    from curate_train import TrainError

    for error in (BuildConfigError, BucketConfigError, TrainConfigError):
        assert issubclass(error, ConfigError)
    assert issubclass(TrainConfigError, TrainError)  # `curate train` reports it with the run's other errors


@pytest.mark.parametrize(("command", "name", "text", "line"), [
    ("lint", "pyproject.toml", "[tool.curate.lint]\nignore = 'RL'", "[tool.curate.lint] ignore: input should be a "
     "valid list"),
    ("build", "build.toml", "[split]\neval_fraction = 1.5", "[split] eval_fraction: 1.5 is out of range; allowed: "
     ">= 0 and < 1"),
    ("dedup", "build.toml", "[dedup]\nthreshold = 2", "[dedup] threshold: 2 is out of range; allowed: > 0 and < 1"),
    ("train", "train.toml", "[data]\nbatch_size = 0", "[data] batch_size: 0 is out of range; allowed: 1..4096"),
])
def test_the_command_line_prints_one_line_and_exits_2(tmp_path: Path, command: str, name: str, text: str,
                                                      line: str) -> None:
    config = tmp_path / name
    config.write_text(text + "\n", encoding="utf-8")
    data = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "messages": [{"role": "user", "content": "hi"}]}])
    args = {"lint": [str(data), "--config", str(config)],
            "build": [str(data), "-o", str(tmp_path / "out"), "--config", str(config)],
            "dedup": [str(data), "-o", str(tmp_path / "out.jsonl"), "--config", str(config)],
            "train": [str(tmp_path), "--model", "tiny", "-o", str(tmp_path / "run"), "--config", str(config)]}[command]
    res = run_cli(command, *args, cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == f"curate: error: {config}: {line}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["d.jsonl", name])
