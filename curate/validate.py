"""Argument validation against a tool's parameter schema.

Schemas come as JSON Schema (as used for function calling) or in the widespread Python-type
dialects, which `parameters_schema` and `normalise_schema` turn into JSON Schema: type names (`dict`,
`float`, `tuple`, `any`, as BFCL writes them), type strings (`"int, optional"`, `"List[int]"`,
`"Dict[str, Any]"`, `"Optional[str]"`, `"Union[int, str]"`, `"Tuple[int, int]"`, `"array<string>"`, as
xLAM / APIGen write them, see `parse_type_string`), bare parameters (`{"city": {"type": "str"}}` with no
object around them) and a function-level `required`. `compile_schema` turns a schema into a checker once;
`SchemaCache` keeps one checker per distinct schema. The checks that carry their own lint codes (missing,
unexpected, type, enum) are done here, so that each error gets its code and a path; any other JSON Schema
keyword (pattern, minimum, anyOf, ...) is delegated to `jsonschema`, compiled once per subschema.

One record must never hang or exhaust the linter, so schemas are treated as untrusted input:

- `pattern` and `patternProperties` (ours and jsonschema's) are searched with the `regex` module and a
  timeout (`PATTERN_TIMEOUT` per search, `PATTERN_BUDGET` for all searches of one `validate` session);
  a search that does not finish is a `constraint` error naming the pattern, and the value is not
  checked against it;
- local `$ref`s are inlined, at most `MAX_INLINED_NODES` schema nodes in all: references that repeat
  at every level double the schema per level, and past the limit the rest are left unconstrained
  (a schema problem, TS001).
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from curate.records import FunctionSpec
from curate.toolcalls import json_type

try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - orjson is a dependency
    _orjson_dumps = None

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
    "type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum",
    "description", "title", "default", "examples", "$schema", "$id", "optional", "format",
    "$defs", "definitions", "$comment",
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
    """Return a JSON Schema equivalent of `schema`, mapping Python type names and type strings to JSON Schema.

    Unknown type names are recorded in `problems` (when given) and left unconstrained. A type string
    (`"List[int]"`, `"int, optional"`, see `parse_type_string`) becomes the keywords it means, those written
    beside it (`items`, `enum`) winning. Besides the types, four habits of hand-written (and BFCL, xLAM) tool
    specs are read as their authors mean them, each only where the literal JSON Schema reading would be
    contradictory or void:

    - `"default": null` on a typed parameter (`def f(x: str = None)`) makes null acceptable, since
      passing the documented default is the same as leaving the parameter out;
    - an `enum` of non-array values on an array parameter constrains its items (no array can ever
      equal a string, so the literal reading rejects every value);
    - a list `items` (tuple validation of older drafts) is `prefixItems`, `additionalItems` then
      being `items`;
    - `"required": true` on a property (draft 3's way, and xLAM's dataset card's) puts it in its object's
      `required` (a boolean `required` means nothing in later drafts).
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    flagged: list[str] = []  # properties marked `"required": true`
    for key, value in schema.items():
        if key == "type":
            for k, v in _type_schema(value, problems, path).items():
                if k == "type" or k not in schema:
                    out[k] = v
        elif key == "properties" and isinstance(value, dict):
            props = {}
            for k, v in value.items():
                if isinstance(v, dict) and isinstance(v.get("required"), bool):
                    if v["required"]:
                        flagged.append(k)
                    v = {name: x for name, x in v.items() if name != "required"}
                props[k] = normalise_schema(v, problems, f"{path}.{k}")
            out[key] = props
        elif key in ("$defs", "definitions", "patternProperties") and isinstance(value, dict):
            out[key] = {k: normalise_schema(v, problems, f"{path}.{k}") for k, v in value.items()}
        elif key in ("items", "additionalProperties", "additionalItems", "not", "contains") and isinstance(value, dict):
            out[key] = normalise_schema(value, problems, f"{path}.{key}")
        elif key in ("items", "prefixItems", "anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [normalise_schema(v, problems, f"{path}.{key}[{i}]") for i, v in enumerate(value)]
        else:
            out[key] = value
    if flagged:
        listed = out.get("required") if isinstance(out.get("required"), list) else []
        out["required"] = [*listed, *(k for k in flagged if k not in listed)]
    if isinstance(out.get("items"), list):  # draft 4-2019 tuple validation
        out["prefixItems"] = out.pop("items")
        if "additionalItems" in out:
            out["items"] = out.pop("additionalItems")
    enum = out.get("enum")
    if (out.get("type") == "array" and isinstance(enum, list) and enum
            and not any(isinstance(v, (list, tuple)) for v in enum)):
        items = out.get("items")
        if items is None or (isinstance(items, dict) and "enum" not in items):
            out["items"] = {**(items or {}), "enum": out.pop("enum")}
    if "default" in out and out["default"] is None:
        t = out.get("type")
        if isinstance(t, str) and t != "null":
            out["type"] = [t, "null"]
        elif isinstance(t, list) and "null" not in t:
            out["type"] = [*t, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _type_schema(value: Any, problems: list[str] | None, path: str) -> dict[str, Any]:
    """The keywords a `type` value means (`{}`: unconstrained), its problems recorded in `problems`."""
    names = value if isinstance(value, list) else [value]
    members = []
    for name in names:
        if not isinstance(name, str):
            if problems is not None:
                problems.append(f"{path}: `type` must be a type name, got {json_type(name)}")
            return {}
        parsed = parse_type_string(name)
        if parsed.unknown and problems is not None:
            problems.extend(f"{path}: unknown type `{name}`" if u == name.strip() else
                            f"{path}: unknown type `{u}` in `{name}`" for u in parsed.unknown)
        members.append(parsed.schema)  # what it names unknown left unconstrained: `{}` for `datetime`
    if not members:
        return {}
    return copy.deepcopy(members[0] if len(members) == 1 else _union(members))


# --- type strings ---------------------------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class TypeString:
    """What a type string means (`parse_type_string`)."""

    schema: dict[str, Any]
    """The JSON Schema keywords it stands for; `{}` for any value. Shared by every caller: copy it to change it."""
    optional: bool
    """Whether it says the parameter may be left out: `", optional"`, `", default …"`, `Optional[…]`, a union
    with `None`."""
    unknown: tuple[str, ...]
    """The names in it that mean no type (`datetime`, `Foo` in `List[Foo]`), left unconstrained."""


MAX_TYPE_STRING = 300
"""Longer type strings are not parsed (an unknown type): real ones are a few dozen characters."""
_MAX_TYPE_DEPTH = 16
_GENERIC = re.compile(r"([A-Za-z_][\w.]*)\s*(?:\[(.*)\]|<(.*)>)", re.DOTALL)
_ARRAYS = frozenset({"list", "array", "sequence", "iterable", "collection", "set", "frozenset", "deque",
                     "mutablesequence", "abstractset", "mutableset"})
_OBJECTS = frozenset({"dict", "mapping", "map", "mutablemapping", "object", "ordereddict", "defaultdict"})
_ANY_TYPES = frozenset({"any", "callable", "type"})
"""Types a JSON value can stand for only as the caller's convention (`Callable`: code in a string, a name)."""


@functools.lru_cache(maxsize=4096)
def parse_type_string(text: str) -> TypeString:
    """A Python-style type string as JSON Schema: the xLAM / APIGen dialect and its neighbours.

    Names are read case-insensitively, with a module prefix dropped (`typing.List`): the names of
    `TYPE_ALIASES` (`str`, `int`, `float`, `bool`, `dict`, `list`, `tuple`, `any`, ...); generics `List[X]`,
    `Sequence[X]`, `Set[X]` (arrays of X), `Tuple[X, Y]` (exactly those items; `Tuple[X, ...]` any number),
    `Dict[K, V]` (an object whose values are V; JSON keys are strings), `Optional[X]`, `Union[X, Y]`,
    `Literal["a", "b"]` (an enum), `Annotated[X, …]`; `array<X>` and `X[]`; unions written `X | Y` or
    `X or Y`. `Any`, `Callable[…]` and `Type[…]` accept any value (a callable travels as code in a string).
    After the type, comma-separated words annotate it: `optional` and `default …` say the parameter may be
    left out; others (`required`, `positive`) are read as prose.
    """
    unknown: list[str] = []
    if len(text) > MAX_TYPE_STRING:
        return TypeString({}, False, (text[:40] + "…",))
    base, *notes = _split_top(text, ",")
    optional = any(n.strip().lower() == "optional" or n.strip().lower().startswith("default") for n in notes)
    schema = _parse_union(base, unknown, 0)
    nullable = _accepts_null(schema)
    return TypeString(schema, optional or nullable, tuple(dict.fromkeys(unknown)))


def _split_top(text: str, sep: str) -> list[str]:
    """`text` split at each `sep` outside brackets (`[]`, `<>`, `()`) and quotes."""
    parts, depth, start, quote, i = [], 0, 0, "", 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[<(":
            depth += 1
        elif c in "]>)":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _parse_union(text: str, unknown: list[str], depth: int) -> dict[str, Any]:
    members = [m for part in _split_top(text, "|") for m in _split_top(part, " or ")]
    if len(members) == 1:
        return _parse_one(members[0], unknown, depth)
    return _union([_parse_one(m, unknown, depth) for m in members])


def _parse_one(text: str, unknown: list[str], depth: int) -> dict[str, Any]:
    t = text.strip()
    if depth > _MAX_TYPE_DEPTH or not t:
        unknown.append(t or text)
        return {}
    if t.endswith("[]"):
        return _array(_parse_union(t[:-2], unknown, depth + 1))
    generic = _GENERIC.fullmatch(t)
    if generic is None:
        name = t.rsplit(".", 1)[-1].lower()
        if name in TYPE_ALIASES:
            json_name = TYPE_ALIASES[name]
            return {} if json_name is None else {"type": json_name}
        if name in _ANY_TYPES:
            return {}
        unknown.append(t)
        return {}
    name = generic.group(1).rsplit(".", 1)[-1].lower()
    inner = generic.group(2) if generic.group(2) is not None else generic.group(3)
    args = [a.strip() for a in _split_top(inner, ",")] if inner.strip() else []
    if name in _ARRAYS:
        return _array(_parse_union(args[0], unknown, depth + 1) if args else {})
    if name == "tuple":
        if not args:
            return {"type": "array"}
        if len(args) == 2 and args[1] == "...":
            return _array(_parse_union(args[0], unknown, depth + 1))
        items = [_parse_union(a, unknown, depth + 1) for a in args]
        same = all(i == items[0] for i in items)
        out = _array(items[0]) if same else {"type": "array", "prefixItems": items}
        return {**out, "minItems": len(items), "maxItems": len(items)}
    if name in _OBJECTS:
        value = _parse_union(args[-1], unknown, depth + 1) if len(args) >= 2 else {}
        return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
    if name == "optional" and len(args) == 1:
        return _union([_parse_union(args[0], unknown, depth + 1), {"type": "null"}])
    if name == "union" and args:
        return _union([_parse_union(a, unknown, depth + 1) for a in args])
    if name in ("annotated", "required", "notrequired") and args:
        return _parse_union(args[0], unknown, depth + 1)
    if name == "literal" and args:
        try:
            return {"enum": [ast.literal_eval(a) for a in args]}
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    elif name in _ANY_TYPES:
        return {}
    unknown.append(t)
    return {}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items} if items else {"type": "array"}


def _union(members: list[dict[str, Any]]) -> dict[str, Any]:
    """One schema accepting what any of `members` accepts: a `type` list when each member is a type with
    keywords of its own (`items` for the array, ...), an enum with null when those are all, else `anyOf`."""
    if any(not m for m in members):
        return {}
    if all(set(m) <= {"enum"} or m == {"type": "null"} for m in members):
        values = [v for m in members for v in m.get("enum", [None])]
        return {"enum": values}
    types: list[str] = []
    merged: dict[str, Any] = {}
    for m in members:
        t = m.get("type")
        if t is None or "enum" in m or any(k in merged for k in m if k != "type"):
            return {"anyOf": members}
        types.extend(t if isinstance(t, list) else [t])
        merged.update((k, v) for k, v in m.items() if k != "type")
    types = [t for t in dict.fromkeys(types) if not (t == "integer" and "number" in types)]  # integers are numbers
    return {"type": types[0] if len(types) == 1 else types, **merged}


def _accepts_null(schema: dict[str, Any]) -> bool:
    t = schema.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    return None in schema.get("enum", ()) or any(_accepts_null(m) for m in schema.get("anyOf", ()))


# --- parameters: bare maps and a function-level `required` ---------------------------------------

_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_VALUED = frozenset({"additionalProperties", "unevaluatedProperties", "propertyNames", "not", "if",
                            "then", "else"})
KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "patternProperties", "items", "prefixItems",
    "additionalItems", "enum", "const", "anyOf", "oneOf", "allOf", "not", "if", "then", "else", "$ref", "$defs",
    "definitions", "$schema", "$id", "$comment", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "title", "description", "default", "examples", "format", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "minItems", "maxItems",
    "uniqueItems", "contains", "minContains", "maxContains", "minProperties", "maxProperties",
    "dependentRequired", "dependentSchemas", "dependencies", "propertyNames", "unevaluatedItems",
    "unevaluatedProperties", "readOnly", "writeOnly", "deprecated", "contentMediaType", "contentEncoding",
    "nullable", "optional", "strict",
})
"""JSON Schema's keywords (2020-12 and earlier drafts) and the annotations function-calling specs add."""


def is_bare_parameters(parameters: Any) -> bool:
    """Whether `parameters` is a map of parameter name to parameter spec with no object schema around it
    (`{"city": {"type": "str"}}`), not a JSON Schema: every value is an object and no key is a schema keyword
    used as one (a parameter may be called `type` or `properties`: its spec is then not a type name or a map
    of schemas)."""
    if not isinstance(parameters, dict) or not parameters:
        return False
    for key, value in parameters.items():
        if not isinstance(value, dict) or key in _SCHEMA_VALUED:
            return False
        if key in _SCHEMA_MAPS and all(isinstance(v, dict) for v in value.values()):
            return False
    return True


def parameters_schema(parameters: Any, required: list[Any] | None = None) -> Any:
    """`parameters` as one JSON Schema object, before `normalise_schema`: bare parameters put in an object,
    a function-level `required` (a sibling of `parameters`, as some exports write it) moved inside.

    Bare parameters (xLAM / APIGen's convention: `{"city": {"type": "str", "description": …, "default": …}}`)
    say in the Python way which of them may be left out, and are read so:

    - a function-level `required` list, when given, names the required ones, and only those;
    - else `"required": true|false` (the dataset card's example) or `"optional": true|false` on a parameter;
    - else a parameter with a `default`, or whose type string says so (`"int, optional"`, `"Optional[str]"`,
      `"Union[str, None]"`, `"str | None"`, `"int, default 5"`: `parse_type_string`), may be left out;
    - else it is required, as a Python parameter without a default is.

    The last reading is the one that could cry wolf on thousands of records, so why it holds: xLAM's tools
    come from two sources. Those from RapidAPI (via ToolBench) carry a `default` on their parameters,
    required ones included (often `""`), so they are never required under this reading: calls to them are
    checked for names and types, never for omissions. The Python functions keep their signatures, where a
    parameter without a default is positional, and APIGen's execution checker ran every answer: one leaving
    such a parameter out raised a `TypeError` and was filtered out of the published set. NVIDIA NeMo's xLAM
    loader reads the dialect the same way (no `default`: required). A missing argument reported here is one
    the function could not have run without.

    A function-level `required` next to JSON Schema parameters is used when the parameters have none of
    their own.
    """
    if is_bare_parameters(parameters):
        props: dict[str, Any] = {}
        needed: list[str] = []
        for name, spec in parameters.items():
            flag = spec.get("required")
            if isinstance(flag, bool):
                spec = {k: v for k, v in spec.items() if k != "required"}
            props[name] = spec
            if required is None and _bare_required(spec, flag):
                needed.append(name)
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if required is not None or needed:
            schema["required"] = list(required) if required is not None else needed
        return schema
    if required is not None:
        if parameters is None:
            return {"type": "object", "properties": {}, "required": list(required)}
        if isinstance(parameters, dict) and "required" not in parameters:
            return {**parameters, "required": list(required)}
    return parameters


def _bare_required(spec: dict[str, Any], flag: Any) -> bool:
    """Whether a bare parameter must be given (see `parameters_schema`)."""
    if isinstance(flag, bool):
        return flag
    if isinstance(spec.get("optional"), bool):
        return not spec["optional"]
    if "default" in spec:
        return False
    types = spec.get("type")
    for t in types if isinstance(types, list) else [types]:
        if isinstance(t, str) and parse_type_string(t).optional:
            return False
    return True


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


# The Python class that certainly holds each JSON type (subclasses and the int/float cases go the slow way).
_EXACT_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool,
                                 "object": dict, "array": list}


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


def compile_schema(schema: Any, *, closed_objects: bool = True, problems: list[str] | None = None,
                   valid: bool = False) -> Checker:
    """Compile a normalised JSON Schema into a checker `check(value, path, errors)`.

    `closed_objects`: objects that declare `properties` reject unknown keys unless the schema sets
    `additionalProperties` (tool parameters are closed by default); objects without declared
    properties stay open. Names listed in `required` count as declared. `problems`: when given,
    a subschema whose other keywords are not valid JSON Schema is recorded there and left
    unchecked; otherwise `SchemaProblem` is raised. `valid`: the caller has checked the whole schema against
    the JSON Schema metaschema (`schema_is_valid`), so the parts delegated to jsonschema need not be again
    (checking them costs far more than using them). A `false` schema accepts no value: a property whose
    schema is `false` is an unexpected argument, any other value under one a constraint error.
    """
    if schema is False:
        return _reject
    if not isinstance(schema, dict) or not schema:
        return _accept
    checks: list[Checker] = []

    types = schema.get("type")
    if types is not None:
        type_list = [types] if isinstance(types, str) else list(types)
        if all(isinstance(t, str) and t in JSON_TYPES for t in type_list):
            expected = " or ".join(type_list)

            exact = _EXACT_TYPES.get(type_list[0]) if len(type_list) == 1 else None

            def check_type(value: Any, path: str, errors: list[ArgumentError]) -> bool:
                if value.__class__ is exact:  # the common case in one test (never True for bool)
                    return True
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
        prop_checks = {k: compile_schema(v, closed_objects=closed_objects, problems=problems, valid=valid)
                       for k, v in (props or {}).items()}
        for r in required:  # required but not declared: a schema problem (see build_tool), not the call's
            prop_checks.setdefault(r, _accept)
        if isinstance(additional, dict):
            extra_check: Checker | None = compile_schema(additional, closed_objects=closed_objects, problems=problems,
                                                         valid=valid)
            closed = False
        else:
            extra_check = None
            # `unevaluatedProperties` says what other keys may be, as `additionalProperties` would
            closed = additional is False or (additional is None and closed_objects and props is not None
                                             and "unevaluatedProperties" not in schema)
        # Keys matching `patternProperties` are declared too (their values are checked by delegation).
        patterns = _compile_patterns(schema.get("patternProperties"), problems)
        # The keys declared inside each required object: given beside it instead, they tell why it is missing.
        inner_keys = {r: frozenset(sub["properties"]) for r in required
                      if isinstance(sub := (props or {}).get(r), dict) and isinstance(sub.get("properties"), dict)}
        known_names: list[str] = []  # the `known:` list of unexpected-argument messages, made once

        def known() -> str:
            if not known_names:
                names = sorted(k for k, c in prop_checks.items() if c is not _reject)
                shown = ", ".join(names[:_KNOWN_SHOWN]) or "none"
                known_names.append(shown + (f", … ({len(names) - _KNOWN_SHOWN:,} more)"
                                            if len(names) > _KNOWN_SHOWN else ""))
            return known_names[0]

        def check_object(value: Any, path: str, errors: list[ArgumentError]) -> None:
            if not isinstance(value, dict):
                return
            misplaced: set[str] | frozenset[str] = _NONE
            for r in required:
                if r not in value:
                    if path and len(required) > 1 and not any(q in value for q in required):
                        # A nested object holding none of its required keys is one thing missing, not several.
                        names = ", ".join(f"`{_join(path, q)}`" for q in required)
                        errors.append(ArgumentError("missing", path, f"missing required arguments {names} "
                                                    f"(`{path}` holds none of its required keys)"))
                        break
                    where = _join(path, r)
                    beside = [k for k in value if k in inner_keys.get(r, ()) and k not in prop_checks
                              and k not in misplaced]
                    if beside:
                        # `{"street": …}` for `{"address": {"street": …}}`: one finding, the keys not unexpected too.
                        misplaced = {*misplaced, *beside}
                        keys = ", ".join(f"`{k}`" for k in beside)
                        errors.append(ArgumentError("missing", where, f"missing required argument `{where}` "
                                                    f"({keys} belong inside it, not beside it)"))
                    else:
                        errors.append(ArgumentError("missing", where, f"missing required argument `{where}`"))
            for k, v in value.items():
                sub = prop_checks.get(k)
                if sub is _reject:
                    errors.append(ArgumentError("unexpected", _join(path, k), f"unexpected argument "
                                                f"`{_join(path, k)}` (its schema is `false`: it may not be given)"))
                elif sub is not None:
                    if sub is not _accept:
                        sub(v, f"{path}.{k}" if path else k, errors)
                elif patterns and isinstance(k, str) and _matches_any(patterns, k):
                    continue
                elif extra_check is not None:
                    extra_check(v, _join(path, k), errors)
                elif closed and k not in misplaced:
                    errors.append(ArgumentError(
                        "unexpected", _join(path, str(k)),
                        f"unexpected argument `{_join(path, str(k))}` (known: {known()})",
                    ))

        checks.append(check_object)

    prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
    items = schema.get("items")
    if prefix or items is False or (isinstance(items, dict) and items):
        checks.append(_items_checker(prefix, items, closed_objects, problems, valid))

    rest = {k: v for k, v in schema.items() if k not in _HANDLED}
    if isinstance(schema.get("items"), list):
        rest["items"] = schema["items"]
    # jsonschema finds what is left unevaluated from the keywords beside `unevaluated*`: those checked here go
    # along as `true`, evaluating the same items and keys without checking them twice.
    if "unevaluatedItems" in rest:
        if prefix:
            rest["prefixItems"] = [True] * len(prefix)
        if "items" in schema and "items" not in rest:
            rest["items"] = True
    if "unevaluatedProperties" in rest:
        if isinstance(props, dict):
            rest["properties"] = dict.fromkeys(props, True)
        if "additionalProperties" in schema:
            rest["additionalProperties"] = True
    if rest:
        try:
            checks.append(_delegate(rest, valid))
        except SchemaProblem as e:
            if problems is None:
                raise
            problems.append(str(e))  # only this part of the schema goes unchecked

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


def _items_checker(prefix: list[Any], items: Any, closed_objects: bool, problems: list[str] | None,
                   valid: bool) -> Checker:
    """The checker of an array's `prefixItems` (the first items, one schema each) and `items` (the items after
    them: a schema, or `false` for none)."""
    prefix_checks = [compile_schema(s, closed_objects=closed_objects, problems=problems, valid=valid) for s in prefix]
    start = len(prefix_checks)
    rest_check = compile_schema(items, closed_objects=closed_objects, problems=problems, valid=valid) \
        if isinstance(items, dict) else None
    if items is False:
        most = f"at most {start} item{'s' * (start != 1)} (`prefixItems`, then `items: false`)" if start else \
            "no items (`items: false`)"

    def check_items(value: Any, path: str, errors: list[ArgumentError]) -> None:
        if not isinstance(value, (list, tuple)):
            return
        for i, (check, v) in enumerate(zip(prefix_checks, value, strict=False)):
            if check is not _accept:
                check(v, f"{path}[{i}]", errors)
        if items is False:
            if len(value) > start:
                errors.append(ArgumentError("constraint", path, f"expected {most}, got {len(value):,}"))
        elif rest_check is not None and rest_check is not _accept:
            for i in range(start, len(value)):
                rest_check(value[i], f"{path}[{i}]", errors)

    return check_items


_NONE: frozenset[str] = frozenset()


def _accept(value: Any, path: str, errors: list[ArgumentError]) -> None:
    return None


def _reject(value: Any, path: str, errors: list[ArgumentError]) -> None:
    """The checker of the `false` schema."""
    errors.append(ArgumentError("constraint", path, f"no value is allowed here (its schema is `false`), "
                                f"got {json_type(value)} {_fmt(value)}"))


def _compile_patterns(patterns: Any, problems: list[str] | None) -> list[str]:
    """The `patternProperties` patterns of a schema, each checked to compile (`regex`, as searched)."""
    out: list[str] = []
    for p in patterns if isinstance(patterns, dict) else ():
        try:
            _regex(p)
        except (TypeError, ValueError, RecursionError) as e:
            if problems is None:
                raise SchemaProblem(f"invalid patternProperties pattern {_fmt(p, 80)}: {e}") from None
            problems.append(f"invalid patternProperties pattern {_fmt(p, 80)}: {e}")
            continue
        out.append(p)
    return out


def _matches_any(patterns: list[str], key: str) -> bool:
    """Whether `key` matches one of `patterns`. A search that does not finish counts as a match (the key is
    not reported as unexpected): jsonschema, searching the same `patternProperties`, reports it."""
    return any(pattern_search(p, key) is not False for p in patterns)


# --- patterns: `regex` with a time limit ---------------------------------------------------------

PATTERN_TIMEOUT = 0.05
"""Seconds one pattern search may run. Searches of sane patterns take microseconds; catastrophic
backtracking (`^(a|aa)+$` against `"a" * 40 + "!"`) would take years."""
PATTERN_BUDGET = 0.25
"""Seconds all pattern searches of one validation session (a `CompiledTool.validate` call, or one
record's calls when the linter passes a `PatternClock`) may take together; past it, patterns are not
searched at all and each one met is reported as not evaluated."""
_MAX_PATTERNS = 4096


class PatternClock:
    """The time left for pattern searches in one validation session (see `PATTERN_BUDGET`)."""

    __slots__ = ("left",)

    def __init__(self, budget: float = PATTERN_BUDGET) -> None:
        self.left = budget


_clock: PatternClock | None = None
"""The session in progress: set by `CompiledTool.validate` for the duration of a check (None: searches
outside a session have `PATTERN_TIMEOUT` each)."""
_patterns: dict[str, tuple[Any, int]] = {}


def _regex(pattern: str) -> tuple[Any, int]:
    """`pattern` compiled with `regex`, and the longest text it may search without a time limit (cached)."""
    found = _patterns.get(pattern)
    if found is None:
        if not isinstance(pattern, str):
            raise TypeError(f"a pattern must be a string, not {json_type(pattern)}")
        import regex  # here: records without patterns never pay for the import

        try:
            compiled = regex.compile(pattern)
        except regex.error as e:
            raise ValueError(str(e)) from None
        found = (compiled, _unlimited_length(pattern))
        if len(_patterns) >= _MAX_PATTERNS:
            _patterns.clear()
        _patterns[pattern] = found
    return found


_UNLIMITED_LENGTH = {0: 1024, 1: 1024, 2: 64}
"""By the number of repetitions with a choice (`_choices`): the longest text a pattern may search without a
time limit, the search then being at most about a million steps. Setting a `regex` timeout costs more than
searching a short value (1.5 µs a call); the search is still timed against the session's budget."""


def _unlimited_length(pattern: str) -> int:
    """The longest text `pattern` may search without a timeout (-1: none; see `_UNLIMITED_LENGTH`)."""
    try:
        import re._parser as sre_parse  # the stdlib's own parser; `regex` reads a superset of its syntax

        choices = _choices(sre_parse.parse(pattern).data, nested=False)
    except Exception:  # any pattern the stdlib parser cannot read is searched with a timeout
        return -1
    return _UNLIMITED_LENGTH.get(choices, -1) if choices is not None else -1


def _choices(items: Any, nested: bool) -> int | None:
    """How many repetitions with a choice (`{m,n}` with m < n, `*`, `+`, `?`) a parsed pattern has, or None
    when backtracking could multiply: a choice or an alternation inside a repetition, backreferences,
    lookarounds, conditionals (everything but plain atoms, groups, alternations and repetitions)."""
    from re import _constants as c

    total = 0
    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)):
            low, high, sub = av
            if high > low:
                if nested:
                    return None
                total += 1
            inner = _choices(sub, nested or high > 1)
            if inner is None:
                return None
            total += inner
        elif op is c.SUBPATTERN:
            inner = _choices(av[-1], nested)
            if inner is None:
                return None
            total += inner
        elif op is c.BRANCH:
            if nested:
                return None
            for branch in av[1]:
                inner = _choices(branch, nested)
                if inner is None:
                    return None
                total += inner
        elif op not in (c.LITERAL, c.NOT_LITERAL, c.IN, c.ANY, c.AT, c.CATEGORY, c.RANGE, c.NEGATE):
            return None
    return total


