"""Step 9 of `curate build`, the export rows: train.jsonl / eval.jsonl rows, the `datasets` folder gathered on disk as
they are written, and the finished folder moved into place."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, get_args

from curate.build.arrow import SpillFile, gather_chunks, rechunk
from curate.build.gate import GatedRecord
from curate.build.raw import file_sha256, quiet_datasets
from curate.buildconfig import ExportFormat
from curate.outputs import raise_if_terminated
from curate.records import Message, ToolSpec, Trajectory
from curate.render import assistant_body, normalise_arguments
from curate.toolcalls import CallStyle, canonical_calls, find_blocks, parse_call_text


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
    """`record.model_dump(mode="json", exclude_none=True)`, with the `--tools` specs dumped once, structured calls'
    arguments as objects (`arguments_as_objects`), and calls written as `calls` says (`[export] calls`:
    "canonical" rewrites ReAct steps, Python-style call lists and Python dict literals as `<tool_call>` JSON
    with `curate.toolcalls.canonical_calls`, as `curate mask` does).

    Most exported records carry the `--tools` specs attached to them (`ToolSet.attach`), and those specs
    are most of each row: dumping them once halves the export's time. A record carrying those very spec
    objects gets the shared dump, in the place the field has in a whole-record dump (right after
    `messages`); any other record is dumped whole.
    """

    def __init__(self, specs: Sequence[ToolSpec], calls: CallStyle = "canonical") -> None:
        self.specs = list(specs)  # the very objects `ToolSet.attach` attached
        self.calls = calls
        self.tools = [t.model_dump(mode="json", exclude_none=True) for t in self.specs]

    def dump(self, record: Trajectory) -> tuple[dict[str, Any], bool]:
        """The record's dump, and whether its tools are the shared dump of the `--tools` specs."""
        if self.calls == "canonical":
            record = canonical_calls(record)
        tools = record.tools
        if not (self.specs and tools and len(tools) == len(self.specs)
                and all(a is b for a, b in zip(tools, self.specs, strict=True))):
            return arguments_as_objects(record.model_dump(mode="json", exclude_none=True)), False
        row: dict[str, Any] = {}
        for key, value in record.model_dump(mode="json", exclude_none=True, exclude={"tools"}).items():
            row[key] = value
            if key == "messages":  # fields dump in declaration order: id, messages, tools, meta, extras
                row["tools"] = self.tools
        return arguments_as_objects(row), True


def arguments_as_objects(row: dict[str, Any]) -> dict[str, Any]:
    """Structured calls' `arguments` given as a JSON string holding an object, decoded to the object (the
    `transformers` convention: a chat template encodes arguments with `tojson`, and a string would be encoded
    twice). Changed in place; a string that is not a JSON object stays as written (lint reports it)."""
    for message in row.get("messages") or ():
        for call in message.get("tool_calls") or ():
            function = call.get("function")
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                value = normalise_arguments(function["arguments"])
                if isinstance(value, dict):
                    function["arguments"] = value
    return row


_JSON = "json"
"""A leaf of the `datasets` folder's nested columns held as datasets' `Json` feature (any JSON value)."""


class _Struct:
    """The fields of a struct in the `datasets` folder's `messages` column, in first-seen order: the record
    model's fields with their types, any other field (records allow extra fields) as `Json`."""

    def __init__(self, known: dict[str, Any]) -> None:
        self.known = known
        self.fields: dict[str, Any] = {}

    def see(self, value: dict[str, Any]) -> None:
        """Learn the fields of one value (and of the structs inside it)."""
        for key, sub in value.items():
            kind = self.fields.get(key)
            if kind is None:
                known = self.known.get(key, _JSON)
                kind = self.fields[key] = [_Struct(known[0].known)] if isinstance(known, list) else (
                    _Struct(known.known) if isinstance(known, _Struct) else known)
            if sub is None:
                continue
            if isinstance(kind, list) and isinstance(sub, list):
                for item in sub:
                    if isinstance(item, dict):
                        kind[0].see(item)
            elif isinstance(kind, _Struct) and isinstance(sub, dict):
                kind.see(sub)

    def encode(self, value: dict[str, Any]) -> dict[str, Any]:
        """`value` as Arrow takes it: `Json` fields as JSON text."""
        out: dict[str, Any] = {}
        for key, sub in value.items():
            kind = self.fields[key]
            if sub is None:
                out[key] = None
            elif kind == _JSON:
                out[key] = json.dumps(sub, ensure_ascii=False)
            elif isinstance(kind, list):
                out[key] = [kind[0].encode(item) for item in sub]
            elif isinstance(kind, _Struct):
                out[key] = kind.encode(sub)
            else:
                out[key] = sub
        return out

    def feature(self, storage: bool = False) -> Any:
        """The datasets feature (`storage`: the Arrow type it is gathered as, `Json` leaves as strings)."""
        from datasets import Json, List, Value

        def one(kind: Any) -> Any:
            if isinstance(kind, list):
                return List(kind[0].feature(storage))
            if isinstance(kind, _Struct):
                return kind.feature(storage)
            return Value("string") if kind == _JSON and storage else Json() if kind == _JSON else Value(kind)

        return {key: one(kind) for key, kind in self.fields.items()}


