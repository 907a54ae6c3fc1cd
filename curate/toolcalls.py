"""Static tool-call parsing: the one place that turns assistant text into calls, and writes them back.

Used by the linter and by evaluation alike. Nothing here evaluates code: `<tool_call>` blocks hold
JSON (`{"name": ..., "arguments": {...}}`) or a Python-style call `pkg.name(key=value, ...)` whose
values must be literals, read by a small scanner with explicit limits on nesting depth and number
length, so every input costs time linear in its size.

Three other ways of writing calls, which published datasets use, are read by the same scanner and
checked like any call (lint reports them as non-canonical, TC010):

- ReAct text (ToolLLaMA / ToolBench): `Thought: …` / `Action: name` / `Action Input: {JSON or a Python
  dict}` as the whole turn. ToolBench's `Finish` pseudo-tool ends the episode: it is a call like any other
  when the record declares a `Finish` tool, else the turn's final answer (`ParsedCall.finish`).
- A Python-style list of calls as the whole answer (after any `<think>` block): `[f(a=1), g(b="x")]`, as raw
  ToolACE, BFCL and xLAM answers write them; tool names may hold spaces, dots and hyphens (`Get Zip Code
  Info(...)`). Only a whole bracketed list whose first element is `name(` counts: `[1, 2]`, `["a"]` or a
  markdown link `[text](url)` is text.
- A Python dict literal inside `<tool_call>` (`{'name': 'x', 'arguments': {'a': True}}`, what `str(dict)`
  writes, as in hermes-function-calling-v1).

`canonical_message` rewrites all three as `<tool_call>` JSON blocks (the ReAct thought as `<think>`, a `Finish`
final answer as the answer text): the one rewrite `curate build` and `curate mask` use (`CallStyle`).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

from orjson import loads as _orjson_loads

from curate.records import Message, Trajectory

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

Syntax = Literal["json", "python", "structured", "python_dict", "react", "python_list"]
NON_CANONICAL: frozenset[str] = frozenset({"python_dict", "react", "python_list"})
"""Syntaxes read and checked, but not how a canonical record writes calls (reported by TC010, rewritten by
`canonical_message`)."""
CallStyle = Literal["canonical", "as-written"]
"""How `curate build` and `curate mask` write non-canonical calls: rewritten as `<tool_call>` JSON (the
default), or kept as the data writes them."""


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
    """Character offset of the block (or the call) in the message content (-1 for structured calls)."""
    empty: bool = False
    """True when a call was written with nothing in it (`<tool_call>[]</tool_call>`, an empty block, a ReAct
    `Action:` naming no tool): `error` says so, and lint reports it as TC011, not as an unreadable call."""
    finish: bool = False
    """True for ToolBench's `Finish` pseudo-tool written as a ReAct action: checked as a call when the record
    declares a `Finish` tool, else it is the episode's final answer and nothing is checked."""


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
    """All calls of an assistant message: structured `tool_calls` first, then `<tool_call>` blocks; a message
    with neither is read for calls written as ReAct text or as a Python-style list (`find_written_calls`).

    `blocks`: the message content's `find_blocks` result, when the caller already has it.
    """
    calls: list[ParsedCall] = []
    for i, tc in enumerate(message.tool_calls or ()):
        calls.append(_structured_call(tc.function.name, tc.function.arguments, tc.id, message_index, i))
    content = message.content
    if content:
        if OPEN_TAG in content:
            offset = len(calls)
            for j, (start, _end, inner) in enumerate((blocks or find_blocks(content)).spans):
                call = parse_call_text(inner, message_index=message_index, block_index=offset + j)
                call.start = start
                calls.append(call)
        elif not calls and (_ACTION_INPUT in content or content.rstrip()[-1:] == "]"):  # find_written_calls' tests
            written = find_written_calls(content, message_index)
            if written is not None:
                return written.calls
    return calls