def pattern_search(pattern: str, text: str) -> bool | None:
    """Whether `pattern` is found in `text` (JSON Schema's unanchored search), or None when the search
    did not finish within `PATTERN_TIMEOUT` or the session's `PATTERN_BUDGET` is spent. A pattern
    the `regex` module cannot compile is reported as not evaluated too."""
    clock = _clock
    if clock is not None and clock.left <= 0:
        return None
    try:
        compiled, unlimited = _regex(pattern)
    except (TypeError, ValueError, RecursionError):
        return None
    if clock is None:
        try:
            return compiled.search(text, timeout=PATTERN_TIMEOUT) is not None
        except TimeoutError:
            return None
    start = time.perf_counter()
    try:
        if len(text) <= unlimited:  # the common case: a simple pattern on a short value
            return compiled.search(text) is not None
        return compiled.search(text, timeout=min(PATTERN_TIMEOUT, clock.left)) is not None
    except TimeoutError:
        return None
    finally:
        clock.left -= time.perf_counter() - start


def pattern_unfinished(pattern: str, what: str = "value") -> str:
    """The message for a pattern `pattern_search` could not decide on a `what` (value, key)."""
    try:
        _regex(pattern)
    except (TypeError, ValueError, RecursionError) as e:
        return f"pattern {_fmt(pattern, 80)} cannot be used: {e}"
    if _clock is not None and _clock.left <= 0:
        return (f"pattern {_fmt(pattern, 80)} was not evaluated: this record's time for pattern searches "
                f"({PATTERN_BUDGET:g} s) is spent")
    return (f"pattern {_fmt(pattern, 80)} did not finish within {PATTERN_TIMEOUT:g} s on this {what} "
            f"(catastrophic backtracking), so the {what} is not checked against it: rewrite the pattern "
            "without nested or overlapping repetition such as `(a|aa)+`")


