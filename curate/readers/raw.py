"""One record as read from a file, before adaptation (`RawRecord`), and how its bytes become a JSON value.

Strings holding unpaired surrogates (`"\\ud800"`: valid JSON, not Unicode) make a record unreadable, since
nothing downstream could write them as UTF-8.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from orjson import loads as orjson_loads

from curate.toolcalls import has_long_integer, load_json

DEFAULT_MAX_RECORD_BYTES = 16 << 20
"""Records longer than this many bytes are not parsed but read as unreadable (see `curate.readers`): parsing,
checking and building on a record takes memory many times its size."""
SKIP_CHUNK = 1 << 20
"""The pieces in which the rest of a record over the limit is read and dropped."""
BOM = b"\xef\xbb\xbf"


def too_large(size: int | None, limit: int) -> str:
    """The read error of a record over `limit` bytes (`size`: its length, None when not known exactly)."""
    what = f"{size:,} bytes long" if size is not None else f"longer than {limit:,} bytes"
    return (f"the record is {what}, over max_record_bytes ({limit:,}), and is not read; to read it, raise "
            "`max_record_bytes` ([tool.curate.lint] for `curate lint`, the top level of the build config "
            "for `curate build`)")


def fallback_id(path: str, line: int) -> str:
    """The id of a record that has none: `STEM-LINE` (`raw-12` for line 12 of `data/raw.jsonl`), as the build
    and `curate mask` name it; the build then makes ids unique (`curate.build.gate.unique_name`)."""
    return f"{PurePath(path).stem}-{line}"


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


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""A `\\uD800`-style escape: the only way JSON text can spell a surrogate."""
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


def load_text(text: str) -> tuple[Any, str | None]:
    """The JSON value of a text and None, or None and why it cannot be read (`load_json`, unpaired surrogates
    refused)."""
    value, err = load_json(text)
    if err is None and "\\u" in text and SURROGATE_ESCAPE.search(text):
        err = unpaired_surrogate(value)
    return value, err


def _decode_bytes(raw: bytes) -> tuple[Any, str | None]:
    """The JSON value of one line's bytes, or why it cannot be read."""
    if not has_long_integer(raw):
        # Fast path. orjson is stricter than json (no NaN, no lone surrogates), so whatever it accepts
        # json reads the same, except integers beyond 64 bits, which it turns into floats: lines with
        # 19 digits in a row take the slow path, as does anything orjson rejects (for the message).
        try:
            return orjson_loads(raw), None
        except ValueError:
            pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start} of the line: re-encode the file as UTF-8"
    value, err = load_text(text)
    if err is not None:
        return None, f"invalid JSON: {err}"
    return value, None
