"""BFCL rows (`question` + `function`, or multi-turn `involved_classes`), with the files beside them.

A row's answer comes from `possible_answer/<same file name>` beside its data file, and multi-turn rows take
their tools from `multi_turn_func_doc/`: `RecordReader` loads both once per folder. Answers become
assistant turns holding `<tool_call>` blocks. This adapter is tried after the others, so a row that also has
`messages`, `conversations` or `instruction`/`output` is read as that shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.jsonl import decode_line
from curate.readers.shapes.base import ShapeAdapter, Source, record_id, short_key
from curate.readers.shapes.messages import message
from curate.toolcalls import format_python_call, json_type

ANSWERS_DIR = "possible_answer"
FUNC_DOC_DIR = "multi_turn_func_doc"
SIDECAR_DIRS = frozenset({ANSWERS_DIR, FUNC_DOC_DIR})
"""Folders beside BFCL data files that hold answers and function docs, not records."""

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
        messages.extend(message(m, len(messages)) for m in turn)
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
                raise ShapeError(f"BFCL ground truth: the parameters of `{short_key(name)}` must be an object "
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
            rec = decode_line(line, str(path), lineno)
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


def matches(data: dict[str, Any]) -> bool:
    """A row with `question` and `function` (or, multi-turn, `involved_classes`)."""
    return "question" in data and ("function" in data or "involved_classes" in data)


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """The row with its answer and function docs from beside `source.path` (none for a bare value)."""
    if source.path is None:
        return from_bfcl(data)
    path = Path(source.path)
    answers = source.cached((ANSWERS_DIR, path), lambda: answers_beside(path))
    docs = source.cached((FUNC_DOC_DIR, path.parent), lambda: func_docs_beside(path))
    return from_bfcl(data, answers.get(str(data.get("id"))), func_docs=docs)


def answers_beside(path: Path) -> dict[str, Any]:
    """The answers for the BFCL data file `path`, by id: `possible_answer/<its name>` beside it, if there."""
    candidate = path.parent / ANSWERS_DIR / path.name
    return load_bfcl_answers(candidate) if candidate.exists() else {}


def func_docs_beside(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The multi-turn function docs for the BFCL data file `path`: `multi_turn_func_doc/` beside it, if there."""
    folder = path.parent / FUNC_DOC_DIR
    return load_bfcl_func_docs(folder) if folder.exists() else {}


ADAPTER = ShapeAdapter("bfcl", "a BFCL `question`/`function` (or `involved_classes`) row", matches, adapt, order=40)
