"""Streaming readers: files of many shapes in, canonical `Trajectory` records out.

`iter_raw(path)` yields one `RawRecord` per line (JSONL), array element (JSON), row (Parquet) or
row (`datasets` folder), in memory bounded by the largest record, never raising for bad data: a
record that cannot be read carries an `error` and reading goes on. Only a file that cannot be
opened at all raises `ReadError`.

Layouts are sniffed from the content, not only the name: a file (or stdin, or a pipe) starting
with `[` is a JSON array, streamed in chunks (a `.jsonl` file or stdin only when `[` is alone on
its first line: a pretty-printed array); a `.json` file whose first line is a whole object is JSON
Lines (BFCL); any other `.json` file starting with `{` is one pretty-printed record. Folders are read as
`datasets.save_to_disk` output, or else as the data files under them (hidden folders and BFCL's
`possible_answer/` and `multi_turn_func_doc/` skipped). Arrow's nulls for missing struct fields
read as absent.

Strings holding unpaired surrogates (`"\\ud800"`: valid JSON, not Unicode) make a record unreadable,
since nothing downstream could write them as UTF-8.

A record longer than `max_record_bytes` (default `DEFAULT_MAX_RECORD_BYTES`, 16 MiB) is not parsed: it
is unreadable, with a message giving its size and how to raise the limit. JSON Lines are read in
bounded pieces and the rest of an over-long line is skipped unread, so no more than the limit (and a
little) of one line is ever held, whatever the file (`curate lint /dev/zero` reports one record and
ends only at the end of the stream); so are the elements of a JSON array and a single-record JSON file.
Parquet and `datasets` rows are read by Arrow in batches and are not limited here.

`adapt(data)` maps the supported shapes onto the canonical record:

- `messages` (OpenAI style, structured `tool_calls` with `content: null`, content parts),
- `conversations` with `role`/`content` (ChatML) or ShareGPT `from`/`value`
  (human/gpt/system/function_call/observation),
- `instruction`/`input`/`output` pairs,
- BFCL rows (`question` + `function`; answers from a sibling `possible_answer/` file).

Tool specs may be OpenAI-shaped (`{"type": "function", "function": {...}}`) or bare
(`{name, description, parameters}`); both become the OpenAI shape.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from curate.outputs import is_output_folder
from curate.records import Trajectory
from curate.toolcalls import MAX_INT_DIGITS, format_python_call, has_long_integer, json_type, load_json

try:
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib path is complete on its own
    _orjson_loads = None

JSON_ARRAY_CHUNK = 1 << 20
DEFAULT_MAX_RECORD_BYTES = 16 << 20
"""Records longer than this many bytes are not parsed (see the module docstring): parsing, checking and
building on a record takes memory many times its size."""
_SKIP_CHUNK = 1 << 20


def too_large(size: int | None, limit: int) -> str:
    """The read error of a record over `limit` bytes (`size`: its length, None when not known exactly)."""
    what = f"{size:,} bytes long" if size is not None else f"longer than {limit:,} bytes"
    return (f"the record is {what}, over max_record_bytes ({limit:,}), and is not read; to read it, raise "
            "`max_record_bytes` ([tool.curate.lint] for `curate lint`, the top level of the build config "
            "for `curate build`)")


class ReadError(Exception):
    """A file that cannot be read at all (missing, unreadable, unknown format): a usage error."""


class ShapeError(ValueError):
    """A record whose shape cannot be adapted; `message_index` points at the message at fault."""

    def __init__(self, message: str, message_index: int | None = None) -> None:
        super().__init__(message)
        self.message_index = message_index


class RawRecord:
    """One record as read from a file, before adaptation: its JSON value (`data`) or why it could
    not be read (`error`).

    `line` is the 1-based line of the record in its file; for Parquet and datasets folders the
    1-based row. A JSON Lines record keeps its line's bytes in `text` and is decoded on the first
    access to `data` or `error`: `RecordReader` first validates those bytes straight into a
    `Trajectory` (one pass in pydantic-core), and most records are never decoded twice.
    """

    __slots__ = ("_data", "_error", "line", "path", "text")

    def __init__(self, path: str, line: int, data: Any = None, error: str | None = None,
                 text: bytes | None = None) -> None:
        self.path = path
        self.line = line
        self._data = data
        self._error = error
        self.text = text

    def _decode(self) -> None:
        text, self.text = self.text, None
        assert text is not None
        self._data, self._error = _decode_bytes(text)

    @property
    def data(self) -> Any:
        if self.text is not None:
            self._decode()
        return self._data

    @property
    def error(self) -> str | None:
        if self.text is not None:
            self._decode()
        return self._error

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawRecord):
            return NotImplemented
        return (self.path, self.line, self.data, self.error) == (other.path, other.line, other.data, other.error)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return f"RawRecord(path={self.path!r}, line={self.line}, data={self.data!r}, error={self.error!r})"


# --- file formats -------------------------------------------------------------------------------

SIDECAR_DIRS = frozenset({"possible_answer", "multi_turn_func_doc"})
"""Folders beside BFCL data files that hold answers and function docs, not records."""

_BOM = b"\xef\xbb\xbf"


def iter_raw(path: str | os.PathLike[str], max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[RawRecord]:
    """Yield the records of one file or folder; raises `ReadError` only if it cannot be opened.

    Records over `max_record_bytes` are yielded unread, with an error (see the module docstring)."""
    p = str(path)
    if p == "-":
        yield from _iter_stream(sys.stdin.buffer, "<stdin>", ".jsonl", max_record_bytes)
        return
    fs = Path(p)
    if fs.is_dir():
        yield from _iter_folder(fs, max_record_bytes)
        return
    if not fs.exists():
        raise ReadError(f"{p}: no such file or directory")
    suffix = fs.suffix.lower()
    if suffix == ".parquet":
        yield from _iter_parquet(fs)
        return
    try:
        fh = open(fs, "rb")  # noqa: SIM115 - closed below; generators keep it open while reading
    except OSError as e:
        raise ReadError(f"{p}: cannot open: {e.strerror}") from None
    with fh:
        yield from _iter_stream(fh, p, suffix, max_record_bytes)


def _iter_stream(fh: Any, path: str, suffix: str, limit: int) -> Iterator[RawRecord]:
    try:
        kind, stream = _sniff(fh, suffix, limit)
    except OSError as e:
        raise ReadError(f"{path}: cannot read: {e.strerror or e}") from None
    if kind == "array":
        yield from _iter_json_array(stream, path, limit)
    elif kind == "single":
        yield from _iter_single_json(stream, path, limit)
    else:
        yield from _iter_jsonl_stream(stream, path, limit)


def _sniff(fh: Any, suffix: str, limit: int = DEFAULT_MAX_RECORD_BYTES) -> tuple[str, Any]:
    """The layout of a stream, and the stream back at its start (pipes get the sniffed bytes replayed).

    `array` (a top-level JSON array), `single` (one JSON object over several lines, in a .json
    file) or `jsonl`. Sniffing reads whole lines up to the first one that is not blank, at most
    `limit` bytes of blank lines and of that line (a longer first line is JSON Lines).
    """
    seekable = fh.seekable()
    start = fh.tell() if seekable else 0
    head: list[bytes] = []
    first_line = b""
    budget = limit + 2
    while not first_line.strip(b" \t\r\n") and budget > 0:
        line = fh.readline(budget)
        if not line:
            break
        budget -= len(line)
        first_line = line.removeprefix(_BOM) if not head else line
        head.append(line)
    if seekable:
        fh.seek(start)
        stream = fh
    else:
        stream = _Replay(b"".join(head), fh)
    first = first_line.lstrip(b" \t\r\n")[:1]
    # JSON Lines (.jsonl, stdin) are only read as an array when pretty-printed, `[` alone on the first
    # line; anything else stays line by line, so that one bad first line costs one record, not the file.
    whole = first_line.endswith(b"\n") or budget > 0  # the first line ends within the limit
    if first == b"[" and (suffix not in JSONL_SUFFIXES or first_line.strip(b" \t\r\n") == b"["):
        return "array", stream
    if first == b"{" and suffix == ".json" and whole and _json_type_of_line(first_line) is not dict:
        return "single", stream
    return "jsonl", stream


class _Replay:
    """A stream that cannot seek (a pipe), with the bytes already read put back in front."""

    def __init__(self, head: bytes, fh: Any) -> None:
        self.head = head
        self.fh = fh

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            return self.fh.read(n)
        if n is None or n < 0:
            out, self.head = self.head + self.fh.read(), b""
        else:
            out, self.head = self.head[:n], self.head[n:]
        return out

    def readline(self, size: int = -1) -> bytes:
        if not self.head:
            return self.fh.readline(size)
        end = self.head.find(b"\n") + 1 or len(self.head)
        if size is not None and 0 <= size < end:
            end = size
        line, self.head = self.head[:end], self.head[end:]
        if not line.endswith(b"\n") and not self.head and (size is None or size < 0 or len(line) < size):
            line += self.fh.readline(-1 if size is None or size < 0 else size - len(line))
        return line

    def __iter__(self) -> Iterator[bytes]:
        head, self.head = self.head, b""
        yield from io.BytesIO(head)  # whole lines, split on b"\n" only, as the file itself is
        yield from self.fh


JSONL_SUFFIXES = (".jsonl", ".ndjson")
_SNIFF_DECODER = json.JSONDecoder(parse_int=len, parse_constant=lambda name: None)


def _json_type_of_line(line: bytes) -> type | None:
    """The type of the JSON value a whole line holds (bad bytes, long integers and NaN aside), else None."""
    try:
        return type(_SNIFF_DECODER.decode(line.decode("utf-8", "replace")))
    except ValueError:
        return None
    except RecursionError:  # a pretty-printed value's first line is never a thousand levels deep
        return list if line.lstrip(b" \t\r\n\xef\xbb\xbf").startswith(b"[") else dict


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def unpaired_surrogate(value: Any) -> str | None:
    """Describe the first unpaired surrogate in the strings (and keys) of a JSON value, if any.

    `"\\ud800"` is valid JSON but not Unicode: no UTF-8 writer (a report, a tokenizer, an output file)
    can encode the string it decodes to, so such records are unreadable.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            m = _SURROGATE.search(v)
            if m is not None:
                return (f"a string holds an unpaired surrogate \\u{ord(m.group()):04x}, "
                        "which is not valid Unicode (it cannot be written as UTF-8)")
        elif isinstance(v, dict):
            stack.extend(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


def _load(text: str) -> tuple[Any, str | None]:
    """`load_json`, plus the unpaired-surrogate check when the text has surrogate escapes."""
    value, err = load_json(text)
    if err is None and "\\u" in text and _SURROGATE_ESCAPE.search(text):
        err = unpaired_surrogate(value)
    return value, err


def _decode_line(raw: bytes, path: str, lineno: int) -> RawRecord | None:
    """The record of one JSON Lines line (decoded when first used), or None for a blank line."""
    if lineno == 1 and raw.startswith(_BOM):
        raw = raw[3:]
    raw = raw.rstrip(b"\r\n")
    if not raw.strip():
        return None
    return RawRecord(path, lineno, text=raw)


def _decode_bytes(raw: bytes) -> tuple[Any, str | None]:
    """The JSON value of one line's bytes, or why it cannot be read."""
    if _orjson_loads is not None and not has_long_integer(raw):
        # Fast path. orjson is stricter than json (no NaN, no lone surrogates), so whatever it accepts
        # json reads the same, except integers beyond 64 bits, which it turns into floats: lines with
        # 19 digits in a row take the slow path, as does anything orjson rejects (for the message).
        try:
            return _orjson_loads(raw), None
        except ValueError:
            pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start} of the line: re-encode the file as UTF-8"
    value, err = _load(text)
    if err is not None:
        return None, f"invalid JSON: {err}"
    return value, None


