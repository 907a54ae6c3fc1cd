"""Static tool-call parsing: the one place that turns assistant text into calls.

Used by the linter and by evaluation alike. Nothing here evaluates code: `<tool_call>` blocks hold
JSON (`{"name": ..., "arguments": {...}}`) or a Python-style call `pkg.name(key=value, ...)` whose
values must be literals, read by a small scanner with explicit limits on nesting depth and number
length, so every input costs time linear in its size.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from orjson import loads as _orjson_loads

from curate.records import Message

_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))  # digits -> "0", the rest -> "."
_NINETEEN_ZEROS = b"0" * 19


def has_long_integer(data: bytes) -> bool:
    """True when `data` has 19 digits in a row (an integer orjson may read as a float).

    A translate and a substring search run in C at a few instructions a byte; a regex such as
    `\\d{19}` costs over a hundred (it tries a match at every position). `find`, not `in`: for
    bytes, `in` first tries its operand as an integer and formats an exception when it is not one.
    """
    return data.translate(_DIGITS_AS_ZERO).find(_NINETEEN_ZEROS) >= 0

MAX_DEPTH = 100
"""Most lists/dicts nested in one argument value (the arguments object itself not counted), in both
syntaxes alike; deeper input is a finding, not a crash."""
MAX_INT_DIGITS = 4300
"""Longest integer literal accepted (Python's own default limit for int/str conversion)."""

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
_TAG_TAIL = "tool_call>"

Syntax = Literal["json", "python", "structured"]


@dataclass(slots=True)
class ParsedCall:
    """One tool call found in a message, parsed or not.

    `error` is set when the call cannot be read statically; `name` and `arguments` are then
    whatever could be recovered (possibly None). `positional` holds positional arguments of a
    Python-style call, which the validator maps onto the schema's parameter order.
    """

    message_index: int
    block_index: int
    syntax: Syntax
    raw: str
    name: str | None = None
    arguments: dict[str, Any] | None = None
    positional: list[Any] = field(default_factory=list)
    id: str | None = None
    error: str | None = None
    start: int = -1
    """Character offset of the block in the message content (-1 for structured calls)."""


@dataclass(slots=True)
class Blocks:
    """The `<tool_call>` blocks of a text, and how well its tags pair up."""

    spans: list[tuple[int, int, str]]
    """(start of the opening tag, end of the closing tag, inner text) for each closed block."""
    unclosed: int = 0
    stray_closes: int = 0
    first_problem: int = -1
    """Offset of the first unpaired tag, -1 when every tag pairs up."""


def find_blocks(text: str) -> Blocks:
    """Pair `<tool_call>` / `</tool_call>` tags in one linear pass; nested opens count as unclosed.

    Tags are found with `str.find` on their common tail `tool_call>` (a C-level search, no match
    objects): the same tags, in the same order, as `<(/?)tool_call>` would find.
    """
    spans: list[tuple[int, int, str]] = []
    open_at = -1
    unclosed = stray = 0
    first_problem = -1
    tail = _TAG_TAIL
    pos = text.find(tail)
    while pos >= 0:
        end = pos + len(tail)
        if pos >= 2 and text[pos - 2] == "<" and text[pos - 1] == "/":  # closing tag
            start = pos - 2
            if open_at < 0:
                stray += 1
                if first_problem < 0:
                    first_problem = start
            else:
                spans.append((open_at, end, text[open_at + len(OPEN_TAG) : start]))
                open_at = -1
        elif pos >= 1 and text[pos - 1] == "<":  # opening tag
            if open_at >= 0:  # an open tag inside an open block: the earlier one never closed
                unclosed += 1
                if first_problem < 0:
                    first_problem = open_at
            open_at = pos - 1
        pos = text.find(tail, end)
    if open_at >= 0:
        unclosed += 1
        if first_problem < 0:
            first_problem = open_at
    return Blocks(spans, unclosed, stray, first_problem)


def parse_message_calls(message: Message, message_index: int, blocks: Blocks | None = None) -> list[ParsedCall]:
    """All calls of an assistant message: structured `tool_calls` first, then `<tool_call>` blocks.

    `blocks`: the message content's `find_blocks` result, when the caller already has it.
    """
    calls: list[ParsedCall] = []
    for i, tc in enumerate(message.tool_calls or ()):
        calls.append(_structured_call(tc.function.name, tc.function.arguments, tc.id, message_index, i))
    content = message.content
    if content and OPEN_TAG in content:
        offset = len(calls)
        for j, (start, _end, inner) in enumerate((blocks or find_blocks(content)).spans):
            call = parse_call_text(inner, message_index=message_index, block_index=offset + j)
            call.start = start
            calls.append(call)
    return calls


def _structured_call(
    name: str, arguments: str | dict[str, Any], call_id: str | None, message_index: int, index: int
) -> ParsedCall:
    call = ParsedCall(message_index, index, "structured", raw="", name=name, id=call_id)
    if isinstance(arguments, dict):
        call.raw = f"{name}({_short(_dumps_for_excerpt(arguments))})"
        value: Any = arguments
    else:
        call.raw = f"{name}({_short(arguments)})"
        value, err, strict = _load_json(arguments) if arguments.strip() else ({}, None, False)
        if err is not None:
            call.error = f"arguments of `{name}` are not valid JSON: {err}"
            return call
        return _with_arguments(call, name, value, arguments if strict else None)
    return _with_arguments(call, name, value)


def _with_arguments(call: ParsedCall, name: str, value: Any, source: str | None = None) -> ParsedCall:
    """Set already-parsed arguments on `call`, or the reason they can't stand (not an object, too deep).

    `source`: the JSON text `value` was read from by orjson (so every number is finite). When it has
    at most MAX_DEPTH opening brackets no value can nest deeper (depth is at most their number), so
    the walk over every value is skipped: the common case, two C-level counts.
    """
    if not isinstance(value, dict):
        call.error = f"arguments of `{name}` must be a JSON object, got {json_type(value)}"
        return call
    if source is not None and source.count("[") + source.count("{") <= MAX_DEPTH:
        call.arguments = value
        return call
    call.error = check_arguments(value)
    if call.error is None:
        call.arguments = value
    return call


def _dumps_for_excerpt(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # circular or too deep: only an excerpt
        return "…"


def check_arguments(arguments: dict[str, Any]) -> str | None:
    """Why already-parsed arguments cannot stand as a JSON tool call (too deep, NaN/Infinity), or None.

    The Python-call scanner enforces the same limits while it reads; this is the check for
    arguments that arrive parsed (JSON text, structured `tool_calls`). Iterative, so linear.
    """
    stack: list[tuple[Any, int, str]] = [(v, 0, k) for k, v in arguments.items()]
    while stack:
        value, depth, arg = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return f"argument `{arg}` is {value}, which is not a JSON number"
        elif isinstance(value, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                return f"argument `{arg}` nests deeper than {MAX_DEPTH} levels"
            children = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1, arg) for v in children)
    return None


def parse_call_text(text: str, message_index: int = 0, block_index: int = 0) -> ParsedCall:
    """Parse the inside of one `<tool_call>` block (JSON or a Python-style call)."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        return _parse_json_call(stripped, message_index, block_index)
    call = ParsedCall(message_index, block_index, "python", raw=stripped)
    if not stripped:
        call.error = "empty <tool_call> block"
        return call
    try:
        name, kwargs, positional = PyCallParser(stripped).parse()
    except CallSyntaxError as e:
        call.error = str(e)
        call.name = e.name
        return call
    call.name, call.arguments, call.positional = name, kwargs, positional
    return call


def _parse_json_call(text: str, message_index: int, block_index: int) -> ParsedCall:
    call = ParsedCall(message_index, block_index, "json", raw=text)
    value, err, strict = _load_json(text)
    if err is not None:
        call.error = _explain_bad_json(text, err)
        return call
    if isinstance(value, list):
        call.error = (
            f"{len(value)} calls in one <tool_call> block: write each call in its own block "
            "(parallel calls are several blocks in one turn)"
        )
        return call
    if not isinstance(value, dict):
        call.error = f"<tool_call> must hold a JSON object, got {json_type(value)}"
        return call
    name = value.get("name")
    if not isinstance(name, str) or not name:
        call.error = 'the call has no "name" string'
        return call
    call.name = name
    call.id = value.get("id") if isinstance(value.get("id"), str) else None
    key = "arguments" if "arguments" in value else "parameters" if "parameters" in value else None
    args: Any = {} if key is None else value[key]
    source = text if strict else None
    if isinstance(args, str):  # arguments as a JSON string (the OpenAI wire format)
        inner, err, strict = _load_json(args) if args.strip() else ({}, None, False)
        if err is not None:
            call.error = f"arguments of `{name}` are a string that is not valid JSON: {err}"
            return call
        args, source = inner, args if strict else None
    return _with_arguments(call, name, args, source)


_PY_CALL_LIST = re.compile(r"\[\s*[^\W\d]\w*(?:\s*\.\s*[^\W\d]\w*)*\s*\(")


def _explain_bad_json(text: str, err: str) -> str:
    """The error for a block that starts like JSON but is not, with the likely cause when known."""
    if _PY_CALL_LIST.match(text):
        return ("a Python-style list of calls `[f(...), ...]` in one <tool_call> block: write each call "
                "in its own block, without the brackets")
    if err.startswith("Extra data"):
        try:
            _, end = json.JSONDecoder().raw_decode(text)
        except (ValueError, RecursionError):
            end = -1
        if end > 0 and text[end:].lstrip(" \t\r\n,;")[:1] == "{":
            return "several JSON calls in one <tool_call> block: write each call in its own block"
    return f"invalid JSON in <tool_call>: {err}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def load_json(text: str) -> tuple[Any, str | None]:
    """json.loads that reports instead of raising: too deep, too long integers, NaN included.

    orjson reads first: it is stricter than json, so what it accepts json reads the
    same, and everything else goes through json for the exact message (or acceptance). Texts with
    19 digits in a row skip it: orjson reads integers beyond 64 bits as floats.
    """
    value, err, _strict = _load_json(text)
    return value, err


def _load_json(text: str) -> tuple[Any, str | None, bool]:
    """`load_json`, and whether orjson read it: then every number is finite (orjson rejects
    `NaN`, `Infinity` and overflowing literals such as `1e999`, which `json` reads as inf)."""
    if not has_long_integer(text.encode("utf-8", "surrogatepass")):
        try:
            return _orjson_loads(text), None, True
        except ValueError:
            pass
    value, err = _load_json_stdlib(text)
    return value, err, False


def _load_json_stdlib(text: str) -> tuple[Any, str | None]:
    try:
        return _DECODER.decode(text), None
    except json.JSONDecodeError as e:
        return None, f"{e.msg} at line {e.lineno} column {e.colno}"
    except RecursionError:
        return None, "nesting is too deep to read"
    except ValueError as e:  # integer too long for int(), NaN/Infinity
        msg = str(e)
        if "digits" in msg:
            return None, f"integer literal longer than {MAX_INT_DIGITS} digits"
        return None, msg


def json_type(value: Any) -> str:
    """The JSON type name of a Python value (`boolean`, not `int`, for True)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the Python-call scanner -------------------------------------------------------------------


class CallSyntaxError(ValueError):
    """A Python-style call that cannot be read as a literal call."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


_WS = re.compile(r"\s*")
_NAME = re.compile(r"[^\W\d]\w*(?:\s*\.\s*[^\W\d]\w*)*")
_IDENT = re.compile(r"[^\W\d]\w*")
_NUMBER = re.compile(
    r"0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    r"|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?[jJ]?"
)
# Each body is a run of plain characters, then (escape or lone quote, plain run) pairs: the strings of
# `'''(?:[^'\\]|\\.|'(?!''))*'''` and so on, matched a run at a time rather than a character at a time.
_STRING = re.compile(
    r"""(?P<prefix>[rRuUbBfF]{0,2})(?P<body>'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''"""
    r"""|\"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\""""
    r"""|'[^'\\\n]*(?:\\.[^'\\\n]*)*'|"[^"\\\n]*(?:\\.[^"\\\n]*)*")""",
    re.DOTALL,
)
_STRING_START = frozenset("'\"rRuUbBfF")
"""The characters `_STRING` can match at: a quote or a prefix letter."""
_ESCAPE = re.compile(
    r"\\(?:(?P<nl>\n)|(?P<simple>[\\'\"abfnrtv])|x(?P<x>[0-9a-fA-F]{2})|u(?P<u>[0-9a-fA-F]{4})"
    r"|U(?P<U>[0-9a-fA-F]{8})|N\{(?P<N>[^}\n]+)\}|(?P<oct>[0-7]{1,3})|(?P<bad>[xuUN])|(?P<other>.))",
    re.DOTALL,
)
_SIMPLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n",
                   "r": "\r", "t": "\t", "v": "\v"}
