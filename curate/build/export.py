"""Step 9 of `curate build`, the export rows: train.jsonl / eval.jsonl rows, the `datasets` folder gathered as
they are written, and the finished folder moved into place."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curate.build.gate import GatedRecord
from curate.build.raw import file_sha256, quiet_datasets
from curate.outputs import raise_if_terminated
from curate.records import ToolSpec, Trajectory
from curate.toolcalls import CallStyle, canonical_calls


def export_row(row: dict[str, Any], record: GatedRecord, split: str, copy_of: str | None = None) -> dict[str, Any]:
    """A record as written to train.jsonl / eval.jsonl: its canonical dump (`RecordDumper`, changed in
    place), plus labels."""
    row["bucket"] = record.bucket
    row["length_bucket"] = record.length_bucket
    row["signals"] = record.signals
    row["tokens"] = record.tokens
    row["split"] = split
    if copy_of is not None:
        row["copy_of"] = copy_of
    return row


class RecordDumper:
    """`record.model_dump(mode="json", exclude_none=True)`, with the `--tools` specs dumped once, and calls written
    as `calls` says (`[export] calls`: "canonical" rewrites ReAct steps, Python-style call lists and Python dict
    literals as `<tool_call>` JSON with `curate.toolcalls.canonical_calls`, as `curate mask` does).

    Most exported records carry the `--tools` specs attached to them (`ToolSet.attach`), and those specs
    are most of each row: dumping them once, and their JSON text once for the `datasets` folder, halves
    the export's time. A record carrying those very spec objects gets the shared dump, in the place the
    field has in a whole-record dump (right after `messages`); any other record is dumped whole.
    """

    def __init__(self, specs: Sequence[ToolSpec], calls: CallStyle = "canonical") -> None:
        self.specs = list(specs)  # the very objects `ToolSet.attach` attached
        self.calls = calls
        self.tools = [t.model_dump(mode="json", exclude_none=True) for t in self.specs]
        self.tools_json = json.dumps(self.tools, ensure_ascii=False)

    def dump(self, record: Trajectory) -> tuple[dict[str, Any], str | None]:
        """The record's dump, and its tools' JSON text when it is the shared one (else None)."""
        if self.calls == "canonical":
            record = canonical_calls(record)
        tools = record.tools
        if not (self.specs and tools and len(tools) == len(self.specs)
                and all(a is b for a, b in zip(tools, self.specs, strict=True))):
            return record.model_dump(mode="json", exclude_none=True), None
        row: dict[str, Any] = {}
        for key, value in record.model_dump(mode="json", exclude_none=True, exclude={"tools"}).items():
            row[key] = value
            if key == "messages":  # fields dump in declaration order: id, messages, tools, meta, extras
                row["tools"] = self.tools
        return row, self.tools_json


_TEXT_COLUMNS = ("messages", "tools")
"""Columns of the `datasets` folder holding nested, ragged structures (tool schemas, arguments) as JSON text."""


def datasets_row(row: dict[str, Any], tools_json: str | None = None) -> dict[str, Any]:
    """An exported row as the `datasets` folder holds it: messages and tools as JSON text, no `meta`
    (`tools_json`: the tools' text when already known)."""
    out = dict(row)
    out["messages"] = json.dumps(row["messages"], ensure_ascii=False)
    out["tools"] = tools_json if tools_json is not None else json.dumps(row.get("tools") or [], ensure_ascii=False)
    out.pop("meta", None)
    out.setdefault("copy_of", None)
    return out


class DatasetsSplit:
    """One split of the `datasets` folder, gathered row by row while its JSON Lines file is written.

    `dataset()` gives what `Dataset.from_list` makes of the rows, without holding them: columns are the
    first row's keys (and any a later row adds, null before it), each small column's type is inferred
    from all its values (kept: they are small), and the JSON text columns are built into Arrow strings a
    batch at a time and joined into one array, as `from_list` has them, so that `save_to_disk` writes the
    same bytes.
    """

    def __init__(self, batch_size: int = 1000) -> None:
        self.batch_size = batch_size
        self.columns: list[str] | None = None
        self.rows = 0
        self.small: dict[str, list[Any]] = {}
        self.pending: dict[str, list[Any]] = {}
        self.chunks: dict[str, list[Any]] = {}

    def add(self, row: dict[str, Any]) -> None:
        """One row, as `datasets_row` gives it. A key first seen in a later row (`tools_source` on the records
        whose tools came from their system prompt, say) becomes a column too, null in the rows before it:
        `from_list` would drop it silently."""
        if self.columns is None:
            self.columns = list(row)
            self.small = {k: [] for k in self.columns if k not in _TEXT_COLUMNS}
            self.pending = {k: [] for k in self.columns if k in _TEXT_COLUMNS}
            self.chunks = {k: [] for k in self.pending}
        else:
            for k in row:
                if k not in self.small and k not in self.pending:
                    self.columns.append(k)
                    self.small[k] = [None] * self.rows
        self.rows += 1
        for k, values in self.small.items():
            values.append(row.get(k))
        for k, values in self.pending.items():
            values.append(row.get(k))
        if len(next(iter(self.pending.values()), ())) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        for k, values in self.pending.items():
            if values:
                self.chunks[k].append(pa.array(values, type=pa.string()))
                values.clear()

    def dataset(self, fingerprint: str) -> Any:
        import pyarrow as pa
        from datasets import Dataset, Features, Value
        from datasets.info import DatasetInfo
        from datasets.table import InMemoryTable

        if self.columns is None:
            return Dataset.from_dict({})
        self._flush()
        inferred = Dataset.from_dict(self.small).features if self.small else Features()
        features = Features({k: Value("string") if k in _TEXT_COLUMNS else inferred[k] for k in self.columns})
        arrays = []
        for k in self.columns:
            if k in _TEXT_COLUMNS:
                arrays.append(pa.concat_arrays(self.chunks.pop(k)) if self.chunks[k] else pa.array([], pa.string()))
            else:
                arrays.append(pa.array(self.small.pop(k), type=features.arrow_schema.field(k).type))
        table = pa.Table.from_arrays(arrays, names=self.columns)
        # an explicit fingerprint: without one, datasets hashes in-memory data by serialising all of it
        return Dataset(InMemoryTable(table), info=DatasetInfo(features=features), fingerprint=fingerprint)


def save_datasets_folder(out: Path, splits: dict[str, tuple[DatasetsSplit, Path]]) -> None:
    """The same rows as a `datasets` folder (DatasetDict with train / eval), deterministic fingerprints.

    `splits` maps each split to its gathered rows and its JSON Lines file, whose content hash is the
    split's fingerprint (datasets fingerprints in-memory data randomly).
    """
    from datasets import DatasetDict

    fingerprints = {name: file_sha256(path)[0][:16] for name, (_, path) in splits.items()}
    with quiet_datasets():
        DatasetDict({name: rows.dataset(fingerprints[name]) for name, (rows, _) in splits.items()}).save_to_disk(
            str(out))
    for name, fingerprint in fingerprints.items():  # the fingerprint goes in as given; sorted keys, as before
        state = out / name / "state.json"
        data = json.loads(state.read_text())
        data["_fingerprint"] = fingerprint
        state.write_text(json.dumps(data, indent=2, sort_keys=True))


def replace_dir(tmp: Path, out: Path) -> None:
    """Move a finished output folder into place; the previous one survives until the last moment."""
    raise_if_terminated()  # never put in place the output of a run told to stop
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