def may_hold_calls(message: Message) -> bool:
    """Whether `parse_message_calls` may find a call in `message`: a cheap test (substring searches) for
    callers that skip the parse on messages without calls."""
    if message.tool_calls:
        return True
    content = message.content
    return bool(content) and (OPEN_TAG in content or _ACTION_INPUT in content or content.rstrip().endswith("]"))


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
        call.error = "an empty <tool_call> block: write the call, or no block at all"
        call.empty = True
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
        if _PY_DICT_START.match(text):  # how Python prints a dict: read it as a literal
            call.syntax = "python_dict"
            try:
                value = read_literal(text, -2, "<tool_call>")
            except CallSyntaxError as e:
                call.error = f"<tool_call> holds neither JSON nor a Python dict literal: {e}"
                return call
            if not isinstance(value, dict):
                call.error = f"<tool_call> must hold an object, got {json_type(value)}"
                return call
            return _call_from_object(call, value, None)
        call.error = _explain_bad_json(text, err)
        return call
    if isinstance(value, list):
        if not value:
            call.error = "an empty call list in a <tool_call> block: write the call, or no block at all"
            call.empty = True
            return call
        call.error = (
            f"{len(value)} calls in one <tool_call> block: write each call in its own block "
            "(parallel calls are several blocks in one turn)"
        )
        return call
    if not isinstance(value, dict):
        call.error = f"<tool_call> must hold a JSON object, got {json_type(value)}"
        return call
    return _call_from_object(call, value, text if strict else None)


def _call_from_object(call: ParsedCall, value: dict[Any, Any], source: str | None) -> ParsedCall:
    """The call an object `{"name": ..., "arguments": ...}` (or `"parameters"`) describes; `source`: the JSON
    text orjson read it from, if it did."""
    name = value.get("name")
    if not isinstance(name, str) or not name:
        call.error = 'the call has no "name" string'
        return call
    call.name = name
    call.id = value.get("id") if isinstance(value.get("id"), str) else None
    key = "arguments" if "arguments" in value else "parameters" if "parameters" in value else None
    args: Any = {} if key is None else value[key]
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
        msg = e.msg[:-3] if e.msg.endswith(" at") else e.msg  # "Unterminated string starting at"
        return None, f"{msg} at line {e.lineno} column {e.colno}"
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
        kwargs, positional = self.arguments()
        self.skip_ws()
        if self.pos < len(self.text):
            rest = self.text[self.pos :].lstrip(";, \t\r\n")
            if _NAME.match(rest) and "(" in rest[:200]:
                raise self.fail("several calls in one <tool_call> block: write each call in its own block")
            raise self.fail(f"unexpected text after the call: {self.excerpt()}")
        return self.name, kwargs, positional

    def arguments(self) -> tuple[dict[str, Any], list[Any]]:
        """The arguments of the call to `self.name`, from its `(` (at `self.pos`) to its `)`."""
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
        return kwargs, positional

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


# --- calls written outside <tool_call> blocks --------------------------------------------------

_PY_DICT_START = re.compile(r"\{\s*'")
"""A `<tool_call>` body that opens like Python's `str(dict)` (`{'name': …`): read as a dict literal when it is not
JSON. Anything else that is not JSON (a trailing comma, a missing brace) stays invalid JSON."""
_ACTION_INPUT = "Action Input:"
_ACTION = "Action:"
_LIST_NAME = re.compile(r"\w[^()\[\]{},=:;'\"`<>\\\n]*")
"""A tool name in a Python-style call list: ToolACE names hold spaces, dots, hyphens and slashes (`Get Zip Code
Info`, `Market Movers - Stocks`); trailing spaces are not part of it."""
_PYTHONIC_FORMAT = re.compile(r"\[\s*func(?:_?name)?1\s*\(")
"""How a system prompt asks for Python-style call lists (`[func1(params_name=params_value…), func2(params)]`, as
ToolACE, BFCL and Llama 3.2 prompts write it)."""


