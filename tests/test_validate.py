"""Argument validation: the Python-type dialect, the checks with their own lint codes, delegation, caching."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import pytest

import curate.validate as validate
from curate.lint import Linter
from curate.readers import RawRecord, ReadResult
from curate.records import Trajectory
from curate.validate import ArgumentError, SchemaCache, build_tool, json_equal, normalise_schema


def errors(parameters: dict[str, Any] | None, arguments: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, path) of each error, in order."""
    tool = build_tool("f", parameters)
    assert tool.problems == [], tool.problems
    return [(e.kind, e.path) for e in tool.validate(arguments)]


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


# --- the dialect ---------------------------------------------------------------------------------


class TestNormaliseSchema:
    def test_python_type_names(self) -> None:
        schema = {"type": "dict", "properties": {
            "a": {"type": "float"}, "b": {"type": "tuple", "items": {"type": "int"}}, "c": {"type": "any"},
            "d": {"type": "list", "items": {"type": "str"}}, "e": {"type": "bool"}, "f": {"type": "integer"},
            "g": {"type": "Dict", "properties": {"h": {"type": " String "}}}, "n": {"type": "NoneType"},
        }, "required": ["a"]}
        assert normalise_schema(schema) == {"type": "object", "properties": {
            "a": {"type": "number"}, "b": {"type": "array", "items": {"type": "integer"}}, "c": {},
            "d": {"type": "array", "items": {"type": "string"}}, "e": {"type": "boolean"}, "f": {"type": "integer"},
            "g": {"type": "object", "properties": {"h": {"type": "string"}}}, "n": {"type": "null"},
        }, "required": ["a"]}

    def test_type_lists(self) -> None:
        assert normalise_schema({"type": ["str", "None"]}) == {"type": ["string", "null"]}
        assert normalise_schema({"type": ["any", "int"]}) == {}  # `any` among them: unconstrained

    def test_subschemas_are_normalised(self) -> None:
        schema = {"anyOf": [{"type": "dict"}, {"type": "float"}], "additionalProperties": {"type": "int"},
                  "not": {"type": "bool"}, "$defs": {"X": {"type": "tuple"}}}
        assert normalise_schema(schema) == {"anyOf": [{"type": "object"}, {"type": "number"}],
                                            "additionalProperties": {"type": "integer"},
                                            "not": {"type": "boolean"}, "$defs": {"X": {"type": "array"}}}

    def test_unknown_type_names_are_problems(self) -> None:
        problems: list[str] = []
        schema = obj(a={"type": "datetime"}, b={"type": 3}, c={"type": ["str", "blob"]}, d={"type": [["str"]]})
        out = normalise_schema(schema, problems)
        assert out == obj(a={}, b={}, c={}, d={})
        assert problems == ["parameters.a: unknown type `datetime`",
                            "parameters.b: `type` must be a type name, got integer",
                            "parameters.c: unknown type `blob`",
                            "parameters.d: `type` must be a type name, got array"]
        assert build_tool("f", schema).validate({"a": 1, "b": 2, "c": 3, "d": 4}) == []

    def test_input_is_not_modified(self) -> None:
        schema = obj(a={"type": "array", "items": {"type": "str"}, "enum": ["x"], "default": None})
        before = copy.deepcopy(schema)
        normalise_schema(schema)
        assert schema == before

    def test_default_null_makes_null_acceptable(self) -> None:
        assert normalise_schema({"type": "str", "default": None}) == {"type": ["string", "null"], "default": None}
        assert normalise_schema({"type": ["int", "str"], "default": None})["type"] == ["integer", "string", "null"]
        assert normalise_schema({"type": "str", "enum": ["a"], "default": None})["enum"] == ["a", None]
        assert normalise_schema({"type": "str", "default": "x"}) == {"type": "string", "default": "x"}

    def test_enum_of_an_array_constrains_its_items(self) -> None:
        out = normalise_schema({"type": "array", "items": {"type": "str"}, "enum": ["a", "b"]})
        assert out == {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}
        # An enum of arrays means what it says.
        out = normalise_schema({"type": "array", "enum": [["a"], ["b"]]})
        assert out == {"type": "array", "enum": [["a"], ["b"]]}

    def test_list_items_are_prefix_items(self) -> None:
        out = normalise_schema({"type": "array", "items": [{"type": "int"}, {"type": "str"}],
                                "additionalItems": {"type": "bool"}})
        assert out == {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
                       "items": {"type": "boolean"}}


