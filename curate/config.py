"""Lint configuration: `[tool.curate.lint]` in the nearest `pyproject.toml`, and rule selection.

    [tool.curate.lint]
    select = ["RS", "RL", "FM", "TC"]   # codes or code prefixes; default: every rule
    ignore = ["TC009"]
    tools = ["tools.json"]              # tool specs for every record, relative to pyproject.toml

Command-line `--select` replaces the configured selection (configured `ignore` included, unless
`--ignore` is given too); `--ignore` replaces the configured `ignore`; `--tools` adds to `tools`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A configuration a person has to fix (unknown key, unknown rule code, bad TOML)."""


class LintConfig(BaseModel):
    """The keys of `[tool.curate.lint]`."""

    model_config = ConfigDict(extra="forbid")

    select: list[str] | None = None
    ignore: list[str] = []
    tools: list[str] = []


def find_pyproject(start: Path) -> Path | None:
    """The nearest `pyproject.toml` at or above `start`."""
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_toml(path: Path, error: type[Exception]) -> dict[str, Any]:
    """A TOML config file's data; `error` (the caller's config error class) names the file and the problem."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise error(f"{path}: cannot read config: {e}") from None


def load_lint_config(path: Path | None) -> tuple[LintConfig, Path | None]:
    """Read `[tool.curate.lint]` from `path` (a pyproject.toml or a curate TOML file)."""
    if path is None:
        return LintConfig(), None
    data = read_toml(path, ConfigError)
    section = data.get("tool", {}).get("curate", {}).get("lint") if path.name == "pyproject.toml" \
        else data.get("lint", data.get("tool", {}).get("curate", {}).get("lint"))
    if section is None:
        return LintConfig(), path
    try:
        return LintConfig.model_validate(section), path
    except ValidationError as e:
        problems = "; ".join(
            f"`{'.'.join(str(x) for x in err['loc'])}`: {err['msg'].lower()}" for err in e.errors()
        )
        raise ConfigError(f"{path}: [tool.curate.lint]: {problems} (known keys: select, ignore, tools)") from None


def select_codes(rules: Mapping[str, object], select: Iterable[str] | None,
                 ignore: Iterable[str] | None) -> list[str]:
    """Rule codes chosen by code prefixes (ruff style: `TC` selects TC001...; `ALL` selects every rule)."""

    def expand(selectors: Iterable[str], what: str) -> set[str]:
        chosen: set[str] = set()
        for raw in selectors:
            sel = raw.strip().upper()
            if not sel:
                continue
            hits = set(rules) if sel == "ALL" else {c for c in rules if c.startswith(sel)}
            if not hits:
                known = ", ".join(sorted({c[:2] for c in rules}))
                raise ConfigError(f"{what}: `{raw}` matches no rule (codes start with {known}; "
                                  "`curate rule --all` lists them)")
            chosen |= hits
        return chosen

    chosen = set(rules) if select is None else expand(select, "--select")
    chosen -= expand(ignore or (), "--ignore")
    return sorted(chosen)
