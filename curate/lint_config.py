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
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import Field

from curate.config import ConfigError, ConfigSection, read_toml, validate
from curate.readers import DEFAULT_MAX_RECORD_BYTES

MIN_RECORD_BYTES = 1 << 10
MAX_RECORD_BYTES = 1 << 30
"""Bounds of `max_record_bytes` (here and in a build config): memory per record is a multiple of the limit."""


class LintConfig(ConfigSection):
    """The keys of `[tool.curate.lint]`."""

    select: list[str] | None = None
    ignore: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    max_record_bytes: int = Field(
        DEFAULT_MAX_RECORD_BYTES, ge=MIN_RECORD_BYTES, le=MAX_RECORD_BYTES,
        description="records longer than this many bytes are not parsed but reported (RS001)")


def load_lint_config(path: Path | None) -> tuple[LintConfig, Path | None]:
    """Read `[tool.curate.lint]` from `path` (a pyproject.toml, or a curate TOML file with `[lint]`).

    Raises `ConfigError` (`FILE: [tool.curate.lint] key: problem; what to do`) for a bad key or selection."""
    if path is None:
        return LintConfig(), None
    data = read_toml(path)
    if path.name != "pyproject.toml" and "lint" in data:
        table, section = data["lint"], "lint"
    else:
        tool = data.get("tool")
        curate = tool.get("curate") if isinstance(tool, dict) else None
        table, section = curate.get("lint") if isinstance(curate, dict) else None, "tool.curate.lint"
    if table is None:
        return LintConfig(), path
    config = validate(LintConfig, table, path, section)
    from curate.rules import all_rules

    select_codes(all_rules(), config.select, config.ignore, where=f"{path}: [{section}]")
    return config, path


def select_codes(rules: Mapping[str, object], select: Iterable[str] | None,
                 ignore: Iterable[str] | None, where: str | None = None, allow_none: bool = False) -> list[str]:
    """Rule codes chosen by code prefixes (ruff style: `TC` selects TC001...; `ALL` selects every rule).

    Raises `ConfigError` for a selector that is not a string, is empty or blank, or matches no rule, for an
    empty `select` list, and (unless `allow_none`: a worker whose rules all run elsewhere) when the selection
    leaves no rule at all. `where` is the config table the selectors come from (`FILE: [tool.curate.lint]`);
    None for the command line's `--select` and `--ignore`."""
    known = ", ".join(sorted({c[:2] for c in rules}))
    names = (f"{where} select", f"{where} ignore") if where else ("--select", "--ignore")

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
        both = f"{where} select, ignore: together they" if where else "--select and --ignore"
        raise ConfigError(f"{both} leave no rule to check; ignore fewer codes")
    return sorted(chosen)
