"""Configs that would check nothing or ask for runaway memory are refused, naming the key (issue #13, section 6).

Lint: an empty or blank selector, a selector matching no rule, `select = []` and a selection leaving no
rule all used to read as "check nothing" and report "clean" (or, for unknown codes, were only caught on
the command line). Build: sizes that multiply memory (`floors` and `total` with `upsample`, the number
and range of length `edges`, `num_proc`, `max_record_bytes`) are bounded with a message giving the range.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.buildconfig import (
    MAX_UPSAMPLED_RECORDS,
    BuildConfig,
    BuildConfigError,
    LengthConfig,
    MixConfig,
    load_build_config,
)
from curate.config import ConfigError
from curate.lint import Linter
from curate.lint_config import load_lint_config, select_codes
from curate.readers import DEFAULT_MAX_RECORD_BYTES
from curate.rules import all_rules
from tests.conftest import run_cli, write_jsonl

BAD = {"id": "bad", "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]}


def lint_with_config(tmp_path: Path, section: str) -> tuple[int, str, str]:
    (tmp_path / "pyproject.toml").write_text("[tool.curate.lint]\n" + section + "\n")
    data = write_jsonl(tmp_path / "data.jsonl", [BAD])
    res = run_cli("lint", str(data), cwd=tmp_path, timeout=60)
    return res.returncode, res.stdout, res.stderr


@pytest.mark.parametrize(("section", "said"), [
    ('select = [""]', 'the selector "" is empty'),
    ('select = [" "]', 'the selector " " is blank'),
    ('select = ["RL", "\\t"]', 'the selector "\\t" is blank'),
    ('ignore = [""]', 'the selector "" is empty'),
    ("select = []", "an empty list selects no rule"),
    ('select = ["ZZ9"]', "`ZZ9` matches no rule"),
    ('select = ["RL"]\nignore = ["RL"]', "leave no rule to check"),
])
def test_a_selection_that_checks_nothing_is_an_error(tmp_path: Path, section: str, said: str) -> None:
    code, out, err = lint_with_config(tmp_path, section)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("curate: error: ") and said in err
    keys = ("select: ", "ignore: ", "select, ignore: ")
    assert any(f"pyproject.toml: [tool.curate.lint] {key}" in err for key in keys)


def test_a_sound_selection_still_lints(tmp_path: Path) -> None:
    code, out, _ = lint_with_config(tmp_path, 'select = ["RL"]\nignore = ["RL005"]')
    assert code == 1 and "RL004" in out and "1 finding in 1 record" in out


def test_select_codes_refuses_blank_and_empty_selectors() -> None:
    rules = all_rules()
    for select in ([""], ["  "], ["TC", " "], []):
        with pytest.raises(ConfigError, match="--select"):
            select_codes(rules, select, None)
    with pytest.raises(ConfigError, match="--ignore"):
        select_codes(rules, None, [""])
    with pytest.raises(ConfigError, match="leave no rule"):
        select_codes(rules, None, ["ALL"])
    assert select_codes(rules, None, ["ALL"], allow_none=True) == []
    assert select_codes(rules, [" tc002 "], None) == ["TC002"]
    with pytest.raises(ConfigError):
        Linter(select=[" "])


def test_max_record_bytes_in_the_lint_config(tmp_path: Path) -> None:
    config, _ = load_lint_config(None)
    assert config.max_record_bytes == DEFAULT_MAX_RECORD_BYTES
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.curate.lint]\nmax_record_bytes = 2048\n")
    assert load_lint_config(path)[0].max_record_bytes == 2048
    for value in ("0", "-1", str(1 << 40)):
        path.write_text(f"[tool.curate.lint]\nmax_record_bytes = {value}\n")
        with pytest.raises(ConfigError, match=r"pyproject.toml: \[tool.curate.lint\] max_record_bytes: .* is out of "
                                              r"range; allowed: 1024..1073741824"):
            load_lint_config(path)


@pytest.mark.parametrize(("toml", "said"), [
    ("[mix]\nupsample = true\ntotal = 100000000000", "`total` is 100,000,000,000; with `upsample = true` it must be "
     f"from 0 to {MAX_UPSAMPLED_RECORDS:,}"),
    ("[mix]\nupsample = true\nfloors = {chat = 9000000, code = 9000000}", "`floors` add up to 18,000,000"),
    ("[mix]\nfloors = {chat = -1}", "[mix] floors.chat: -1 is out of range; allowed: >= 0"),
    ("[length]\nedges = [-5, 10]", "`edges`: -5 is not a token count from 1 to 2147483647"),
    ("[length]\nedges = [0, 10]", "`edges`: 0 is not a token count"),
    ("[length]\nedges = [512, 256]", "`edges` must be strictly increasing"),
    ("[length]\nedges = [" + ", ".join(str(i) for i in range(1, 200)) + "]",
     "[length] edges: list should have at most 64"),
    ("[length]\nquantiles = [" + ", ".join(["0.5"] * 65) + "]", "[length] quantiles: list should have at most 64"),
    ("num_proc = 100000", "num_proc: 100000 is out of range; allowed: 1..256"),
    ("max_record_bytes = 10", "max_record_bytes: 10 is out of range; allowed: 1024..1073741824"),
    ("max_record_bytes = 4294967296", "max_record_bytes: 4294967296 is out of range; allowed: 1024..1073741824"),
    ("[dedup]\nseed = -1", "[dedup] seed: -1 is out of range; allowed: 0..4294967295"),
])
def test_build_sizes_that_multiply_memory_are_bounded(tmp_path: Path, toml: str, said: str) -> None:
    path = tmp_path / "build.toml"
    path.write_text(toml + "\n")
    with pytest.raises(BuildConfigError) as e:
        load_build_config(path)
    assert said in str(e.value) and str(e.value).startswith(f"{path}: ")


def test_bounds_leave_real_configs_alone() -> None:
    assert MixConfig(upsample=True, total=MAX_UPSAMPLED_RECORDS, floors={"chat": 100}).total == MAX_UPSAMPLED_RECORDS
    assert MixConfig(total=10**12).total == 10**12  # without copies, `total` is bounded by the records
    assert LengthConfig(edges=[256, 512, 1024, 2048]).edges == [256, 512, 1024, 2048]
    assert BuildConfig(max_record_bytes=1 << 30, num_proc=64).max_record_bytes == 1 << 30


def test_a_runaway_build_config_is_one_line_exit_2_before_any_work(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mix]\nupsample = true\nfloors = {chat = 99999999999}\n")
    data = write_jsonl(tmp_path / "d.jsonl", [BAD])
    res = run_cli("build", str(data), "-o", str(tmp_path / "out"), "--config", str(cfg), cwd=tmp_path, timeout=60)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "`floors` add up to 99,999,999,999" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["", " ", "RL,", "ZZ9"])
def test_a_command_line_selector_that_checks_nothing_is_an_error(tmp_path: Path, flag: str) -> None:
    """`--select ""` used to fall back to every rule (or the config's) and report as usual."""
    data = write_jsonl(tmp_path / "data.jsonl", [BAD])
    res = run_cli("lint", str(data), "--isolated", "--select", flag, cwd=tmp_path, timeout=60)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("curate: error: ") and res.stderr.count("\n") == 1


def test_max_record_bytes_of_the_lint_config_is_honoured(tmp_path: Path) -> None:
    big = {"id": "big", "messages": [{"role": "user", "content": "x" * 5000},
                                     {"role": "assistant", "content": "ok"}]}
    write_jsonl(tmp_path / "data.jsonl", [big])
    (tmp_path / "pyproject.toml").write_text("[tool.curate.lint]\nmax_record_bytes = 2048\n")
    res = run_cli("lint", "data.jsonl", cwd=tmp_path, timeout=60)
    assert res.returncode == 1 and "RS001 the record is 5,100 bytes long, over max_record_bytes (2,048)" in res.stdout
    (tmp_path / "pyproject.toml").write_text("[tool.curate.lint]\nmax_record_bytes = 8192\n")
    assert run_cli("lint", "data.jsonl", cwd=tmp_path, timeout=60).returncode == 0


def test_max_record_bytes_of_the_build_config_is_honoured(tmp_path: Path) -> None:
    import json

    ok = [{"id": f"r{i}", "messages": [{"role": "user", "content": f"question number {i} about apples"},
                                       {"role": "assistant", "content": f"answer {i}"}]} for i in range(30)]
    big = {"id": "big", "messages": [{"role": "user", "content": "y " * 4000}, {"role": "assistant", "content": "ok"}]}
    write_jsonl(tmp_path / "data.jsonl", [*ok, big])
    (tmp_path / "build.toml").write_text("max_record_bytes = 4096\n")
    res = run_cli("build", "data.jsonl", "--config", "build.toml", "-o", "out", cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["records_in"] == 31 and manifest["dropped"].get("unreadable") == 1
    assert manifest["lint_findings"].get("RS001") == 1
