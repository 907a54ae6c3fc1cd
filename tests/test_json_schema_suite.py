"""The official JSON Schema test suite, every case, through the validator exactly as the linter calls it.

`bench/schema_suite_speed.py` reads the suite (`../shared/real/json-schema-test-suite/`, MIT): the keyword files
of `draft2020-12/` and `draft7/` that tool schemas use, without `optional/` and remote references. Each suite
schema is the one required parameter `value` of a tool, compiled by `SchemaCache.compile_function` and checked
by `CompiledTool.validate`, as `RecordContext._check_call` checks a call (a verdict of invalid is a TC003-TC008
finding). Every case must agree with the suite, except the deliberate deviations of `DEVIATIONS`, which the
README lists too ("Where we differ from JSON Schema, and why"): a new disagreement fails, and so does a
deviation that no longer disagrees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from bench.schema_suite_speed import SUITE, SuiteCase, compile_case, is_valid_ours, suite_cases
from curate.validate import SchemaCache
from tests.conftest import REPO


@dataclass(frozen=True)
class Reason:
    label: str
    """How the README's table names it."""
    why: str
    reported: bool
    """Whether TS001 reports the schema (a reference not followed): the user hears of the deviation."""


CLOSED = Reason("closed objects", "An object that declares `properties` takes no other keys unless it sets "
                "`additionalProperties` (TC004): a tool call's argument the tool does not declare is almost always a "
                "mistake, and JSON Schema's open objects would let every misspelt argument through.", reported=False)
URI_REF = Reason("reference by URI", "Only JSON pointers within the tool's own schema (`#/...`) are followed; a "
                 "reference by URI (another document, a schema named by its `$id`, an `$anchor`) is left "
                 "unconstrained and TS001 says which and why: a call is checked offline against the schema it "
                 "carries, never by fetching one.", reported=True)
URI_REF_CLOSED = Reason("reference by URI, closed objects", "Both of the above: the reference that declares `bar` "
                        "is by URI, so it is not followed (TS001), and the object, closed by default, then calls "
                        "`bar` unexpected.", reported=True)
DRAFT7_REF = Reason("draft 7 `$ref` siblings", "Every schema is read as 2020-12, where keywords beside a `$ref` "
                    "apply as well; draft 7 ignored them. Tool schemas rarely say their draft, and function-calling "
                    "APIs read 2020-12.", reported=False)

DEVIATIONS: dict[tuple[str, str, str], Reason] = {
    **{(f"{draft}/{file}", group, test): CLOSED for draft in ("draft2020-12", "draft7") for file, group, test in [
        ("properties.json", "object properties validation", "doesn't invalidate other properties"),
        ("additionalProperties.json", "additionalProperties are allowed by default",
         "additional properties are allowed"),
        ("allOf.json", "allOf with base schema", "valid"),
        ("not.json", "forbidden property", "property absent"),
    ]},
    **{(f"{draft}/ref.json", group, test): reason for draft in ("draft2020-12", "draft7") for group, test, reason in [
        ("remote ref, containing refs itself", "remote ref invalid", URI_REF),
        ("refs with relative uris and defs", "valid on both fields", URI_REF_CLOSED),
        ("relative refs with absolute uris and defs", "valid on both fields", URI_REF_CLOSED),
        ("$id must be resolved against nearest parent, not just immediate parent", "non-number is invalid", URI_REF),
        ("simple URN base URI with $ref via the URN", "invalid under the URN IDed schema", URI_REF),
        ("URN base URI with URN and JSON pointer ref", "a non-string is invalid", URI_REF),
        ("URN base URI with URN and anchor ref", "a non-string is invalid", URI_REF),
        ("ref to if", "a non-integer is invalid due to the $ref", URI_REF),
        ("ref to then", "a non-integer is invalid due to the $ref", URI_REF),
        ("ref to else", "a non-integer is invalid due to the $ref", URI_REF),
        ("ref with absolute-path-reference", "an integer is invalid", URI_REF),
    ]},
    **{("draft2020-12/ref.json", group, test): URI_REF for group, test in [
        ("order of evaluation: $id and $ref", "data is invalid against first definition"),
        ("order of evaluation: $id and $anchor and $ref", "data is invalid against first definition"),
        ("order of evaluation: $id and $ref on nested schema", "data is invalid against nested sibling"),
        ("URN ref with nested pointer ref", "a non-string is invalid"),
    ]},
    **{("draft7/ref.json", group, test): URI_REF for group, test in [
        ("Location-independent identifier", "mismatch"),
        ("Reference an anchor with a non-relative URI", "mismatch"),
    ]},
    ("draft2020-12/defs.json", "validate definition against metaschema", "invalid definition schema"): URI_REF,
    ("draft7/definitions.json", "validate definition against metaschema", "invalid definition schema"): URI_REF,
    ("draft7/ref.json", "ref overrides any sibling keywords", "ref valid, maxItems ignored"): DRAFT7_REF,
}
"""Every case where our verdict differs from the suite's on purpose, by suite file, group and test."""

CASES = suite_cases()
if not CASES:
    pytest.skip(f"the JSON Schema test suite is not at {SUITE}", allow_module_level=True)
_CACHE = SchemaCache()  # the cases of one suite schema share its compiled tool, as a record's calls do


def key(case: SuiteCase) -> tuple[str, str, str]:
    return case.file, case.group, case.description


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verdict_agrees_with_the_suite(case: SuiteCase) -> None:
    tool = compile_case(case, _CACHE)
    ours = is_valid_ours(tool, case.data)
    reason = DEVIATIONS.get(key(case))
    if reason is None:
        found = [f"{e.kind} at {e.path or '(arguments)'}: {e.message}" for e in tool.validate({"value": case.data})]
        assert ours == case.valid, (f"the suite says {'valid' if case.valid else 'invalid'}; ours: "
                                    f"{found or 'valid'}; schema problems (TS001): {tool.problems}")
    else:
        assert ours != case.valid, (f"listed as a deviation ({reason.label}) but agrees now: "
                                    "remove it here and in the README")
        if reason.reported:
            assert any("`$ref`" in p and "is not followed" in p for p in tool.problems), tool.problems


def test_every_deviation_names_a_case() -> None:
    assert set(DEVIATIONS) - {key(c) for c in CASES} == set()


def test_the_readme_lists_the_same_deviations() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("### Where we differ from JSON Schema, and why")
    section = text[start:text.find("\n#", start + 4)]
    rows = set(re.findall(r"^\| `([^`|]+)` \| (.+?) / ([^|]+?) \| ([^|]+?) \|$", section, re.MULTILINE))
    assert rows == {(file, group, test, reason.label) for (file, group, test), reason in DEVIATIONS.items()}
    for reason in {*DEVIATIONS.values()}:
        assert f"**{reason.label}**" in section