class TestTypeStrings:
    """The xLAM / APIGen type strings and their neighbours (`parse_type_string`)."""

    @pytest.mark.parametrize(("text", "schema", "optional"), [
        ("str", {"type": "string"}, False),
        ("int, optional", {"type": "integer"}, True),
        ("float, default 1.0", {"type": "number"}, True),
        ("bool, optional, default=True", {"type": "boolean"}, True),
        ("str, required", {"type": "string"}, False),
        ("List[int]", {"type": "array", "items": {"type": "integer"}}, False),
        ("list", {"type": "array"}, False),
        ("List", {"type": "array"}, False),
        ("typing.List[str]", {"type": "array", "items": {"type": "string"}}, False),
        ("Dict[str, Any]", {"type": "object"}, False),
        ("Dict[str, int]", {"type": "object", "additionalProperties": {"type": "integer"}}, False),
        ("dict", {"type": "object"}, False),
        ("List[Dict[str, Any]]", {"type": "array", "items": {"type": "object"}}, False),
        ("List[List[float]]", {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}, False),
        ("Optional[str]", {"type": ["string", "null"]}, True),
        ("Optional[List[int]]", {"type": ["array", "null"], "items": {"type": "integer"}}, True),
        ("Union[int, str]", {"type": ["integer", "string"]}, False),
        ("Union[str, None]", {"type": ["string", "null"]}, True),
        ("List[Union[int, float]]", {"type": "array", "items": {"type": "number"}}, False),
        ("str | None", {"type": ["string", "null"]}, True),
        ("int or str", {"type": ["integer", "string"]}, False),
        ("Tuple[int, int]", {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}, False),
        ("Tuple[float, str]", {"type": "array", "prefixItems": [{"type": "number"}, {"type": "string"}],
                               "minItems": 2, "maxItems": 2}, False),
        ("Tuple[int, ...]", {"type": "array", "items": {"type": "integer"}}, False),
        ("array<string>", {"type": "array", "items": {"type": "string"}}, False),
        ("string[]", {"type": "array", "items": {"type": "string"}}, False),
        ('Literal["asc", "desc"]', {"enum": ["asc", "desc"]}, False),
        ('Optional[Literal["asc"]]', {"enum": ["asc", None]}, True),
        ("Union[List[int], List[str]]", {"anyOf": [{"type": "array", "items": {"type": "integer"}},
                                                   {"type": "array", "items": {"type": "string"}}]}, False),
        ("Any", {}, False),
        ("Callable[[float], float]", {}, False),
        ("Union[int, Any]", {}, False),
    ])
    def test_type_strings(self, text: str, schema: dict[str, Any], optional: bool) -> None:
        parsed = validate.parse_type_string(text)
        assert (parsed.schema, parsed.optional, parsed.unknown) == (schema, optional, ())

    def test_unknown_names_are_problems_and_unconstrained(self) -> None:
        problems: list[str] = []
        out = normalise_schema(obj(a={"type": "List[Foo]"}, b={"type": "datetime, optional"},
                                   c={"type": "List[" * 40 + "int" + "]" * 40}), problems)
        assert out["properties"]["a"] == {"type": "array"}  # the list still checked, its items not
        assert out["properties"]["b"] == {}
        assert problems[:2] == ["parameters.a: unknown type `Foo` in `List[Foo]`",
                                "parameters.b: unknown type `datetime` in `datetime, optional`"]
        assert len(problems) == 3 and problems[2].startswith("parameters.c: unknown type")

    def test_keywords_written_beside_a_type_string_win(self) -> None:
        out = normalise_schema({"type": "List[int]", "items": {"type": "str"}})
        assert out == {"type": "array", "items": {"type": "string"}}

    def test_calls_are_checked_against_type_strings(self) -> None:
        schema = obj(ids={"type": "List[int]"}, pair={"type": "Tuple[int, int]"}, meta={"type": "Dict[str, int]"},
                     name={"type": "Optional[str]"})
        assert errors(schema, {"ids": [1, 2], "pair": [1, 2], "meta": {"a": 1}, "name": None}) == []
        assert errors(schema, {"ids": [1, "2"], "meta": {"a": "x"}, "name": 3}) == [
            ("type", "ids[1]"), ("type", "meta.a"), ("type", "name")]
        assert errors(schema, {"pair": [1, 2, 3]}) == [("constraint", "pair")]