def _short_repr(value: Any) -> str:
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:60]) + "…"
    return repr(value)


def _pattern_validator() -> Any:
    """Draft 2020-12 with every keyword that searches a pattern (`pattern`, `patternProperties`,
    `additionalProperties` and `unevaluatedProperties` beside `patternProperties`) going through
    `pattern_search`; built once."""
    global _PATTERN_VALIDATOR
    if _PATTERN_VALIDATOR is not None:
        return _PATTERN_VALIDATOR
    from jsonschema import Draft202012Validator, _keywords, validators
    from jsonschema.exceptions import ValidationError

    class PatternNotEvaluated(ValidationError):
        """A pattern search that did not finish: the value is neither valid nor invalid under it."""

    def pattern(validator: Any, patrn: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string"):
            found = pattern_search(patrn, instance)
            if found is None:
                yield PatternNotEvaluated(pattern_unfinished(patrn))
            elif not found:
                yield ValidationError(f"{_short_repr(instance)} does not match {_short_repr(patrn)}")

    def pattern_properties(validator: Any, properties: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        for patrn, subschema in properties.items():
            for k, v in instance.items():
                found = pattern_search(patrn, k)
                if found is None:
                    yield PatternNotEvaluated(pattern_unfinished(patrn, "key"), path=(k,))
                elif found:
                    yield from validator.descend(v, subschema, path=k, schema_path=patrn)

    def additional_properties(validator: Any, ap: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        declared = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = []
        for k in instance:
            if k in declared:
                continue
            for patrn in patterns:
                found = pattern_search(patrn, k)
                if found is None:
                    yield PatternNotEvaluated(pattern_unfinished(patrn, "key"), path=(k,))
                if found is not False:
                    break
            else:
                extras.append(k)
        if validator.is_type(ap, "object"):
            for k in extras:
                yield from validator.descend(instance[k], ap, path=k)
        elif not ap and extras:
            shown = ", ".join(_short_repr(k) for k in sorted(extras, key=str)[:20])
            more = f" and {len(extras) - 20:,} more" if len(extras) > 20 else ""
            yield ValidationError(f"Additional properties are not allowed ({shown}{more} unexpected)")

    def unevaluated_properties(validator: Any, up: Any, instance: Any, schema: Any) -> Iterator[Any]:
        # jsonschema finds the evaluated keys with `re` over every patternProperties in reach: search them
        # here first, within the time limit; jsonschema then only repeats searches that finished.
        if validator.is_type(instance, "object"):
            for patrn in _reachable_patterns(schema):
                for k in instance:
                    if pattern_search(patrn, k) is None:
                        yield PatternNotEvaluated(pattern_unfinished(patrn, "key"), path=(k,))
                        return
        yield from _keywords.unevaluatedProperties(validator, up, instance, schema)

    _PATTERN_VALIDATOR = (validators.extend(Draft202012Validator, {
        "pattern": pattern, "patternProperties": pattern_properties,
        "additionalProperties": additional_properties, "unevaluatedProperties": unevaluated_properties,
    }), PatternNotEvaluated)
    return _PATTERN_VALIDATOR


_PATTERN_VALIDATOR: Any = None


def _reachable_patterns(schema: Any) -> list[str]:
    """The `patternProperties` patterns jsonschema consults to find a schema's evaluated keys."""
    out: list[str] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("patternProperties"), dict):
            out.extend(p for p in node["patternProperties"] if isinstance(p, str))
        for key in ("allOf", "anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                stack.extend(node[key])
        for key in ("if", "then", "else"):
            stack.append(node.get(key))
        if isinstance(node.get("dependentSchemas"), dict):
            stack.extend(node["dependentSchemas"].values())
    return list(dict.fromkeys(out))


@functools.cache
def _metaschema() -> Any:
    """jsonschema's validator of the 2020-12 metaschema, a pattern (`format: regex`) being valid when the `regex`
    module, which searches it, compiles it: ECMA-262 patterns such as `\\p{Letter}` are not Python's `re`."""
    from jsonschema import Draft202012Validator, FormatChecker

    formats = FormatChecker()
    formats.checks("regex", raises=(TypeError, ValueError))(lambda pattern: _regex(pattern) is not None)
    return Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=formats)


def schema_is_valid(schema: Any) -> bool:
    """Whether `schema` passes the JSON Schema 2020-12 metaschema, as `_delegate` checks its parts (patterns
    must compile; a `$ref` counts as valid wherever it points)."""
    try:
        return _metaschema().is_valid(schema)
    except RecursionError:
        return False


def _delegate(schema: dict[str, Any], valid: bool = False) -> Checker:
    """Keywords without a lint code of their own (pattern, minimum, anyOf, ...) go to jsonschema; `valid`:
    `schema` is known to pass the metaschema."""
    validator_class, not_evaluated = _pattern_validator()
    if not valid:
        for e in _metaschema().iter_errors(schema):  # the metaschema's own patterns are ours: `re` is safe
            raise SchemaProblem(f"invalid JSON Schema keyword: {e.message}")
    validator = validator_class(schema)

    def check(value: Any, path: str, errors: list[ArgumentError]) -> None:
        said: set[tuple[str, str]] = set()
        for err in validator.iter_errors(value):
            # a pattern that could not be searched, even inside anyOf/oneOf, is what the user must hear of
            err = _first_of(err, not_evaluated) or err
            where = path
            for p in err.absolute_path:
                where = f"{where}[{p}]" if isinstance(p, int) else _join(where, str(p))
            message = err.message if len(err.message) <= _MAX_MESSAGE else err.message[:_MAX_MESSAGE - 1] + "…"
            if (where, message) not in said:  # keywords consulting the same pattern say so once
                said.add((where, message))
                errors.append(ArgumentError("constraint", where, message))

    return check


_MAX_MESSAGE = 300
"""jsonschema quotes whole values in its messages: longer ones are cut."""
_KNOWN_SHOWN = 40
"""Declared names listed in an unexpected-argument message."""


def _first_of(err: Any, kind: type) -> Any:
    stack = [err]
    while stack:
        e = stack.pop()
        if isinstance(e, kind):
            return e
        stack.extend(reversed(e.context or ()))
    return None


@dataclass(slots=True)
class CompiledTool:
    """A tool's normalised parameter schema and its compiled checker."""

    name: str
    schema: dict[str, Any]
    check: Checker
    param_order: list[str]
    problems: list[str]

    def validate(self, arguments: dict[str, Any], clock: PatternClock | None = None) -> list[ArgumentError]:
        """The ways `arguments` fail the schema, in order. `clock`: the time left for pattern searches,
        shared by several calls (the linter passes one per record); default: `PATTERN_BUDGET` for this call."""
        global _clock
        errors: list[ArgumentError] = []
        outer, _clock = _clock, clock if clock is not None else PatternClock()
        try:
            self.check(arguments, "", errors)
        finally:
            _clock = outer
        return errors


def _schema_key(parameters: Any) -> str:
    """A canonical text of a parameter schema for the cache ("" when it has none): orjson when it can
    (several times faster; records repeat their tools), else json. The same value always takes the
    same path, so equal schemas share a key. orjson writes NaN as null: texts with a null go to json."""
    if _orjson_dumps is not None:
        try:
            text = _orjson_dumps(parameters).decode("utf-8")
            if "null" not in text:
                return text
        except TypeError:  # non-string keys, integers beyond 64 bits, nesting deeper than 255
            pass
    try:
        return json.dumps(parameters, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        return ""


class SchemaCache:
    """Compiles each distinct parameter schema once, keyed by its canonical JSON text."""

    def __init__(self, max_size: int = 50_000) -> None:
        self._by_text: dict[str, CompiledTool] = {}
        self._max = max_size

    def compile(self, name: str, parameters: dict[str, Any] | None, required: list[Any] | None = None) -> CompiledTool:
        """The tool `name` with these parameters (and function-level `required`, see `parameters_schema`)."""
        # Not sort_keys: the order of `properties` is the order positional arguments map onto.
        text = _schema_key(parameters)
        if text and required is not None:
            text += "\0" + _schema_key(required)
        key = name + "\0" + text if text else ""
        if key and key in self._by_text:
            return self._by_text[key]
        tool = build_tool(name, parameters, required)
        if key:
            if len(self._by_text) >= self._max:
                self._by_text.clear()
            self._by_text[key] = tool
        return tool

    def compile_function(self, spec: FunctionSpec) -> CompiledTool:
        """A tool spec's function compiled: its `parameters`, and a `required` list beside them if it has one."""
        required = spec.model_extra.get("required") if spec.model_extra else None
        return self.compile(spec.name, spec.parameters, required if isinstance(required, list) else None)


def build_tool(name: str, parameters: dict[str, Any] | None, required: list[Any] | None = None) -> CompiledTool:
    """Normalise and compile one tool's parameter schema; schema problems are kept, not raised.

    `required`: the function-level `required` beside `parameters`, if any (see `parameters_schema`)."""
    problems: list[str] = []
    written: Any = None  # the schema before normalisation, where `$ref` pointers point
    if (isinstance(parameters, dict) and parameters and not any(k in KEYWORDS for k in parameters)
            and not is_bare_parameters(parameters)):
        keys = ", ".join(f"`{k}`" for k in list(parameters)[:5]) + (", …" if len(parameters) > 5 else "")
        problems.append(f"parameters are neither a JSON Schema nor a map of parameter specs (keys: {keys}), "
                        "so arguments are not checked against them")
    parameters = parameters_schema(parameters, required)
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    written = parameters
    try:
        schema = normalise_schema(parameters, problems)
        if not isinstance(schema, dict):
            problems.append(f"parameters must be an object schema, got {json_type(schema)}")
            schema = {}
        if schema.get("type", "object") != "object":
            problems.append(f"parameters must describe an object, not `{schema.get('type')}`")
        valid = False
        if _has_ref(schema):
            # One metaschema check of the schema as written: the parts inlining copies then need none of
            # their own (checking a part costs far more than using it, and a part may be copied many times).
            valid = not problems and schema_is_valid(schema)
            try:
                schema = _inline_refs(schema, _RefTargets(written), problems, (), _NodeBudget(), root=True)
            except _TooLarge:
                problems.append(f"the schema expands past {MAX_INLINED_NODES:,} nodes once its `$ref`s are inlined "
                                "(references repeated at every level double it); values under its `$ref`s "
                                "are not checked")
                schema = _without_refs(schema)
        props = schema.get("properties")
        required = schema.get("required")
        if isinstance(props, dict) and isinstance(required, list):
            for r in required:
                if isinstance(r, str) and r not in props:
                    problems.append(f"`{r}` is required but not among the properties")
        check = compile_schema(schema, problems=problems, valid=valid)
    except RecursionError:
        problems.append("the schema is nested too deeply (or is circular) to be checked")
        return CompiledTool(name, {}, _accept, [], problems)
    order = list(props) if isinstance(props, dict) else []
    return CompiledTool(name, schema, check, order, problems)


_MAX_REF_DEPTH = 32
MAX_INLINED_NODES = 5_000
"""Schema nodes (objects, `true` and `false`) that inlining a parameter schema's `$ref`s may copy. Real tool
schemas copy tens to hundreds; 18 levels of `{"anyOf": [{"$ref": prev}, {"$ref": prev}]}` in a 2 KB record
would copy a million (each one then compiled, and visited by every call checked against it)."""
_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$comment"})

# Where JSON Schema (2020-12 and draft 7) holds subschemas; every other keyword's value is data (`enum`,
# `const`, `default`, `examples`, `required`) or unknown, and is never read as a schema.
_ONE_SCHEMA = frozenset({"items", "additionalItems", "additionalProperties", "unevaluatedItems",
                         "unevaluatedProperties", "not", "contains", "propertyNames", "if", "then", "else",
                         "contentSchema"})
_SCHEMA_LISTS = frozenset({"prefixItems", "items", "allOf", "anyOf", "oneOf"})
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas",
                            "dependencies"})  # draft 7's `dependencies` maps to schemas or to lists of names


def map_subschemas(schema: dict[str, Any], fn: Callable[[Any], Any],
                   skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A copy of `schema` with `fn` applied to each of its direct subschemas (objects and booleans in schema
    positions: `properties` values, `items`, `anyOf` members, ...), keywords in `skip` and every value that
    is data (`enum`, `const`, `default`, ...) kept as they are."""
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k in skip:
            out[k] = v
        elif k in _ONE_SCHEMA and isinstance(v, (dict, bool)):
            out[k] = fn(v)
        elif k in _SCHEMA_LISTS and isinstance(v, list):
            out[k] = [fn(x) if isinstance(x, (dict, bool)) else x for x in v]
        elif k in _NAMED_SCHEMAS and isinstance(v, dict):
            out[k] = {n: fn(x) if isinstance(x, (dict, bool)) else x for n, x in v.items()}
        else:
            out[k] = v
    return out


def _has_ref(schema: Any) -> bool:
    """Whether a `$ref` or `$dynamicRef` keyword is anywhere in `schema`'s subschemas."""
    stack, seen = [schema], set()
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        if "$ref" in node or "$dynamicRef" in node:
            return True
        map_subschemas(node, stack.append)
    return False


class _TooLarge(Exception):
    """The inlined schema would pass `MAX_INLINED_NODES`."""


class _NodeBudget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_INLINED_NODES


class _RefTargets:
    """The targets of a schema's local `$ref`s, normalised (`normalise_schema`) once each.

    Pointers are resolved in the schema as written: normalisation moves keywords (draft 7's tuple `items`
    becomes `prefixItems`), and `#/items/0` must still find what its author pointed at."""

    def __init__(self, written: Any) -> None:
        self.written = written
        self._found: dict[str, tuple[Any, str | None]] = {}

    def get(self, ref: str) -> tuple[Any, str | None]:
        """`ref`'s target, normalised, and None; or None and why the reference is not followed."""
        found = self._found.get(ref)
        if found is None:
            target, why = _resolve_pointer(self.written, ref)
            found = self._found[ref] = (normalise_schema(target) if why is None else None, why)
        return found


def _inline_refs(node: Any, targets: _RefTargets, problems: list[str], seen: tuple[str, ...],
                 budget: _NodeBudget, document: str | None = None, root: bool = False) -> Any:
    """Replace local `$ref`s (`#/$defs/X`, `#/definitions/X`, any `#/...` pointer) in `node`'s subschemas
    by their target; values that are data (`enum`, `const`, `default`) are never touched.

    Checkers are compiled per subschema, so a `$ref` left in place could not be resolved. A reference that
    is not followed (another document, an anchor, a pointer to nothing, a recursion) is recorded in
    `problems` with the reason and left unconstrained. Each subschema copied from a reference's target
    counts against `budget`; raises `_TooLarge` when it runs out. `document`: the `$id` of the subschema `node`
    is in, when one below the root has one (`#` then means that subschema); `root`: `node` is the tool's schema.
    """
    if seen:  # a copy made by inlining (the schema as written is free)
        budget.left -= 1
        if budget.left < 0:
            raise _TooLarge
    if not isinstance(node, dict):
        return node
    if not root and isinstance(node.get("$id"), str):
        document = node["$id"]
    if "$dynamicRef" in node:  # left to jsonschema, it would be looked up in a part of the schema: an exception
        problems.append(f"`$dynamicRef` {_fmt(node['$dynamicRef'], 80)} is not followed: dynamic references are "
                        "not read, so values below it are not checked")
        node = {k: v for k, v in node.items() if k != "$dynamicRef"}
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return map_subschemas(node, lambda sub: _inline_refs(sub, targets, problems, seen, budget, document),
                              skip=_DEFINITIONS)
    rest = _inline_refs({k: v for k, v in node.items() if k != "$ref"}, targets, problems, seen, budget, document,
                        root)
    target, why = targets.get(ref)
    if document is not None and ref.startswith("#"):
        problems.append(f"`$ref` {ref!r} is not followed: it is inside a subschema with an `$id` of its own "
                        f"({document!r}), where `#` means that subschema, and `$id`s are not read")
        inlined: Any = {}
    elif why is not None:
        problems.append(why)
        inlined = {}
    elif ref in seen:
        problems.append(f"`$ref` {ref!r} is not followed: it refers to a schema that contains it (a recursive "
                        "schema), so values below it are not checked")
        inlined = {}
    elif len(seen) >= _MAX_REF_DEPTH:
        problems.append(f"`$ref` {ref!r} is not followed: it is reached through {_MAX_REF_DEPTH} references in a "
                        "row, so values below it are not checked")
        inlined = {}
    else:
        inlined = _inline_refs(target, targets, problems, (*seen, ref), budget)
    if inlined is False:
        return False  # nothing is valid against it, whatever its siblings say
    if not isinstance(inlined, dict) or not inlined:
        return rest
    if set(rest) & set(inlined) <= _ANNOTATIONS and (
            set(rest) <= _ANNOTATIONS or (_UNEVALUATED.isdisjoint(inlined) and _UNEVALUATED.isdisjoint(rest))):
        return {**inlined, **rest}  # siblings such as `description` beside the `$ref`
    return {"allOf": [inlined, rest]}


_UNEVALUATED = frozenset({"unevaluatedItems", "unevaluatedProperties"})
"""Keywords that see what the other keywords of their own schema object evaluated: a `$ref`'s target and its
siblings holding one are not merged into one object."""
_DEFINITIONS = frozenset({"$defs", "definitions"})
"""Where referenced schemas are kept: not applied to any value, so not inlined in place."""


def _without_refs(node: Any) -> Any:
    """`node` with every `$ref` dropped (what it refers to left unconstrained), for schemas too big to inline."""
    if not isinstance(node, dict):
        return node
    return map_subschemas({k: v for k, v in node.items() if k not in ("$ref", "$dynamicRef")}, _without_refs,
                          skip=_DEFINITIONS)


def _resolve_pointer(root: Any, ref: str) -> tuple[Any, str | None]:
    """The schema the local reference `ref` points at in `root`, and None; or None and why it is not followed.

    `ref` is a URI fragment holding a JSON pointer: percent-decoded first (`%25` is `%`, RFC 3986), then
    split at `/`, each part unescaped (`~1` is `/`, `~0` is `~`, RFC 6901)."""
    if not ref.startswith("#"):
        return None, (f"`$ref` {ref!r} is not followed: it is a URI (another document, or a subschema named by "
                      "its `$id`), and only JSON pointers within the tool's own schema (`#/...`) are read")
    pointer = urllib.parse.unquote(ref[1:])
    if pointer and not pointer.startswith("/"):
        return None, (f"`$ref` {ref!r} is not followed: it names an `$anchor`, and only JSON pointers "
                      "(`#/$defs/...`) are read")
    node: Any = root
    walked = "#"
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None, f"`$ref` {ref!r} points at nothing: `{walked}` has no `{part}`"
        walked += "/" + part.replace("~", "~0").replace("/", "~1")
    if not isinstance(node, (dict, bool)):
        return None, f"`$ref` {ref!r} points at {json_type(node)} {_fmt(node)}, not at a schema"
    return node, None
