"""Tool-call validation side by side: `curate`'s validator against BFCL's own AST checker (`bfcl-eval`).

    python bench/toolcall_agreement.py [--repeat 5]

The calls
---------
Every ground-truth call of the BFCL v4 data in `../shared/real/bfcl/` (the 8 single-turn categories
with answers, first acceptable value of each parameter, exactly as `curate.readers.from_bfcl` reads
them; plus the 1142 Python-style calls of `multi_turn_base`, parsed with `curate.toolcalls` and their
positional arguments mapped onto the documented parameter order, so both sides see keyword
arguments), and, for each of them, every applicable mutation below, made with a seeded RNG (seeded from
the seed, the record id, the call's function and argument names and the mutation, so the set is the
same on every run and does not depend on iteration order). `irrelevance` has no answers, so no calls:

    wrong_type             a parameter gets a value of another JSON type (string -> 42, array -> "a, b", ...)
    string_for_number      an integer/float parameter gets its value as a numeric string ("3")
    bool_for_int           an integer parameter gets `True`
    fractional_for_int     an integer parameter gets value + 0.5
    integral_float_for_int an integer parameter gets float(value) (3 -> 3.0)
    int_for_float          a float parameter gets an int (valid: BFCL and JSON Schema both allow it)
    null_value             a parameter gets `None`
    missing_required       a required parameter is left out
    omit_optional          an optional parameter that was given is left out (valid)
    unknown_param          an undeclared parameter is added
    enum_violation         a parameter with an `enum` (or array items with one) gets a value outside it
    nested_list_item       one item of an array gets the wrong item type
    nested_dict_value      one property of a `dict` parameter (or of a dict item of an array) gets the wrong type
    wrong_function_name    the call names a function the row does not define

The common question
-------------------
The two checkers answer different questions. BFCL's `ast_checker` grades a model's call against the
function doc *and* the possible answers (values, optional parameters); ours checks a call against the
schema only. The fair common question is "is this call valid against the function's schema?".

How bfcl-eval is driven (read from `bfcl_eval/eval_checker/ast_eval/ast_checker.py`): for each call,
`ast_checker(functions, [{name: args}], [answer], Language.PYTHON, "multiple", MODEL)`, which is
`multiple_function_checker` -> `find_description` -> `simple_function_checker`, the same path BFCL
takes for its `multiple` category. The possible answer is built from the call's *own* values, so no
value comparison can fail and only the doc-based checks remain (function name, required parameters,
unknown parameters, the Python-type check with its one level of array item types):

    answer = {intended_name: {param: [placeholder_of_the_documented_type, value_in_answer_format]}}

- `value_in_answer_format` is the call's value, with `dict` values (and dict items of arrays) in BFCL's
  nested answer format `{key: [value]}`, so `dict_checker` / `list_dict_checker` accept it;
- `placeholder_of_the_documented_type` (`"\\0"`, `0`, `0.0`, `False`, `[]`, `{}`) comes first because
  `type_checker` takes the type of the first non-"" possible answer as the expected type when it differs
  from the doc (its "variable" escape, meant for answers such as `"data['sales']"`): with the call's
  own value alone, every wrongly typed value would pass as a "variable". With the placeholder first the
  expected type is the doc's. For arrays the empty placeholder list also makes the item-type check run
  on the doc's item type first (`type_checker` accepts the value when any list among the answers passes).
- One gap remains in that driving: for array arguments `type_checker` also tries the call's own list
  as an answer, and there the "variable" escape takes the type of the list's *first item* as the
  expected item type, so `[42, "Monterey"]` for an array of strings would pass (and a wrong non-dict
  item in an array of dicts can even reach `dict_checker` and raise AttributeError). So when
  `ast_checker` accepts a call (or raises), BFCL's own `type_checker(param, value, [[]], doc_type,
  list, item_type)` is run on each array argument: one empty list as the answer carries no type, so
  the items are checked against the doc's item type exactly as `simple_function_checker` checks them
  against a well-typed ground truth. Its error type (`type_error:nested`) is then BFCL's verdict; the
  result counts how many verdicts this pass decided (`decided_by_item_type_pass`).

`MODEL` is a stub: `ast_checker.py` imports `bfcl_eval.constants.model_config`, which imports every
model handler (openai, anthropic, cohere, google-genai, boto3, qwen-agent, ...). Its only use in the
checker is `MODEL_CONFIG_MAPPING[model].underscore_to_dot` (rename `a.b` to `a_b` for models that cannot
send dots). A stub module with one config whose `underscore_to_dot` is False is put in `sys.modules`
before the import (`_import_bfcl`), so the real checker code runs unchanged, needs no network and no
API key. Any other exception of BFCL's (none on this data) is the verdict `error:<type>`.

Our side: per call, a `ToolRegistry` over the row's functions (schemas compiled through one
`SchemaCache` per repetition, so compilation is inside the timing, as in a lint run) and
`RecordContext._check_call`, the per-call body of the `call_issues` every TC rule reads. Our verdict is
"valid" or the sorted set of TC codes; BFCL's is "valid" or its `error_type`. They agree when both say
valid or both say invalid; where both say invalid, the report also counts how often BFCL's reason is
among ours (missing_required=TC003, unexpected_param=TC004, type_error:*=TC005, wrong_func_name=TC002).

Throughput: the same prepared calls (parsed, BFCL's answers built) checked by each side in the same
process, `repeat` times, the sides taking turns in each repetition; calls per second from the median
wall time, with the min-max range, and from the median CPU time (steadier on a shared machine). Rows:
all calls (our schema cache fresh in each repetition, so compilation is timed), the same with the
cache warm, the ground truths alone, and the calls split by whether they name an unknown function
(there our TC002 searches the row's tools for a did-you-mean suggestion). A comparison is called
slower or faster only when the two wall-time ranges do not overlap. Single core, no subprocesses.

Installing the peer: `bfcl-eval` pulls ~80 packages (torch-free, but sentence-transformers, faiss,
openai, anthropic, boto3, ... and a numpy downgrade), so it is installed with `--no-deps`; the checker
needs nothing beyond the standard library once `model_config` is stubbed. See
bench/requirements-peers.txt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import COMPARISON_TABLE, comparison_table, machine, package_version, table, verdict  # noqa: E402
from curate.readers import bfcl_answer_value, bfcl_nested_value, load_bfcl_func_docs  # noqa: E402
from curate.records import FunctionSpec  # noqa: E402
from curate.rules.base import RecordContext, ToolRegistry, closest_name  # noqa: E402
from curate.toolcalls import ParsedCall, parse_call_text  # noqa: E402
from curate.validate import SchemaCache  # noqa: E402

BFCL = REPO.parent / "shared" / "real" / "bfcl"
SINGLE_TURN = ("simple_python", "multiple", "parallel", "parallel_multiple",
               "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
MULTI_TURN = "multi_turn_base"
SEED = 6
MODEL = "schema-check"
"""The stub model name given to BFCL's checker (no `_`: the checker maps `_` to `/` to look it up)."""