_FUNCTION_CALL = _Struct({"name": "string", "arguments": _JSON})
_TOOL_CALL = _Struct({"id": "string", "type": "string", "function": _FUNCTION_CALL})
_MESSAGE = _Struct({"role": "string", "content": "string", "tool_calls": [_TOOL_CALL], "name": "string",
                    "tool_call_id": "string", "train": "bool"})
"""The types of `curate.records.Message`'s fields (and of its calls'), as the `datasets` folder holds them."""

_NESTED_COLUMNS = ("messages", "tools", "meta")
"""Columns of the `datasets` folder gathered as Arrow a batch at a time: `messages` as a list of structs
(`_MESSAGE`'s fields, arguments as `Json`), `tools` as a list of `Json` values (a tool's parameter schema is
any JSON, and a struct would give every spec the fields of all the others, null, which a chat template's
`tojson` prints), `meta` as `Json`."""


def datasets_row(row: dict[str, Any]) -> dict[str, Any]:
    """An exported row as the `datasets` folder takes it: the same columns as train.jsonl, and `copy_of`
    (null but in copies)."""
    out = dict(row)
    out.setdefault("tools", [])
    out.setdefault("meta", None)
    out.setdefault("copy_of", None)
    return out


class DatasetsSplit:
    """One split of the `datasets` folder, gathered row by row while its JSON Lines file is written, on disk: every
    `batch_size` rows become one Arrow table in a `curate.build.arrow.SpillFile` (in `folder`, the build's work
    folder, or a temporary one), so memory holds one batch whatever the number of rows.

    Columns are the first row's keys (and any a later row adds, null before it). A batch holds the small columns
    with the types `datasets` infers from its values, and the nested columns (`_NESTED_COLUMNS`) with the message
    fields seen so far. At the end each small column gets the type `datasets` infers from all its values (the one
    its batches agree on, all-null batches aside; when they differ, inferred again from the values read back), the
    nested ones the fields of all the messages (null where a message lacks one) with the `Json` leaves as datasets'
    `Json`. `save` writes the split's folder from the batches, one at a time, as `save_to_disk` of the whole
    split (`dataset`) would.
    """

    def __init__(self, batch_size: int = 1000, folder: Path | None = None) -> None:
        self.batch_size = batch_size
        self.columns: list[str] | None = None
        self.rows = 0
        self.pending: dict[str, list[Any]] = {}  # the batch being gathered, by column
        self.inferred: dict[str, list[Any]] = {}  # each small column's features inferred from a batch, null aside
        self.message = _Struct(_MESSAGE.known)
        self._tools: tuple[Any, list[str]] = (None, [])
        self._features: Any = None
        self._spill = SpillFile(folder)

    def add(self, row: dict[str, Any]) -> None:
        """One row, as `datasets_row` gives it. A key first seen in a later row (`tools_source` on the records
        whose tools came from their system prompt, say) becomes a column too, null in the rows before it:
        `from_list` would drop it silently."""
        if self.columns is None:
            self.columns = list(row)
            for k in _NESTED_COLUMNS:
                if k not in self.columns:
                    self.columns.append(k)
            self.pending = {k: [] for k in self.columns}
            self.inferred = {k: [] for k in self.columns if k not in _NESTED_COLUMNS}
        else:
            for k in row:
                if k not in self.pending:
                    self.columns.append(k)
                    self.pending[k] = [None] * len(self.pending["messages"])
                    self.inferred[k] = []
        self.rows += 1
        for k in self.inferred:
            self.pending[k].append(row.get(k))
        messages = row.get("messages") or []
        for m in messages:
            self.message.see(m)
        self.pending["messages"].append(messages)
        tools = row.get("tools") or []
        if tools is not self._tools[0]:  # the `--tools` specs are one list shared by most rows: encoded once
            self._tools = (tools, [json.dumps(t, ensure_ascii=False) for t in tools])
        self.pending["tools"].append(self._tools[1])
        meta = row.get("meta")
        self.pending["meta"].append(None if meta is None else json.dumps(meta, ensure_ascii=False))
        if len(self.pending["messages"]) >= self.batch_size:
            self._flush()

    def _storage(self, column: str) -> Any:
        import pyarrow as pa
        from datasets import Features, List, Value

        if column == "messages":
            return Features({"m": List(self.message.feature(storage=True))}).arrow_schema.field("m").type
        return pa.list_(pa.string()) if column == "tools" else Value("string").pa_type

    def _flush(self) -> None:
        """The pending rows as one table in the spill file."""
        import pyarrow as pa
        from datasets import Value
        from datasets.arrow_writer import OptimizedTypedSequence

        pending = self.pending
        if not pending or not pending["messages"]:
            return
        arrays: dict[str, Any] = {}
        for k, seen in self.inferred.items():
            typed = OptimizedTypedSequence(pending[k], col=k)  # what `Dataset.from_dict` infers
            arrays[k] = pa.array(typed)
            feature = typed.get_inferred_type()
            merged = _merge_inferred(seen[0], feature) if len(seen) == 1 else None
            if merged is not None:
                seen[0] = merged
            elif feature != Value("null") and feature not in seen:
                seen.append(feature)
        encoded = [[self.message.encode(m) for m in ms] for ms in pending["messages"]]
        for k, values in (("messages", encoded), ("tools", pending["tools"]), ("meta", pending["meta"])):
            arrays[k] = pa.array(values, type=self._storage(k))  # over 2 GB, pyarrow hands back a ChunkedArray
        self._spill.append(pa.table(arrays))
        for values in pending.values():
            values.clear()

    def _small_feature(self, column: str) -> Any:
        """The feature `datasets` infers from all the values of the small column `column`."""
        from datasets import Value
        from datasets.arrow_writer import OptimizedTypedSequence

        seen = self.inferred[column]
        if len(seen) <= 1:
            return seen[0] if seen else Value("null")
        values: list[Any] = []  # batches inferred differently beyond their nulls (int and float, say): rare
        for table in self._spill.tables():
            values.extend(table.column(column).to_pylist() if column in table.column_names else [None] * len(table))
        return OptimizedTypedSequence(values, col=column).get_inferred_type()

    @property
    def features(self) -> Any:
        """The folder's features: what `Dataset.from_list(rows, features=...)` needs to save the same bytes."""
        from datasets import Features, Json, List

        if self._features is None:  # known once all rows are in
            self._flush()
            nested = {"messages": List(self.message.feature()), "tools": List(Json()), "meta": Json()}
            self._features = Features({k: nested[k] if k in nested else self._small_feature(k)
                                       for k in self.columns or ()})
        return self._features

    def _tables(self) -> Iterator[Any]:
        """The spilled batches, in order, as tables of the folder's columns with their final Arrow types."""
        import pyarrow as pa

        schema = self.features.arrow_schema
        columns = self.columns or []
        for table in self._spill.tables():
            arrays = []
            for k in columns:
                final = schema.field(k).type
                have = table.column(k) if k in table.column_names else None
                if k in _NESTED_COLUMNS:
                    arrays.append(have.cast(self._storage(k)).cast(final))
                elif have is None or pa.types.is_null(have.type):
                    arrays.append(pa.chunked_array([pa.nulls(len(table), final)], type=final))
                elif have.type == final:
                    arrays.append(have)
                else:  # a batch inferred otherwise than the whole column: its values again, as the column's type
                    arrays.append(pa.chunked_array([pa.array(have.to_pylist(), type=final)], type=final))
            yield pa.Table.from_arrays(arrays, names=columns)

    def dataset(self, fingerprint: str) -> Any:
        """The whole split in memory, as a `Dataset` (`save` writes the same folder without holding it): each
        column's batches joined into arrays of at most `curate.build.arrow.ARROW_CHUNK_BYTES`."""
        import pyarrow as pa
        from datasets import Dataset
        from datasets.info import DatasetInfo
        from datasets.table import InMemoryTable

        if self.columns is None:
            return Dataset.from_dict({})
        features = self.features
        chunks: dict[str, list[Any]] = {k: [] for k in self.columns}
        for table in self._tables():
            for k in self.columns:
                chunks[k].extend(table.column(k).chunks)
        schema = features.arrow_schema
        table = pa.Table.from_arrays([gather_chunks(chunks.pop(k), schema.field(k).type) for k in self.columns],
                                     names=self.columns)
        # an explicit fingerprint: without one, datasets hashes in-memory data by serialising all of it
        return Dataset(InMemoryTable(table), info=DatasetInfo(features=features), fingerprint=fingerprint)

    def save(self, path: Path, fingerprint: str) -> None:
        """The split's folder at `path`, as `self.dataset(fingerprint).save_to_disk(path)` writes it (the same
        shards, record batches, `dataset_info.json` and `state.json`), from the spill file a batch at a time: the
        batches are read once to size the shards as `save_to_disk` does, and once to write them."""
        from datasets import Dataset, config
        from datasets.arrow_writer import ArrowWriter, get_writer_batch_size_from_data_size
        from datasets.info import DatasetInfo
        from datasets.table import InMemoryTable
        from datasets.utils.py_utils import asdict, convert_file_size_to_int

        if not self.rows:
            self.dataset(fingerprint).save_to_disk(str(path))
            _write_state(path, {**json.loads((path / "state.json").read_text()), "_fingerprint": fingerprint})
            return
        features = self.features
        nbytes, first = 0, None
        for table in self._tables():
            # `Dataset._estimate_nbytes` of the whole table, summed over the batches: a few bytes a batch more or
            # less (validity bitmaps round up per batch), so a split within those bytes of a multiple of
            # `config.MAX_SHARD_SIZE` (500 MB) could be cut into one shard more or less than `save_to_disk` cuts it
            nbytes += table.nbytes
            first = table if first is None else first
        # the same state and info as the whole split's: a dataset of no rows with the same features and fingerprint
        empty = Dataset(InMemoryTable(first.slice(0, 0)), info=DatasetInfo(features=features), fingerprint=fingerprint)
        shards = min(self.rows, int(nbytes / convert_file_size_to_int(config.MAX_SHARD_SIZE)) + 1)
        batch = config.DEFAULT_MAX_BATCH_SIZE
        if nbytes > 0:
            batch = min(batch, get_writer_batch_size_from_data_size(self.rows, nbytes))
        div, mod = divmod(self.rows, shards)  # `Dataset.shard(contiguous=True)`
        lengths = [div + (1 if i < mod else 0) for i in range(shards)]
        names = [f"data-{i:05d}-of-{shards:05d}.arrow" for i in range(shards)]
        pieces = rechunk(self._tables(), (min(batch, n - start) for n in lengths for start in range(0, n, batch)))
        path.mkdir(parents=True, exist_ok=True)
        for name, length in zip(names, lengths, strict=True):
            writer = ArrowWriter(features=features, path=str(path / name), embed_local_files=True)
            try:
                for _ in range(0, length, batch):
                    writer.write_table(next(pieces))
                writer.finalize()
            finally:
                writer.close()
        state = {k: empty.__dict__[k] for k in
                 ("_fingerprint", "_format_columns", "_format_kwargs", "_format_type", "_output_all_columns")}
        state["_split"] = str(empty.split) if empty.split is not None else None
        state["_data_files"] = [{"filename": name} for name in names]
        _write_state(path, state)
        info = asdict(empty.info)
        with (path / config.DATASET_INFO_FILENAME).open("w", encoding="utf-8") as f:
            json.dump({k: info[k] for k in sorted(info)}, f, indent=2)  # first-level keys only: fields keep order

    def close(self) -> None:
        """Remove the spill file."""
        self._spill.close()


