"""Readers: files of many layouts and shapes in, canonical `Trajectory` records out, streaming.

Reading is two steps, each a folder of small modules:

- layouts (`files`): `iter_raw(path)` opens a file, stdin or folder, sniffs its layout and yields one
  `RawRecord` per line (`jsonl`), array element (`json_array`), pretty-printed record (`json_document`) or
  Arrow row (`arrow`: Parquet, `datasets` folders), in memory bounded by the largest record. It never
  raises for bad data: a record that cannot be read carries an `error` and reading goes on. Only an input
  that cannot be opened at all raises `ReadError`.
- shapes (`shapes/`): `adapt(data)` maps each record onto the canonical record with the first adapter that
  recognises it: `messages`, `conversations` (ChatML, ShareGPT), `instruction`/`output`, BFCL rows.
  Adding a shape is adding a file there.

`RecordReader` (`reader`) runs both and validates, yielding a `ReadResult` per record. A record longer than
`max_record_bytes` (default `DEFAULT_MAX_RECORD_BYTES`, 16 MiB) is not parsed: it is unreadable, with a
message giving its size and how to raise the limit. `load_tool_specs` (`tool_specs`) reads a `--tools` file.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from curate.readers import json_array
from curate.readers.arrow import is_datasets_folder
from curate.readers.errors import ReadError, ShapeError
from curate.readers.files import data_files, iter_raw
from curate.readers.json_array import JSON_ARRAY_CHUNK
from curate.readers.json_array import _JsonArrayStream as _JsonArrayStream
from curate.readers.raw import DEFAULT_MAX_RECORD_BYTES, RawRecord, fallback_id, too_large, unpaired_surrogate
from curate.readers.raw import _decode_bytes as _decode_bytes
from curate.readers.reader import ReadResult, RecordReader, canonical_record, validation_errors
from curate.readers.shapes import ShapeAdapter, Source, adapt, adapters, register, unregister
from curate.readers.shapes.base import record_id
from curate.readers.shapes.bfcl import (
    bfcl_answer_value,
    bfcl_nested_value,
    from_bfcl,
    load_bfcl_answers,
    load_bfcl_func_docs,
)
from curate.readers.tool_specs import load_tool_specs, normalise_tools

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "JSON_ARRAY_CHUNK",
    "RawRecord",
    "ReadError",
    "ReadResult",
    "RecordReader",
    "ShapeAdapter",
    "ShapeError",
    "Source",
    "adapt",
    "adapters",
    "bfcl_answer_value",
    "bfcl_nested_value",
    "canonical_record",
    "data_files",
    "fallback_id",
    "from_bfcl",
    "is_datasets_folder",
    "iter_raw",
    "load_bfcl_answers",
    "load_bfcl_func_docs",
    "load_tool_specs",
    "normalise_tools",
    "record_id",
    "register",
    "too_large",
    "unpaired_surrogate",
    "unregister",
    "validation_errors",
]


class _Package(types.ModuleType):
    """This package, where setting `JSON_ARRAY_CHUNK` sets the chunk size the array parser reads (tests shrink
    it to cut elements across chunks)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "JSON_ARRAY_CHUNK":
            json_array.JSON_ARRAY_CHUNK = value
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
