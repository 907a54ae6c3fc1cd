"""Which copy of a cluster stays: fewest lint warnings, then the most complete, then id order."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


def best_copy(members: Iterable[int], keys: Sequence[tuple[Any, ...]]) -> int:
    """The member to keep: fewest warnings, then most complete, then smallest id, then earliest position."""
    return min(members, key=keys.__getitem__)
