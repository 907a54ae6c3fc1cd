"""`RecordReader`: raw records adapted to the canonical shape and validated into `Trajectory` records."""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from curate.readers.errors import ShapeError
from curate.readers.files import iter_raw
from curate.readers.prompt_tools import with_prompt_tools
from curate.readers.raw import DEFAULT_MAX_RECORD_BYTES, RawRecord
from curate.readers.shapes import Source, adapt
from curate.readers.shapes.base import record_id, short_key
from curate.records import Trajectory
from curate.toolcalls import has_long_integer


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
        where = ".".join(short_key(x) for x in loc)
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
    return short_key(json.dumps(value, ensure_ascii=False, default=str))


_VALIDATE_JSON = Trajectory.__pydantic_validator__.validate_json


def canonical_record(text: bytes) -> Trajectory | None:
    """The record of a JSON Lines line already in the canonical shape, validated straight from its
    bytes in one pass (pydantic-core parses and validates together); None when the line needs the
    general path: anything the validator rejects (unpaired surrogate escapes among it: pydantic-core
    refuses them as json is told to), a message with keys that adaptation would change (legacy
    `function_call`, extra keys), a tool message holding a JSON list or `<tool_response>` blocks
    (results which adaptation may split or unwrap: `shapes.messages.split_results`), and texts where JSON
    parsers differ (`NaN`/`Infinity`, integers of 19 digits or more). On the lines it accepts it gives the
    same record as decoding, adapting and validating do (tools declared in the system prompt of a record
    without `tools` included: `with_prompt_tools`); a test holds it to that."""
    # `find`, not `in`: for bytes, `in` first tries its operand as an integer (an exception each time).
    if text.find(b"NaN") >= 0 or text.find(b"Infinity") >= 0 or has_long_integer(text):
        return None
    try:
        record = _VALIDATE_JSON(text)
    except ValueError:  # ValidationError, including text that is not JSON at all
        return None
    extra = record.__pydantic_extra__
    if extra and ("functions" in extra or "system" in extra):
        return None  # adaptation makes legacy `functions` the `tools`, a top-level `system` the first message
    for m in record.messages:
        if m.__pydantic_extra__ or (m.role == "tool" and m.content and _may_split(m.content)):
            return None
    messages = record.messages
    if record.tools or not messages or messages[0].role != "system":
        return record  # the common case: tools of its own, or no system prompt to declare any
    return with_prompt_tools(record)


def _may_split(content: str) -> bool:
    """Whether adaptation may split a tool message or unwrap its result (`shapes.messages.split_results`): a JSON
    list, or `<tool_response>` blocks."""
    text = content.lstrip()
    return text.startswith("[") or text.startswith("<tool_response>")


class RecordReader:
    """Reads records from paths, adapting and validating each; never raises for bad records.

    `max_record_bytes`: longer records are not parsed but read as unreadable (see `iter_raw`)."""

    def __init__(self, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._beside: dict[Hashable, Any] = {}
        """What shape adapters loaded from beside the files read (BFCL's answers), shared by all records."""
        self.max_record_bytes = max_record_bytes

    def read(self, path: str | os.PathLike[str]) -> Iterator[ReadResult]:
        """The records of a file or folder, in order (see `iter_raw`); raises `ReadError` only if it cannot be
        opened."""
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
            record = Trajectory.model_validate(adapt(data, Source(raw.path, self._beside)))
        except ShapeError as e:
            return ReadResult(raw, None, rid, [(e.message_index, str(e))])
        except ValidationError as e:
            return ReadResult(raw, None, rid, validation_errors(e))
        except RecursionError:
            return ReadResult(raw, None, rid, [(None, "the record is nested too deeply to read")])
        return ReadResult(raw, record, record.id, [])