# What each mutation should give under the doc read as JSON Schema (None: depends on the reading).
INTENDED: dict[str, bool | None] = {
    "original": True, "wrong_type": False, "string_for_number": False, "bool_for_int": False,
    "fractional_for_int": False, "integral_float_for_int": None, "int_for_float": True, "null_value": None,
    "missing_required": False, "omit_optional": True, "unknown_param": False, "enum_violation": False,
    "nested_list_item": False, "nested_dict_value": False, "wrong_function_name": False,
}
# A value of another type, per documented type (wrong_type and the nested mutations).
WRONG_VALUE: dict[str, Any] = {"string": 42, "integer": "many", "float": "a lot", "boolean": "yes",
                               "array": "a, b", "tuple": "a, b", "dict": "key=value"}
PLACEHOLDER: dict[str, Any] = {"string": "\0", "any": "\0", "integer": 0, "float": 0.0, "boolean": False,
                               "array": [], "tuple": [], "dict": {}}
# BFCL's error types and the code of ours that says the same thing.
SAME_REASON = {"simple_function_checker:missing_required": "TC003",
               "simple_function_checker:unexpected_param": "TC004",
               "simple_function_checker:wrong_func_name": "TC002",
               "type_error:simple": "TC005", "type_error:nested": "TC005"}


# --- the calls -----------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Case:
    """One call to check, with what both checkers need prepared."""

    record: str
    category: str
    source: str
    """`original` or the mutation's name"""
    functions: list[dict[str, Any]]
    specs: list[FunctionSpec]
    target: str
    """The function the call is meant for (its doc and the answer's key)."""
    name: str
    args: dict[str, Any]
    detail: str = ""
    """What the mutation did, for the examples."""
    answer: dict[str, Any] = dataclasses.field(default_factory=dict)
    parsed: ParsedCall | None = None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _doc(functions: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((f for f in functions if f.get("name") == name), None)


def original_calls() -> tuple[list[Case], int]:
    """Every ground-truth call (and the number of multi-turn call strings that could not be read)."""
    cases: list[Case] = []
    unreadable = 0
    for category in SINGLE_TURN:
        answer_file = BFCL / "possible_answer" / f"BFCL_v4_{category}.json"
        answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(answer_file)}
        for row in _read_jsonl(BFCL / f"BFCL_v4_{category}.json"):
            truth = answers.get(row["id"])
            if truth is None:
                continue
            functions = row["function"]
            specs = [FunctionSpec.model_validate(f) for f in functions]
            for call in truth:
                (name, params), = call.items()
                props = ((_doc(functions, name) or {}).get("parameters") or {}).get("properties") or {}
                args = {}
                for key, values in params.items():
                    present, value = bfcl_answer_value(values)
                    if present:
                        args[key] = bfcl_nested_value(value, props.get(key))
                cases.append(Case(row["id"], category, "original", functions, specs, name, name, args))
    docs = load_bfcl_func_docs(BFCL / "multi_turn_func_doc")
    answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(BFCL / "possible_answer" / f"BFCL_v4_{MULTI_TURN}.json")}
    for row in _read_jsonl(BFCL / f"BFCL_v4_{MULTI_TURN}.json"):
        excluded = set(row.get("excluded_function") or ())
        functions = [f for cls in row["involved_classes"] for f in docs.get(cls, []) if f["name"] not in excluded]
        specs = [FunctionSpec.model_validate(f) for f in functions]
        for turn in answers[row["id"]]:
            for text in turn:
                parsed = parse_call_text(text)
                doc = _doc(functions, parsed.name or "")
                if parsed.error is not None or parsed.name is None or doc is None:
                    unreadable += 1
                    continue
                args = dict(parsed.arguments or {})
                order = list(doc["parameters"].get("properties", {}))
                for key, value in zip(order, parsed.positional, strict=False):
                    args.setdefault(key, value)
                cases.append(Case(row["id"], MULTI_TURN, "original", functions, specs, parsed.name, parsed.name, args))
    return cases, unreadable


