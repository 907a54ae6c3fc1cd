"""The static tool-call parser: JSON and Python-style calls, `<tool_call>` blocks, limits, robustness."""

from __future__ import annotations

import json
import math
import os
import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate import toolcalls
from curate.records import Message
from curate.toolcalls import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    ParsedCall,
    canonical_content,
    canonical_message,
    find_blocks,
    find_written_calls,
    format_python_call,
    may_hold_calls,
    parse_call_text,
    parse_message_calls,
)


def ok(text: str) -> ParsedCall:
    call = parse_call_text(text)
    assert call.error is None, call.error
    return call


def args(text: str) -> dict[str, Any]:
    arguments = ok(text).arguments
    assert arguments is not None
    return arguments


def value(literal: str) -> Any:
    """The value of one Python literal, read as the argument of a call."""
    return args(f"f(a={literal})")["a"]


def error(text: str) -> str:
    call = parse_call_text(text)
    assert call.error is not None, f"{text!r} parsed as {call.name}({call.arguments}, {call.positional})"
    assert call.arguments is None
    return call.error


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON text: True is not 1, 1 is not 1.0, key order counts."""
    return json.dumps(a) == json.dumps(b)


# --- JSON calls ----------------------------------------------------------------------------------


class TestJsonCalls:
    def test_arguments_object(self) -> None:
        call = ok('{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3, "units": null}}')
        assert (call.syntax, call.name, call.arguments) == ("json", "get_weather", {"city": "Oslo", "days": 3,
                                                                                     "units": None})
        assert call.positional == []

    def test_arguments_as_a_json_string(self) -> None:
        call = ok(json.dumps({"name": "f", "arguments": json.dumps({"a": [1, 2], "b": {"c": True}})}))
        assert call.arguments == {"a": [1, 2], "b": {"c": True}}

    def test_empty_arguments_string_is_no_arguments(self) -> None:
        assert args('{"name": "f", "arguments": ""}') == {}
        assert args('{"name": "f", "arguments": "  "}') == {}

    def test_arguments_string_that_is_not_json(self) -> None:
        assert "not valid JSON" in error('{"name": "f", "arguments": "{a: 1}"}')

    def test_parameters_key(self) -> None:
        assert args('{"name": "f", "parameters": {"a": 1}}') == {"a": 1}

    def test_arguments_win_over_parameters(self) -> None:
        assert args('{"name": "f", "arguments": {"a": 1}, "parameters": {"b": 2}}') == {"a": 1}

    def test_no_arguments_at_all(self) -> None:
        assert args('{"name": "f"}') == {}

    def test_id_is_kept(self) -> None:
        assert ok('{"name": "f", "arguments": {}, "id": "call_1"}').id == "call_1"
        assert ok('{"name": "f", "arguments": {}, "id": 7}').id is None

    @pytest.mark.parametrize("text", ['{"arguments": {}}', '{"name": "", "arguments": {}}',
                                      '{"name": 3, "arguments": {}}', '{"name": null}'])
    def test_missing_name(self, text: str) -> None:
        assert '"name"' in error(text)

    @pytest.mark.parametrize("arguments", ["[1, 2]", "3", '"[1]"', "null"])
    def test_arguments_must_be_an_object(self, arguments: str) -> None:
        assert "must be a JSON object" in error(f'{{"name": "f", "arguments": {arguments}}}')

    def test_array_of_calls_is_several_calls_in_one_block(self) -> None:
        msg = error('[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]')
        assert msg.startswith("2 calls in one <tool_call> block")

    def test_two_objects_in_one_block(self) -> None:
        msg = error('{"name": "a", "arguments": {}}\n{"name": "b", "arguments": {}}')
        assert "several JSON calls in one <tool_call> block" in msg

    def test_empty_array_is_an_empty_call(self) -> None:
        assert error("[]").startswith("an empty call list")
        assert parse_call_text("[ ]").empty

    def test_name_is_kept_when_the_arguments_are_bad(self) -> None:
        assert parse_call_text('{"name": "f", "arguments": [1]}').name == "f"
        assert parse_call_text('{"name": "f", "arguments": {"x": 1e999}}').name == "f"

    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
    def test_nan_and_infinity_are_rejected(self, constant: str) -> None:
        msg = error(f'{{"name": "f", "arguments": {{"x": {constant}}}}}')
        assert "is not valid JSON" in msg
        assert "not valid JSON" in error(json.dumps({"name": "f", "arguments": f'{{"x": {constant}}}'}))

    def test_number_out_of_range_is_rejected(self) -> None:
        assert "not a JSON number" in error('{"name": "f", "arguments": {"x": [1e999]}}')

    @pytest.mark.parametrize("text", [
        '{"name": "f", "arguments": {"a": 1,}}',
        '{"name": "f", "arguments": {"a": True}}',
        '{"name": "f", "arguments": {"a": 1}',
        '{"name": "f" "arguments": {}}',
    ])
    def test_invalid_json(self, text: str) -> None:
        msg = error(text)
        assert msg.startswith("invalid JSON in <tool_call>:")
        assert "line 1 column" in msg

    def test_whitespace_around_the_call(self) -> None:
        assert ok('\n  {"name": "f", "arguments": {"a": 1}}  \n').name == "f"

    def test_non_ascii(self) -> None:
        assert args('{"name": "f", "arguments": {"city": "Zürich", "emoji": "\\ud83d\\ude00"}}') == {
            "city": "Zürich", "emoji": "😀"}


# --- Python-style calls --------------------------------------------------------------------------


class TestPythonCallNames:
    def test_simple_name(self) -> None:
        call = ok("get_weather(city='Oslo')")
        assert (call.syntax, call.name, call.arguments) == ("python", "get_weather", {"city": "Oslo"})

    def test_dotted_name(self) -> None:
        assert ok("pkg.mod.fn(a=1)").name == "pkg.mod.fn"
        assert ok("pkg . mod .fn (a=1)").name == "pkg.mod.fn"

    def test_unicode_name(self) -> None:
        assert ok("météo(ville='Paris')").name == "météo"

    def test_empty_call(self) -> None:
        call = ok("f()")
        assert (call.arguments, call.positional) == ({}, [])
        assert ok("  f( \n )  ").arguments == {}

    @pytest.mark.parametrize("text", ["123(a=1)", "(a=1)", "f", "f a=1", ".f(a=1)", "f.(a=1)", "'f'(a=1)"])
    def test_not_a_call(self, text: str) -> None:
        error(text)

    def test_empty_block(self) -> None:
        assert error("  \n ").startswith("an empty <tool_call> block")
        assert parse_call_text("").empty


class TestPythonStrings:
    @pytest.mark.parametrize(("literal", "expected"), [
        ("'single'", "single"),
        ('"double"', "double"),
        ("'''triple\nsingle'''", "triple\nsingle"),
        ('"""triple "quoted"\ndouble"""', 'triple "quoted"\ndouble'),
        ("'''it's'''", "it's"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ("''", ""),
        ('""""""', ""),
    ])
    def test_quote_kinds(self, literal: str, expected: str) -> None:
        assert value(literal) == expected

    @pytest.mark.parametrize(("literal", "expected"), [
        (r"'a\nb\tc'", "a\nb\tc"),
        (r"'back\\slash'", "back\\slash"),
        (r"'\'q\''", "'q'"),
        (r'"\"q\""', '"q"'),
        (r"'\x41\x7e'", "A~"),
        (r"'\u00e9\u4e2d'", "é中"),
        (r"'\U0001F600'", "😀"),
        (r"'\N{BULLET} \N{GREEK SMALL LETTER ALPHA}'", "• α"),
        (r"'\101\0\7'", "A\x00\x07"),
        (r"'\a\b\f\v\r'", "\a\b\f\v\r"),
        ("'line \\\ncontinued'", "line continued"),
        (r"'\d\w unknown escapes stay'", "\\d\\w unknown escapes stay"),
    ])
    def test_escapes(self, literal: str, expected: str) -> None:
        assert value(literal) == expected

    @pytest.mark.parametrize(("literal", "expected"), [
        (r"r'\d+\n'", "\\d+\\n"),
        (r'R"C:\path\to"', "C:\\path\\to"),
        (r"r'\''", "\\'"),
        (r"r'''\N{BULLET}'''", "\\N{BULLET}"),
        ("u'unicode'", "unicode"),
        ("U'x'", "x"),
    ])
    def test_prefixes(self, literal: str, expected: str) -> None:
        assert value(literal) == expected

    def test_unicode_text(self) -> None:
        assert value("'héllo ✓ 日本語 😀'") == "héllo ✓ 日本語 😀"

    def test_adjacent_strings_are_concatenated(self) -> None:
        assert value("'a' \"b\" r'\\c'\n  '''d'''") == "ab\\cd"
        assert args("f(a='x' 'y', b=1)") == {"a": "xy", "b": 1}

    @pytest.mark.parametrize("literal", [r"'\x4'", r"'\u12'", r"'\U0011FFFF'", r"'\N{NO SUCH NAME}'", r"'\N'"])
    def test_bad_escapes(self, literal: str) -> None:
        assert "argument `a`" in error(f"f(a={literal})")

    @pytest.mark.parametrize("literal", ["'abc", '"abc', "'abc\ndef'", "r'abc", "'''abc"])
    def test_unterminated_strings(self, literal: str) -> None:
        error(f"f(a={literal})")

    @pytest.mark.parametrize("literal", ["f'{x}'", 'F"x"', "rf'{x}'", "fr'x'", "'a' f'{b}'"])
    def test_f_strings_are_rejected(self, literal: str) -> None:
        assert "f-string" in error(f"f(a={literal})")

    @pytest.mark.parametrize("literal", ["b'x'", "rb'x'", "B'x'"])
    def test_bytes_are_rejected(self, literal: str) -> None:
        assert "bytes" in error(f"f(a={literal})")


class TestPythonNumbers:
    @pytest.mark.parametrize(("literal", "expected"), [
        ("0", 0), ("42", 42), ("-7", -7), ("+3", 3), ("- 5", -5), ("00", 0),
        ("1.5", 1.5), ("-0.25", -0.25), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("2.5E-3", 0.0025),
        ("-1e+2", -100.0), ("0x1F", 31), ("0XfF", 255), ("-0x10", -16), ("0o17", 15), ("0b101", 5),
        ("1_000_000", 1_000_000), ("1_0.2_5", 10.25), ("0x_ff", 255),
    ])
    def test_numbers(self, literal: str, expected: float) -> None:
        got = value(literal)
        assert got == expected
        assert type(got) is type(expected)

    def test_negative_zero(self) -> None:
        assert math.copysign(1.0, value("-0.0")) == -1.0

    @pytest.mark.parametrize("literal", ["007", "1j", "1.5J", "1__0", "1_", "0x", "1e", "1e999", "-1e999", "1.2.3",
                                         "0b12", "12abc"])
    def test_bad_numbers(self, literal: str) -> None:
        error(f"f(a={literal})")


class TestPythonConstantsAndContainers:
    def test_constants(self) -> None:
        assert args("f(a=True, b=False, c=None)") == {"a": True, "b": False, "c": None}
        assert value("True") is True

    @pytest.mark.parametrize(("word", "hint"), [("true", "True"), ("false", "False"), ("null", "None")])
    def test_json_constants_are_errors_with_a_hint(self, word: str, hint: str) -> None:
        msg = error(f"f(a={word})")
        assert "JSON, not Python" in msg
        assert f"write {hint}" in msg
        assert "JSON, not Python" in error(f"f(a=[1, {word}])")
        assert value(f"'{word}'") == word  # as a string it is fine

    def test_nested_containers(self) -> None:
        got = value("[1, (2, 3), {'k': [4, {'deep': None}]}, {5, 6}, [], (), {}]")
        assert same_json(got, [1, [2, 3], {"k": [4, {"deep": None}]}, [5, 6], [], [], {}])

    def test_tuples_and_parentheses(self) -> None:
        assert value("(1,)") == [1]
        assert value("(1)") == 1
        assert value("((('x')))") == "x"
        assert value("()") == []

    def test_dict_keys(self) -> None:
        assert value("{'a': 1, \"b\": 2, 3: 'c'}") == {"a": 1, "b": 2, 3: "c"}
        assert "dict key" in error("f(a={[1]: 2})")

    def test_trailing_commas(self) -> None:
        assert args("f(a=[1, 2,], b={'k': 1,}, c=(1, 2,),)") == {"a": [1, 2], "b": {"k": 1}, "c": [1, 2]}

    @pytest.mark.parametrize("text", ["f(a=[1 2])", "f(a={'k' 1})", "f(a={'k': 1, 2})", "f(a=[1,,2])", "f(a=(1 2))",
                                      "f(a=[1)", "f(a={'k': 1]", "f(a=1 b=2)", "f(a=1,,b=2)", "f(a=)", "f(=1)"])
    def test_malformed(self, text: str) -> None:
        error(text)

    def test_whitespace_and_newlines(self) -> None:
        assert args("f(\n    a = 1 ,\n    b=[\n 2,\n 3\n ]\n)") == {"a": 1, "b": [2, 3]}


class TestPythonArguments:
    def test_positional(self) -> None:
        call = ok("f(1, 'two', [3])")
        assert (call.arguments, call.positional) == ({}, [1, "two", [3]])

    def test_keyword_after_positional(self) -> None:
        call = ok("f(1, b=2)")
        assert (call.arguments, call.positional) == ({"b": 2}, [1])

    def test_positional_after_keyword(self) -> None:
        assert "positional argument after keyword" in error("f(a=1, 2)")

    def test_duplicate_keyword(self) -> None:
        assert "given twice" in error("f(a=1, a=2)")

    def test_keyword_comparison_is_not_a_keyword(self) -> None:
        assert "not a literal" in error("f(a == 1)")

    @pytest.mark.parametrize("literal", [
        "x", "a+b", "1 + 2", "-x", "f(1)", "obj.attr", "[1][0]", "{'a': 1}['a']", "'abc'.upper()", "not True",
        "lambda: 1", "*args", "**kwargs", "1 if x else 2", "True.real", "None()", "x == 1", "[i for i in y]",
        "('a')[0]", "~1", "1 < 2", "1.5.hex()", "...", "Ellipsis", "os.environ", "open('/etc/passwd')",
    ])
    def test_non_literals_are_rejected(self, literal: str) -> None:
        msg = error(f"f(a={literal})")
        assert "argument `a`" in msg
        assert parse_call_text(f"f(a={literal})").name == "f"

    def test_non_literal_positional(self) -> None:
        assert "argument `#2`" in error("f(1, x)")

    def test_nothing_is_executed(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        ran: list[Any] = []
        monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
        marker = tmp_path / "pwned"
        payloads = [
            'run(cmd=__import__("os").system("ls"))',
            '__import__("os").system("ls")',
            f'run(p=__import__("pathlib").Path({str(marker)!r}).touch())',
            f'__import__("pathlib").Path({str(marker)!r}).touch()',
            f'run(x=exec("open({str(marker)!r}, \'w\')"))',
            f'run(x=eval("open({str(marker)!r}, \'w\')"))',
            'run(x=(lambda: __import__("os").system("ls"))())',
        ]
        for payload in payloads:
            call = parse_call_text(payload)
            assert call.error is not None, payload
            assert call.arguments is None
        assert not ran
        assert not marker.exists()

    @pytest.mark.parametrize("text", ["f(a=1)\ng(b=2)", "f(a=1); g(b=2)", "f(a=1), g(b=2)", "f(a=1) g()"])
    def test_several_calls_in_one_block(self, text: str) -> None:
        assert "several calls in one <tool_call> block" in error(text)

    def test_python_list_of_calls(self) -> None:
        assert "list of calls" in error("[f(a=1), g(b=2)]")
        assert "list of calls" in error("[pkg.f(a=1)]")

    @pytest.mark.parametrize("text", ["f(a=1) extra", "f(a=1))", "f(a=1).x", "f(a=1)[0]"])
    def test_text_after_the_call(self, text: str) -> None:
        error(text)

    @pytest.mark.parametrize("text", ["f(", "f(a=1", "f(a=1,", "f(a=[1, 2", "f(a='x'", "f(a"])
    def test_unclosed_call(self, text: str) -> None:
        assert parse_call_text(text).name == "f"
        error(text)

    def test_json_style_keys_are_not_python(self) -> None:
        error('f("a"=1)')


# --- <tool_call> blocks --------------------------------------------------------------------------


class TestFindBlocks:
    def test_balanced(self) -> None:
        text = "pre <tool_call>A</tool_call> mid <tool_call>\nB\n</tool_call> post"
        blocks = find_blocks(text)
        assert [inner for _, _, inner in blocks.spans] == ["A", "\nB\n"]
        start, end, _ = blocks.spans[0]
        assert text[start:end] == "<tool_call>A</tool_call>"
        assert (blocks.unclosed, blocks.stray_closes, blocks.first_problem) == (0, 0, -1)

    def test_no_tags(self) -> None:
        blocks = find_blocks("plain <tool-call> text")
        assert (blocks.spans, blocks.unclosed, blocks.stray_closes, blocks.first_problem) == ([], 0, 0, -1)

    def test_unclosed(self) -> None:
        blocks = find_blocks("x <tool_call>{...")
        assert (blocks.spans, blocks.unclosed, blocks.first_problem) == ([], 1, 2)

    def test_open_inside_open(self) -> None:
        blocks = find_blocks("<tool_call>a <tool_call>b</tool_call>")
        assert [inner for _, _, inner in blocks.spans] == ["b"]
        assert (blocks.unclosed, blocks.first_problem) == (1, 0)

    def test_stray_close(self) -> None:
        blocks = find_blocks("a</tool_call> <tool_call>b</tool_call></tool_call>")
        assert [inner for _, _, inner in blocks.spans] == ["b"]
        assert (blocks.stray_closes, blocks.unclosed, blocks.first_problem) == (2, 0, 1)

    def test_thousands_of_unclosed_tags(self) -> None:
        n = 100_000
        blocks = find_blocks("<tool_call>" * n)
        assert (blocks.spans, blocks.unclosed, blocks.first_problem) == ([], n, 0)
        blocks = find_blocks("</tool_call>" * n)
        assert (blocks.spans, blocks.stray_closes) == ([], n)

    def test_many_blocks(self) -> None:
        n = 20_000
        blocks = find_blocks("<tool_call>f()</tool_call>" * n)
        assert len(blocks.spans) == n
        assert blocks.unclosed == blocks.stray_closes == 0


# --- limits --------------------------------------------------------------------------------------


class TestLimits:
    DEEP = 100_000

    def test_deep_json_is_an_error(self) -> None:
        deep = "[" * self.DEEP + "]" * self.DEEP
        assert "too deep" in error(f'{{"name": "f", "arguments": {{"a": {deep}}}}}')
        assert "too deep" in error(f'{{"name": "f", "arguments": {{"a": {"[" * self.DEEP}')
        assert "too deep" in error(json.dumps({"name": "f", "arguments": '{"a": ' + deep + "}"}))

    def test_deep_python_argument_is_an_error(self) -> None:
        for opener, closer in ("[]", "()", "{}"):
            msg = error(f"f(a={opener * self.DEEP}{closer * self.DEEP})")
            assert f"nests deeper than {MAX_DEPTH} levels" in msg
        assert "nests deeper" in error("f(a=" + "[" * self.DEEP)
        assert "nests deeper" in error("f(a=" + "{'k': " * self.DEEP + "1" + "}" * self.DEEP + ")")

    @pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 1])
    def test_both_syntaxes_draw_the_line_at_the_same_depth(self, depth: int) -> None:
        nested = "[" * depth + "1" + "]" * depth
        python = parse_call_text(f"f(a={nested})")
        as_json = parse_call_text(f'{{"name": "f", "arguments": {{"a": {nested}}}}}')
        structured = parse_message_calls(Message.model_validate({
            "role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": f'{{"a": {nested}}}'}}],
        }), 0)[0]
        within = depth <= MAX_DEPTH
        for call in (python, as_json, structured):
            assert (call.error is None) == within, (call.syntax, call.error)
        if within:
            assert python.arguments == as_json.arguments == structured.arguments

    def test_long_integer_is_an_error(self) -> None:
        digits = "9" * 20_000
        assert "digits" in error(f"f(a={digits})")
        assert "digits" in error(f"f(a=-{digits})")
        assert "digits" in error(f"f(a=0x{'f' * 20_000})")
        assert "digits" in error(f'{{"name": "f", "arguments": {{"a": {digits}}}}}')
        assert "digits" in error(json.dumps({"name": "f", "arguments": f'{{"a": {digits}}}'}))

    def test_integer_at_the_limit_is_fine(self) -> None:
        digits = "7" * MAX_INT_DIGITS
        assert value(digits) == int(digits)
        assert args(f'{{"name": "f", "arguments": {{"a": {digits}}}}}') == {"a": int(digits)}

    def test_long_inputs_are_read(self) -> None:
        long_string = "x" * 1_000_000
        assert value(repr(long_string)) == long_string
        many = ", ".join(f"a{i}={i}" for i in range(5_000))
        assert len(args(f"f({many})")) == 5_000
        assert len(value("[" + "1, " * 50_000 + "]")) == 50_000
        assert "several calls" in error("f()" + "\nf()" * 50_000)
        assert value("'a' " * 50_000) == "a" * 50_000


# --- structured tool_calls -----------------------------------------------------------------------


class TestMessageCalls:
    def message(self, **fields: Any) -> Message:
        return Message.model_validate({"role": "assistant", **fields})

    def test_structured_calls(self) -> None:
        msg = self.message(content=None, tool_calls=[
            {"id": "c1", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "b", "arguments": {"y": [2]}}},
            {"function": {"name": "c", "arguments": ""}},
        ])
        calls = parse_message_calls(msg, 4)
        assert [(c.syntax, c.name, c.arguments, c.id, c.message_index, c.block_index, c.start) for c in calls] == [
            ("structured", "a", {"x": 1}, "c1", 4, 0, -1),
            ("structured", "b", {"y": [2]}, "c2", 4, 1, -1),
            ("structured", "c", {}, None, 4, 2, -1),
        ]
        assert all(c.error is None for c in calls)
        assert calls[0].raw == 'a({"x": 1})'

    @pytest.mark.parametrize(("arguments", "fragment"), [
        ("{x: 1}", "not valid JSON"), ("[1]", "must be a JSON object, got array"), ("3", "got integer"),
        ('{"x": NaN}', "not valid JSON"), ('{"x": 1e999}', "not a JSON number"),
    ])
    def test_bad_structured_arguments(self, arguments: str, fragment: str) -> None:
        msg = self.message(tool_calls=[{"function": {"name": "a", "arguments": arguments}}])
        (call,) = parse_message_calls(msg, 0)
        assert call.error is not None
        assert fragment in call.error
        assert call.name == "a"

    def test_structured_then_blocks(self) -> None:
        content = 'Let me check.<tool_call>{"name": "b", "arguments": {}}</tool_call>\n<tool_call>c(z=3)</tool_call>'
        msg = self.message(content=content, tool_calls=[{"function": {"name": "a", "arguments": "{}"}}])
        calls = parse_message_calls(msg, 2)
        assert [(c.name, c.syntax, c.block_index) for c in calls] == [
            ("a", "structured", 0), ("b", "json", 1), ("c", "python", 2)]
        assert calls[1].start == content.index("<tool_call>")
        assert calls[2].start == content.rindex("<tool_call>")
        assert calls[2].arguments == {"z": 3}

    def test_blocks_only_and_broken_blocks(self) -> None:
        msg = self.message(content="<tool_call>f(a=1)</tool_call><tool_call>f(a=</tool_call><tool_call>g()")
        calls = parse_message_calls(msg, 0)
        assert [(c.name, c.error is None) for c in calls] == [("f", True), ("f", False)]

    def test_no_calls(self) -> None:
        assert parse_message_calls(self.message(content="Just text."), 0) == []
        assert parse_message_calls(self.message(content=None), 0) == []


# --- calls written outside <tool_call> blocks ----------------------------------------------------


def written(content: str) -> list[ParsedCall]:
    return parse_message_calls(Message(role="assistant", content=content), 3)


class TestPythonDictBodies:
    def test_str_of_a_dict_is_read(self) -> None:
        call = ok("{'name': 'get_weather', 'arguments': {'city': 'Oslo', 'metric': True, 'at': None}}")
        assert (call.syntax, call.name, call.arguments) == (
            "python_dict", "get_weather", {"city": "Oslo", "metric": True, "at": None})

    def test_arguments_as_a_json_string_inside_a_dict(self) -> None:
        assert args("{'name': 'f', 'arguments': '{\"a\": [1, 2]}'}") == {"a": [1, 2]}

    def test_json_stays_json(self) -> None:
        assert ok('{"name": "f", "arguments": {"a": 1}}').syntax == "json"

    @pytest.mark.parametrize("text", [
        "{'name': 'f', 'arguments': {'a': true}}",  # JSON's true in a Python dict
        "{'name': 'f', 'arguments': {'a': x}}",
        "{'name': 'f', 'arguments': {'a': 'b'}",
        "{'name': 'f'} extra",
    ])
    def test_neither_json_nor_a_dict_literal(self, text: str) -> None:
        assert error(text).startswith("<tool_call> holds neither JSON nor a Python dict literal:")

    def test_a_dict_literal_without_a_name(self) -> None:
        assert '"name"' in error("{'arguments': {}}")


class TestPythonCallLists:
    def test_tool_names_with_spaces_hyphens_and_dots(self) -> None:
        calls = written('[Get Zip Code Info(zipcode="10001"), Market Movers - Stocks(start=0, count=5,), '
                        'v1.get . quote(t="A")]')
        assert [(c.syntax, c.name, c.arguments, c.block_index, c.message_index) for c in calls] == [
            ("python_list", "Get Zip Code Info", {"zipcode": "10001"}, 0, 3),
            ("python_list", "Market Movers - Stocks", {"start": 0, "count": 5}, 1, 3),
            ("python_list", "v1.get.quote", {"t": "A"}, 2, 3),
        ]
        assert calls[0].raw == 'Get Zip Code Info(zipcode="10001")' and calls[0].start == 1

    def test_after_a_think_block_and_with_a_trailing_comma(self) -> None:
        calls = written('<think>Two lookups.</think>\n[f(a=1), g(b="x"),]  \n')
        assert [(c.name, c.arguments) for c in calls] == [("f", {"a": 1}), ("g", {"b": "x"})]

    def test_positional_values_are_kept_for_the_schema(self) -> None:
        (call,) = written("[f(1, 'x')]")
        assert (call.arguments, call.positional) == ({}, [1, "x"])

    @pytest.mark.parametrize("content", [
        "[2, 3]", '["a", "b"]', "[]", "[ ]", "[The weather guide](https://example.com/weather)",
        '[{"name": "f", "arguments": {}}]', "See [1](https://x.y) and [f(a=1)]", "[f(a=1)] and more text",
        "Here: [f(a=1)", "[(1, 2)]",
    ])
    def test_text_that_is_not_a_call_list(self, content: str) -> None:
        assert written(content) == []

    @pytest.mark.parametrize(("content", "fragment"), [
        ("[f(a=1), 3]", "element 2 of the call list is not a call"),
        ("[f(a=1) g(b=2)]", "expected `,` or `]` after the call to `f`"),
        ("[f(a=x)]", "argument `a` is not a literal"),
        ("[f(a=1), g(b=]", "argument `b` is not a literal"),
    ])
    def test_a_broken_call_list(self, content: str, fragment: str) -> None:
        calls = written(content)
        assert calls[-1].error is not None and fragment in calls[-1].error
        assert all(c.error is None for c in calls[:-1])

    def test_long_input_is_linear(self) -> None:
        for content in ("[" + "a " * 200_000 + "]", "[" + "f(a=1), " * 50_000 + "]", "[a" + " " * 200_000 + "(x=1)]"):
            find_written_calls(content)


REACT = ('\nThought: I need the team first.\nAction: get_team_info_for_superfanstats\n'
         'Action Input: {\n  "teamid": "1610612744"\n}')


class TestReact:
    def test_a_react_step(self) -> None:
        (call,) = written(REACT)
        assert (call.syntax, call.name, call.arguments, call.finish) == (
            "react", "get_team_info_for_superfanstats", {"teamid": "1610612744"}, False)
        assert call.raw.startswith("Action: get_team_info") and call.start == REACT.index("Action:")
        w = find_written_calls(REACT)
        assert w is not None and w.thought == "I need the team first." and w.thought_start == 1

    def test_an_action_input_as_a_python_dict_and_an_empty_one(self) -> None:
        (call,) = written("Thought: x\nAction: search\nAction Input: {'q': 'Oslo', 'safe': True}\nEnd Action")
        assert call.arguments == {"q": "Oslo", "safe": True}
        assert written("Action: ping\nAction Input:")[0].arguments == {}

    def test_finish(self) -> None:
        text = 'Thought: \nAction: Finish\nAction Input: {"return_type": "give_answer", "final_answer": "42."}'
        (call,) = written(text)
        assert call.finish and call.name == "Finish"
        w = find_written_calls(text)
        assert w is not None and w.answer == "42." and w.thought == ""
        give_up = find_written_calls('Action: Finish\nAction Input: {"return_type": "give_up_and_restart"}')
        assert give_up is not None and give_up.answer is None

    def test_an_action_naming_no_tool_is_empty(self) -> None:
        (call,) = written("Thought: hmm\nAction:\nAction Input: {}")
        assert call.empty and call.error is not None and call.name is None

    @pytest.mark.parametrize(("content", "fragment"), [
        ('Thought: x\nAction: a\nAction Input: {"q": 1', "neither JSON nor a Python dict literal: unclosed `{`"),
        ("Thought: x\nAction: a\nAction Input: Oslo", "is not a JSON object"),
        ('Thought: x\nAction: a\nAction Input: "Oslo"', "must be a JSON object, got string"),
        ("Thought: x\nAction: a\nAction Input: {}\nObservation: 21", "more than one ReAct step"),
        ("Thought: x\nAction: a\nAction Input: {}\nAction: b\nAction Input: {}", "more than one ReAct step"),
    ])
    def test_unreadable_steps(self, content: str, fragment: str) -> None:
        (call,) = written(content)
        assert call.error is not None and fragment in call.error and call.name == "a"

    @pytest.mark.parametrize("content", [
        'Each step names its tool:\nAction: search\nAction Input: {"q": "x"}',  # prose about ReAct
        'Action: search and Action Input: {"q": "x"}',  # the labels do not start their lines
        "Thought: x\nAction: a\nb\nAction Input: {}",
    ])
    def test_text_that_is_not_a_react_step(self, content: str) -> None:
        assert written(content) == []

    def test_blocks_and_structured_calls_come_first(self) -> None:
        msg = Message(role="assistant", content="Thought: x\nAction: a\nAction Input: {}",
                      tool_calls=[{"function": {"name": "b", "arguments": "{}"}}])
        assert [c.name for c in parse_message_calls(msg, 0)] == ["b"]


class TestCanonicalRewrite:
    def test_react(self) -> None:
        assert canonical_content(REACT) == (
            '<think>I need the team first.</think>\n<tool_call>\n{"name": "get_team_info_for_superfanstats", '
            '"arguments": {"teamid": "1610612744"}}\n</tool_call>')

    def test_finish_gives_its_answer(self) -> None:
        text = 'Thought: Done.\nAction: Finish\nAction Input: {"return_type": "give_answer", "final_answer": "42."}'
        assert canonical_content(text) == "<think>Done.</think>\n42."

    def test_call_list_after_a_think_block(self) -> None:
        assert canonical_content("<think>Two.</think>\n[Get Info(id=1), g()]") == (
            '<think>Two.</think>\n<tool_call>\n{"name": "Get Info", "arguments": {"id": 1}}\n</tool_call>\n'
            '<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>')

    def test_dict_literal_blocks_only(self) -> None:
        content = ("<think>x</think>\n<tool_call>\n{'name': 'f', 'arguments': {'a': None}}\n</tool_call>\n"
                   '<tool_call>{"name": "g", "arguments": {}}</tool_call>')
        assert canonical_content(content) == (
            '<think>x</think>\n<tool_call>\n{"name": "f", "arguments": {"a": null}}\n</tool_call>\n'
            '<tool_call>{"name": "g", "arguments": {}}</tool_call>')

    @pytest.mark.parametrize("content", [
        "Plain text.", '<tool_call>{"name": "g", "arguments": {}}</tool_call>', "[f(1)]", "[f(a=x)]",
        "Thought: x\nAction: a\nAction Input: {", "[2, 3]",
    ])
    def test_nothing_to_rewrite_or_nothing_that_can_be(self, content: str) -> None:
        assert canonical_content(content) is None

    def test_the_rewrite_reads_back_as_the_same_calls(self) -> None:
        for content in (REACT, "[Get Info(id=1), g(x=[1, {'a': None}])]",
                        "<tool_call>{'name': 'f', 'arguments': {'a': (1, 2)}}</tool_call>"):
            before = [(c.name, c.arguments) for c in written(content)]
            after = written(canonical_content(content) or "")
            assert [(c.name, c.arguments) for c in after] == before
            assert all(c.syntax == "json" for c in after)

    def test_messages(self) -> None:
        msg = Message(role="assistant", content="[f(a=1)]")
        assert canonical_message(msg).content == '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>'
        for same in (Message(role="user", content="[f(a=1)]"), Message(role="assistant", content="Hi.")):
            assert canonical_message(same) is same


def test_may_hold_calls_is_true_wherever_a_call_is_found() -> None:
    for content in (REACT, "[f(a=1)]", "<think>x</think>[f(a=1)] \n", "<tool_call>f()</tool_call>"):
        msg = Message(role="assistant", content=content)
        assert parse_message_calls(msg, 0) and may_hold_calls(msg)
    assert not may_hold_calls(Message(role="assistant", content="Just text."))
    assert may_hold_calls(Message(role="assistant", content=None, tool_calls=[{"function": {"name": "f"}}]))


# --- properties ----------------------------------------------------------------------------------

IDENTIFIERS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(IDENTIFIERS, children, max_size=5),
    max_leaves=15,
)
ARGUMENTS = st.dictionaries(IDENTIFIERS, JSON_VALUES, max_size=6)
NAMES = st.lists(IDENTIFIERS, min_size=1, max_size=3).map(".".join)
PROPERTY_SETTINGS = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(NAMES, ARGUMENTS)
def test_python_call_round_trip(name: str, arguments: dict[str, Any]) -> None:
    call = parse_call_text(format_python_call(name, arguments))
    assert call.error is None, call.error
    assert call.name == name
    assert same_json(call.arguments, arguments)


@PROPERTY_SETTINGS
@given(NAMES, ARGUMENTS)
def test_json_call_round_trip(name: str, arguments: dict[str, Any]) -> None:
    for text in (json.dumps({"name": name, "arguments": arguments}),
                 json.dumps({"name": name, "arguments": json.dumps(arguments)}, ensure_ascii=False)):
        call = parse_call_text(text)
        assert call.error is None, call.error
        assert call.name == name
        assert same_json(call.arguments, arguments)


def _assert_total(call: ParsedCall) -> None:
    assert isinstance(call, ParsedCall)
    assert (call.error is None) != (call.arguments is None)
    if call.error is None:
        assert call.name
        json.dumps(call.arguments)  # whatever was read is JSON-representable


SOURCE_ALPHABET = st.sampled_from(
    [*string.printable, *"{}[]()'\"\\,:=._-+#éλ😀", "True", "None", "true", "0x", "1e", "'''", '"""']
)