_DIGITS = frozenset("0123456789.")
_OPERATOR_WORD = re.compile(r"(?:if|else|for|and|or|in|is|not)(?!\w)")
_OPERATOR_INITIALS = frozenset("aefino")
"""The first letters of `_OPERATOR_WORD`'s words."""
_UNTERMINATED = re.compile(r"[rRuUbBfF]{1,2}[\'\"]")
_CONSTANTS = {"True": True, "False": False, "None": None}
_JSON_CONSTANTS = {"true": "True", "false": "False", "null": "None"}


def _skip_ws(text: str, pos: int) -> int:
    """The first position from `pos` on that is not whitespace.

    Each regex call costs a few thousand instructions before it reads a character, so the scanner
    tests characters itself where one test decides: `str.isspace` is exactly what `\\s` matches,
    `str.isalnum` or `_` exactly `\\w`. Most positions hold no whitespace, or one space.
    """
    if pos < len(text) and text[pos].isspace():
        pos += 1
        if pos < len(text) and text[pos].isspace():
            pos = _WS.match(text, pos).end()
    return pos


def _is_word_char(text: str, pos: int) -> bool:
    """Whether `\\w` matches at `pos` (a test every `_IDENT` match needs to pass)."""
    return pos < len(text) and (text[pos].isalnum() or text[pos] == "_")


