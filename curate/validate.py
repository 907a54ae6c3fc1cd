"""Argument validation against a tool's parameter schema.

Schemas come as JSON Schema (as used for function calling) or in the widespread Python-type
dialect (`dict`, `float`, `tuple`, `any`, `list`, ...), which `normalise_schema` turns into JSON
Schema. `compile_schema` turns a schema into a checker once; `SchemaCache` keeps one checker per
distinct schema. The checks that carry their own lint codes (missing, unexpected, type, enum) are
done here, so that each error gets its code and a path; any other JSON Schema keyword (pattern,
minimum, anyOf, ...) is delegated to `jsonschema`, compiled once per subschema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from curate.toolcalls import json_type

ErrorKind = Literal["missing", "unexpected", "type", "enum", "constraint"]

# The Python-type dialect (BFCL and many hand-written tool specs) and other common aliases.
TYPE_ALIASES: dict[str, str | None] = {
    "dict": "object", "object": "object", "map": "object", "mapping": "object",
    "float": "number", "number": "number", "double": "number", "decimal": "number",
    "int": "integer", "integer": "integer", "long": "integer",
    "str": "string", "string": "string", "text": "string",
    "bool": "boolean", "boolean": "boolean",
    "list": "array", "array": "array", "tuple": "array", "set": "array",
    "null": "null", "none": "null", "nonetype": "null",
    "any": None,
}
JSON_TYPES = frozenset({"object", "number", "integer", "string", "boolean", "array", "null"})
_HANDLED = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum",
    "description", "title", "default", "examples", "$schema", "$id", "optional", "format",
})


@dataclass(slots=True, frozen=True)
class ArgumentError:
    """One way a call's arguments fail its schema."""

    kind: ErrorKind
    path: str
    """Where in the arguments, e.g. `filters.date` or `ids[2]`; empty for the arguments object."""
    message: str


class SchemaProblem(ValueError):
    """A parameter schema that cannot be used (unknown type name, wrong shape)."""


def normalise_schema(schema: Any, problems: list[str] | None = None, path: str = "parameters") -> Any:
    """Return a JSON Schema equivalent of `schema`, mapping Python-type names to JSON types.

    Unknown type names are recorded in `problems` (when given) and left unconstrained.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            out[key] = _normalise_type(value, problems, path)
            if out[key] is None:
                del out[key]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: normalise_schema(v, problems, f"{path}.{k}") for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "contains") and isinstance(value, dict):
            out[key] = normalise_schema(value, problems, f"{path}.{key}")
        elif key in ("items", "prefixItems", "anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [normalise_schema(v, problems, f"{path}.{key}[{i}]") for i, v in enumerate(value)]
        else:
            out[key] = value
    return out


def _normalise_type(value: Any, problems: list[str] | None, path: str) -> Any:
    if isinstance(value, list):
        names = [_normalise_type(v, problems, path) for v in value]
        return None if None in names else names
    if not isinstance(value, str):
        if problems is not None:
            problems.append(f"{path}: `type` must be a type name, got {json_type(value)}")
        return None
    key = value.strip().lower()
    if key in TYPE_ALIASES:
        return TYPE_ALIASES[key]
    if problems is not None:
        problems.append(f"{path}: unknown type `{value}`")
    return None


Checker = Callable[[Any, str, list[ArgumentError]], None]


def _is_type(value: Any, t: str) -> bool:
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, (list, tuple))
    if t == "null":
        return value is None
    return True


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON means it: True is not 1, 1 equals 1.0, containers compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _fmt(value: Any, limit: int = 40) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def compile_schema(schema: Any, *, closed_objects: bool = True) -> Checker:
    """Compile a normalised JSON Schema into a checker `check(value, path, errors)`.

    `closed_objects`: objects that declare `properties` reject unknown keys unless the schema sets
    `additionalProperties` (tool parameters are closed by default); objects without declared
    properties stay open.
    """
    if not isinstance(schema, dict) or not schema:
        return _accept
    checks: list[Checker] = []

    types = schema.get("type")
    if types is not None:
        type_list = [types] if isinstance(types, str) else list(types)
        if all(t in JSON_TYPES for t in type_list):
            expected = " or ".join(type_list)

            def check_type(value: Any, path: str, errors: list[ArgumentError]) -> bool:
                for t in type_list:
                    if _is_type(value, t):
                        return True
                errors.append(ArgumentError(
                    "type", path, f"expected {expected}, got {json_type(value)} {_fmt(value)}"
                ))
                return False
        else:
            check_type = None  # type: ignore[assignment]
    else:
        check_type = None  # type: ignore[assignment]

    if "enum" in schema and isinstance(schema["enum"], list):
        allowed = schema["enum"]
        shown = ", ".join(_fmt(v, 20) for v in allowed[:8]) + (", …" if len(allowed) > 8 else "")

        def check_enum(value: Any, path: str, errors: list[ArgumentError]) -> None:
            if not any(json_equal(value, a) for a in allowed):
                errors.append(ArgumentError("enum", path, f"{_fmt(value)} is not one of: {shown}"))

        checks.append(check_enum)

    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else None
    required = [r for r in schema.get("required", []) or [] if isinstance(r, str)] \
        if isinstance(schema.get("required", []), list) else []
    additional = schema.get("additionalProperties")
    if props is not None or required or additional is not None:
        prop_checks = {k: compile_schema(v, closed_objects=closed_objects) for k, v in (props or {}).items()}
        if isinstance(additional, dict):
            extra_check: Checker | None = compile_schema(additional, closed_objects=closed_objects)
            closed = False
        else:
            extra_check = None
            closed = additional is False or (additional is None and closed_objects and props is not None)

        def check_object(value: Any, path: str, errors: list[ArgumentError]) -> None:
            if not isinstance(value, dict):
                return
            for r in required:
                if r not in value:
                    errors.append(ArgumentError("missing", _join(path, r), f"missing required argument `{_join(path, r)}`"))
            for k, v in value.items():
                sub = prop_checks.get(k)
                if sub is not None:
                    sub(v, _join(path, k), errors)
                elif extra_check is not None:
                    extra_check(v, _join(path, k), errors)
                elif closed:
                    known = ", ".join(sorted(prop_checks)) or "none"
                    errors.append(ArgumentError(
                        "unexpected", _join(path, str(k)),
                        f"unexpected argument `{_join(path, str(k))}` (known: {known})",
                    ))

        checks.append(check_object)

    items = schema.get("items")
    if isinstance(items, dict) and items:
        item_check = compile_schema(items, closed_objects=closed_objects)

        def check_items(value: Any, path: str, errors: list[ArgumentError]) -> None:
            if isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    item_check(v, f"{path}[{i}]", errors)

        checks.append(check_items)

    rest = {k: v for k, v in schema.items() if k not in _HANDLED and k not in ("properties",)}
    if isinstance(schema.get("items"), list):
        rest["items"] = schema["items"]
    if rest:
        checks.append(_delegate(rest))

    if check_type is None and not checks:
        return _accept
    if check_type is None:
        def check(value: Any, path: str, errors: list[ArgumentError]) -> None:
            for c in checks:
                c(value, path, errors)
    else:
        def check(value: Any, path: str, errors: list[ArgumentError]) -> None:
            # Deeper checks only make sense once the type is right: one finding per wrong value.
            if check_type(value, path, errors):
                for c in checks:
                    c(value, path, errors)
    return check


def _accept(value: Any, path: str, errors: list[ArgumentError]) -> None:
    return None


def _delegate(schema: dict[str, Any]) -> Checker:
    """Keywords without a lint code of their own (pattern, minimum, anyOf, ...) go to jsonschema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        raise SchemaProblem(f"invalid JSON Schema keyword: {e.message}") from None
    validator = Draft202012Validator(schema)

    def check(value: Any, path: str, errors: list[ArgumentError]) -> None:
        for err in validator.iter_errors(value):
            where = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
            errors.append(ArgumentError("constraint", where, err.message))

    return check