@settings(PROPERTY_SETTINGS, max_examples=400)
@given(st.text(max_size=200) | st.lists(SOURCE_ALPHABET, max_size=60).map("".join))
def test_arbitrary_text_never_raises(text: str) -> None:
    _assert_total(parse_call_text(text))
    for content in (text, f"[{text}]", f"Thought: x\nAction: a\nAction Input: {text}"):
        for call in written(content):
            _assert_total_or_empty(call)
        canonical_content(content)


def _assert_total_or_empty(call: ParsedCall) -> None:
    if call.empty:
        assert call.error is not None and call.arguments is None
    else:
        _assert_total(call)


@st.composite
def mutated_calls(draw: st.DrawFn) -> str:
    name, arguments = draw(NAMES), draw(ARGUMENTS)
    text = draw(st.sampled_from([format_python_call(name, arguments),
                                 json.dumps({"name": name, "arguments": arguments})]))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        if draw(st.booleans()) and pos < len(text):
            text = text[:pos] + text[pos + draw(st.integers(1, 3)):]
        else:
            text = text[:pos] + draw(SOURCE_ALPHABET) + text[pos:]
    return text


@PROPERTY_SETTINGS
@given(mutated_calls())
def test_mutated_calls_never_raise(text: str) -> None:
    _assert_total(parse_call_text(text))


