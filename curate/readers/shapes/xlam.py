"""xLAM / APIGen rows (`query` + `answers` + `tools`): a user turn, then one assistant turn making the calls.

Salesforce's xlam-function-calling-60k publishes each row as `{"id": 0, "query": "…", "answers": "[{\\"name\\":
…, \\"arguments\\": {…}}]", "tools": "[{\\"name\\": …, \\"description\\": …, \\"parameters\\": {…}}]"}`, with
`answers` and `tools` JSON text; other APIGen exports give them as lists, read alike. The answers become the
assistant turn's structured `tool_calls`, in order (several are parallel calls); the tools keep their dialect
(bare parameters, type strings such as `"int, optional"` or `"List[str]"`), which `curate.validate` reads when
calls are checked (`parameters_schema`, `parse_type_string`). An empty `answers` list is an assistant turn with
an empty call list, for the rules to report.
"""

from __future__ import annotations

from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.raw import load_text
from curate.readers.shapes.base import ShapeAdapter, Source, common_fields
from curate.readers.shapes.messages import message
from curate.toolcalls import json_type


def matches(data: dict[str, Any]) -> bool:
    """A row with `query` and `answers`."""
    return "query" in data and "answers" in data


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """The query as the user turn, the answers as one assistant turn's `tool_calls`; `id`, `tools`, `meta` kept."""
    out = common_fields(data)
    answers = data["answers"]
    if isinstance(answers, str):
        answers, err = load_text(answers)
        if err is not None:
            raise ShapeError(f"`answers` is a string that is not valid JSON: {err}", 1)
    if not isinstance(answers, list):
        raise ShapeError(f"`answers` must be a list of calls (or JSON text holding one), got {json_type(answers)}", 1)
    out["messages"] = [
        {"role": "user", "content": data["query"]},
        message({"role": "assistant", "content": None, "tool_calls": answers}, 1),
    ]
    return out


ADAPTER = ShapeAdapter("xlam", "xLAM's `query`/`answers`", matches, adapt, order=45)
