"""Streaming readers: files of many shapes in, canonical `Trajectory` records out.

`iter_raw(path)` yields one `RawRecord` per line (JSONL), array element (JSON), row (Parquet) or
row (`datasets` folder), in constant memory, never raising for bad data: a record that cannot be
read carries an `error`. `adapt(data)` maps the supported shapes onto the canonical record:

- `messages` (OpenAI style, structured `tool_calls` with `content: null`, content parts),
- `conversations` with `role`/`content` (ChatML) or ShareGPT `from`/`value`
  (human/gpt/system/function_call/observation),
- `instruction`/`input`/`output` pairs,
- BFCL rows (`question` + `function`; answers from a sibling `possible_answer/` file).

Tool specs may be OpenAI-shaped (`{"type": "function", "function": {...}}`) or bare
(`{name, description, parameters}`); both become the OpenAI shape.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from curate.records import Trajectory
from curate.toolcalls import format_python_call, json_type, load_json

JSON_ARRAY_CHUNK = 1 << 20


class ReadError(Exception):
    """A file that cannot be read at all (missing, unreadable, unknown format): a usage error."""


class ShapeError(ValueError):
    """A record whose shape cannot be adapted; `message_index` points at the message at fault."""

    def __init__(self, message: str, message_index: int | None = None) -> None:
        super().__init__(message)
        self.message_index = message_index


@dataclass(slots=True)
class RawRecord:
    """One record as read from a file, before adaptation."""

    path: str
    line: int
    """1-based line of the record in its file; for Parquet and datasets folders the 1-based row."""
    data: Any = None
    error: str | None = None


# --- file formats -------------------------------------------------------------------------------


def iter_raw(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """Yield the records of one file or folder; raises `ReadError` only if it cannot be opened."""
    p = str(path)
    if p == "-":
        yield from _iter_jsonl_stream(sys.stdin.buffer, "<stdin>")
        return
    fs = Path(p)
    if fs.is_dir():
        yield from _iter_dataset_folder(fs)
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
        head = fh.read(4096)
        fh.seek(0)
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if first == b"[" and suffix != ".jsonl":
            yield from _iter_json_array(fh, p)
        elif first == b"{" and suffix == ".json" and not _first_line_is_object(head):
            yield from _iter_single_json(fh, p)
        else:
            yield from _iter_jsonl_stream(fh, p)


def _first_line_is_object(head: bytes) -> bool:
    line = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _decode_line(raw: bytes, path: str, lineno: int) -> RawRecord | None:
    if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    raw = raw.rstrip(b"\r\n")
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return RawRecord(path, lineno, error=f"invalid UTF-8 at byte {e.start} of the line: re-encode the file as UTF-8")
    value, err = load_json(text)
    if err is not None:
        return RawRecord(path, lineno, error=f"invalid JSON: {err}")
    return RawRecord(path, lineno, data=value)


def _iter_jsonl_stream(fh: Iterable[bytes], path: str) -> Iterator[RawRecord]:
    for lineno, raw in enumerate(fh, 1):
        rec = _decode_line(raw, path, lineno)
        if rec is not None:
            yield rec


def _iter_single_json(fh: Any, path: str) -> Iterator[RawRecord]:
    rec = _decode_line(fh.read().replace(b"\n", b" ").replace(b"\r", b" "), path, 1)
    if rec is not None:
        yield rec


def _iter_json_array(fh: Any, path: str) -> Iterator[RawRecord]:
    """Stream the elements of a top-level JSON array, reading the file in growing chunks."""
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    buf, pos, line, eof = "", 0, 1, False
    pending = b""

    def more() -> bool:
        nonlocal buf, pos, eof, pending
        chunk = fh.read(max(JSON_ARRAY_CHUNK, len(buf) - pos))  # doubling: linear in element size
        if not chunk:
            eof = True
            return False
        data = pending + chunk
        try:
            text, pending = data.decode("utf-8"), b""
        except UnicodeDecodeError as e:
            if e.reason != "unexpected end of data":
                raise
            text, pending = data[: e.start].decode("utf-8"), data[e.start :]
        buf = buf[pos:] + text
        pos = 0
        return True

    def skip_ws() -> None:
        nonlocal pos, line
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n\ufeff":
                if buf[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buf) or eof or not more():
                return

    def fail(message: str) -> RawRecord:
        return RawRecord(path, line, error=f"{message}; reading of this file stops here")

    try:
        skip_ws()
        if buf[pos : pos + 1] != "[":
            yield fail("expected a JSON array")
            return
        pos += 1
        while True:
            skip_ws()
            if pos >= len(buf):
                yield fail("the JSON array is not closed (`]` missing)")
                return
            if buf[pos] == "]":
                return
            start_line = line
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as e:
                    if not eof and more():
                        continue
                    yield fail(f"invalid JSON in the array element starting at line {start_line}: {e.msg}")
                    return
                except RecursionError:
                    yield fail(f"the array element at line {start_line} is nested too deeply to read")
                    return
                except ValueError as e:
                    yield fail(f"invalid JSON in the array element at line {start_line}: {e}")
                    return
                if end >= len(buf) and not eof and more():
                    continue  # a number may go on in the next chunk
                break
            line += buf.count("\n", pos, end)
            pos = end
            yield RawRecord(path, start_line, data=value)
            skip_ws()
            if buf[pos : pos + 1] == ",":
                pos += 1
            elif buf[pos : pos + 1] != "]":
                yield fail(f"expected `,` or `]` after the array element at line {start_line}")
                return
    except UnicodeDecodeError as e:
        yield fail(f"invalid UTF-8 near line {line} ({e.reason})")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


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
    for batch in pf.iter_batches(batch_size=1024):
        for data in batch.to_pylist():
            row += 1
            yield RawRecord(str(path), row, data=data)


def _iter_dataset_folder(path: Path) -> Iterator[RawRecord]:
    """A folder written by `datasets.save_to_disk` (Dataset or DatasetDict), else its data files."""
    if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
        try:
            from datasets import Dataset, DatasetDict, load_from_disk
        except ImportError:  # pragma: no cover
            raise ReadError(f"{path}: reading datasets folders needs `datasets`: pip install 'curate-agents[data]'") from None
        try:
            ds = load_from_disk(str(path))
        except Exception as e:
            raise ReadError(f"{path}: not a readable datasets folder: {e}") from None
        splits: list[tuple[str, Dataset]] = list(ds.items()) if isinstance(ds, DatasetDict) else [("", ds)]
        for split, d in splits:
            where = str(path / split) if split else str(path)
            for row, data in enumerate(d, 1):
                yield RawRecord(where, row, data=data)
        return
    files = sorted(
        f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in (".jsonl", ".json", ".parquet")
    )
    if not files:
        raise ReadError(f"{path}: a folder with no datasets files and no .jsonl/.json/.parquet files")
    for f in files:
        yield from iter_raw(f)


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
    elif "question" in data and "function" in data:
        out = from_bfcl(data, (answers or {}).get(str(data.get("id"))))
    else:
        keys = ", ".join(f"`{k}`" for k in list(data)[:8]) or "none"
        raise ShapeError(
            f"unrecognised record shape (keys: {keys}); expected `messages`, `conversations`, "
            "`instruction`/`output` or a BFCL `question`/`function` row"
        )
    if "tools" in out:
        out["tools"] = normalise_tools(out["tools"])
    return out


def _base(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if data.get("id") is not None:
        out["id"] = data["id"] if isinstance(data["id"], str) else json.dumps(data["id"])
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


def _message(m: Any, index: int) -> Any:
    if not isinstance(m, dict):
        return m  # the model validation reports it with its index
    msg = {k: v for k, v in m.items() if v is not None or k == "content"}
    role = msg.get("role")
    if isinstance(role, str) and role.lower() in ROLE_ALIASES:
        msg["role"] = ROLE_ALIASES[role.lower()]
    content = msg.get("content")
    if isinstance(content, list):  # OpenAI content parts
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                texts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                texts.append(part)
            else:
                raise ShapeError(f"message {index}: content part of type "
                                 f"{part.get('type') if isinstance(part, dict) else json_type(part)!r} "
                                 "is not text", index)
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
        out["tools"], err = load_json(out["tools"])
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
                raise ShapeError(f"turn {i}: unknown ShareGPT speaker `{turn.get('from')}` "
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
        value, err = load_json(tools)
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
                params, err = load_json(fn["parameters"])
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


def from_bfcl(row: dict[str, Any], ground_truth: Any = None, syntax: str = "json",
              func_docs: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """A BFCL row (+ its ground truth) as a canonical dict.

    Single-turn answers (`[{fname: {param: [values]}}]`) become one assistant turn with a
    `<tool_call>` block per call, written as JSON or as a Python-style call (`syntax`). Multi-turn
    answers (lists of call strings per turn) become one assistant turn per user turn, each call
    in its own block as written by BFCL.
    """
    out: dict[str, Any] = {"id": str(row.get("id"))}
    tools = row.get("function")
    if not tools and row.get("involved_classes") and func_docs is not None:
        excluded = set(row.get("excluded_function") or [])
        tools = [f for cls in row["involved_classes"] for f in func_docs.get(cls, [])
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
        blocks = []
        for call in ground_truth:
            if not isinstance(call, dict) or len(call) != 1:
                raise ShapeError("BFCL ground truth: each call must be {function_name: {param: [values]}}")
            (name, params), = call.items()
            args = {}
            for key, values in (params or {}).items():
                present, value = bfcl_answer_value(values)
                if present:
                    args[key] = value
            if syntax == "python":
                body = format_python_call(name, args)
            else:
                body = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
            blocks.append(f"<tool_call>\n{body}\n</tool_call>")
        messages.append({"role": "assistant", "content": "\n".join(blocks)})
    out["messages"] = messages
    return out


def load_bfcl_answers(path: Path) -> dict[str, Any]:
    """`possible_answer/<same name>` beside a BFCL file: id → ground_truth."""
    answers: dict[str, Any] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                answers[str(row["id"])] = row.get("ground_truth")
    return answers


def load_bfcl_func_docs(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The multi-turn function docs, by BFCL class name."""
    docs: dict[str, list[dict[str, Any]]] = {}
    for cls, fname in BFCL_CLASS_FILES.items():
        f = folder / fname
        if f.exists():
            with open(f, encoding="utf-8") as fh:
                docs[cls] = [json.loads(line) for line in fh if line.strip()]
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
        where = ".".join(str(x) for x in loc)
        value = err.get("input")
        shown = json.dumps(value, ensure_ascii=False, default=str)[:40] if not isinstance(value, dict) else "{…}"
        out.append((index, f"{where}: {err['msg'].lower()} (got {shown})"))
    return out


