"""Which copy of a cluster stays: fewest lint warnings, then the most complete, then id order."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.records import Trajectory

_HIDDEN_BLOCKS = re.compile(r"<think>.*?(?:</think>|$)|<tool_call>.*?(?:</tool_call>|$)", re.DOTALL)


def completeness(traj: Trajectory) -> tuple[bool, bool]:
    """(ends in an assistant turn with text outside think/tool-call blocks, has a tool result): more is better."""
    msgs = traj.messages
    last = msgs[-1] if msgs else None
    ends_with_answer = bool(last is not None and last.role == "assistant" and last.content
                            and _HIDDEN_BLOCKS.sub("", last.content).strip())
    has_tool_result = any(m.role == "tool" for m in msgs)
    return ends_with_answer, has_tool_result


WarningCounts = Mapping[str, int] | Sequence[int]


@dataclass(frozen=True, slots=True)
class DedupEntry:
    """What choosing the copy to keep needs of a record, without the record: its id and `completeness`.

    `DedupStage` works on these (plus exact keys and signatures computed elsewhere, such as the
    build's worker processes), so the main process never holds whole records.
    """

    id: str | None
    ends_with_answer: bool
    has_tool_result: bool

    @classmethod
    def of(cls, traj: Trajectory) -> DedupEntry:
        return cls(traj.id, *completeness(traj))


def _choice_keys(records: Sequence[Trajectory] | Sequence[DedupEntry],
                 warnings: WarningCounts | None) -> list[tuple[Any, ...]]:
    keys = []
    for k, r in enumerate(records):
        e = r if isinstance(r, DedupEntry) else DedupEntry.of(r)
        if warnings is None:
            w = 0
        elif isinstance(warnings, Mapping):
            w = warnings.get(e.id, 0) if e.id is not None else 0
        else:
            w = warnings[k]
        keys.append((w, not e.ends_with_answer, not e.has_tool_result, e.id is None, e.id or "", k))
    return keys


def best_copy(members: Iterable[int], keys: Sequence[Any] | np.ndarray) -> int:
    """The member to keep: fewest warnings, then most complete, then smallest id, then earliest position (`keys`:
    `_choice_keys`, or `choice_ranks`, which order records alike)."""
    return min(members, key=keys.__getitem__)


def choice_ranks(ids: Sequence[str | None] | Any, ends_with_answer: Sequence[bool] | np.ndarray,
                 has_tool_result: Sequence[bool] | np.ndarray,
                 warnings: WarningCounts | np.ndarray | None) -> np.ndarray:
    """Each record's place in the order `best_copy` prefers (`_choice_keys` sorted): an int64 array, lower kept.

    Columns rather than a tuple per record, for a million records: `ids` may be a pyarrow string array (sorted by
    its UTF-8 bytes, which is code point order, as Python compares strings) or a sequence; `warnings` counts lint
    warnings by id (a mapping) or by position."""
    import pyarrow as pa

    n = len(ids)
    if isinstance(ids, pa.Array | pa.ChunkedArray):
        import pyarrow.compute as pc

        is_none = ids.is_null().to_numpy(zero_copy_only=False)
        by_id = pc.sort_indices(pc.fill_null(ids, "")).to_numpy()  # a stable sort: equal ids by position
    else:
        is_none = np.fromiter((i is None for i in ids), dtype=bool, count=n)
        by_id = np.array(sorted(range(n), key=lambda k: ids[k] or ""), dtype=np.int64)
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[by_id] = np.arange(n)
    if warnings is None:
        w = np.zeros(n, dtype=np.int64)
    elif isinstance(warnings, Mapping):
        w = np.fromiter((0 if i is None else warnings.get(i, 0) for i in
                         (ids.to_pylist() if not isinstance(ids, Sequence) else ids)), dtype=np.int64, count=n)
    else:
        w = np.asarray(warnings, dtype=np.int64)
    order = np.lexsort((id_rank, is_none, ~np.asarray(has_tool_result, dtype=bool),
                        ~np.asarray(ends_with_answer, dtype=bool), w))
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n)
    return ranks


def first_of_groups(group: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """For each record, the record of its group (equal `group` values) with the lowest rank: what `best_copy`
    keeps of each group, for all groups at once."""
    n = len(group)
    order = np.lexsort((ranks, group))
    g = group[order]
    start = np.ones(n, dtype=bool)
    start[1:] = g[1:] != g[:-1]
    out = np.empty(n, dtype=np.int64)
    out[order] = order[start][np.cumsum(start) - 1]
    return out