def _merge_inferred(a: Any, b: Any) -> Any:
    """The feature `datasets` infers from values it inferred as `a` (first) and as `b`, when only nulls tell them
    apart (a null value, an empty list, a struct without some field: its fields in first-seen order); None when
    the values themselves differ (int and float, say)."""
    from datasets import List, Value

    null = Value("null")
    if a == b or b == null:
        return a
    if a == null:
        return b
    if isinstance(a, List) and isinstance(b, List) and a.length == b.length == -1:
        inner = _merge_inferred(a.feature, b.feature)
        return None if inner is None else List(inner)
    if type(a) is dict and type(b) is dict:
        fields = {}
        for key in [*a, *(k for k in b if k not in a)]:
            field = _merge_inferred(a[key], b[key]) if key in a and key in b else a.get(key, b.get(key))
            if field is None:
                return None
            fields[key] = field
        return fields
    return None


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """A split's `state.json`, as `save_to_disk` writes it."""
    (path / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))


def save_datasets_folder(out: Path, splits: dict[str, tuple[DatasetsSplit, Path]]) -> None:
    """The same rows as a `datasets` folder (DatasetDict with train / eval), deterministic fingerprints, written
    from each split's spill file (`DatasetsSplit.save`), which is removed once written.

    `splits` maps each split to its gathered rows and its JSON Lines file, whose content hash is the
    split's fingerprint (datasets fingerprints in-memory data randomly).
    """
    from datasets import config

    out.mkdir(parents=True, exist_ok=True)
    with (out / config.DATASETDICT_JSON_FILENAME).open("w", encoding="utf-8") as f:
        json.dump({"splits": list(splits)}, f)
    with quiet_datasets():
        for name, (rows, path) in splits.items():
            rows.save(out / name, file_sha256(path)[0][:16])
            rows.close()


EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
"""What `curate build` can write besides train.jsonl and eval.jsonl (`[export] formats`, `--export`): the
`datasets` folder `hf/`, LLaMA-Factory's ShareGPT form `lf/` (with its `dataset_info.json`), and OpenAI's
fine-tuning JSON Lines `openai/`."""

_LEADING_THINK = re.compile(r"\s*(<think>.*?</think>)\s*", re.DOTALL)


def only_calls(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """An exported assistant turn that holds nothing but tool calls (its `<tool_call>` JSON blocks, then its
    structured calls, in the order the renderer writes them) after an optional leading `<think>` block: that
    block, and each call as `{"name", "arguments"}` (plus `id` when the structured call has one). None for a
    turn with other text, no call, or a call that is not a JSON object of named arguments."""
    content = (message.get("content") or "").strip()
    think = ""
    lead = _LEADING_THINK.match(content) if content.startswith("<think>") else None
    if lead is not None:
        think, content = lead.group(1), content[lead.end():]
    blocks = find_blocks(content)
    if blocks.unclosed or blocks.stray_closes:
        return None
    calls: list[dict[str, Any]] = []
    pos = 0
    for start, end, inner in blocks.spans:
        call = parse_call_text(inner)
        if content[pos:start].strip() or call.syntax != "json" or call.error or call.name is None \
                or call.arguments is None or call.positional:
            return None
        calls.append({"name": call.name, "arguments": call.arguments})
        pos = end
    if content[pos:].strip():
        return None
    for tc in message.get("tool_calls") or ():
        function = tc.get("function") or {}
        if not isinstance(function.get("arguments"), dict):
            return None
        calls.append({"name": function["name"], "arguments": function["arguments"],
                      **({"id": tc["id"]} if tc.get("id") else {})})
    return (think, calls) if calls else None


def _assistant_text(message: dict[str, Any]) -> str:
    """An assistant turn's text as the renderer writes it: content, then structured calls as blocks."""
    return assistant_body(Message.model_validate(message))


def lf_row(row: dict[str, Any]) -> dict[str, Any]:
    """An exported row in LLaMA-Factory's ShareGPT form: `conversations` of human / gpt / function_call /
    observation turns, the first system message as `system`, `tools` as JSON text, and `id`.

    A turn of calls only is a `function_call` turn (one call's JSON, or a list of parallel calls, after its
    `<think>` block); any other assistant turn is `gpt` with the calls written in its text as our renderer
    writes them. Consecutive tool results are one `observation` holding a JSON list, of `{"name", "content"}`
    (LLaMA-Factory's parallel results) or, when some result has no name, of their texts when there are as many as
    the turn before made calls (each read back as one tool message); a lone result is its text, with its `name`.
    A turn not trained (`train: false`) carries `weight: 0` (axolotl's key)."""
    messages = row["messages"]
    out: dict[str, Any] = {}
    if row.get("id") is not None:
        out["id"] = row["id"]
    if messages and messages[0]["role"] == "system":
        out["system"] = messages[0].get("content") or ""
        messages = messages[1:]
    turns: list[dict[str, Any]] = []
    i = 0
    while i < len(messages):
        m = messages[i]
        if m["role"] == "tool":
            j = i
            while j < len(messages) and messages[j]["role"] == "tool":
                j += 1
            group = messages[i:j]
            calls = _call_count(messages[i - 1]) if i else 0
            if len(group) > 1 and all(t.get("name") for t in group):
                turns.append({"from": "observation", "value": json.dumps(
                    [{**({"tool_call_id": t["tool_call_id"]} if t.get("tool_call_id") else {}), "name": t["name"],
                      "content": t.get("content") or ""} for t in group], ensure_ascii=False)})
            elif len(group) > 1 and len(group) == calls:  # the results of the turn's calls, in order
                turns.append({"from": "observation",
                              "value": json.dumps([t.get("content") or "" for t in group], ensure_ascii=False)})
            else:  # results LLaMA-Factory cannot tell apart: one turn each (it skips the conversation)
                turns.extend({"from": "observation", "value": t.get("content") or "",
                              **({"name": t["name"]} if t.get("name") else {})} for t in group)
            i = j
            continue
        if m["role"] == "assistant":
            calls = only_calls(m)
            if calls is not None:
                think, found = calls
                named = [{"name": c["name"], "arguments": c["arguments"]} for c in found]
                value = json.dumps(named if len(named) > 1 else named[0], ensure_ascii=False)
                turn = {"from": "function_call", "value": f"{think}\n{value}" if think else value}
            else:
                turn = {"from": "gpt", "value": _assistant_text(m)}
        else:
            turn = {"from": {"user": "human", "system": "system"}[m["role"]], "value": m.get("content") or ""}
        if m.get("train") is False:
            turn["weight"] = 0
        turns.append(turn)
        i += 1
    out["conversations"] = turns
    out["tools"] = json.dumps(row.get("tools") or [], ensure_ascii=False)
    return out


def _call_count(message: dict[str, Any]) -> int:
    """The calls of an assistant turn: its `<tool_call>` blocks and its structured calls."""
    if message.get("role") != "assistant":
        return 0
    return len(find_blocks(message.get("content") or "").spans) + len(message.get("tool_calls") or ())


def lf_dataset_info(splits: Sequence[str]) -> dict[str, Any]:
    """`lf/dataset_info.json`: one LLaMA-Factory dataset per split (`dataset: train` with `dataset_dir: OUT/lf`)."""
    return {name: {"file_name": f"{name}.jsonl", "formatting": "sharegpt",
                   "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}
            for name in splits}


def openai_row(row: dict[str, Any]) -> dict[str, Any]:
    """An exported row in OpenAI's fine-tuning form: `messages` and `tools`, nothing else.

    A turn of calls only gets structured `tool_calls` (arguments as JSON text, ids `call_<turn>_<k>` where it had
    none) and keeps its `<think>` block as content; each tool result answers the next call of the turn before it
    by `tool_call_id`. Any other assistant turn keeps its text (calls written in it as our renderer writes them).
    `train: false` on an assistant turn is `weight: 0`."""
    messages: list[dict[str, Any]] = []
    pending: list[str] = []
    for index, m in enumerate(row["messages"]):
        if m["role"] == "tool":
            call_id = m.get("tool_call_id") or (pending.pop(0) if pending else None)
            messages.append({"role": "tool", **({"tool_call_id": call_id} if call_id else {}),
                             "content": m.get("content") or ""})
            continue
        if m["role"] != "assistant":
            messages.append({"role": m["role"], "content": m.get("content") or ""})
            pending = []
            continue
        calls = only_calls(m)
        if calls is None:
            out: dict[str, Any] = {"role": "assistant", "content": _assistant_text(m)}
            pending = []
        else:
            think, found = calls
            ids = [c.get("id") or f"call_{index}_{k}" for k, c in enumerate(found)]
            out = {"role": "assistant", "content": think or None, "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
                for call_id, c in zip(ids, found, strict=True)]}
            pending = ids
        if m.get("train") is False:
            out["weight"] = 0
        messages.append(out)
    out_row: dict[str, Any] = {"messages": messages}
    if row.get("tools"):
        out_row["tools"] = row["tools"]
    return out_row


def write_formats(out: Path, formats: Sequence[str], splits: dict[str, Path]) -> None:
    """`lf/` and `openai/` (as `formats` asks) in `out`, from the split files `splits` (name -> JSON Lines)
    written there; the `datasets` folder is gathered as those files are written (`save_datasets_folder`)."""
    from curate.jsonl import write_jsonl

    writers = {"lf": lf_row, "openai": openai_row}
    for fmt in (f for f in formats if f in writers):
        folder = out / fmt
        folder.mkdir(exist_ok=True)
        for name, path in splits.items():
            with path.open(encoding="utf-8") as f:
                write_jsonl(folder / f"{name}.jsonl", (writers[fmt](json.loads(line)) for line in f))
        if fmt == "lf":
            (folder / "dataset_info.json").write_text(
                json.dumps(lf_dataset_info(list(splits)), indent=2) + "\n", encoding="utf-8")


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


