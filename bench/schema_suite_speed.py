"""The official JSON Schema test suite through our tool-call validator, beside jsonschema's own validator.

    python bench/schema_suite_speed.py [--repeat 5] [--rounds 10]

The suite (json-schema-org/JSON-Schema-Test-Suite, MIT, copied in `../shared/real/json-schema-test-suite/`)
holds schemas, values and whether each value is valid. The keyword files that matter for function calling
(`KEYWORD_FILES`) of `draft2020-12/` and `draft7/` are read, without `optional/` and without groups whose
schema needs a server (`http://localhost:1234/…`). Each suite schema becomes the one required parameter
`value` of a tool (`tool_parameters`), and each value is checked as the linter checks a call's arguments:
`SchemaCache.compile_function` on the tool, then `CompiledTool.validate` with a `PatternClock`
(`curate/rules/base.py`, `RecordContext._check_call`). `tests/test_json_schema_suite.py` holds every
verdict to the suite's, with the deliberate deviations listed there and in the README.

Speed: cases per second, ours and jsonschema's (`validator_for(schema)`, the draft the file is for, on the
suite schema and value as written), in the same run on the same cases: with each schema compiled in the
run (a fresh `SchemaCache`; a fresh jsonschema validator per schema), and with every schema compiled
beforehand. A run checks every case `--rounds` times (a round of the suite takes milliseconds); each figure
is the median of `--repeat` runs, with the range.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402
    comparison_table,
    machine,
    package_version,
    print_stage,
    relative_spread,
    table,
    timed,
    verdict,
)
from curate.records import FunctionSpec  # noqa: E402
from curate.validate import CompiledTool, PatternClock, SchemaCache, map_subschemas  # noqa: E402

SUITE = REPO.parent / "shared" / "real" / "json-schema-test-suite" / "tests"
DRAFTS = ("draft2020-12", "draft7")
KEYWORD_FILES = (
    "type", "properties", "required", "additionalProperties", "items", "prefixItems", "additionalItems", "enum",
    "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "minItems", "maxItems", "minProperties", "maxProperties", "pattern", "patternProperties", "uniqueItems",
    "anyOf", "oneOf", "allOf", "not", "ref", "defs", "definitions", "boolean_schema", "default", "format",
)
"""The suite's keyword files (`<name>.json`) that tool parameter schemas use; a draft without one skips it."""
REMOTE = "http://localhost:1234/"
"""Where the suite's remote references point: a server of its own, which we do not run."""
PARAMETER = "value"


@dataclass(frozen=True, slots=True)
class SuiteCase:
    """One value of the suite and its verdict, with the schema it is checked against."""

    file: str
    """`draft7/items.json`"""
    group: str
    """The description of the schema's group of tests."""
    description: str
    """The test's own description."""
    schema: Any
    data: Any
    valid: bool

    @property
    def name(self) -> str:
        return f"{self.file}: {self.group} / {self.description}"

    @property
    def draft(self) -> str:
        return self.file.split("/", 1)[0]


def suite_cases(root: Path = SUITE) -> list[SuiteCase]:
    """Every case of the keyword files, in file order (draft 2020-12 first); [] when the suite is not there."""
    out = []
    for draft in DRAFTS:
        for keyword in KEYWORD_FILES:
            path = root / draft / f"{keyword}.json"
            if not path.is_file():
                continue
            for group in json.loads(path.read_text(encoding="utf-8")):
                if REMOTE in json.dumps(group["schema"]):
                    continue
                out += [SuiteCase(f"{draft}/{path.name}", group["description"], t["description"], group["schema"],
                                  t["data"], t["valid"]) for t in group["tests"]]
    return out


def tool_parameters(schema: Any) -> dict[str, Any]:
    """A tool's parameters whose one required parameter `value` has the suite's `schema`.

    A suite schema is a document of its own; a parameter schema is part of the tool's. So its local references
    (`#`, `#/$defs/x`), which point at its root, are rewritten to where that root now is, `#/properties/value`,
    and a `$id` at its root goes (it would make the parameter a document again); references under a nested
    `$id`, which starts a document of its own, are left as written."""
    if isinstance(schema, dict):
        schema = _moved({k: v for k, v in schema.items() if k != "$id"}, None)
    return {"type": "object", "properties": {PARAMETER: schema}, "required": [PARAMETER]}


def _moved(node: Any, parent: Any) -> Any:
    if not isinstance(node, dict) or (parent is not None and "$id" in node):
        return node
    out = map_subschemas(node, lambda sub: _moved(sub, node))
    ref = out.get("$ref")
    if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
        out["$ref"] = f"#/properties/{PARAMETER}{ref[1:]}"
    return out


def suite_tool(case: SuiteCase) -> FunctionSpec:
    """The tool whose one required parameter has `case`'s schema, as a record's tools hold it."""
    return FunctionSpec(name="suite", parameters=tool_parameters(case.schema))


def compile_case(case: SuiteCase, cache: SchemaCache) -> CompiledTool:
    """The tool of `case`, compiled as the linter compiles a record's tool."""
    return cache.compile_function(suite_tool(case))


def is_valid_ours(tool: CompiledTool, data: Any) -> bool:
    """Our verdict on `data` as the `value` argument of a call to `tool`, as the linter reaches it."""
    return not tool.validate({PARAMETER: data}, PatternClock())


def jsonschema_validator(case: SuiteCase) -> Any:
    from jsonschema import Draft7Validator, Draft202012Validator

    return (Draft7Validator if case.draft == "draft7" else Draft202012Validator)(case.schema)