def _iter_jsonl_stream(fh: Any, path: str, limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[RawRecord]:
    """The records of a JSON Lines stream; a line over `limit` bytes (its line end aside) is skipped unread."""
    readline = fh.readline
    size = limit + 2  # room for the line's own `\r\n`
    lineno = 0
    while True:
        raw = readline(size)
        if not raw:
            return
        lineno += 1
        if len(raw) < size or raw.endswith(b"\n"):
            if len(raw) > limit and len(raw.rstrip(b"\r\n")) > limit:  # over by its last byte or two
                yield RawRecord(path, lineno, error=too_large(len(raw.rstrip(b"\r\n")), limit))
                continue
            rec = _decode_line(raw, path, lineno)
            if rec is not None:
                yield rec
            continue
        # an over-long line: skip the rest of it in bounded pieces, counting its bytes
        total = len(raw)
        del raw
        while True:
            piece = readline(_SKIP_CHUNK)
            total += len(piece)
            if not piece or piece.endswith(b"\n"):
                total -= len(piece) - len(piece.rstrip(b"\r\n"))
                break
        yield RawRecord(path, lineno, error=too_large(total, limit))


def _iter_single_json(fh: Any, path: str, limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[RawRecord]:
    """One JSON document spread over lines (a pretty-printed record): one record at line 1."""
    raw = fh.read(limit + 4)  # a BOM and a final line end
    if len(raw) > limit + 3:
        total = len(raw)
        while piece := fh.read(_SKIP_CHUNK):
            total += len(piece)
        yield RawRecord(path, 1, error=too_large(total, limit))
        return
    if raw.startswith(_BOM):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        yield RawRecord(path, 1, error=f"invalid UTF-8 at line {line}: re-encode the file as UTF-8")
        return
    if not text.strip():
        return
    value, err = _load(text)
    if err is not None:
        yield RawRecord(path, 1, error=f"invalid JSON: {err}")
        return
    yield RawRecord(path, 1, data=value)


_JSON_WS = re.compile(r"[ \t\r\n]*")
_STRUCTURAL = re.compile(r'["\[\]{}]')
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRING_SPECIAL = re.compile(r'["\\]')
_SKIP_STRUCTURAL = re.compile(r'["\[\]{},]')
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]+")
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
"""What `surrogateescape` makes of bytes that are not UTF-8."""
_TRUNCATION_SLACK = 16
"""A decoding error this close to the end of the buffer may only mean the element goes on."""


class _JsonArrayStream:
    """The elements of a top-level JSON array, read in chunks: memory is bounded by the largest element,
    and elements over `limit` characters are skipped unread (in chunks), each one reported.

    Bytes that are not UTF-8 are decoded with `surrogateescape`: an element holding them is reported
    and skipped, and reading goes on. So do elements too deep to decode, integers too long to convert
    and NaN/Infinity, whose extent is known. A syntax error stops the reading with one error record.
    """

    def __init__(self, fh: Any, path: str, limit: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.fh = fh
        self.path = path
        self.limit = limit
        self.pending = b""
        """The bytes of a character split between two chunks."""
        self.started = False
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False
        self.bad_bytes = False
        """Whether bytes that are not UTF-8 were met (then each element is checked for them)."""
        self.problems: list[str] = []
        self.decoder = json.JSONDecoder(parse_constant=self._parse_constant)
        self.lenient = json.JSONDecoder(parse_int=self._parse_int, parse_constant=self._parse_constant)
        """Only for elements with integers too long to convert: calling `_parse_int` for each is slow."""

    def _parse_int(self, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            self.problems.append(f"an integer literal of {len(text.lstrip('-'))} digits "
                                 f"(at most {sys.get_int_max_str_digits() or MAX_INT_DIGITS})")
            return 0

    def _parse_constant(self, name: str) -> None:
        self.problems.append(f"{name} is not valid JSON")

    def more(self) -> bool:
        """Append the next chunk to the buffer (dropping what was consumed); False at the end of the file."""
        if self.eof:
            return False
        chunk = self.fh.read(max(JSON_ARRAY_CHUNK, len(self.buf) - self.pos))  # doubling: linear in element size
        self.eof = not chunk
        data = self.pending + chunk
        if not self.started and (len(data) >= 3 or self.eof):
            self.started = True
            data = data.removeprefix(_BOM)
        elif not self.started:
            self.pending = data  # too short to tell a BOM yet
            return True
        try:
            text, used = codecs.utf_8_decode(data, "strict", self.eof)
        except UnicodeDecodeError:
            self.bad_bytes = True
            text, used = codecs.utf_8_decode(data, "surrogateescape", self.eof)
        self.pending = data[used:]
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return bool(text) or not self.eof

    def skip_ws(self) -> None:
        while True:
            if self.pos < len(self.buf) and self.buf[self.pos] not in " \t\r\n":
                return
            pos = _JSON_WS.match(self.buf, self.pos).end()
            self.line += self.buf.count("\n", self.pos, pos)
            self.pos = pos
            if pos < len(self.buf) or not self.more():
                return

    def fail(self, message: str, line: int | None = None) -> RawRecord:
        return RawRecord(self.path, self.line if line is None else line,
                         error=f"{message}; reading of this file stops here")

    def unexpected(self, pos: int) -> str:
        char = self.buf[pos : pos + 1]
        if _ESCAPED_BYTE.match(char):
            return "found invalid UTF-8 (re-encode the file as UTF-8)"
        return f"found `{char}`" if char else "found the end of the file"

    def __iter__(self) -> Iterator[RawRecord]:
        self.skip_ws()
        if self.buf[self.pos : self.pos + 1] != "[":
            yield self.fail(f"expected a JSON array, {self.unexpected(self.pos)}")
            return
        self.pos += 1
        after_comma = False
        while True:
            self.skip_ws()
            if self.pos >= len(self.buf):
                yield self.fail("the JSON array is not closed (`]` missing)")
                return
            if self.buf[self.pos] == "]":
                if after_comma:
                    yield self.fail("a `,` before the closing `]` (trailing commas are not JSON)")
                    return
                self.pos += 1
                break
            record, fatal = self.element()
            yield record
            if fatal:
                return
            self.skip_ws()
            c = self.buf[self.pos : self.pos + 1]
            if c == ",":
                self.pos += 1
                after_comma = True
            elif c == "]":
                after_comma = False
            elif not c:
                yield self.fail("the JSON array is not closed (`]` missing)")
                return
            else:
                yield self.fail(f"expected `,` or `]` after the array element at line {record.line}, "
                                f"{self.unexpected(self.pos)}")
                return
        self.skip_ws()
        if self.pos < len(self.buf):
            yield self.fail(f"unexpected text after the closing `]` of the JSON array: {self.unexpected(self.pos)}")

    def element(self) -> tuple[RawRecord, bool]:
        """The element at `pos`, and whether reading must stop (its end is unknown)."""
        start_line = self.line
        decoder = self.decoder
        while True:
            self.problems.clear()
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if not self.eof and (e.pos >= len(self.buf) - _TRUNCATION_SLACK
                                     or e.msg.startswith("Unterminated string")):
                    if len(self.buf) - self.pos > self.limit:  # characters: at least as many bytes
                        return self.skip_oversized(start_line)
                    if self.more():
                        continue  # the element goes on in the next chunk
                at = self.line + self.buf.count("\n", self.pos, e.pos)
                bad_byte = _ESCAPED_BYTE.match(self.buf, e.pos) is not None
                detail = "invalid UTF-8 (re-encode the file as UTF-8)" if bad_byte else e.msg
                return self.fail(f"invalid JSON in the array element starting at line {start_line}: "
                                 f"{detail} at line {at}", start_line), True
            except RecursionError:
                if not self.skip_element():
                    return self.fail(f"the array element at line {start_line} is nested too deeply to read "
                                     "and is not closed", start_line), True
                return RawRecord(self.path, start_line, error="invalid JSON: nesting is too deep to read"), False
            except ValueError:  # an integer too long for int(): decode again, noting it, to find the end
                decoder = self.lenient
                continue
            if not self.eof and (end == len(self.buf) or (
                    isinstance(value, (int, float)) and _NUMBER_TAIL.fullmatch(self.buf, end))):
                if len(self.buf) - self.pos > self.limit:
                    return self.skip_oversized(start_line)
                if self.more():
                    continue  # a number (or the `]` after it) may go on in the next chunk
            break
        start = self.pos
        bad_byte = self.bad_bytes and _ESCAPED_BYTE.search(self.buf, start, end) is not None
        self.line += self.buf.count("\n", start, end)
        self.pos = end
        if end - start > self.limit:  # characters: at least as many bytes (it fitted in a chunk: measure it)
            size = len(self.buf[start:end].encode("utf-8", "surrogateescape"))
            return RawRecord(self.path, start_line, error=too_large(size, self.limit)), False
        if bad_byte:
            return RawRecord(self.path, start_line,
                             error="invalid UTF-8 in the array element: re-encode the file as UTF-8"), False
        if self.problems:
            return RawRecord(self.path, start_line, error=f"invalid JSON: {self.problems[0]}"), False
        if self.buf.find("\\u", start, end) >= 0 and _SURROGATE_ESCAPE.search(self.buf, start, end):
            problem = unpaired_surrogate(value)
            if problem is not None:
                return RawRecord(self.path, start_line, error=f"invalid JSON: {problem}"), False
        return RawRecord(self.path, start_line, data=value), False

    def skip_oversized(self, start_line: int) -> tuple[RawRecord, bool]:
        """Move past the element at `pos`, known to be over the limit, reading on in chunks and keeping
        none of it (strings of any length included); the element's error record, and whether reading
        must stop (the file ends inside it)."""
        depth = 0
        in_string = escaped = False
        i = self.pos
        while True:
            end = self._scan(i, depth, in_string, escaped)
            if isinstance(end, int):
                self.line += self.buf.count("\n", self.pos, end)
                self.pos = end
                return RawRecord(self.path, start_line, error=too_large(None, self.limit)), False
            depth, in_string, escaped = end
            self.line += self.buf.count("\n", self.pos)
            self.pos = len(self.buf)
            if not self.more():
                return self.fail(f"the array element at line {start_line} is over max_record_bytes "
                                 f"({self.limit:,}) and is not closed", start_line), True
            i = self.pos

    def _scan(self, i: int, depth: int, in_string: bool, escaped: bool) -> int | tuple[int, bool, bool]:
        """Where the element being skipped ends in the buffer (from `i`, in the given state), or the
        state at the end of the buffer when it goes on."""
        buf = self.buf
        n = len(buf)
        while i < n:
            if escaped:
                escaped = False
                i += 1
            elif in_string:
                m = _STRING_SPECIAL.search(buf, i)
                if m is None:
                    break
                i = m.end()
                escaped = m.group() == "\\"
                in_string = escaped
            else:
                m = _SKIP_STRUCTURAL.search(buf, i)
                if m is None:
                    break
                c = m.group()
                if c == '"':
                    in_string = True
                elif c in "[{":
                    depth += 1
                elif depth == 0:  # the `,` or `]` after a scalar element
                    return m.start()
                elif c in "]}":
                    depth -= 1
                    if depth == 0:
                        return m.end()
                i = m.end()
        return depth, in_string, escaped

    def skip_element(self) -> bool:
        """Move past the array or object at `pos` by counting brackets (strings skipped); False at EOF."""
        depth = 0
        i = self.pos
        while True:
            m = _STRUCTURAL.search(self.buf, i)
            if m is None:
                resume = len(self.buf)
            elif m.group() == '"':
                s = _STRING_REST.match(self.buf, m.end())
                if s is not None:
                    i = s.end()
                    continue
                resume = m.start()  # the string goes on in the next chunk: scan it again from its quote
            else:
                depth += 1 if m.group() in "[{" else -1
                i = m.end()
                if depth <= 0:
                    self.line += self.buf.count("\n", self.pos, i)
                    self.pos = i
                    return True
                continue
            self.line += self.buf.count("\n", self.pos, resume)
            self.pos = resume
            if not self.more():
                return False
            i = self.pos


def _iter_json_array(fh: Any, path: str, limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[RawRecord]:
    """Stream the elements of a top-level JSON array, reading the file in growing chunks."""
    yield from _JsonArrayStream(fh, path, limit)


def _drop_nulls(value: Any) -> Any:
    """Arrow fills the struct fields a row lacks with None: read them as absent (None in lists is kept)."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _arrow_row(path: str, row: int, data: Any) -> RawRecord:
    try:
        return RawRecord(path, row, data=_drop_nulls(data))
    except RecursionError:
        return RawRecord(path, row, error="invalid record: nesting is too deep to read")


def _iter_parquet(path: Path) -> Iterator[RawRecord]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the install
        raise ReadError(f"{path}: reading Parquet needs pyarrow: pip install 'curate-agents[data]'") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for bad files
        raise ReadError(f"{path}: not a readable Parquet file: {e}") from None
    row = 0
    for group in range(pf.num_row_groups):
        size = pf.metadata.row_group(group).num_rows
        done = 0
        try:
            for batch in pf.iter_batches(batch_size=1024, row_groups=[group]):
                for data in batch.to_pylist():
                    done += 1
                    yield _arrow_row(str(path), row + done, data)
        except Exception as e:  # a corrupt row group: one finding where it breaks, then the next group
            reason = " ".join(str(e).split())
            yield RawRecord(str(path), row + done + 1, error=f"cannot read rows {row + done + 1}-{row + size} "
                            f"(Parquet row group {group + 1}): {reason}")
        row += size


DATA_SUFFIXES = (*JSONL_SUFFIXES, ".json", ".parquet")


def _is_datasets_folder(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (
        (path / "dataset_info.json").is_file() and (path / "state.json").is_file()
    )


def _iter_folder(path: Path, limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[RawRecord]:
    """A folder written by `datasets.save_to_disk`, else the data files under it, in path order."""
    if _is_datasets_folder(path):
        yield from _iter_dataset_folder(path)
        return
    found = False
    for f in _walk(path):
        found = True
        yield from _iter_dataset_folder(f) if f.is_dir() else iter_raw(f, limit)
    if not found:
        raise ReadError(f"{path}: a folder with no datasets files and no .jsonl/.json/.parquet files")


def _walk(folder: Path) -> Iterator[Path]:
    """Data files and `datasets` folders under `folder`, sorted; hidden and BFCL sidecar folders skipped, and
    so are folders `curate` wrote (a build's OUT, a training run): an output is never read back as input."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as e:
        raise ReadError(f"{folder}: cannot list the folder: {e.strerror}") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if _is_datasets_folder(entry):
                yield entry
            elif entry.name not in SIDECAR_DIRS and not entry.is_symlink() and not is_output_folder(entry):
                yield from _walk(entry)
        elif entry.suffix.lower() in DATA_SUFFIXES and entry.is_file():
            yield entry


data_files = _walk
"""The files (and `datasets` folders) a folder input is read from, in reading order."""


def _iter_dataset_folder(path: Path) -> Iterator[RawRecord]:
    """A folder written by `datasets.save_to_disk` (Dataset or DatasetDict): one record per row."""
    try:
        from datasets import Dataset, DatasetDict, load_from_disk
    except ImportError:  # pragma: no cover
        raise ReadError(
            f"{path}: reading datasets folders needs `datasets`: pip install 'curate-agents[data]'"
        ) from None
    try:
        ds = load_from_disk(str(path))
    except Exception as e:
        raise ReadError(f"{path}: not a readable datasets folder: {e}") from None
    splits: list[tuple[str, Dataset]] = list(ds.items()) if isinstance(ds, DatasetDict) else [("", ds)]
    for split, d in splits:
        where = str(path / split) if split else str(path)
        row = 0
        try:
            for data in d:
                row += 1
                yield _arrow_row(where, row, data)
        except Exception as e:  # a corrupt Arrow file
            yield RawRecord(where, row + 1, error=f"cannot read the rows from row {row + 1} on: {e}")


# --- shapes --------------------------------------------------------------------------------------

ROLE_ALIASES = {
    "system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
    "model": "assistant", "bot": "assistant", "chatgpt": "assistant", "tool": "tool", "function": "tool",
    "observation": "tool", "ipython": "tool", "function_response": "tool", "tool_response": "tool",
}


def adapt(data: Any, answers: dict[str, Any] | None = None) -> dict[str, Any]:
    """Map a record of any supported shape onto the canonical dict (not yet validated).

    `answers` maps BFCL ids to their `ground_truth`. Raises `ShapeError` for unknown shapes.
    """
    if not isinstance(data, dict):
        raise ShapeError(f"a record must be a JSON object, got {json_type(data)}")
    if "messages" in data and data["messages"] is not None:
        out = _from_messages(data, data["messages"])
    elif data.get("conversations") is not None or data.get("conversation") is not None:
        conv = data.get("conversations") if data.get("conversations") is not None else data["conversation"]
        out = _from_conversations(data, conv)
    elif "instruction" in data and "output" in data:
        out = _from_instruction(data)
    elif _is_bfcl(data):
        out = from_bfcl(data, (answers or {}).get(str(data.get("id"))))
    else:
        keys = ", ".join(f"`{_short_key(k)}`" for k in list(data)[:8]) or "none"
        more = f" and {len(data) - 8} more" if len(data) > 8 else ""
        raise ShapeError(
            f"unrecognised record shape (keys: {keys}{more}); expected `messages`, `conversations`, "
            "`instruction`/`output` or a BFCL `question`/`function` (or `involved_classes`) row"
        )
    if "tools" in out:
        out["tools"] = normalise_tools(out["tools"])
    return out


def _is_bfcl(data: dict[str, Any]) -> bool:
    """A BFCL row: `question` and `function` (or, multi-turn, `involved_classes`), no other shape's keys."""
    return ("question" in data and ("function" in data or "involved_classes" in data)
            and data.get("messages") is None
            and data.get("conversations") is None and data.get("conversation") is None
            and not ("instruction" in data and "output" in data))


def _short_key(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 40 else text[:39] + "…"


def record_id(value: Any) -> Any:
    """A record's `id` as a string: numbers are written as JSON; other types are left for validation."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)
    return value


def _base(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if data.get("id") is not None:
        out["id"] = record_id(data["id"])
    tools = data.get("tools")
    if tools is not None:
        out["tools"] = tools
    if data.get("meta") is not None:
        out["meta"] = data["meta"]
    return out


def _from_messages(data: dict[str, Any], messages: Any) -> dict[str, Any]:
    out = _base(data)
    extra = {k: v for k, v in data.items() if k not in ("id", "messages", "tools", "meta")}
    out.update(extra)
    if not isinstance(messages, list):
        raise ShapeError(f"`messages` must be a list, got {json_type(messages)}")
    out["messages"] = [_message(m, i) for i, m in enumerate(messages)]
    return out


_CANONICAL_ROLES = frozenset({"system", "user", "assistant", "tool"})
_PLAIN_KEYS = frozenset({"role", "content", "name", "tool_call_id", "train"})


def _message(m: Any, index: int) -> Any:
    if not isinstance(m, dict):
        return m  # the model validation reports it with its index
    if m.get("role") in _CANONICAL_ROLES and _PLAIN_KEYS.issuperset(m) and not isinstance(m.get("content"), list):
        return m  # already canonical (the common case): nothing to adapt; None fields read as absent
    msg = {k: v for k, v in m.items() if v is not None or k == "content"}
    role = msg.get("role")
    if isinstance(role, str) and role.lower() in ROLE_ALIASES:
        msg["role"] = ROLE_ALIASES[role.lower()]
    content = msg.get("content")
    if isinstance(content, list):  # OpenAI content parts
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                text = part.get("text")
                if not isinstance(text, str):
                    raise ShapeError(f"message {index}: a text content part whose `text` is {json_type(text)}, "
                                     "not a string", index)
                texts.append(text)
            elif isinstance(part, str):
                texts.append(part)
            else:
                kind = part.get("type") if isinstance(part, dict) else json_type(part)
                raise ShapeError(f"message {index}: content part of type {_short_key(kind)!r} is not text", index)
        msg["content"] = "".join(texts)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        msg["tool_calls"] = [_tool_call(c) for c in calls]
    if "function_call" in msg and "tool_calls" not in msg:  # legacy OpenAI single call
        fc = msg.pop("function_call")
        if isinstance(fc, dict):
            msg["tool_calls"] = [{"type": "function", "function": fc}]
    return msg


def _tool_call(c: Any) -> Any:
    if isinstance(c, dict) and "function" not in c and "name" in c:  # bare {name, arguments}
        c = {"id": c.get("id"), "type": "function",
             "function": {"name": c["name"], "arguments": c.get("arguments", {})}}
    if isinstance(c, dict):
        c = {k: v for k, v in c.items() if v is not None}
        fn = c.get("function")
        if isinstance(fn, dict) and fn.get("arguments") is None and "arguments" in fn:
            c["function"] = {**fn, "arguments": {}}
    return c


def _from_conversations(data: dict[str, Any], conv: Any) -> dict[str, Any]:
    out = _base(data)
    if isinstance(out.get("tools"), str):
        out["tools"], err = _load(out["tools"])
        if err:
            raise ShapeError(f"`tools` is a string that is not valid JSON: {err}")
    if not isinstance(conv, list):
        raise ShapeError(f"`conversations` must be a list, got {json_type(conv)}")
    messages: list[Any] = []
    if isinstance(data.get("system"), str) and data["system"]:
        messages.append({"role": "system", "content": data["system"]})
    for i, turn in enumerate(conv):
        if isinstance(turn, dict) and "from" in turn and "role" not in turn:
            role = str(turn.get("from", "")).lower()
            value = turn.get("value")
            if role == "function_call":
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                messages.append({"role": "assistant", "content": f"<tool_call>\n{text}\n</tool_call>"})
                continue
            if role not in ROLE_ALIASES:
                raise ShapeError(f"turn {i}: unknown ShareGPT speaker `{_short_key(turn.get('from'))}` "
                                 "(expected human, gpt, system, function_call or observation)", len(messages))
            messages.append({"role": ROLE_ALIASES[role], "content": value})
        else:
            messages.append(_message(turn, i))
    out["messages"] = messages
    return out


def _from_instruction(data: dict[str, Any]) -> dict[str, Any]:
    out = _base(data)
    messages = []
    if isinstance(data.get("system"), str) and data["system"]:
        messages.append({"role": "system", "content": data["system"]})
    prompt = data.get("instruction")
    extra = data.get("input")
    if isinstance(prompt, str) and isinstance(extra, str) and extra.strip():
        prompt = f"{prompt}\n\n{extra}"
    messages.append({"role": "user", "content": prompt})
    messages.append({"role": "assistant", "content": data.get("output")})
    out["messages"] = messages
    return out


def normalise_tools(tools: Any) -> Any:
    """Bare `{name, description, parameters}` specs become the OpenAI shape; others pass through."""
    if isinstance(tools, str):
        value, err = _load(tools)
        if err is not None:
            raise ShapeError(f"`tools` is a string that is not valid JSON: {err}")
        tools = value
    if not isinstance(tools, list):
        return tools
    out = []
    for t in tools:
        if isinstance(t, dict) and "function" not in t and "name" in t:
            t = {"type": "function", "function": t}
        elif isinstance(t, dict) and isinstance(t.get("function"), dict):
            fn = t["function"]
            if isinstance(fn.get("parameters"), str):
                params, err = _load(fn["parameters"])
                if err is None:
                    t = {**t, "function": {**fn, "parameters": params}}
        out.append(t)
    return out


# --- BFCL ---------------------------------------------------------------------------------------

BFCL_CLASS_FILES = {
    "GorillaFileSystem": "gorilla_file_system.json", "MathAPI": "math_api.json",
    "MessageAPI": "message_api.json", "TwitterAPI": "posting_api.json", "PostingAPI": "posting_api.json",
    "TicketAPI": "ticket_api.json", "TradingBot": "trading_bot.json", "TravelAPI": "travel_booking.json",
    "TravelBookingAPI": "travel_booking.json", "VehicleControlAPI": "vehicle_control.json",
    "WebSearchAPI": "web_search.json", "MemoryAPI_kv": "memory_kv.json",
    "MemoryAPI_rec_sum": "memory_rec_sum.json", "MemoryAPI_vector": "memory_vector.json",
}


def bfcl_answer_value(values: Any) -> tuple[bool, Any]:
    """The first acceptable value of a BFCL ground-truth list; `""` first means the parameter is omitted."""
    if not isinstance(values, list) or not values:
        return True, values
    first = values[0]
    if first == "" and isinstance(first, str):
        return False, None
    return True, first


def bfcl_nested_value(value: Any, schema: Any) -> Any:
    """One acceptable value of a `dict` (or array-of-`dict`) parameter, as BFCL's checker reads it.

    Inside such values BFCL nests its answer format one level down: `{"key": [acceptable values]}`,
    `""` among them meaning the key may be left out (`dict_checker` / `list_dict_checker` of
    bfcl_eval's AST checker). The first acceptable value is taken, as for top-level parameters.
    """
    if not isinstance(schema, dict):
        return value
    t = schema.get("type")
    if t == "dict" and isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        out = {}
        for key, values in value.items():
            present, first = bfcl_answer_value(values)
            if present:
                out[key] = first
        return out
    items = schema.get("items")
    if t in ("array", "tuple") and isinstance(value, list) and isinstance(items, dict) and items.get("type") == "dict":
        return [bfcl_nested_value(v, items) for v in value]
    return value


def _bfcl_properties(tools: Any, name: str) -> dict[str, Any]:
    for spec in tools or ():
        if isinstance(spec, dict) and spec.get("name") == name:
            params = spec.get("parameters")
            props = params.get("properties") if isinstance(params, dict) else None
            return props if isinstance(props, dict) else {}
    return {}


def from_bfcl(row: dict[str, Any], ground_truth: Any = None, syntax: str = "json",
              func_docs: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """A BFCL row (+ its ground truth) as a canonical dict.

    Single-turn answers (`[{fname: {param: [values]}}]`) become one assistant turn with a
    `<tool_call>` block per call, written as JSON or as a Python-style call (`syntax`). Multi-turn
    answers (lists of call strings per turn) become one assistant turn per user turn, each call
    in its own block as written by BFCL.
    """
    out: dict[str, Any] = {} if row.get("id") is None else {"id": record_id(row["id"])}
    tools = row.get("function")
    classes = row.get("involved_classes")
    if not tools and isinstance(classes, list) and func_docs is not None:
        excluded = row.get("excluded_function")
        excluded = {f for f in excluded if isinstance(f, str)} if isinstance(excluded, list) else set()
        tools = [f for cls in classes if isinstance(cls, str) for f in func_docs.get(cls, [])
                 if f.get("name") not in excluded]
    out["tools"] = tools or []
    question = row.get("question")
    if not isinstance(question, list):
        raise ShapeError("BFCL row: `question` must be a list of turns")
    turns = [t if isinstance(t, list) else [t] for t in question]
    messages: list[dict[str, Any]] = []
    multi = isinstance(ground_truth, list) and ground_truth and all(isinstance(g, list) for g in ground_truth)
    for k, turn in enumerate(turns):
        messages.extend(_message(m, len(messages)) for m in turn)
        if multi and k < len(ground_truth):
            calls = ground_truth[k]
            content = "\n".join(f"<tool_call>\n{c}\n</tool_call>" for c in calls)
            messages.append({"role": "assistant", "content": content or "Done."})
    if ground_truth is not None and not multi:
        if not isinstance(ground_truth, list):
            raise ShapeError(f"BFCL ground truth must be a list of calls, got {json_type(ground_truth)}")
        blocks = []
        for call in ground_truth:
            if not isinstance(call, dict) or len(call) != 1:
                raise ShapeError("BFCL ground truth: each call must be {function_name: {param: [values]}}")
            (name, params), = call.items()
            if params is not None and not isinstance(params, dict):
                raise ShapeError(f"BFCL ground truth: the parameters of `{_short_key(name)}` must be an object "
                                 "{param: [values]}")
            props = _bfcl_properties(tools, name)
            args = {}
            for key, values in (params or {}).items():
                present, value = bfcl_answer_value(values)
                if present:
                    args[key] = bfcl_nested_value(value, props.get(key))
            if syntax == "python":
                body = format_python_call(name, args)
            else:
                body = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
            blocks.append(f"<tool_call>\n{body}\n</tool_call>")
        messages.append({"role": "assistant", "content": "\n".join(blocks)})
    out["messages"] = messages
    return out


def _json_objects(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines side file; lines that are not objects are skipped."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError:
        return
    with fh:
        for lineno, line in enumerate(fh, 1):
            rec = _decode_line(line, str(path), lineno)
            if rec is not None and isinstance(rec.data, dict):
                yield rec.data


def load_bfcl_answers(path: Path) -> dict[str, Any]:
    """`possible_answer/<same name>` beside a BFCL file: id → ground_truth (unreadable lines skipped)."""
    return {str(row["id"]): row.get("ground_truth") for row in _json_objects(path) if row.get("id") is not None}


def load_bfcl_func_docs(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The multi-turn function docs, by BFCL class name (unreadable lines skipped)."""
    docs: dict[str, list[dict[str, Any]]] = {}
    for cls, fname in BFCL_CLASS_FILES.items():
        f = folder / fname
        if f.is_file():
            docs[cls] = list(_json_objects(f))
    return docs


# --- putting it together ------------------------------------------------------------------------


@dataclass(slots=True)
class ReadResult:
    """A record read, adapted and validated; exactly one of `record`, `read_error`, `shape_errors`."""

    raw: RawRecord
    record: Trajectory | None
    record_id: str | None
    shape_errors: list[tuple[int | None, str]]


def validation_errors(e: ValidationError) -> list[tuple[int | None, str]]:
    """Pydantic errors as (message index, readable text), at most 3 per record."""
    out: list[tuple[int | None, str]] = []
    for err in e.errors(include_url=False)[:3]:
        loc = err["loc"]
        index = loc[1] if len(loc) > 1 and loc[0] == "messages" and isinstance(loc[1], int) else None
        where = ".".join(_short_key(x) for x in loc)
        out.append((index, f"{where}: {err['msg'].lower()} (got {_preview(err.get('input'))})"))
    return out


def _preview(value: Any) -> str:
    """A short rendering of a value, in time independent of its size."""
    if isinstance(value, dict):
        return "{…}" if value else "{}"
    if isinstance(value, list):
        return "[…]" if value else "[]"
    if isinstance(value, str):
        return json.dumps(value[:40], ensure_ascii=False) + ("…" if len(value) > 40 else "")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "a very long integer"
    return _short_key(json.dumps(value, ensure_ascii=False, default=str))


_VALIDATE_JSON = Trajectory.__pydantic_validator__.validate_json


def canonical_record(text: bytes) -> Trajectory | None:
    """The record of a JSON Lines line already in the canonical shape, validated straight from its
    bytes in one pass (pydantic-core parses and validates together); None when the line needs the
    general path: anything the validator rejects (unpaired surrogate escapes among it: pydantic-core
    refuses them as json is told to), a message with keys that adaptation would change (legacy
    `function_call`, extra keys), and texts where JSON parsers differ (`NaN`/`Infinity`, integers of
    19 digits or more). On the lines it accepts it gives the same record as decoding, adapting and
    validating do; a test holds it to that."""
    # `find`, not `in`: for bytes, `in` first tries its operand as an integer (an exception each time).
    if text.find(b"NaN") >= 0 or text.find(b"Infinity") >= 0 or has_long_integer(text):
        return None
    try:
        record = _VALIDATE_JSON(text)
    except ValueError:  # ValidationError, including text that is not JSON at all
        return None
    for m in record.messages:
        if m.__pydantic_extra__:
            return None
    return record


class RecordReader:
    """Reads records from paths, adapting and validating each; never raises for bad records.

    `max_record_bytes`: longer records are not parsed but read as unreadable (see `iter_raw`)."""

    def __init__(self, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._bfcl_answers: dict[Path, dict[str, Any] | None] = {}
        self._bfcl_docs: dict[Path, dict[str, list[dict[str, Any]]]] = {}
        self.max_record_bytes = max_record_bytes

    def read(self, path: str | os.PathLike[str]) -> Iterator[ReadResult]:
        for raw in iter_raw(path, self.max_record_bytes):
            yield self.read_record(raw)

    def read_record(self, raw: RawRecord) -> ReadResult:
        """One raw record read, adapted and validated: what `read` yields for it.

        Callers that hold raw records apart from their files (the build's Arrow rows) read them here,
        so there is one reading path; a BFCL row still finds its answers beside `raw.path`.
        """
        if raw.text is not None:
            record = canonical_record(raw.text)
            if record is not None:
                return ReadResult(raw, record, record.id, [])
        if raw.error is not None:
            return ReadResult(raw, None, None, [])
        data = raw.data
        rid = record_id(data.get("id")) if isinstance(data, dict) else None
        rid = rid if isinstance(rid, str) else None
        try:
            if isinstance(data, dict) and _is_bfcl(data):
                answers = self._answers_for(Path(raw.path)) or {}
                docs = self._docs_for(Path(raw.path))
                adapted = from_bfcl(data, answers.get(str(data.get("id"))), func_docs=docs)
                adapted["tools"] = normalise_tools(adapted["tools"])
            else:
                adapted = adapt(data)
            record = Trajectory.model_validate(adapted)
        except ShapeError as e:
            return ReadResult(raw, None, rid, [(e.message_index, str(e))])
        except ValidationError as e:
            return ReadResult(raw, None, rid, validation_errors(e))
        except RecursionError:
            return ReadResult(raw, None, rid, [(None, "the record is nested too deeply to read")])
        return ReadResult(raw, record, record.id, [])

    def _answers_for(self, path: Path) -> dict[str, Any] | None:
        candidate = path.parent / "possible_answer" / path.name
        if candidate not in self._bfcl_answers:
            self._bfcl_answers[candidate] = load_bfcl_answers(candidate) if candidate.exists() else None
        return self._bfcl_answers[candidate]

    def _docs_for(self, path: Path) -> dict[str, list[dict[str, Any]]]:
        folder = path.parent / "multi_turn_func_doc"
        if folder not in self._bfcl_docs:
            self._bfcl_docs[folder] = load_bfcl_func_docs(folder) if folder.exists() else {}
        return self._bfcl_docs[folder]


def load_tool_specs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Tool specs from a `--tools` file: a JSON array (or JSONL) of OpenAI-shaped or bare specs."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReadError(f"{p}: tools file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ReadError(f"{p}: cannot read tools file: {e}") from None
    value, err = _load(text)
    if err is not None:
        values = []
        for lineno, line in enumerate(text.split("\n"), 1):
            if line.strip():
                v, line_err = _load(line)
                if line_err is not None and not values:
                    raise ReadError(f"{p}: tools file is not valid JSON: {err}")
                if line_err is not None:
                    raise ReadError(f"{p}:{lineno}: tools file is neither JSON nor JSON Lines: {line_err}")
                values.append(v)
        value = values
    if isinstance(value, dict):
        value = value.get("tools", [value])
    if not isinstance(value, list):
        raise ReadError(f"{p}: a tools file must hold a JSON array of tool specs")
    specs = normalise_tools(value)
    for i, spec in enumerate(specs):
        fn = spec.get("function") if isinstance(spec, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ReadError(f"{p}: tool spec #{i + 1} has no function name; expected "
                            '{"type": "function", "function": {"name": ..., "parameters": {...}}}')
    return specs