def _type(schema: Any) -> str | None:
    return schema.get("type") if isinstance(schema, dict) else None


def mutations(case: Case, seed: int = SEED) -> Iterator[Case]:
    """Every applicable mutation of one original call, each made with its own seeded RNG."""
    doc = _doc(case.functions, case.target) or {}
    params = doc.get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    required = [r for r in params.get("required") or [] if r in props]
    given = [k for k in case.args if k in props]

    def rng(kind: str) -> random.Random:
        return random.Random(f"{seed}:{case.record}:{id_in_record(case)}:{kind}")

    def with_arg(kind: str, key: str, value: Any, detail: str) -> Case:
        return dataclasses.replace(case, source=kind, args={**case.args, key: value}, detail=detail)

    def changed(kind: str, key: str, value: Any) -> Case:
        return with_arg(kind, key, value, f"{key}: {case.args[key]!r} -> {value!r}")

    def pick(kind: str, keys: list[str]) -> str | None:
        return rng(kind).choice(keys) if keys else None

    of_type: Callable[..., list[str]] = lambda *ts: [k for k in given if _type(props[k]) in ts]  # noqa: E731

    if (k := pick("wrong_type", of_type(*WRONG_VALUE))) is not None:
        value = WRONG_VALUE[_type(props[k]) or ""]
        yield with_arg("wrong_type", k, value, f"{k}: {_type(props[k])} <- {value!r}")
    if (k := pick("string_for_number", of_type("integer", "float"))) is not None:
        yield changed("string_for_number", k, str(case.args[k]))
    ints = [k for k in of_type("integer") if type(case.args[k]) is int]
    if (k := pick("bool_for_int", ints)) is not None:
        yield changed("bool_for_int", k, True)
    if (k := pick("fractional_for_int", ints)) is not None:
        yield changed("fractional_for_int", k, case.args[k] + 0.5)
    if (k := pick("integral_float_for_int", ints)) is not None:
        yield changed("integral_float_for_int", k, float(case.args[k]))
    floats = [k for k in of_type("float") if type(case.args[k]) is float]
    if (k := pick("int_for_float", floats)) is not None:
        yield changed("int_for_float", k, round(case.args[k]))
    if (k := pick("null_value", given)) is not None:
        yield with_arg("null_value", k, None, f"{k}: {case.args[k]!r} -> None"
                       + (f" (documented default {props[k]['default']!r})" if "default" in props[k] else ""))
    if (k := pick("missing_required", [r for r in required if r in case.args])) is not None:
        yield dataclasses.replace(case, source="missing_required", detail=f"{k} left out",
                                  args={a: v for a, v in case.args.items() if a != k})
    if (k := pick("omit_optional", [a for a in given if a not in required])) is not None:
        yield dataclasses.replace(case, source="omit_optional", detail=f"{k} left out",
                                  args={a: v for a, v in case.args.items() if a != k})
    extra = "extra_option"
    while extra in props:
        extra += "_"
    yield with_arg("unknown_param", extra, "on", f"{extra}='on' added")
    enums = [k for k in given if isinstance(props[k].get("enum"), list)
             or isinstance((props[k].get("items") or {}).get("enum"), list)]
    if (k := pick("enum_violation", enums)) is not None:
        bad = "not_a_listed_option"
        value = [bad] if _type(props[k]) in ("array", "tuple") else bad
        yield changed("enum_violation", k, value)
    lists = [k for k in of_type("array", "tuple") if isinstance(case.args[k], list) and case.args[k]
             and _type(props[k].get("items")) in WRONG_VALUE]
    if (k := pick("nested_list_item", lists)) is not None:
        r = rng("nested_list_item")
        i = r.randrange(len(case.args[k]))
        item_type = _type(props[k]["items"]) or ""
        value = list(case.args[k])
        value[i] = WRONG_VALUE[item_type]
        yield with_arg("nested_list_item", k, value, f"{k}[{i}]: {item_type} <- {WRONG_VALUE[item_type]!r}")
    nested = []  # (param, item index or None, property)
    for k in of_type("dict"):
        inner = props[k].get("properties") or {}
        if isinstance(case.args[k], dict):
            nested += [(k, None, p) for p in case.args[k] if _type(inner.get(p)) in WRONG_VALUE]
    for k in of_type("array", "tuple"):
        items = props[k].get("items") or {}
        inner = items.get("properties") or {}
        if _type(items) == "dict" and isinstance(case.args[k], list):
            nested += [(k, i, p) for i, item in enumerate(case.args[k]) if isinstance(item, dict)
                       for p in item if _type(inner.get(p)) in WRONG_VALUE]
    if nested:
        k, i, p = rng("nested_dict_value").choice(nested)
        inner = props[k]["properties"] if i is None else props[k]["items"]["properties"]
        bad = WRONG_VALUE[_type(inner[p]) or ""]
        if i is None:
            value = {**case.args[k], p: bad}
            where = f"{k}.{p}"
        else:
            value = list(case.args[k])
            value[i] = {**value[i], p: bad}
            where = f"{k}[{i}].{p}"
        yield with_arg("nested_dict_value", k, value, f"{where}: {_type(inner[p])} <- {bad!r}")
    names = {f.get("name") for f in case.functions}
    wrong = case.name + "_v2"
    while wrong in names:
        wrong += "_"
    yield dataclasses.replace(case, source="wrong_function_name", name=wrong, detail=f"{case.name} -> {wrong}")