class TestBareParameters:
    """Parameters with no object around them, xLAM's convention (`parameters_schema`)."""

    def test_bare_maps_are_told_from_json_schema(self) -> None:
        assert validate.is_bare_parameters({"city": {"type": "str"}})
        assert validate.is_bare_parameters({"type": {"type": "str", "description": "giveaway type"}})
        assert validate.is_bare_parameters({"properties": {"type": "dict"}, "items": {"type": "list"}})
        assert not validate.is_bare_parameters({"type": "object", "properties": {"city": {"type": "string"}}})
        assert not validate.is_bare_parameters({"properties": {"city": {"type": "string"}}})
        assert not validate.is_bare_parameters({"additionalProperties": {"type": "string"}})
        assert not validate.is_bare_parameters({})
        assert not validate.is_bare_parameters({"city": "str"})

    def test_required_as_the_dialect_means_it(self) -> None:
        bare = {
            "ip": {"description": "The IP address.", "type": "str"},
            "symbol": {"description": "Stock symbol.", "type": "str", "default": ""},
            "amount": {"description": "Defaults to 2.", "type": "int, optional", "default": "2"},
            "n": {"description": "Times compounded a year.", "type": "int, optional"},
            "tz": {"type": "Optional[str]"},
            "limit": {"type": "int", "required": False},
            "lang": {"type": "str", "default": "en", "required": True},
            "page": {"type": "int", "optional": True},
        }
        schema = validate.parameters_schema(bare)
        assert schema["type"] == "object" and list(schema["properties"]) == list(bare)
        assert schema["required"] == ["ip", "lang"]
        assert "required" not in schema["properties"]["lang"]  # the boolean moved to the object's list
        tool = build_tool("f", bare)
        assert tool.problems == []
        assert [(e.kind, e.path) for e in tool.validate({"ip": "1.1.1.1", "lang": "de"})] == []
        assert [(e.kind, e.path) for e in tool.validate({"lang": 5, "zip": "x"})] == [
            ("missing", "ip"), ("type", "lang"), ("unexpected", "zip")]

    def test_a_function_level_required_decides(self) -> None:
        bare = {"a": {"type": "str"}, "b": {"type": "int", "default": 1}}
        assert validate.parameters_schema(bare, ["b"])["required"] == ["b"]
        assert errors_with(bare, ["b"], {"a": "x"}) == [("missing", "b")]
        schema = obj(a={"type": "string"}, b={"type": "integer"})
        assert errors_with(schema, ["a"], {}) == [("missing", "a")]
        assert errors_with({**schema, "required": ["b"]}, ["a"], {}) == [("missing", "b")]  # its own list wins
        assert build_tool("f", None, ["x"]).problems == ["`x` is required but not among the properties"]

    def test_compile_function_reads_required_beside_parameters(self) -> None:
        from curate.records import FunctionSpec

        spec = FunctionSpec.model_validate({"name": "f", "parameters": {"a": {"type": "str"}, "b": {"type": "int"}},
                                            "required": ["a"]})
        tool = SchemaCache().compile_function(spec)
        assert [(e.kind, e.path) for e in tool.validate({})] == [("missing", "a")]

    def test_draft3_required_true_on_a_property(self) -> None:
        schema = obj(a={"type": "string", "required": True}, b={"type": "integer", "required": False})
        assert normalise_schema(schema) == {**obj(a={"type": "string"}, b={"type": "integer"}), "required": ["a"]}
        assert errors(schema, {}) == [("missing", "a")]

    def test_parameters_that_are_neither_are_a_problem(self) -> None:
        tool = build_tool("f", {"city": "str", "days": "int"})
        assert tool.problems == ["parameters are neither a JSON Schema nor a map of parameter specs (keys: `city`, "
                                 "`days`), so arguments are not checked against them"]


def errors_with(parameters: Any, required: list[str], arguments: dict[str, Any]) -> list[tuple[str, str]]:
    tool = build_tool("f", parameters, required)
    assert tool.problems == [], tool.problems
    return [(e.kind, e.path) for e in tool.validate(arguments)]


class TestMissingObjects:
    """A missing nested object is one finding, whatever it holds."""

    ADDRESS: ClassVar[dict[str, Any]] = {
        "type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"},
                                         "zip": {"type": "string"}}, "required": ["street", "city"]}

    def test_an_empty_nested_object_is_one_finding(self) -> None:
        schema = {**obj(name={"type": "string"}, address=self.ADDRESS), "required": ["name", "address"]}
        tool = build_tool("f", schema)
        (err,) = tool.validate({"name": "Ann", "address": {}})
        assert (err.kind, err.path) == ("missing", "address")
        assert err.message == ("missing required arguments `address.street`, `address.city` "
                               "(`address` holds none of its required keys)")
        (err,) = tool.validate({"name": "Ann", "address": {"zip": "0150"}})
        assert err.path == "address"
        assert errors(schema, {"name": "Ann", "address": {"street": "Main St"}}) == [("missing", "address.city")]
        assert errors(schema, {"name": "Ann"}) == [("missing", "address")]
        assert errors(schema, {}) == [("missing", "name"), ("missing", "address")]  # the top level: one each

    def test_children_given_beside_their_missing_parent_are_one_finding(self) -> None:
        schema = {**obj(name={"type": "string"}, address=self.ADDRESS), "required": ["name", "address"]}
        tool = build_tool("f", schema)
        (err,) = tool.validate({"name": "Ann", "street": "Main St", "city": "Oslo"})
        assert (err.kind, err.path) == ("missing", "address")
        assert err.message == "missing required argument `address` (`street`, `city` belong inside it, not beside it)"
        assert errors(schema, {"name": "Ann", "street": "Main St", "colour": "red"}) == [
            ("missing", "address"), ("unexpected", "colour")]


# --- the checks with their own codes -------------------------------------------------------------


