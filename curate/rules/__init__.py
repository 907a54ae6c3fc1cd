"""The lint rules: one module per rule, discovered by name (adding a rule means adding a file)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from curate.rules.base import Rule


@cache
def all_rules() -> dict[str, type[Rule]]:
    """Every rule class, by code, in code order."""
    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, info.name, None)
        if not (isinstance(cls, type) and issubclass(cls, Rule)) or cls.code != info.name:
            raise RuntimeError(f"curate/rules/{info.name}.py must define the rule class {info.name}")
        found[cls.code] = cls
    return dict(sorted(found.items()))