@dataclass(slots=True)
class CompiledTool:
    """A tool's normalised parameter schema and its compiled checker."""

    name: str
    schema: dict[str, Any]
    check: Checker
    param_order: list[str]
    problems: list[str]

    def validate(self, arguments: dict[str, Any]) -> list[ArgumentError]:
        errors: list[ArgumentError] = []
        self.check(arguments, "", errors)
        return errors


class SchemaCache:
    """Compiles each distinct parameter schema once, keyed by its canonical JSON text."""

    def __init__(self, max_size: int = 50_000) -> None:
        self._by_text: dict[str, CompiledTool] = {}
        self._max = max_size

    def compile(self, name: str, parameters: dict[str, Any] | None) -> CompiledTool:
        try:
            key = name + "\0" + json.dumps(parameters, sort_keys=True, default=str)
        except (TypeError, ValueError, RecursionError):
            key = ""
        if key and key in self._by_text:
            return self._by_text[key]
        tool = build_tool(name, parameters)
        if key:
            if len(self._by_text) >= self._max:
                self._by_text.clear()
            self._by_text[key] = tool
        return tool


def build_tool(name: str, parameters: dict[str, Any] | None) -> CompiledTool:
    """Normalise and compile one tool's parameter schema; schema problems are kept, not raised."""
    problems: list[str] = []
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    schema = normalise_schema(parameters, problems)
    if not isinstance(schema, dict):
        problems.append(f"parameters must be an object schema, got {json_type(schema)}")
        schema = {}
    if schema.get("type", "object") != "object":
        problems.append(f"parameters must describe an object, not `{schema.get('type')}`")
    props = schema.get("properties")
    if isinstance(props, dict):
        for r in schema.get("required") or []:
            if isinstance(r, str) and r not in props:
                problems.append(f"`{r}` is required but not among the properties")
    try:
        check = compile_schema(schema)
    except SchemaProblem as e:
        problems.append(str(e))
        check = _accept
    order = list(props) if isinstance(props, dict) else []
    return CompiledTool(name, schema, check, order, problems)
