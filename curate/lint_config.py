"""Lint configuration: `[tool.curate.lint]` in the nearest `pyproject.toml`, and rule selection.

    [tool.curate.lint]
    select = ["RS", "RL", "FM", "TC"]   # codes or code prefixes; default: every rule
    ignore = ["TC009"]
    tools = ["tools.json"]              # tool specs for every record, relative to pyproject.toml
    max_record_bytes = 16777216         # longer records are not parsed: RS001 (1 KiB to 1 GiB)

Command-line `--select` replaces the configured selection (configured `ignore` included, unless
`--ignore` is given too); `--ignore` replaces the configured `ignore`; `--tools` adds to `tools`.

A selector that is empty or blank, or matches no rule, is an error, as is a selection that leaves no
rule to check: a linter that checks nothing must not report "clean".
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curate.readers import DEFAULT_MAX_RECORD_BYTES

MIN_RECORD_BYTES = 1 << 10
MAX_RECORD_BYTES = 1 << 30
"""Bounds of `max_record_bytes`: memory per record is a multiple of the limit."""


class ConfigError(ValueError):
    """A configuration a person has to fix (unknown key, unknown rule code, bad TOML)."""


class LintConfig(BaseModel):
    """The keys of `[tool.curate.lint]`."""

    model_config = ConfigDict(extra="forbid")

    select: list[str] | None = None
    ignore: list[str] = []
    tools: list[str] = []
    max_record_bytes: int = Field(
        DEFAULT_MAX_RECORD_BYTES, ge=MIN_RECORD_BYTES, le=MAX_RECORD_BYTES,
        description="records longer than this many bytes are not parsed but reported (RS001)")


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
        config = LintConfig.model_validate(section)
    except ValidationError as e:
        problems = "; ".join(
            f"`{'.'.join(str(x) for x in err['loc'])}`: {err['msg'].lower()}" for err in e.errors()
        )
        raise ConfigError(f"{path}: [tool.curate.lint]: {problems} "
                          f"(known keys: {', '.join(LintConfig.model_fields)})") from None
    from curate.rules import all_rules

    select_codes(all_rules(), config.select, config.ignore,
                 names=(f"{path}: [tool.curate.lint] `select`", f"{path}: [tool.curate.lint] `ignore`"))
    return config, path


def select_codes(rules: Mapping[str, object], select: Iterable[str] | None,
                 ignore: Iterable[str] | None, names: tuple[str, str] = ("--select", "--ignore"),
                 allow_none: bool = False) -> list[str]:
    """Rule codes chosen by code prefixes (ruff style: `TC` selects TC001...; `ALL` selects every rule).

    Raises `ConfigError` for a selector that is not a string, is empty or blank, or matches no rule, for an
    empty `select` list, and (unless `allow_none`: a worker whose rules all run elsewhere) when the selection
    leaves no rule at all; `names` say where the selectors come from, for the message."""
    known = ", ".join(sorted({c[:2] for c in rules}))

    def expand(selectors: Iterable[str], what: str) -> set[str]:
        chosen: set[str] = set()
        for raw in selectors:
            sel = raw.strip().upper() if isinstance(raw, str) else ""
            if not sel:
                raise ConfigError(f"{what}: the selector {json.dumps(raw)} is {'blank' if raw else 'empty'}; give "
                                  f"rule codes or prefixes (codes start with {known}), or ALL")
            hits = set(rules) if sel == "ALL" else {c for c in rules if c.startswith(sel)}
            if not hits:
                raise ConfigError(f"{what}: `{raw}` matches no rule (codes start with {known}; "
                                  "`curate rule --all` lists them)")
            chosen |= hits
        return chosen

    if select is not None:
        select = list(select)
        if not select:
            raise ConfigError(f"{names[0]}: an empty list selects no rule; leave it out to check every rule")
    chosen = set(rules) if select is None else expand(select, names[0])
    chosen -= expand(ignore or (), names[1])
    if not chosen and not allow_none:
        raise ConfigError(f"{names[0]} and {names[1]} leave no rule to check; ignore fewer codes")
    return sorted(chosen)