def id_in_record(case: Case) -> str:
    """A stable key of a call inside its record (its name and argument names), for the seeds."""
    return case.target + "(" + ",".join(case.args) + ")"


# --- the two checkers ----------------------------------------------------------------------------


def _import_bfcl() -> tuple[Callable[..., dict[str, Any]], Any]:
    """bfcl-eval's `ast_checker` and `Language`, with `constants.model_config` stubbed (see the docstring)."""
    name = "bfcl_eval.constants.model_config"
    if name not in sys.modules:
        stub = types.ModuleType(name)
        stub.__doc__ = "Stub: the AST checker only reads MODEL_CONFIG_MAPPING[model].underscore_to_dot."
        stub.MODEL_CONFIG_MAPPING = {MODEL: types.SimpleNamespace(underscore_to_dot=False)}  # type: ignore[attr-defined]
        sys.modules[name] = stub
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    return ast_checker, Language


def _answer_format(value: Any, schema: Any) -> Any:
    """The call's own value as BFCL writes acceptable values: `dict`s one level down as `{key: [value]}`."""
    t = _type(schema)
    if t == "dict" and isinstance(value, dict):
        return {k: [v] for k, v in value.items()}
    items = schema.get("items") if isinstance(schema, dict) else None
    if t in ("array", "tuple") and isinstance(value, list) and _type(items) == "dict":
        return [{k: [v] for k, v in item.items()} if isinstance(item, dict) else item for item in value]
    return value


def bfcl_answer(case: Case) -> dict[str, Any]:
    """The possible answer that leaves only BFCL's doc-based checks able to fail (see the docstring)."""
    doc = _doc(case.functions, case.target) or {}
    props = (doc.get("parameters") or {}).get("properties") or {}
    out = {}
    for key, value in case.args.items():
        schema = props.get(key)
        t = _type(schema)
        formatted = _answer_format(value, schema)
        out[key] = [PLACEHOLDER[t], formatted] if t in PLACEHOLDER else [formatted]
    return {case.target: out}


def prepare(cases: list[Case]) -> None:
    """What each side needs besides the call, made outside the timings: BFCL's answer, our ParsedCall."""
    for c in cases:
        c.answer = bfcl_answer(c)
        c.parsed = ParsedCall(0, 0, "json", raw="", name=c.name, arguments=c.args)


def check_ours(cases: list[Case], cache: SchemaCache | None = None) -> list[str]:
    """Our verdicts: "valid" or the sorted TC codes (TC009, a style warning, is not a schema verdict).

    `cache`: compiled schemas to reuse; by default a fresh one, so compilation is part of the work."""
    cache = SchemaCache() if cache is None else cache
    out = []
    for c in cases:
        ctx = RecordContext("", 0, c.record, None, tools=ToolRegistry(c.specs, {}, cache))
        assert c.parsed is not None
        codes = sorted({i.code for i in ctx._check_call(c.parsed) if i.code != "TC009"})
        out.append("+".join(codes) if codes else "valid")
    return out