def read_literal(text: str, depth: int, what: str) -> Any:
    """The one Python literal that is the whole of `text`, read by the call scanner (never evaluated); `depth`:
    the containers counted as already open (-1: the value itself is not counted against `MAX_DEPTH`, as the
    arguments object of a call is not). Raises `CallSyntaxError`, whose message names `what`."""
    parser = PyCallParser(text)
    label = f"argument `{what}`"
    try:
        value = parser.value(depth, what)
        parser.skip_ws()
        if parser.pos < len(text):
            raise parser.fail(f"unexpected text after {what}: {parser.excerpt()}")
    except CallSyntaxError as e:  # "argument `Action Input`: unclosed `{`" reads "unclosed `{`" here
        raise CallSyntaxError(str(e).replace(label + ": ", "").replace(label + " ", "")) from None
    return value


@dataclass(slots=True)
class WrittenCalls:
    """The calls of an assistant turn written as ReAct text or as a Python-style list (offsets in its content)."""

    syntax: Literal["react", "python_list"]
    calls: list[ParsedCall]
    start: int
    """Where the calls begin: the `[` of the list, the `Action:` of the ReAct step."""
    end: int
    """Where they end: after the list's `]`, or the end of the ReAct step."""
    thought: str = ""
    """ReAct: the thought, without its `Thought:` label."""
    thought_start: int = -1
    """ReAct: where the thought (its label included) begins; -1 without one."""
    answer: str | None = None
    """ReAct: the final answer of a `Finish` action that gives one (`return_type` "give_answer")."""


def find_written_calls(content: str, message_index: int = 0) -> WrittenCalls | None:
    """The calls written in `content` as ReAct text or as a Python-style list, or None when it is neither.

    Both must be the whole turn (after any leading `<think>` block). The tests that reject other text are
    substring searches (`Action Input:`) or the last character (`]`), so text costs next to nothing."""
    if _ACTION_INPUT in content:
        return _react_step(content, message_index)
    end = len(content.rstrip())
    if not end or content[end - 1] != "]":
        return None
    start = _skip_think(content)
    start = _skip_ws(content, start)
    if start >= end or content[start] != "[":
        return None
    return _call_list(content, start, end, message_index)


def _skip_think(content: str) -> int:
    """Where the text after a leading `<think>…</think>` block begins (0 without one)."""
    k = _skip_ws(content, 0)
    if content.startswith("<think>", k):
        close = content.find("</think>", k)
        if close >= 0:
            return close + len("</think>")
    return 0


def _line_start(text: str, pos: int) -> int | None:
    """The start of the line holding `pos` when only spaces come before `pos` on it, else None."""
    start = text.rfind("\n", 0, pos) + 1
    return start if not text[start:pos].strip() else None