def _unescape(m: re.Match[str]) -> str:
    if m.group("nl") is not None:
        return ""
    if m.group("simple") is not None:
        return _SIMPLE_ESCAPES[m.group("simple")]
    for key in ("x", "u", "U"):
        if m.group(key) is not None:
            code = int(m.group(key), 16)
            if code > 0x10FFFF:
                raise CallSyntaxError(f"illegal unicode character \\U{m.group(key)} in a string")
            return chr(code)
    if m.group("bad") is not None:
        raise CallSyntaxError(f"truncated \\{m.group('bad')} escape in a string")
    if m.group("N") is not None:
        try:
            return unicodedata.lookup(m.group("N"))
        except KeyError:
            raise CallSyntaxError(f"unknown unicode character name \\N{{{m.group('N')}}}") from None
    if m.group("oct") is not None:
        return chr(int(m.group("oct"), 8))
    return m.group(0)  # Python keeps unknown escapes as written


class PyCallParser:
    """Reads `name(key=literal, ...)` without evaluating anything.

    Literals: strings (with prefixes r/u, adjacent concatenation), ints, floats, signed numbers,
    True/False/None, lists, tuples, dicts and sets of literals. Everything else (names, calls,
    attribute access, operators, f-strings) is reported as a non-literal expression.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.name: str | None = None

    def fail(self, message: str) -> CallSyntaxError:
        return CallSyntaxError(message, self.name)

    def parse(self) -> tuple[str, dict[str, Any], list[Any]]:
        self.skip_ws()
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise self.fail(f"expected a call such as name(key=value), found {self.excerpt()}")
        self.name = "".join(m.group(0).split())  # `a . b` is `a.b`; split() splits where `\s` matches
        self.pos = m.end()
        self.skip_ws()
        if not self.peek("("):
            raise self.fail(f"expected `(` after `{self.name}`, found {self.excerpt()}")
        self.pos += 1
        kwargs: dict[str, Any] = {}
        positional: list[Any] = []
        while True:
            self.skip_ws()
            if self.peek(")"):
                self.pos += 1
                break
            kw = _IDENT.match(self.text, self.pos) if _is_word_char(self.text, self.pos) else None
            if kw:
                after = _skip_ws(self.text, kw.end())
                if self.text.startswith("=", after) and not self.text.startswith("==", after):
                    key = kw.group(0)
                    if key in kwargs:
                        raise self.fail(f"argument `{key}` given twice")
                    self.pos = after + 1
                    kwargs[key] = self.value(0, key)
                    if not self.comma_or_close():
                        break
                    continue
            if kwargs:
                raise self.fail("positional argument after keyword arguments")
            positional.append(self.value(0, f"#{len(positional) + 1}"))
            if not self.comma_or_close():
                break
        self.skip_ws()
        if self.pos < len(self.text):
            rest = self.text[self.pos :].lstrip(";, \t\r\n")
            if _NAME.match(rest) and "(" in rest[:200]:
                raise self.fail("several calls in one <tool_call> block: write each call in its own block")
            raise self.fail(f"unexpected text after the call: {self.excerpt()}")
        return self.name, kwargs, positional

    def comma_or_close(self) -> bool:
        """After an argument: True to read another one, False when `)` closed the call."""
        self.skip_ws()
        if self.peek(","):
            self.pos += 1
            return True
        if self.peek(")"):
            self.pos += 1
            return False
        if self.pos >= len(self.text):
            raise self.fail(f"unclosed `(` in the call to `{self.name}`")
        raise self.fail(f"expected `,` or `)`, found {self.excerpt()}")

    def value(self, depth: int, arg: str) -> Any:
        """One literal; `depth` is the number of containers already open around it."""
        self.skip_ws()
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.fail(f"the call to `{self.name}` ends in the middle of argument `{arg}`")
        c = text[pos]
        if c in "[({":
            return self.container(c, depth, arg)
        if c in "+-":
            self.pos += 1
            self.skip_ws()
            start = self.pos
            number = self.number(arg)
            if number is None:
                self.pos = start
                raise self.non_literal(arg, pos)
            return -number if c == "-" else number
        if c in _DIGITS:
            number = self.number(arg)
            if number is None:
                raise self.non_literal(arg, pos)
            return number
        if c in _STRING_START:
            m = _STRING.match(text, pos)
            if m:
                return self.strings(m, arg)
            if c in "'\"" or _UNTERMINATED.match(text, pos):
                raise self.fail(f"argument `{arg}`: unterminated string {self.excerpt()}")
        elif c.isdecimal():  # a digit beyond ASCII, which `\d` matches too
            number = self.number(arg)
            if number is not None:
                return number
        m = _IDENT.match(text, pos) if _is_word_char(text, pos) else None
        if m and m.group(0) in _CONSTANTS:
            self.pos = m.end()
            if self.at_expression_continuation():
                raise self.non_literal(arg, pos)
            return _CONSTANTS[m.group(0)]
        if m and m.group(0) in _JSON_CONSTANTS and not self.at_expression_continuation(m.end()):
            raise self.fail(
                f"argument `{arg}` uses `{m.group(0)}`, which is JSON, not Python: "
                f"write {_JSON_CONSTANTS[m.group(0)]}"
            )
        raise self.non_literal(arg, pos)

    def number(self, arg: str) -> int | float | None:
        m = _NUMBER.match(self.text, self.pos)
        if not m:
            return None
        token = m.group(0)
        if token[-1] in "jJ":
            raise self.fail(f"argument `{arg}` is a complex number ({token}); use a literal of a JSON type")
        self.pos = m.end()
        followed_by_name = _is_word_char(self.text, self.pos) and _IDENT.match(self.text, self.pos)
        if followed_by_name or self.at_expression_continuation():
            raise self.non_literal(arg, m.start())
        clean = token.replace("_", "") if "_" in token else token
        if clean.isdigit():
            if len(clean) > MAX_INT_DIGITS:
                raise self.fail(
                    f"argument `{arg}` is an integer literal of {len(clean)} digits (at most {MAX_INT_DIGITS})"
                )
            if clean[0] == "0" and len(clean) > 1 and clean.strip("0"):
                raise self.fail(f"argument `{arg}`: leading zeros in `{token}` are not allowed in Python")
            return int(clean)
        if len(clean) > 2 and clean[0] == "0" and clean[1] in "xXoObB":
            if len(clean) > MAX_INT_DIGITS:
                raise self.fail(f"argument `{arg}` is an integer literal longer than {MAX_INT_DIGITS} digits")
            return int(clean, 0)
        value = float(clean)
        if not math.isfinite(value):
            raise self.fail(f"argument `{arg}`: {_short(token, 30)} is out of the range of a JSON number")
        return value

    def strings(self, m: re.Match[str], arg: str) -> str:
        parts: list[str] = []
        while m:
            prefix = m.group("prefix").lower()
            if "f" in prefix:
                raise self.non_literal(arg, m.start(), "an f-string")
            if "b" in prefix:
                raise self.fail(f"argument `{arg}` is a bytes literal; use a str")
            body = m.group("body")
            quote = 3 if body[:3] in ("'''", '"""') else 1
            inner = body[quote:-quote]
            if "r" in prefix or "\\" not in inner:
                parts.append(inner)
            else:
                try:
                    parts.append(_ESCAPE.sub(_unescape, inner))
                except CallSyntaxError as e:
                    raise self.fail(f"argument `{arg}`: {e}") from None
            self.pos = _skip_ws(self.text, m.end())
            more = self.pos < len(self.text) and self.text[self.pos] in _STRING_START
            m = _STRING.match(self.text, self.pos) if more else None
        if self.at_expression_continuation():
            raise self.non_literal(arg, self.pos)
        return "".join(parts)

    def container(self, opener: str, depth: int, arg: str) -> Any:
        if depth >= MAX_DEPTH:
            raise self.fail(f"argument `{arg}` nests deeper than {MAX_DEPTH} levels")
        closer = {"[": "]", "(": ")", "{": "}"}[opener]
        self.pos += 1
        items: list[Any] = []
        pairs: dict[Any, Any] = {}
        is_dict: bool | None = None if opener == "{" else False
        saw_comma = False
        while True:
            self.skip_ws()
            if self.peek(closer):
                self.pos += 1
                break
            if self.pos >= len(self.text):
                raise self.fail(f"argument `{arg}`: unclosed `{opener}`")
            item = self.value(depth + 1, arg)
            self.skip_ws()
            if is_dict is None:
                is_dict = self.peek(":")
            if is_dict:
                if not self.peek(":"):
                    raise self.fail(f"argument `{arg}`: expected `:` in a dict, found {self.excerpt()}")
                self.pos += 1
                try:
                    hash(item)
                except TypeError:
                    raise self.fail(f"argument `{arg}`: a dict key must be a string or number") from None
                pairs[item] = self.value(depth + 1, arg)
                self.skip_ws()
            else:
                items.append(item)
            if self.peek(","):
                self.pos += 1
                saw_comma = True
                continue
            if self.peek(closer):
                self.pos += 1
                break
            if self.pos >= len(self.text):
                raise self.fail(f"argument `{arg}`: unclosed `{opener}`")
            if opener == "(" and not saw_comma and len(items) == 1:
                raise self.non_literal(arg, self.pos)
            raise self.fail(f"argument `{arg}`: expected `,` or `{closer}`, found {self.excerpt()}")
        if self.at_expression_continuation():
            raise self.non_literal(arg, self.pos)
        if opener == "{" and is_dict is not False:
            return pairs
        if opener == "(" and len(items) == 1 and not saw_comma:
            return items[0]  # parentheses around one value, not a tuple
        return items  # lists, tuples and sets all become JSON arrays

    def at_expression_continuation(self, pos: int | None = None) -> bool:
        """True when an operator, call, attribute or subscript follows: the value is an expression."""
        p = _skip_ws(self.text, self.pos if pos is None else pos)
        if p >= len(self.text):
            return False
        c = self.text[p]
        if c in ".([+-*/%@&|^<>!~":
            return True
        if c == "=":
            return self.text.startswith("==", p)
        return c in _OPERATOR_INITIALS and _OPERATOR_WORD.match(self.text, p) is not None

    def non_literal(self, arg: str, start: int, what: str = "") -> CallSyntaxError:
        snippet = _short(self.text[start:].split("\n", 1)[0], 50)
        kind = what or "not a literal"
        return self.fail(f"argument `{arg}` is {kind}: `{snippet}` (only literal values are allowed)")

    def skip_ws(self) -> None:
        self.pos = _skip_ws(self.text, self.pos)

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def excerpt(self) -> str:
        if self.pos >= len(self.text):
            return "the end of the call"
        return f"`{_short(self.text[self.pos :].split(chr(10), 1)[0], 30)}`"


def python_literal(value: Any) -> str:
    """Render a JSON-like value as a Python literal (for writing Python-style calls)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    return repr(value)


def format_python_call(name: str, arguments: dict[str, Any]) -> str:
    """`name(key=value, ...)` with literal values; the inverse of the Python-call parser."""
    return f"{name}(" + ", ".join(f"{k}={python_literal(v)}" for k, v in arguments.items()) + ")"