def make_check_bfcl() -> Callable[[list[Case]], list[str]]:
    ast_checker, language = _import_bfcl()
    from bfcl_eval.eval_checker.ast_eval.ast_checker import PYTHON_TYPE_MAPPING, type_checker

    python = language.PYTHON

    def item_types(c: Case) -> str | None:
        """BFCL's own one-level item-type check of the array arguments, from the doc alone.

        `type_checker(param, value, [[]], doc_type, list, item_type)`: one empty list as the possible
        answer carries no type (no "variable" escape), so the items are checked against the doc's item
        type exactly as `simple_function_checker` does with a well-typed ground truth."""
        props = ((_doc(c.functions, c.target) or {}).get("parameters") or {}).get("properties") or {}
        for key, value in c.args.items():
            schema = props.get(key) or {}
            t, items = _type(schema), _type(schema.get("items"))
            if t in ("array", "tuple") and isinstance(value, list) and items in PYTHON_TYPE_MAPPING:
                r = type_checker(key, value, [[]], t, list, PYTHON_TYPE_MAPPING[items])
                if not r["valid"]:
                    return str(r["error_type"])
        return None

    def check_bfcl(cases: list[Case], second: list[int] | None = None) -> list[str]:
        """BFCL's verdicts: "valid" or its `error_type` (`error:<exception>` if the checker raised).

        `second`: when given, collects the indices of the calls only the item-type pass rejected."""
        out = []
        for n, c in enumerate(cases):
            try:
                r = ast_checker(c.functions, [{c.name: c.args}], [c.answer], python, "multiple", MODEL)
            except Exception as e:  # e.g. dict_checker on a str item the "variable" escape let through
                nested = item_types(c)
                out.append(nested or f"error:{type(e).__name__}")
                if nested and second is not None:
                    second.append(n)
                continue
            if r["valid"]:
                nested = item_types(c)
                out.append(nested or "valid")
                if nested and second is not None:
                    second.append(n)
            else:
                out.append(r.get("error_type", "invalid"))
        return out

    return check_bfcl


# --- judging the disagreements -------------------------------------------------------------------

# (right side, why) per disagreement cause. The cause is found by `_cause` from the call and the doc.
JUDGEMENTS: dict[str, tuple[str, str]] = {
    "enum": ("ours", "The doc declares an `enum` and the value is outside it. BFCL's checker never reads `enum`: "
             "in a real evaluation the possible answers pin the value; on the schema question nothing does."),
    "nested_property_type": ("ours", "A property of a `dict` parameter (or of a dict item of an array) has a "
                             "type its `properties` do not allow. BFCL only checks that the value is a dict, "
                             "then compares it with the possible answers; declared inner types are never "
                             "checked (its type checker goes one level deep, by its own comment)."),
    "nested_missing_key": ("ours", "A dict argument lacks a key its schema requires; BFCL does not read the inner "
                           "`required` of a dict parameter (only the possible answers' keys)."),
    "nested_unknown_key": ("both defensible", "A dict argument has keys its `properties` do not declare. We close "
                           "declared objects by default (TC004's documented policy for tool parameters), as BFCL "
                           "does for top-level parameters; plain JSON Schema (`additionalProperties` defaults to "
                           "true) and BFCL's schema-only path accept them."),
    "constraint": ("ours", "The value breaks a JSON Schema constraint in the doc (maximum, minItems, ...), which "
                   "BFCL's checker does not read."),
    "int_items_for_float": ("ours", "Integers among the items of an array of `float`. BFCL allows an int for a "
                            "`float` parameter ('Allow python auto conversion from int to float'), but only at "
                            "the top level: its item check wants `type(item) == float`. JSON Schema `number` "
                            "includes integers, and BFCL's own rule says the same; its ground truths pass here "
                            "only through the 'variable' escape (the answer's items are ints too)."),
    "any_non_string": ("ours", "The doc says `any`; BFCL's PYTHON_TYPE_MAPPING maps `any` to `str`, so a "
                       "non-string value is a type error for its doc check (in real evaluations the "
                       "'variable' escape hides this whenever the ground truth is not a string)."),
    "integral_float_for_int": ("both defensible", "An integral float (3.0) for an `integer` parameter. JSON "
                               "Schema counts 3.0 as an integer (a number with a zero fractional part; in JSON "
                               "3.0 and 3 are the same number), which we follow; BFCL's `integer` means Python "
                               "`int`, and `type(3.0) is float`. For JSON calls ours is the standard reading; "
                               "for Python-syntax calls BFCL's stricter one is fair too."),
    "null_for_default_none": ("both defensible", "`None` for a parameter whose documented default is None. We "
                              "read `default: null` on a typed parameter as making null acceptable (passing the "
                              "default is the same as leaving it out: `def f(x: str = None)`), a documented "
                              "choice of curate.validate.normalise_schema; BFCL checks `type(None)` against the "
                              "declared type, and strict JSON Schema agrees with BFCL."),
    "unexplained": ("?", "Not classified: look at the example."),
}


def _cause(c: Case, ours: str, peer: str) -> str:
    """Why the two verdicts differ, from the call, the doc and the two verdicts."""
    props = ((_doc(c.functions, c.target) or {}).get("parameters") or {}).get("properties") or {}
    codes = set(ours.split("+"))
    if ours == "valid":
        for k, v in c.args.items():
            s = props.get(k) or {}
            if peer == "type_error:nested" and _type(s.get("items")) == "float" and isinstance(v, list) \
                    and any(type(x) is int for x in v):
                return "int_items_for_float"
            if peer != "type_error:simple":
                continue
            if v is None and "default" in s and s["default"] is None:
                return "null_for_default_none"
            if _type(s) == "any" and not isinstance(v, str):
                return "any_non_string"
            if _type(s) == "integer" and isinstance(v, float) and v.is_integer():
                return "integral_float_for_int"
        return "unexplained"
    if peer == "valid":
        if "TC006" in codes:
            return "enum"
        if "TC005" in codes:
            return "nested_property_type"
        if "TC003" in codes:
            return "nested_missing_key"
        if "TC004" in codes:
            return "nested_unknown_key"
        if "TC008" in codes:
            return "constraint"
    return "unexplained"


