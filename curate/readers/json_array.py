"""A top-level JSON array, streamed in chunks: memory is bounded by the largest element, not the file.

Each element is one record at the line it starts on. An element over `max_record_bytes` is skipped unread, as
are elements that cannot be decoded but whose end is known (bad UTF-8, nesting too deep, NaN, integers too
long); a syntax error stops the reading with one error record.
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from curate.readers.raw import BOM, DEFAULT_MAX_RECORD_BYTES, SURROGATE_ESCAPE, RawRecord, too_large, unpaired_surrogate
from curate.toolcalls import MAX_INT_DIGITS

JSON_ARRAY_CHUNK = 1 << 20
"""The bytes read at a time (more while one element needs them); tests set `curate.readers.JSON_ARRAY_CHUNK`."""
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
            data = data.removeprefix(BOM)
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
        if self.buf.find("\\u", start, end) >= 0 and SURROGATE_ESCAPE.search(self.buf, start, end):
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