class TestObjects:
    def test_required(self) -> None:
        schema = {**obj(city={"type": "string"}, days={"type": "integer"}), "required": ["city", "days"]}
        assert errors(schema, {"city": "Oslo"}) == [("missing", "days")]
        assert errors(schema, {}) == [("missing", "city"), ("missing", "days")]
        assert errors(schema, {"city": "Oslo", "days": 2}) == []

    def test_unknown_arguments_are_rejected_by_default(self) -> None:
        schema = obj(city={"type": "string"})
        (err,) = build_tool("f", schema).validate({"city": "Oslo", "units": "C"})
        assert (err.kind, err.path) == ("unexpected", "units")
        assert "known: city" in err.message

    def test_objects_without_declared_properties_stay_open(self) -> None:
        assert errors({"type": "object"}, {"anything": [1]}) == []
        assert errors(obj(meta={"type": "dict"}), {"meta": {"free": "form"}}) == []

    def test_no_parameters_at_all(self) -> None:
        assert errors(None, {}) == []
        assert errors(None, {"a": 1}) == [("unexpected", "a")]
        assert errors({"type": "object", "properties": {}}, {"a": 1}) == [("unexpected", "a")]

    def test_additional_properties(self) -> None:
        base = obj(a={"type": "string"})
        assert errors({**base, "additionalProperties": True}, {"a": "x", "b": 1}) == []
        assert errors({**base, "additionalProperties": False}, {"a": "x", "b": 1}) == [("unexpected", "b")]
        assert errors({"type": "object", "additionalProperties": False}, {"b": 1}) == [("unexpected", "b")]
        extra = {**base, "additionalProperties": {"type": "integer"}}
        assert errors(extra, {"a": "x", "b": 1, "c": "no"}) == [("type", "c")]

    def test_nested_paths(self) -> None:
        schema = obj(filters={"type": "dict", "properties": {"date": {"type": "string"}, "n": {"type": "integer"}},
                              "required": ["n"]},
                     ids={"type": "array", "items": {"type": "integer"}},
                     rows={"type": "array", "items": {"type": "dict", "properties": {"name": {"type": "string"}},
                                                      "required": ["name"]}})
        assert errors(schema, {"filters": {"date": 20240101, "n": 1}}) == [("type", "filters.date")]
        assert errors(schema, {"filters": {"x": 1}}) == [("missing", "filters.n"), ("unexpected", "filters.x")]
        assert errors(schema, {"ids": [1, 2, "3", 4.5]}) == [("type", "ids[2]"), ("type", "ids[3]")]
        assert errors(schema, {"rows": [{"name": "a"}, {}, {"name": 1}]}) == [("missing", "rows[1].name"),
                                                                              ("type", "rows[2].name")]
        (err,) = build_tool("f", schema).validate({"filters": {"date": 1, "n": 1}})
        assert err.message == "expected string, got integer 1"

    def test_property_names_with_dots(self) -> None:
        schema = {**obj(**{"a.b": {"type": "integer"}, "x-y": {"type": "string"}}), "required": ["a.b"]}
        assert errors(schema, {"a.b": 1, "x-y": "z"}) == []
        assert errors(schema, {"a": {"b": 1}}) == [("missing", "a.b"), ("unexpected", "a")]

    def test_required_but_undeclared_is_a_schema_problem_not_the_calls(self) -> None:
        tool = build_tool("f", {**obj(a={"type": "string"}), "required": ["a", "b"]})
        assert tool.problems == ["`b` is required but not among the properties"]
        assert tool.validate({"a": "x", "b": 1}) == []  # the required name counts as declared
        assert [e.kind for e in tool.validate({"a": "x"})] == ["missing"]

    def test_parameters_must_describe_an_object(self) -> None:
        assert build_tool("f", {"type": "string"}).problems == ["parameters must describe an object, not `string`"]

    def test_deep_and_circular_schemas_are_problems_not_crashes(self) -> None:
        deep: dict[str, Any] = {"type": "string"}
        for _ in range(5_000):
            deep = obj(a=deep)
        cyclic = obj()
        cyclic["properties"]["self"] = cyclic
        for schema in (deep, cyclic):
            tool = build_tool("f", schema)
            assert tool.problems == ["the schema is nested too deeply (or is circular) to be checked"]
            assert tool.validate({"a": 1}) == []
            assert SchemaCache().compile("f", schema).problems == tool.problems

    def test_param_order_is_the_declared_order(self) -> None:
        assert build_tool("f", obj(b={}, a={}, c={})).param_order == ["b", "a", "c"]


class TestTypes:
    @pytest.mark.parametrize(("t", "good", "bad"), [
        ("number", [1, 1.5, -2, 0, 10**30], [True, False, "1", None, [1]]),
        ("float", [1, 2.5], [True, "2.5"]),
        ("integer", [1, -3, 3.0, 0, 10**30], [True, 1.5, "1", None, float("inf")]),
        ("string", ["", "x"], [1, None, ["x"], True]),
        ("boolean", [True, False], [0, 1, "true", None]),
        ("array", [[], [1, "a"]], [{}, "[]", None]),
        ("tuple", [[1, 2]], ["(1, 2)"]),
        ("object", [{}, {"a": 1}], [[], "{}"]),
        ("null", [None], [0, "", "null"]),
    ])
    def test_types(self, t: str, good: list[Any], bad: list[Any]) -> None:
        schema = obj(v={"type": t})
        for v in good:
            assert errors(schema, {"v": v}) == [], v
        for v in bad:
            assert errors(schema, {"v": v}) == [("type", "v")], v

    def test_type_lists(self) -> None:
        schema = obj(v={"type": ["string", "null"]})
        assert errors(schema, {"v": None}) == errors(schema, {"v": "x"}) == []
        (err,) = build_tool("f", schema).validate({"v": 1})
        assert (err.kind, err.message) == ("type", "expected string or null, got integer 1")

    def test_any(self) -> None:
        schema = obj(v={"type": "any"})
        for v in (None, 1, "x", [1], {"a": 1}, True):
            assert errors(schema, {"v": v}) == []

    def test_unknown_type_names_are_unconstrained_and_reported(self) -> None:
        tool = build_tool("f", obj(v={"type": "datetime"}))
        assert tool.problems == ["parameters.v: unknown type `datetime`"]
        assert tool.validate({"v": 12}) == []

    def test_default_null_accepts_null(self) -> None:
        schema = obj(v={"type": "string", "default": None}, w={"type": "string", "enum": ["a"], "default": None},
                     x={"type": "string"})
        assert errors(schema, {"v": None, "w": None}) == []
        assert errors(schema, {"x": None}) == [("type", "x")]

    def test_one_finding_per_wrong_value(self) -> None:
        # A value of the wrong type is not also checked against the enum or the item schema.
        schema = obj(v={"type": "string", "enum": ["a"]}, w={"type": "array", "items": {"type": "string"}})
        assert errors(schema, {"v": 1, "w": "x"}) == [("type", "v"), ("type", "w")]