# --- the run -------------------------------------------------------------------------------------


GROUPS = ("original", "mutated", "wrong_function_name")


def _time_groups(groups: dict[str, list[Case]], check_ours_: Callable[..., Any], check_bfcl: Callable[..., Any],
                 repeat: int) -> dict[str, list[dict[str, float]]]:
    """Wall seconds per group of calls, per repetition, for: ours with a fresh schema cache (`ours`),
    ours again with the cache that run filled (`ours_warm`), and BFCL (`peer`). The three run in turn
    in each repetition, so drift on a shared machine hits them alike. One warm-up repetition first, not
    counted: it pays each side's one-time costs (lazy imports, compiled regexes), which are no per-call work."""
    out: dict[str, list[dict[str, float]]] = {"ours": [], "ours_warm": [], "peer": [],
                                              "ours_cpu": [], "ours_warm_cpu": [], "peer_cpu": []}
    for rep in range(repeat + 1):
        cache = SchemaCache()
        closest_name.cache_clear()  # the did-you-mean cache too: the fresh run starts with nothing known
        runs: tuple[tuple[str, Callable[[list[Case]], Any]], ...] = (
            ("ours", partial(check_ours_, cache=cache)), ("ours_warm", partial(check_ours_, cache=cache)),
            ("peer", check_bfcl))
        for side, fn in runs:
            times, cpu = {}, {}
            for name in GROUPS:
                c0, t0 = time.process_time(), time.perf_counter()
                fn(groups[name])
                times[name] = time.perf_counter() - t0
                cpu[name] = time.process_time() - c0
            if rep:
                out[side].append(times)
                out[side + "_cpu"].append(cpu)
    return out


def _rate_row(name: str, n: int, ours_s: tuple[list[float], list[float]],
              peer_s: tuple[list[float], list[float]]) -> dict[str, Any]:
    """Calls per second from the median wall time, with the min-max range; the same from CPU time."""
    (ours, ours_cpu), (peer, peer_cpu) = ours_s, peer_s
    mo, mp = statistics.median(ours), statistics.median(peer)
    co, cp = statistics.median(ours_cpu), statistics.median(peer_cpu)
    return {
        "name": name, "ours": round(n / mo), "peer": round(n / mp), "ratio": round(mp / mo, 2),
        "unit": "calls/s",
        "ours_range": [round(n / max(ours)), round(n / min(ours))],
        "peer_range": [round(n / max(peer)), round(n / min(peer))],
        "ours_cpu": round(n / co), "peer_cpu": round(n / cp), "ratio_cpu": round(cp / co, 2),
        "calls": n,
    }


def _example(c: Case, ours: str, peer: str) -> dict[str, Any]:
    text = json.dumps({"name": c.name, "arguments": c.args}, ensure_ascii=False, default=repr)
    return {"record": c.record, "source": c.source, "mutation": c.detail,
            "call": text if len(text) <= 300 else text[:299] + "…", "ours": ours, "peer": peer}