def _react_step(content: str, message_index: int) -> WrittenCalls | None:
    """`Thought: …\\nAction: name\\nAction Input: {…}`: the labels start their lines, the thought (if any)
    comes first, the input runs to the end of the turn (a trailing `End Action` line aside)."""
    k = content.find(_ACTION_INPUT)
    input_line = _line_start(content, k)
    if input_line is None:
        return None
    a = content.rfind(_ACTION, 0, input_line)
    action_line = _line_start(content, a) if a >= 0 else None
    if action_line is None:
        return None
    name = content[a + len(_ACTION): input_line].strip()
    body_start = _skip_think(content)
    before = content[body_start:action_line].strip()
    if "\n" in name or (before and not before.startswith("Thought")):
        return None  # not a ReAct step: the labels are part of some other text
    thought = before[len("Thought"):].lstrip(" :") if before else ""
    written = WrittenCalls("react", [], a, len(content.rstrip()), thought,
                           content.find("Thought", body_start) if before else -1)
    raw = content[a:].strip()
    call = ParsedCall(message_index, 0, "react", raw=raw, name=name or None, start=a)
    written.calls.append(call)
    text = content[k + len(_ACTION_INPUT):].strip()
    if text.endswith("End Action"):
        text = text[: -len("End Action")].rstrip()
    if not name:
        call.error = "the ReAct `Action:` names no tool: write the tool to call, or answer in text"
        call.empty = True
        return written
    call.finish = name == "Finish"
    if "\nAction:" in text or "\nObservation:" in text:
        call.error = ("more than one ReAct step in one turn (an `Action:` or `Observation:` after the input): "
                      "write one action per assistant turn, each answered by its function result")
        return written
    if not text:
        value: Any = {}
        source = None
    else:
        value, err, strict = _load_json(text)
        source = text if strict else None
        if err is not None:
            if not text.startswith("{"):
                call.error = f"Action Input of `{name}` is not a JSON object: {err}"
                return written
            try:
                value = read_literal(text, -1, "Action Input")
            except CallSyntaxError as e:
                call.error = f"Action Input of `{name}` is neither JSON nor a Python dict literal: {e}"
                return written
    _with_arguments(call, name, value, source)
    if call.finish and call.arguments is not None and call.arguments.get("return_type") == "give_answer":
        answer = call.arguments.get("final_answer")
        written.answer = answer if isinstance(answer, str) else None
    return written


def _call_list(content: str, start: int, end: int, message_index: int) -> WrittenCalls | None:
    """`[f(a=1), g(b="x")]` spanning `content[start:end]`; None when its first element is not `name(`."""
    written = WrittenCalls("python_list", [], start, end)
    parser = PyCallParser(content)
    pos = start + 1
    while True:
        pos = _skip_ws(content, pos)
        m = _LIST_NAME.match(content, pos) if pos < end else None
        name = m.group(0).rstrip() if m else ""
        after = _skip_ws(content, m.end()) if m else pos
        if not m or not content.startswith("(", after):
            if not written.calls:
                return None  # `[]`, `[1, 2]`, `["a"]`, `[text](url)`: not calls
            call = ParsedCall(message_index, len(written.calls), "python_list",
                              raw=content[pos:end - 1].strip(), start=pos)
            call.error = (f"element {len(written.calls) + 1} of the call list is not a call: "
                          f"{_excerpt_at(content, pos)}")
            written.calls.append(call)
            return written
        if _NAME.fullmatch(name):
            name = "".join(name.split())  # `a . b` is `a.b`, as in a single call
        call = ParsedCall(message_index, len(written.calls), "python_list", raw="", name=name, start=pos)
        written.calls.append(call)
        parser.name, parser.pos = name, after
        try:
            call.arguments, call.positional = parser.arguments()
        except CallSyntaxError as e:
            call.error, call.raw = str(e), content[pos:end].strip()
            return written  # the rest cannot be told apart from this call's broken arguments
        call.raw = content[pos:parser.pos]
        pos = _skip_ws(content, parser.pos)
        if content.startswith(",", pos):
            pos = _skip_ws(content, pos + 1)
            if content.startswith("]", pos) and pos == end - 1:
                return written
            continue
        if content.startswith("]", pos) and pos == end - 1:
            return written
        bad = ParsedCall(message_index, len(written.calls), "python_list", raw=content[pos:end - 1].strip(),
                         start=pos)
        bad.error = (f"expected `,` or `]` after the call to `{name}` in the call list, found "
                     f"{_excerpt_at(content, pos)}")
        written.calls.append(bad)
        return written


def _excerpt_at(text: str, pos: int) -> str:
    """`text` from `pos`, as the call scanner quotes it in its errors."""
    if pos >= len(text):
        return "the end of the call"
    return f"`{_short(text[pos:].split(chr(10), 1)[0], 30)}`"