class RecordReader:
    """Reads records from paths, adapting and validating each; never raises for bad records."""

    def __init__(self) -> None:
        self._bfcl_answers: dict[Path, dict[str, Any] | None] = {}
        self._bfcl_docs: dict[Path, dict[str, list[dict[str, Any]]]] = {}

    def read(self, path: str | os.PathLike[str]) -> Iterator[ReadResult]:
        answers: dict[str, Any] | None = None
        docs: dict[str, list[dict[str, Any]]] | None = None
        for raw in iter_raw(path):
            if raw.error is not None:
                yield ReadResult(raw, None, None, [])
                continue
            data = raw.data
            rid = data.get("id") if isinstance(data, dict) else None
            rid = None if rid is None else (rid if isinstance(rid, str) else json.dumps(rid))
            try:
                if isinstance(data, dict) and "question" in data and "function" in data and "messages" not in data:
                    if answers is None:
                        answers = self._answers_for(Path(raw.path)) or {}
                        docs = self._docs_for(Path(raw.path))
                    adapted = from_bfcl(data, answers.get(str(data.get("id"))), func_docs=docs)
                    adapted["tools"] = normalise_tools(adapted["tools"])
                else:
                    adapted = adapt(data)
                record = Trajectory.model_validate(adapted)
            except ShapeError as e:
                yield ReadResult(raw, None, rid, [(e.message_index, str(e))])
                continue
            except ValidationError as e:
                yield ReadResult(raw, None, rid, validation_errors(e))
                continue
            yield ReadResult(raw, record, record.id, [])

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
    value, err = load_json(text)
    if err is not None:
        values = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                v, line_err = load_json(line)
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