def is_valid_theirs(validator: Any, data: Any) -> bool | None:
    """jsonschema's verdict, or None when it raises (Python's `re` cannot read ECMA-262's `\\p{Letter}`)."""
    try:
        return bool(validator.is_valid(data))
    except Exception:
        return None


def run(repeat: int = 5, rounds: int = 10) -> dict[str, Any]:
    started = time.perf_counter()
    cases = suite_cases()
    if not cases:
        raise SystemExit(f"error: the JSON Schema test suite is not at {SUITE}; copy it there (see its SOURCE.md)")
    groups: dict[int, list[SuiteCase]] = {}
    for c in cases:  # the cases of one schema share its compiled checker, as a tool's calls do
        groups.setdefault(id(c.schema), []).append(c)
    specs = [(suite_tool(g[0]), g) for g in groups.values()]  # a record's tools are read before linting

    def ours_cold() -> list[bool | None]:
        cache = SchemaCache()
        return [is_valid_ours(cache.compile_function(spec), c.data) for spec, g in specs for c in g]

    def theirs_cold(checked: bool = False) -> list[bool | None]:
        out = []
        for g in groups.values():
            v = jsonschema_validator(g[0])
            if checked:  # what ours does: a schema is checked against the metaschema before it is used
                try:
                    v.check_schema(g[0].schema)
                except Exception:
                    out += [None] * len(g)
                    continue
            out += [is_valid_theirs(v, c.data) for c in g]
        return out

    warm_cache = SchemaCache()
    ours_tools = [(warm_cache.compile_function(spec), g) for spec, g in specs]
    their_validators = [(jsonschema_validator(g[0]), g) for g in groups.values()]
    for v, g in their_validators:  # jsonschema resolves references on first use
        for c in g:
            is_valid_theirs(v, c.data)

    def ours_warm() -> list[bool | None]:
        return [is_valid_ours(tool, c.data) for tool, g in ours_tools for c in g]

    def theirs_warm() -> list[bool | None]:
        return [is_valid_theirs(v, c.data) for v, g in their_validators for c in g]

    def rounds_of(fn: Callable[[], list[bool | None]]) -> Callable[[], list[bool | None]]:
        def go() -> list[bool | None]:
            for _ in range(rounds - 1):
                fn()
            return fn()
        return go

    n = len(cases) * rounds
    timings = {name: timed(rounds_of(fn), repeat) for name, fn in
               [("ours cold", ours_cold), ("jsonschema cold", theirs_cold),
                ("jsonschema cold, checked", lambda: theirs_cold(checked=True)),
                ("ours warm", ours_warm), ("jsonschema warm", theirs_warm)]}
    expected = [c.valid for g in groups.values() for c in g]
    rows, vs = [], []
    for label, ours, theirs in [("each schema compiled in the run", "ours cold", "jsonschema cold"),
                                ("each schema compiled in the run, jsonschema's checked first (check_schema)",
                                 "ours cold", "jsonschema cold, checked"),
                                ("schemas already compiled", "ours warm", "jsonschema warm")]:
        a, b = timings[ours], timings[theirs]
        ratio = a.rate(n) / b.rate(n) if b.median else 0.0
        lo_a, hi_a = a.rate_range(n)
        lo_b, hi_b = b.rate_range(n)
        rows.append([label, len(cases), a.rate(n), b.rate(n), ratio, f"{lo_a:,.0f}-{hi_a:,.0f}",
                     f"{lo_b:,.0f}-{hi_b:,.0f}"])
        vs.append([f"suite cases/s, {label}", ratio, verdict(ratio, relative_spread(a, b))])
    agree = [[name, len(cases), sum(x == y for x, y in zip(timings[key].result, expected, strict=True)),
              sum(x is None for x in timings[key].result)]
             for name, key in [("curate (as the linter calls it)", "ours warm"),
                               (f"jsonschema {package_version('jsonschema')}", "jsonschema warm")]]
    return {
        "stage": "schema_suite",
        "title": "JSON Schema test suite: curate's tool-call validator vs jsonschema",
        "machine": machine(), "versions": {"jsonschema": package_version("jsonschema")},
        "tables": [
            table("Suite cases checked per second", ["schemas", "cases", "ours", "jsonschema", "ratio", "ours range",
                                                     "jsonschema range"], rows),
            comparison_table(vs),
            table("Verdicts agreeing with the suite", ["validator", "cases", "agreeing", "raised an error"], agree),
        ],
        "notes": [f"{len(cases):,} cases in {len(groups):,} schemas: the keyword files of draft2020-12/ and draft7/ "
                  "that tool schemas use, without optional/ and remote references. Median of "
                  f"{repeat} runs of {rounds} rounds. Ours checks each value as a call's argument (the suite schema "
                  "wrapped as the one required parameter of a tool, as the linter checks calls); jsonschema checks "
                  "the suite schema and value as written, with the validator of the file's draft.",
                  "Ours checks every schema against the 2020-12 metaschema before using it (an invalid keyword "
                  "is a TS001 finding, not a crash); jsonschema's validator does not unless `check_schema` is "
                  "called, hence the second row.",
                  "jsonschema raises on ECMA-262 patterns Python's `re` cannot read (`\\p{Letter}`): such a case "
                  "counts as not agreeing, and its time is counted.",
                  "Where ours disagrees with the suite on purpose (closed objects, references not followed), "
                  "tests/test_json_schema_suite.py and the README list each case and why."],
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print_stage(run(args.repeat, args.rounds))


if __name__ == "__main__":
    main()