def asks_for_call_lists(system_prompt: str | None) -> bool:
    """Whether a system prompt asks for Python-style call lists (`[func1(params_name=params_value…)]`)."""
    return bool(system_prompt) and _PYTHONIC_FORMAT.search(system_prompt) is not None  # type: ignore[arg-type]


def is_empty_call_list(content: str | None) -> bool:
    """Whether an assistant turn's answer (after any `<think>` block) is an empty list `[]`."""
    if not content or not content.rstrip().endswith("]"):
        return False
    rest = content[_skip_think(content):].strip()
    return rest[:1] == "[" and not rest[1:-1].strip()


# --- writing calls -----------------------------------------------------------------------------


def format_call_block(name: str, arguments: Any) -> str:
    """One call as a canonical `<tool_call>` block: `{"name": …, "arguments": …}` JSON on its own line."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "\n</tool_call>"


def _writable(call: ParsedCall) -> bool:
    """A call `canonical_message` can write as JSON: read, named, and with nothing passed by position (which
    parameter a positional value is depends on the tool's schema; lint reports it, TC009)."""
    return call.error is None and call.name is not None and call.arguments is not None and not call.positional


def canonical_content(content: str, message_index: int = 0) -> str | None:
    """`content` with its non-canonical calls written as `<tool_call>` JSON blocks, or None when there is nothing
    to rewrite (or something that cannot be: a turn whose calls do not all read cleanly is kept as written).

    - ReAct: the thought becomes a `<think>` block; the action a `<tool_call>` block, or, for a `Finish` action
      that gives a final answer, the answer text.
    - A Python-style list: one block per call, after whatever came before the list (a `<think>` block).
    - A Python dict literal in a `<tool_call>` block: the block's JSON.
    """
    if OPEN_TAG in content:
        if "{" not in content:
            return None
        spans = find_blocks(content).spans
        parts: list[str] = []
        cursor = 0
        for start, end, inner in spans:
            stripped = inner.strip()
            if not _PY_DICT_START.match(stripped):
                continue
            call = parse_call_text(inner, message_index)
            if call.syntax != "python_dict" or not _writable(call):
                continue
            parts += [content[cursor:start], format_call_block(call.name, call.arguments)]  # type: ignore[arg-type]
            cursor = end
        return "".join([*parts, content[cursor:]]) if parts else None
    written = find_written_calls(content, message_index)
    if written is None or not written.calls or not all(_writable(c) for c in written.calls):
        return None
    if written.syntax == "python_list":
        head = content[: written.start].rstrip()
        blocks = "\n".join(format_call_block(c.name, c.arguments) for c in written.calls)  # type: ignore[arg-type]
        return f"{head}\n{blocks}" if head else blocks
    call = written.calls[0]
    think = f"<think>{written.thought}</think>\n" if written.thought else ""
    head = content[: _skip_think(content)].strip()  # a <think> block before the ReAct step stays
    head = f"{head}\n" if head else ""
    if written.answer is not None:
        return f"{head}{think}{written.answer}"
    return f"{head}{think}{format_call_block(call.name, call.arguments)}"  # type: ignore[arg-type]


def canonical_message(message: Message, message_index: int = 0) -> Message:
    """`message` with its non-canonical calls rewritten (`canonical_content`); the same object when there is
    nothing to rewrite. Only assistant turns without structured `tool_calls` are read."""
    if message.role != "assistant" or message.tool_calls or not message.content:
        return message
    content = canonical_content(message.content, message_index)
    return message if content is None else message.model_copy(update={"content": content})


def canonical_calls(record: Trajectory) -> Trajectory:
    """`record` with every assistant turn's non-canonical calls rewritten (`canonical_message`); the same object
    when there is nothing to rewrite. The one rewrite of `curate build`'s export and `curate mask`."""
    messages = [canonical_message(m, i) for i, m in enumerate(record.messages)]
    if all(a is b for a, b in zip(messages, record.messages, strict=True)):
        return record
    return record.model_copy(update={"messages": messages})
