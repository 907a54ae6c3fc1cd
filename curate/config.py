"""Configuration files: the one TOML loader of `curate` and `train`, and the one error format.

    data = read_toml(path)                          # the file's tables; ConfigError when it cannot be read
    cfg = validate(BuildConfig, data, path)         # the pydantic model; ConfigError naming every bad key

Every section belongs to the stage it configures and is a pydantic model beside that stage:
`[tool.curate.lint]` (`curate.lint_config`); a build's `[dedup]` (`curate.dedup`), `[buckets]` and
`[length]` (`curate.buckets`), `[mix]` (`curate.mix`) and `[split]` (`curate.split`), composed with
the build's own keys by `curate.buildconfig.BuildConfig`; a training run's sections by
`curate_train.config.TrainConfig`. Unknown keys are errors, so a typo never falls back to a default.

A config error is one line, the same for every file:

    FILE: [section] key: problem; what to do
    build.toml: [dedup] shingel: unknown key; did you mean `shingle`? valid keys: exact, exact_roles, ...
    train.toml: [lora] r: 4096 is out of range; allowed: 1..1024
    pyproject.toml: [tool.curate.lint] select: `ZZ9` matches no rule (codes start with FM, RL, ...)

A key at the top level of a file has no `[section]`; several problems follow each other, `; `
between them. `ConfigError` is the one class the command line catches for all of them (the build's
and train's errors are subclasses).
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigSection(BaseModel):
    """A table of a config file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ConfigError(ValueError):
    """A configuration a person has to fix (unknown key, a value out of range, bad TOML); the message says
    which file, section and key, and what to do."""


def find_pyproject(start: Path) -> Path | None:
    """The nearest `pyproject.toml` at or above `start`."""
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_toml(path: Path, error: type[ConfigError] = ConfigError) -> dict[str, Any]:
    """The tables of a TOML config file; `error` (ConfigError or a subclass) names the file and the problem."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: config file not found; check the path") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: not valid TOML ({e}); fix the file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read config ({e}); check that it is a readable UTF-8 text file") from None


def validate(model: type[M], data: Mapping[str, Any], where: str | Path, section: str = "",
             error: type[ConfigError] = ConfigError) -> M:
    """`data` as `model`; otherwise `error` with every problem as `WHERE: [section] key: problem; what to do`.

    `where` is the file (or the option, `--seed`) the data came from; `section` the table `data` was taken
    from (`tool.curate.lint`), empty when `data` is the whole file."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise error(f"{where}: " + "; ".join(problems(model, e, section))) from None


_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def problems(model: type[BaseModel], e: ValidationError, section: str = "") -> list[str]:
    """Each error of a validation as `[section] key: problem; what to do` (no `[section]` at the top level);
    the problems of one key (a value that fits no arm of a union) are one."""
    found: dict[str, list[str]] = {}
    for err in e.errors():
        loc = _key_path(model, tuple(err["loc"]))
        inner, key, owner = _split(model, loc)
        table = ".".join(x for x in (section, _dotted(inner)) if x)
        place = " ".join(x for x in (f"[{table}]" if table else "", _dotted(key)) if x)
        text = _problem(err, key, owner, model, loc)
        if text not in found.setdefault(place, []):
            found[place].append(text)
    return [f"{place}: {' or '.join(texts)}" if place else " or ".join(texts) for place, texts in found.items()]


def _problem(err: Any, key: tuple[Any, ...], owner: type[BaseModel], model: type[BaseModel],
             loc: tuple[Any, ...]) -> str:
    if err["type"] == "extra_forbidden":
        valid = sorted(owner.model_fields)
        close = difflib.get_close_matches(str(key[-1]), valid, 1) if key else []
        hint = f"did you mean `{close[0]}`? " if close else ""
        return f"unknown key; {hint}valid keys: {', '.join(valid)}"
    if err["type"] in _RANGE_ERRORS:
        bounds = allowed_range(model, loc) or _ctx_range(err.get("ctx") or {})
        if bounds:
            return f"{err['input']!r} is out of range; allowed: {bounds}"
    message = str(err["msg"])
    if message.startswith("Value error, "):  # our own validators' messages say what to do
        return message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _dotted(parts: Sequence[Any]) -> str:
    """A key path as TOML writes it: `rules.x.any_of[0]`, quoting keys that are not bare."""
    text = ""
    for p in parts:
        if isinstance(p, int):
            text += f"[{p}]"
        else:
            name = str(p) if _BARE_KEY.match(str(p)) else json.dumps(str(p))
            text += f".{name}" if text else name
    return text


def _options(tp: Any) -> list[Any]:
    """The types a field may hold (the arms of a union, the type under `Annotated`)."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _options(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [t for a in get_args(tp) for t in _options(a)]
    return [tp]


def _model_of(tp: Any) -> type[BaseModel] | None:
    return next((t for t in _options(tp) if isinstance(t, type) and issubclass(t, BaseModel)), None)


def _child(tp: Any, part: Any) -> Any:
    """The type at `part` inside a value of type `tp` (a model's field, a table's value, a list's item)."""
    for t in _options(tp):
        origin = get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            field = t.model_fields.get(str(part))
            if field is not None:
                return field.annotation
        elif origin in (dict, Mapping) and isinstance(part, str):
            return get_args(t)[1]
        elif origin in (list, tuple, Sequence) and isinstance(part, int):
            return get_args(t)[0]
    return None


def _key_path(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """An error location without the names pydantic gives the arms of a union (`pattern.str`)."""
    tp: Any = model
    out: list[Any] = []
    for i, part in enumerate(loc):
        child = _child(tp, part)
        if child is None and isinstance(part, str) and len(_options(tp)) > 1:
            continue  # the arm of a union the value was tried against, not a key
        if child is None:  # an unknown key, or inside a value of no known type: the rest as it is
            return (*out, *loc[i:])
        out.append(part)
        tp = child
    return tuple(out)


def _split(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...], type[BaseModel]]:
    """A validation error's location as (the table it is in, the key within it, that table's model)."""
    tp: Any = model
    owner, cut = model, 0
    for i, part in enumerate(loc):
        tp = _child(tp, part)
        if tp is None:
            break
        inner = _model_of(tp)
        if inner is not None:
            owner, cut = inner, i + 1
    return loc[:cut], loc[cut:], owner


def allowed_range(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """The bounds of the numeric field at `loc` as `1..1024` (`> 0 and <= 1000` for open ends); None without
    bounds or when `loc` is not a field."""
    info = None
    current: Any = model
    for part in loc:
        owner = _model_of(current)
        if owner is None or (info := owner.model_fields.get(str(part))) is None:
            return None
        current = info.annotation
    if info is None:
        return None
    bounds: dict[str, Any] = {}
    for m in info.metadata:
        bounds.update({k: getattr(m, k) for k in ("ge", "gt", "le", "lt") if getattr(m, k, None) is not None})
    return _ctx_range(bounds)


def _ctx_range(bounds: Mapping[str, Any]) -> str | None:
    def num(x: Any) -> str:
        return str(int(x)) if float(x).is_integer() else str(x)

    low = f">= {num(bounds['ge'])}" if "ge" in bounds else f"> {num(bounds['gt'])}" if "gt" in bounds else None
    high = f"<= {num(bounds['le'])}" if "le" in bounds else f"< {num(bounds['lt'])}" if "lt" in bounds else None
    if "ge" in bounds and "le" in bounds:
        return f"{num(bounds['ge'])}..{num(bounds['le'])}"
    return " and ".join(x for x in (low, high) if x) or None