def _blocks_by_regex(text: str) -> tuple[list[tuple[int, int, str]], int, int, int]:
    """The reference pairing: `<(/?)tool_call>` matches, left to right."""
    spans, open_at, unclosed, stray, first = [], -1, 0, 0, -1
    for m in re.finditer(r"<(/?)tool_call>", text):
        if m.group(1):
            if open_at < 0:
                stray += 1
                first = m.start() if first < 0 else first
            else:
                spans.append((open_at, m.end(), text[open_at + len("<tool_call>") : m.start()]))
                open_at = -1
        else:
            if open_at >= 0:
                unclosed += 1
                first = open_at if first < 0 else first
            open_at = m.start()
    if open_at >= 0:
        unclosed += 1
        first = open_at if first < 0 else first
    return spans, unclosed, stray, first


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["<tool_call>", "</tool_call>", "tool_call>", "<", "/", "</", "<<", "x", " ",
                                 "{\"name\": \"f\"}", "<tool_call", "/tool_call>"]), max_size=12).map("".join))
def test_find_blocks_pairs_tags_as_the_regex_does(text: str) -> None:
    found = find_blocks(text)
    assert (found.spans, found.unclosed, found.stray_closes, found.first_problem) == _blocks_by_regex(text)


# The string literal pattern as first written, a character at a time: the scanner's `_STRING` matches
# a run at a time and must match the same text, with the same groups, at every position.
_STRING_BY_CHARACTER = re.compile(
    r"""(?P<prefix>[rRuUbBfF]{0,2})(?P<body>'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\""""
    r"""|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""",
    re.DOTALL,
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(["'", '"', "'''", '"""', "\\", "\\'", '\\"', "\n", "a", " ", "r", "b", "f",
                                 "é", ")"]), max_size=14).map("".join))
def test_string_pattern_matches_as_the_character_at_a_time_pattern(text: str) -> None:
    for pos in range(len(text) + 1):
        fast, reference = toolcalls._STRING.match(text, pos), _STRING_BY_CHARACTER.match(text, pos)
        assert (fast and (fast.span(), fast.groupdict())) == (reference and (reference.span(), reference.groupdict()))