def run(repeat: int = 5, seed: int = SEED) -> dict[str, Any]:
    """Check every original and mutated BFCL call with both checkers; figures, agreement, disagreements.

    Returns a JSON-able dict: `stage`, `title`, `rows` (throughput: name, ours, peer, ratio, unit, ranges,
    CPU-time figures), `agreement`, `disagreements` (class, count, example, which side is right and why),
    `notes`, `machine`, `versions`, and `tables` (the same figures as tables for bench/run_all.py)."""
    started = time.perf_counter()
    if not (BFCL / "possible_answer").is_dir():
        raise FileNotFoundError(f"BFCL data not found at {BFCL} (BFCL_v4_*.json and possible_answer/)")
    try:
        check_bfcl = make_check_bfcl()
    except ImportError as e:
        raise ImportError(f"bfcl-eval is needed: pip install --no-deps -r {REPO / 'bench' / 'requirements-peers.txt'}"
                          f" ({e})") from e
    originals, unreadable = original_calls()
    cases = list(originals)
    for c in originals:
        cases.extend(mutations(c, seed))
    prepare(cases)

    ours = check_ours(cases)
    second: list[int] = []
    peer = check_bfcl(cases, second)

    groups = {"original": originals, "wrong_function_name": [c for c in cases if c.source == "wrong_function_name"]}
    groups["mutated"] = [c for c in cases[len(originals):] if c.source != "wrong_function_name"]
    timings = _time_groups(groups, check_ours, check_bfcl, repeat)

    def seconds(side: str, names: tuple[str, ...]) -> tuple[list[float], list[float]]:
        return ([sum(t[g] for g in names) for t in timings[side]],
                [sum(t[g] for g in names) for t in timings[side + "_cpu"]])

    every, known = GROUPS, ("original", "mutated")
    n_known = len(groups["original"]) + len(groups["mutated"])
    rows = [
        _rate_row("all calls (original + mutated), schemas compiled in the run", len(cases),
                  seconds("ours", every), seconds("peer", every)),
        _rate_row("all calls, schemas already compiled (warm cache)", len(cases),
                  seconds("ours_warm", every), seconds("peer", every)),
        _rate_row("BFCL ground-truth calls only", len(originals), seconds("ours", ("original",)),
                  seconds("peer", ("original",))),
        _rate_row("all but the unknown-function calls (no did-you-mean search)", n_known,
                  seconds("ours", known), seconds("peer", known)),
        _rate_row("unknown-function calls only (TC002 and its did-you-mean search)",
                  len(groups["wrong_function_name"]), seconds("ours", ("wrong_function_name",)),
                  seconds("peer", ("wrong_function_name",))),
    ]

    by_source: dict[str, Counter[str]] = {}
    classes: dict[str, dict[str, Any]] = {}
    reasons: Counter[str] = Counter()
    for c, o, p in zip(cases, ours, peer, strict=True):
        agree = (o == "valid") == (p == "valid")
        s = by_source.setdefault(c.source, Counter())
        s["calls"] += 1
        s["agree"] += agree
        s["flagged_ours"] += o != "valid"
        s["flagged_peer"] += p != "valid"
        if o != "valid" and p != "valid":
            reasons["both_invalid"] += 1
            reasons["same_reason"] += SAME_REASON.get(p, "-") in o.split("+")
        if not agree:
            cause = _cause(c, o, p)
            key = f"{c.source}: ours {o}, bfcl {p} ({cause})"
            entry = classes.setdefault(key, {"class": key, "source": c.source, "ours": o, "peer": p,
                                             "cause": cause, "count": 0, "example": _example(c, o, p),
                                             "right": JUDGEMENTS[cause][0], "why": JUDGEMENTS[cause][1]})
            entry["count"] += 1
    n = len(cases)
    agreed = sum(v["agree"] for v in by_source.values())
    disagreements = sorted(classes.values(), key=lambda e: (-e["count"], e["class"]))
    right: Counter[str] = Counter()
    for e in disagreements:
        right[e["right"]] += e["count"]
    agreement = {
        "calls": n, "agree": agreed, "fraction": round(agreed / n, 4), "original_calls": len(originals),
        "original_fraction": round(by_source["original"]["agree"] / by_source["original"]["calls"], 4),
        "both_invalid": reasons["both_invalid"],
        "same_reason_when_both_invalid": round(reasons["same_reason"] / max(reasons["both_invalid"], 1), 4),
        "by_source": {k: {"calls": v["calls"], "agree": v["agree"], "fraction": round(v["agree"] / v["calls"], 4),
                          "intended": {True: "valid", False: "invalid", None: "either"}[INTENDED[k]],
                          "flagged_ours": v["flagged_ours"], "flagged_peer": v["flagged_peer"]}
                      for k, v in sorted(by_source.items(), key=lambda kv: (kv[0] != "original", kv[0]))},
        "disagreeing_calls_by_right_side": dict(right),
        "decided_by_item_type_pass": len(second),
    }

    comparison = [[f"calls/s, {r['name']}", r["ratio"], _verdict(r)] for r in rows]
    comparison.append(["verdicts agree with bfcl-eval (is the call valid against its schema?)",
                       agreement["fraction"],
                       f"{n - agreed:,} of {n:,} differ: ours right {right['ours']:,}, both defensible "
                       f"{right['both defensible']:,}, bfcl right {right['peer']:,}"])
    notes = [
        f"{len(originals):,} ground-truth calls (8 single-turn categories + multi_turn_base; {unreadable} "
        f"multi-turn call strings unreadable) and {n - len(originals):,} seeded mutations of them (seed {seed}); "
        f"median of {repeat} runs, one core, the sides alternating.",
        "BFCL: ast_checker(functions, [call], [answer], Language.PYTHON, 'multiple', model) with the call's own "
        "values as the possible answer, a placeholder of the documented type first, so only its doc-based "
        "checks can fail; then its type_checker on array arguments with an untyped answer ([[]]), so the "
        f"'variable' escape cannot hide wrong item types ({len(second)} verdicts decided there). See the "
        "script's docstring.",
        "bfcl_eval.constants.model_config is stubbed (it imports every model SDK; the checker only reads "
        "underscore_to_dot); bfcl-eval installed with --no-deps: bench/requirements-peers.txt.",
        "Ours: ToolRegistry + RecordContext._check_call per call (what the TC rules report); a fresh SchemaCache "
        "per repetition, so schema compilation is timed, except in the warm-cache row. Both sides get "
        "already-parsed calls. Ours does more per call (enum, nested types, constraints, messages, a "
        "did-you-mean suggestion for unknown tools).",
        "ratio = ours / bfcl-eval calls per second from the median wall time (above 1: ours faster); slower or "
        "faster is said only when each side's median lies outside the other's min-max range. CPU-time ratios "
        "beside them.",
    ]
    verdicts_table = [[k, v["calls"], v["intended"], v["flagged_ours"], v["flagged_peer"], v["fraction"]]
                      for k, v in agreement["by_source"].items()]
    return {
        "stage": "toolcalls",
        "title": "Tool-call validation: curate vs bfcl-eval's AST checker (BFCL v4 calls + seeded mutations)",
        "rows": rows,
        "agreement": agreement,
        "disagreements": disagreements,
        "notes": notes,
        "machine": machine(),
        "versions": {k: package_version(k) for k in ("bfcl-eval", "curate-agents")},
        "repeat": repeat,
        "seed": seed,
        "tables": [
            table("Calls checked per second", ["calls", "n", "ours", "bfcl-eval", "ratio", "ours range",
                                               "bfcl range", "ratio (CPU time)"],
                  [[r["name"], r["calls"], r["ours"], r["peer"], r["ratio"],
                    "{:,}-{:,}".format(*r["ours_range"]), "{:,}-{:,}".format(*r["peer_range"]), r["ratio_cpu"]]
                   for r in rows]),
            table("Verdicts per kind of call (flagged = judged invalid)",
                  ["calls", "n", "intended", "flagged by ours", "flagged by bfcl-eval", "agreement"],
                  verdicts_table),
            table("Disagreements: each class, which side is right and why",
                  ["class", "count", "right", "why", "example"],
                  [[e["class"], e["count"], e["right"], e["why"], f"{e['example']['record']}: {e['example']['call']}"]
                   for e in disagreements]),
            comparison_table(comparison),
        ],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _verdict(row: dict[str, Any]) -> str:
    """Faster or slower only when each side's median lies outside the other side's min-max range (one
    slow outlier among the repetitions does not turn a 3x gap into "the same")."""
    (ours_low, ours_high), (peer_low, peer_high) = row["ours_range"], row["peer_range"]
    ours, peer = row["ours"], row["peer"]
    if (ours > peer_high and peer < ours_low) or (ours < peer_low and peer > ours_high):
        return verdict(row["ratio"])
    return verdict(row["ratio"], noise=abs(row["ratio"] - 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = run(args.repeat, args.seed)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    m = result["machine"]
    print(f"# {result['title']}")
    print(f"{m['date']}; {m['processor']}, {m['cores']} cores, Python {m['python']}, load {m['load']}; "
          f"bfcl-eval {result['versions']['bfcl-eval']}; median of {result['repeat']}; {result['seconds']} s\n")
    print("calls per second (ratio = ours / bfcl-eval; wall: median of the runs and min-max; CPU: median of "
          "this process's CPU time)\n")
    print(f"{'':66} {'ours':>8} {'bfcl':>8} {'ratio':>5}  {'wall range ours / bfcl':>27}  "
          f"{'CPU ours':>8} {'CPU bfcl':>8} {'ratio':>5}")
    for r in result["rows"]:
        ranges = f"{r['ours_range'][0]:,}-{r['ours_range'][1]:,} / {r['peer_range'][0]:,}-{r['peer_range'][1]:,}"
        print(f"{r['name']:66} {r['ours']:>8,} {r['peer']:>8,} {r['ratio']:>5.2f}  {ranges:>27}  "
              f"{r['ours_cpu']:>8,} {r['peer_cpu']:>8,} {r['ratio_cpu']:>5.2f}")
    for t in result["tables"]:
        if t["title"] == COMPARISON_TABLE:
            print()
            for what, ratio, said in t["rows"]:
                print(f"  {what}: {ratio:.3g} - {said}")
    a = result["agreement"]
    print(f"\nagreement (both valid or both invalid): {a['agree']:,} of {a['calls']:,} = {a['fraction']:.2%} "
          f"(ground truths alone: {a['original_fraction']:.2%}); where both say invalid, BFCL's reason is "
          f"among ours in {a['same_reason_when_both_invalid']:.2%}")
    print(f"\n{'calls':24} {'n':>6} {'intended':>9} {'flagged ours':>13} {'flagged bfcl':>13} {'agree':>8}")
    for k, v in a["by_source"].items():
        print(f"{k:24} {v['calls']:>6,} {v['intended']:>9} {v['flagged_ours']:>13,} {v['flagged_peer']:>13,} "
              f"{v['fraction']:>8.2%}")
    print(f"\ndisagreeing calls by the side that is right: {a['disagreeing_calls_by_right_side']}")
    for d in result["disagreements"]:
        e = d["example"]
        print(f"\n[{d['count']}] {d['class']}  -> right: {d['right']}")
        print(f"    e.g. {e['record']}{': ' + e['mutation'] if e['mutation'] else ''}\n    {e['call']}")
        print(f"    {d['why']}")
    print()
    for note in result["notes"]:
        print(f"- {note}")


if __name__ == "__main__":
    main()
