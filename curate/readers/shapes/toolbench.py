"""ToolBench answer files (OpenBMB/ToolBench `data/answer/G1_answer/10_DFS_woFilter_w2.json`): one query per
file, one record per trajectory of `answer_generation.train_messages`.

ToolBench's search writes each query's answer with `json.dump(..., indent=2)`: the search tree (`tree`,
`compare_candidates`, `forward_args`) and `answer_generation`, whose `train_messages` is a list of
trajectories, each a list of OpenAI messages (roles system, user, assistant, function) ending on an assistant
turn: the k-th holds the conversation up to the k-th step, whose call is the one it trains (ToolLLaMA's
preprocessing makes one example of each, as this reader makes one record). Assistant turns carry a legacy
`function_call` (`arguments` a JSON string), function turns the `name` of the tool that answered, and
`answer_generation.function` the tool specs, `Finish` among them, which every trajectory gets as its `tools`.

A trajectory's id is `<folder>/<file stem>-<k>` (`G1_answer/10_DFS_woFilter_w2-0`: k from 0, its index in
`train_messages`; the folder keeps ids apart across groups, whose query ids may repeat) and its line the one
its message list starts on. A file with `valid_data: false` and no `train_messages` (the search found no answer)
holds no trajectory and gives no record, as ToolBench's own preprocessing skips it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.readers.errors import ShapeError
from curate.readers.shapes.base import DocumentRecords, ShapeAdapter, Source
from curate.toolcalls import json_type

TRAJECTORIES = ("answer_generation", "train_messages")
"""Where an answer file keeps its trajectories."""


def matches(data: dict[str, Any]) -> bool:
    """A document with an `answer_generation` object."""
    return isinstance(data.get("answer_generation"), dict)


def split(data: dict[str, Any], source: Source) -> DocumentRecords | None:
    """One record per trajectory, in the `messages` shape: `id` `<folder>/<file stem>-<k>`, the file's tools,
    and `meta` saying where it came from; None for a document that cannot be split (`adapt` says why)."""
    answer = data["answer_generation"]
    trajectories = answer.get("train_messages")
    if trajectories is None and answer.get("valid_data") is False:
        return DocumentRecords(TRAJECTORIES, [])
    if not isinstance(trajectories, list):
        return None
    stem = answer_file_name(source.path)
    records = []
    for k, messages in enumerate(trajectories):
        record: dict[str, Any] = {"id": f"{stem}-{k}", "messages": messages}
        if answer.get("function") is not None:
            record["tools"] = answer["function"]
        record["meta"] = {"source": "toolbench", "trajectory": k, "trajectories": len(trajectories),
                          "finish_type": answer.get("finish_type")}
        records.append(record)
    return DocumentRecords(TRAJECTORIES, records)


def answer_file_name(path: str | None) -> str:
    """`<folder>/<file stem>` of an answer file (its folder as an absolute path names it: the same however the
    path was written), or the stem alone for a file at the root."""
    if not path:
        return "toolbench"
    p = Path(path).absolute()
    return f"{p.parent.name}/{p.stem}" if p.parent.name else p.stem


def adapt(data: dict[str, Any], source: Source) -> dict[str, Any]:
    """Never one record: says why the document was not read as its trajectories."""
    answer = data["answer_generation"]
    trajectories = answer.get("train_messages")
    if trajectories is None:
        raise ShapeError("a ToolBench answer file with no `answer_generation.train_messages` although its "
                         "`valid_data` is not false: no trajectory to read")
    if not isinstance(trajectories, list):
        raise ShapeError("`answer_generation.train_messages` must be a list of trajectories (lists of messages), "
                         f"got {json_type(trajectories)}")
    raise ShapeError(f"a ToolBench answer file ({len(trajectories)} trajectories) is read as one record per "
                     "trajectory only when it is a .json file of its own, as ToolBench writes it; here it is a "
                     "line of JSON Lines or an element of an array: write each answer to a .json file")


ADAPTER = ShapeAdapter("toolbench", "a ToolBench answer file (`answer_generation.train_messages`)", matches, adapt,
                       order=60, split=split)