class TestEnums:
    def test_enum(self) -> None:
        schema = obj(unit={"type": "string", "enum": ["celsius", "fahrenheit"]})
        assert errors(schema, {"unit": "celsius"}) == []
        (err,) = build_tool("f", schema).validate({"unit": "Celsius"})
        assert (err.kind, err.path) == ("enum", "unit")
        assert err.message == '"Celsius" is not one of: "celsius", "fahrenheit"'

    def test_booleans_are_not_numbers_in_enums(self) -> None:
        assert errors(obj(v={"enum": [1, 2]}), {"v": True}) == [("enum", "v")]
        assert errors(obj(v={"enum": [True]}), {"v": 1}) == [("enum", "v")]
        assert errors(obj(v={"enum": [0]}), {"v": False}) == [("enum", "v")]
        assert errors(obj(v={"enum": [1, True]}), {"v": True}) == []
        assert errors(obj(v={"enum": [1]}), {"v": 1.0}) == []  # 1 and 1.0 are the same JSON number

    def test_enum_with_a_type_reports_the_type(self) -> None:
        assert errors(obj(v={"type": "integer", "enum": [1]}), {"v": True}) == [("type", "v")]

    def test_structured_enum_values(self) -> None:
        schema = obj(v={"enum": [[1, 2], {"a": [True]}, None]})
        for ok in ([1, 2], [1.0, 2], {"a": [True]}, None):
            assert errors(schema, {"v": ok}) == [], ok
        for bad in ([2, 1], [1], {"a": [1]}, {"a": [True], "b": 1}, "null"):
            assert errors(schema, {"v": bad}) == [("enum", "v")], bad

    def test_enum_on_an_array_parameter_applies_to_its_items(self) -> None:
        schema = obj(metrics={"type": "array", "items": {"type": "string"}, "enum": ["temperature", "humidity"]})
        assert errors(schema, {"metrics": ["temperature", "humidity"]}) == []
        assert errors(schema, {"metrics": ["temperature", "co2"]}) == [("enum", "metrics[1]")]

    def test_long_enums_are_shortened_in_messages(self) -> None:
        (err,) = build_tool("f", obj(v={"enum": list(range(20))})).validate({"v": 99})
        assert err.message.endswith(", …")


class TestJsonEqual:
    @pytest.mark.parametrize(("a", "b", "equal"), [
        (1, 1.0, True), (True, 1, False), (False, 0, False), (True, True, True), (None, None, True),
        ("1", 1, False), ([1, [2]], [1.0, [2]], True), ([1], (1,), True), ({"a": 1}, {"a": True}, False),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True), ({"a": 1}, {"a": 1, "b": 2}, False), ([1, 2], [1], False),
    ])
    def test_json_equal(self, a: Any, b: Any, equal: bool) -> None:
        assert json_equal(a, b) is equal
        assert json_equal(b, a) is equal


# --- delegated keywords --------------------------------------------------------------------------


class TestDelegated:
    @pytest.mark.parametrize(("schema", "good", "bad"), [
        ({"type": "integer", "minimum": 1, "maximum": 10}, 5, 0),
        ({"type": "string", "pattern": "^[A-Z]{3}$"}, "OSL", "Oslo"),
        ({"type": "string", "minLength": 2}, "ab", "a"),
        ({"type": "array", "minItems": 1, "uniqueItems": True}, [1], [1, 1]),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 3, 2.5),
        ({"oneOf": [{"type": "dict"}, {"type": "float"}]}, 1.5, "x"),
        ({"const": "fixed"}, "fixed", "other"),
        ({"type": "number", "multipleOf": 0.5}, 1.5, 1.2),
        ({"not": {"type": "string"}}, 1, "s"),
    ])
    def test_constraints(self, schema: dict[str, Any], good: Any, bad: Any) -> None:
        assert errors(obj(v=schema), {"v": good}) == []
        assert errors(obj(v=schema), {"v": bad}) == [("constraint", "v")]

    def test_paths_inside_delegated_checks(self) -> None:
        schema = obj(ids={"type": "array", "items": {"type": "integer", "minimum": 0}},
                     m={"type": "object", "patternProperties": {"^x": {"type": "integer"}}})
        assert errors(schema, {"ids": [1, -1, 2]}) == [("constraint", "ids[1]")]
        assert errors(schema, {"m": {"xa": "no"}}) == [("constraint", "m.xa")]
        root = {**obj(a={}, b={}), "dependentRequired": {"a": ["b"]}, "patternProperties": {"^z": {"type": "null"}}}
        assert errors(root, {"a": 1}) == [("constraint", "")]
        assert errors(root, {"a": 1, "b": 2, "z1": 0}) == [("constraint", "z1")]

    def test_pattern_properties_declare_keys(self) -> None:
        schema = {**obj(a={"type": "string"}), "patternProperties": {"^x_": {"type": "integer"}}}
        assert errors(schema, {"a": "s", "x_1": 1}) == []
        assert errors(schema, {"x_1": "no"}) == [("constraint", "x_1")]
        assert errors(schema, {"y": 1}) == [("unexpected", "y")]

    def test_prefix_items(self) -> None:
        # Each prefix item is checked like any value: a wrong type is a type error (TC005) at its index.
        schema = obj(pair={"type": "tuple", "items": [{"type": "string"}, {"type": "int"}]})
        assert errors(schema, {"pair": ["a", 1]}) == []
        assert errors(schema, {"pair": ["a", "b"]}) == [("type", "pair[1]")]

    def test_items_after_prefix_items_check_only_the_items_after_them(self) -> None:
        schema = obj(t={"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}})
        assert errors(schema, {"t": ["x", 2, 3]}) == []
        assert errors(schema, {"t": [1, 2, "3"]}) == [("type", "t[0]"), ("type", "t[2]")]

    @pytest.mark.parametrize("schema", [
        {"type": "array", "prefixItems": [{"type": "string"}, {}], "items": False},
        {"type": "array", "items": [{"type": "string"}, {}], "additionalItems": False},  # draft 7
    ])
    def test_no_items_after_the_prefix(self, schema: dict[str, Any]) -> None:
        assert errors(obj(t=schema), {"t": ["x", 2]}) == []
        assert errors(obj(t=schema), {"t": ["x"]}) == []
        tool = build_tool("f", obj(t=schema))
        assert [(e.kind, e.path, e.message) for e in tool.validate({"t": ["x", 2, 3]})] == [
            ("constraint", "t", "expected at most 2 items (`prefixItems`, then `items: false`), got 3")]

    def test_draft7_additional_items_check_the_items_after_the_tuple(self) -> None:
        schema = obj(t={"items": [{"type": "string"}], "additionalItems": {"type": "integer"}})
        assert errors(schema, {"t": ["x", 2, 3]}) == []
        assert errors(schema, {"t": ["x", "y"]}) == [("type", "t[1]")]

    def test_false_subschemas_accept_nothing(self) -> None:
        schema = {**obj(a={"type": "integer"}, gone=False), "required": ["a"]}
        tool = build_tool("f", schema)
        assert [(e.kind, e.path, e.message) for e in tool.validate({"a": 1, "gone": None})] == [
            ("unexpected", "gone", "unexpected argument `gone` (its schema is `false`: it may not be given)")]
        assert errors(obj(v={"type": "array", "items": False}), {"v": []}) == []
        assert errors(obj(v={"type": "array", "items": False}), {"v": [1]}) == [("constraint", "v")]
        unexpected = build_tool("f", schema).validate({"a": 1, "zz": 2})
        assert [e.message for e in unexpected] == ["unexpected argument `zz` (known: a)"]  # `gone` is not offered

    def test_unevaluated_keywords_see_what_is_checked_beside_them(self) -> None:
        # `properties` and `prefixItems` are checked here, not by jsonschema: they still count as evaluated.
        schema = {**obj(a={"type": "integer"}), "unevaluatedProperties": False}
        assert errors(schema, {"a": 1}) == []
        assert errors(schema, {"a": "1"}) == [("type", "a")]
        assert errors(schema, {"a": 1, "b": 2}) == [("constraint", "")]  # said once, by unevaluatedProperties
        tuple_ = obj(v={"type": "array", "prefixItems": [{"type": "integer"}], "unevaluatedItems": False})
        assert errors(tuple_, {"v": [1]}) == []
        assert errors(tuple_, {"v": ["1"]}) == [("type", "v[0]")]
        assert errors(tuple_, {"v": [1, 2]}) == [("constraint", "v")]

    def test_unicode_property_patterns_are_used(self) -> None:
        # ECMA-262 (JSON Schema's regex dialect) has `\p{…}`; Python's `re` does not, the `regex` module does.
        tool = build_tool("f", obj(name={"type": "string", "pattern": "^\\p{Letter}+$"}))
        assert tool.problems == []
        assert tool.validate({"name": "Ünïcode"}) == []
        assert [(e.kind, e.path) for e in tool.validate({"name": "42"})] == [("constraint", "name")]

    def test_format_is_an_annotation(self) -> None:
        assert errors(obj(d={"type": "string", "format": "date"}), {"d": "not a date"}) == []

    def test_invalid_keyword_is_a_problem_and_the_rest_is_still_checked(self) -> None:
        tool = build_tool("f", obj(a={"type": "integer", "minimum": "one"}, b={"type": "string"}))
        assert len(tool.problems) == 1
        assert "invalid JSON Schema keyword" in tool.problems[0]
        assert [(e.kind, e.path) for e in tool.validate({"a": -5, "b": 1})] == [("type", "b")]
        assert [(e.kind, e.path) for e in tool.validate({"a": "x"})] == [("type", "a")]

    def test_compile_schema_raises_without_a_problem_list(self) -> None:
        with pytest.raises(validate.SchemaProblem):
            validate.compile_schema({"minimum": "one"})


class TestRefs:
    def test_local_refs_are_inlined(self) -> None:
        schema = {"type": "object", "$defs": {"Point": {"type": "object", "properties": {
            "x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}},
            "properties": {"p": {"$ref": "#/$defs/Point", "description": "where"},
                           "q": {"type": "array", "items": {"$ref": "#/$defs/Point"}}}}
        tool = build_tool("f", schema)
        assert tool.problems == []
        assert [(e.kind, e.path) for e in tool.validate({"p": {"x": 1, "y": "2"}, "q": [{"x": 1}]})] == [
            ("type", "p.y"), ("missing", "q[0].y")]
        assert [(e.kind, e.path) for e in tool.validate({"p": {"x": 1, "y": 2, "z": 3}})] == [("unexpected", "p.z")]

    def test_definitions_and_recursion(self) -> None:
        schema = {"type": "object", "definitions": {"Node": {"type": "object", "properties": {
            "v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/definitions/Node"}}}}},
            "properties": {"tree": {"$ref": "#/definitions/Node"}}}
        tool = build_tool("f", schema)
        assert any("recursive" in p for p in tool.problems)
        assert [(e.kind, e.path) for e in tool.validate({"tree": {"v": "1", "kids": [{"v": "deep"}]}})] == [
            ("type", "tree.v")]  # below the recursion, values are not checked

    def test_unresolvable_refs_are_problems(self) -> None:
        tool = build_tool("f", obj(a={"$ref": "https://example.com/schema.json"}, b={"$ref": "#/$defs/Missing"}))
        assert len(tool.problems) == 2
        assert tool.validate({"a": 1, "b": 2}) == []

    def test_each_ref_not_followed_says_why(self) -> None:
        schema = {**obj(a={"$ref": "https://example.com/s.json"}, b={"$ref": "#/$defs/Missing"}, c={"$ref": "#Point"},
                        d={"$ref": "#/required"}, e={"$id": "inner.json", "$ref": "#/$defs/x"},
                        f={"$ref": "#/properties/f"}),
                  "required": ["a"]}
        assert build_tool("f", schema).problems == [
            "`$ref` 'https://example.com/s.json' is not followed: it is a URI (another document, or a subschema "
            "named by its `$id`), and only JSON pointers within the tool's own schema (`#/...`) are read",
            "`$ref` '#/$defs/Missing' points at nothing: `#` has no `$defs`",
            "`$ref` '#Point' is not followed: it names an `$anchor`, and only JSON pointers (`#/$defs/...`) are read",
            "`$ref` '#/required' points at array [\"a\"], not at a schema",
            "`$ref` '#/$defs/x' is not followed: it is inside a subschema with an `$id` of its own ('inner.json'), "
            "where `#` means that subschema, and `$id`s are not read",
            "`$ref` '#/properties/f' is not followed: it refers to a schema that contains it (a recursive schema), "
            "so values below it are not checked",
        ]

    def test_a_dynamic_ref_is_not_followed_and_never_raises(self) -> None:
        tool = build_tool("f", obj(v={"type": "array", "$dynamicRef": "#items"}))
        assert tool.problems == ["`$dynamicRef` \"#items\" is not followed: dynamic references are not read, so "
                                 "values below it are not checked"]
        assert tool.validate({"v": [1]}) == []
        assert [(e.kind, e.path) for e in tool.validate({"v": 1})] == [("type", "v")]  # its siblings still apply

    def test_percent_encoded_and_escaped_pointers_resolve(self) -> None:
        # RFC 6901 in a URI fragment: percent-decoded first, then `~1` is `/` and `~0` is `~`.
        schema = {"type": "object", "$defs": {"percent%field": {"type": "integer"}, 'quote"d': {"type": "string"},
                                              "a/b": {"type": "boolean"}, "t~x": {"type": "null"}},
                  "properties": {"p": {"$ref": "#/$defs/percent%25field"}, "q": {"$ref": "#/$defs/quote%22d"},
                                 "s": {"$ref": "#/$defs/a~1b"}, "t": {"$ref": "#/$defs/t~0x"}}}
        tool = build_tool("f", schema)
        assert tool.problems == []
        assert [(e.kind, e.path) for e in tool.validate({"p": "1", "q": 2, "s": 3, "t": 4})] == [
            ("type", "p"), ("type", "q"), ("type", "s"), ("type", "t")]

    def test_a_draft7_pointer_into_tuple_items_resolves(self) -> None:
        # Normalisation moves draft 7's tuple `items` to `prefixItems`; the pointer still means what was written.
        schema = obj(pair={"type": "array", "items": [{"type": "integer"}, {"$ref": "#/properties/pair/items/0"}]})
        tool = build_tool("f", schema)
        assert tool.problems == []
        assert [(e.kind, e.path) for e in tool.validate({"pair": [1, "2"]})] == [("type", "pair[1]")]

    def test_enum_and_const_values_are_data_not_refs(self) -> None:
        schema = {**obj(a={"enum": [{"$ref": "#/$defs/s"}, 2]}, b={"const": {"$ref": "#/$defs/s"}}),
                  "$defs": {"s": {"type": "string"}}}
        tool = build_tool("f", schema)
        assert tool.problems == []
        assert tool.validate({"a": {"$ref": "#/$defs/s"}, "b": {"$ref": "#/$defs/s"}}) == []
        assert [(e.kind, e.path) for e in tool.validate({"a": "x", "b": "x"})] == [("enum", "a"), ("constraint", "b")]

    def test_a_ref_to_false_accepts_nothing(self) -> None:
        tool = build_tool("f", {**obj(a={"$ref": "#/$defs/no"}, b={"type": "array", "items": {"$ref": "#/$defs/no"}}),
                                "$defs": {"no": False}})
        assert tool.problems == []
        assert [(e.kind, e.path) for e in tool.validate({"a": 1, "b": [1]})] == [("unexpected", "a"),
                                                                              ("constraint", "b")]  # no items
        assert tool.validate({"b": []}) == []


# --- the cache -----------------------------------------------------------------------------------


WEATHER = {**obj(city={"type": "string"}, days={"type": "integer", "minimum": 1}), "required": ["city"]}


class TestSchemaCache:

    def test_equal_schemas_share_one_compiled_tool(self) -> None:
        cache = SchemaCache()
        first = cache.compile("weather", WEATHER)
        assert cache.compile("weather", copy.deepcopy(WEATHER)) is first
        assert cache.compile("weather", {**WEATHER, "required": []}) is not first
        assert cache.compile("other", WEATHER) is not first

    def test_each_distinct_schema_is_compiled_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        built: list[str] = []
        real = validate.build_tool

        def counting(name: str, parameters: dict[str, Any] | None,
                     required: list[Any] | None = None) -> validate.CompiledTool:
            built.append(name)
            return real(name, parameters, required)

        monkeypatch.setattr(validate, "build_tool", counting)
        cache = SchemaCache()
        for _ in range(100):
            for name in ("a", "b"):
                cache.compile(name, copy.deepcopy(WEATHER))
        cache.compile("a", None)
        cache.compile("a", None)
        cache.compile("a", copy.deepcopy(WEATHER), ["city"])  # a function-level `required` is part of the key
        cache.compile("a", copy.deepcopy(WEATHER), ["city"])
        assert built == ["a", "b", "a", "a"]

    def test_property_order_is_part_of_the_key(self) -> None:
        # Positional arguments map onto the declared order, so reordered properties are another tool.
        cache = SchemaCache()
        ab = cache.compile("f", obj(a={"type": "string"}, b={"type": "integer"}))
        ba = cache.compile("f", obj(b={"type": "integer"}, a={"type": "string"}))
        assert (ab.param_order, ba.param_order) == (["a", "b"], ["b", "a"])

    def test_unserialisable_schemas_are_compiled_uncached(self) -> None:
        cyclic: dict[str, Any] = {"type": "object"}
        cyclic["self"] = cyclic
        cache = SchemaCache()
        assert cache.compile("f", cyclic) is not cache.compile("f", cyclic)

    def test_the_cache_is_bounded(self) -> None:
        cache = SchemaCache(max_size=3)
        tools = [cache.compile(f"t{i}", WEATHER) for i in range(5)]
        assert len(cache._by_text) <= 3
        assert cache.compile("t4", WEATHER) is tools[4]


# --- from kinds to lint codes --------------------------------------------------------------------


def test_each_kind_has_its_lint_code() -> None:
    schema = {**obj(city={"type": "string"}, days={"type": "integer", "minimum": 1},
                    unit={"type": "string", "enum": ["C", "F"]}), "required": ["city"]}
    record = Trajectory.model_validate({
        "id": "r", "tools": [{"type": "function", "function": {"name": "weather", "parameters": schema}}],
        "messages": [{"role": "user", "content": "?"}, {"role": "assistant", "content": (
            '<tool_call>{"name": "weather", "arguments": {"days": 0, "unit": "K", "extra": 1}}</tool_call>'
            '<tool_call>{"name": "weather", "arguments": {"city": 5}}</tool_call>')}],
    })
    linter = Linter(select=["TC"])
    found = [(f.code, f.message) for f in linter.lint_result(ReadResult(RawRecord("x", 1), record, "r", []))]
    assert sorted(code for code, _ in found) == ["TC003", "TC004", "TC005", "TC006", "TC008"]
    assert ("TC003", "missing required argument `city` in the call to `weather`") in found
    kinds = {e.kind for e in build_tool("weather", schema).validate({"days": 0, "unit": "K", "extra": 1, "city": 5})}
    assert kinds == {"unexpected", "type", "enum", "constraint"}
    assert ArgumentError("type", "a", "m") == ArgumentError("type", "a", "m")
