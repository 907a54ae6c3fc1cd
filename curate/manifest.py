"""The build manifest: what came in, what every stage dropped and why, what went out.

Written as `OUT/manifest.json` by `curate build`; its JSON Schema is `schemas/manifest.schema.json`.
The invariant `records_in == records_out + sum(dropped)` holds, and `check_invariant` says where
it doesn't.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class InputFile(BaseModel):
    path: str
    sha256: str
    bytes: int
    records: int = Field(description="records read from the file (lines, elements or rows), readable or not")


class StageCount(BaseModel):
    """One stage: records in, records out, records dropped by reason."""

    stage: str
    records_in: int
    records_out: int
    dropped: dict[str, int] = Field(default_factory=dict)


class Manifest(BaseModel):
    """Everything a person needs to trust, reproduce and audit a built set."""

    tool: str = "curate build"
    version: str
    versions: dict[str, str] = Field(description="versions of the libraries that shape the output")
    config: dict[str, Any]
    inputs: list[InputFile]
    decontaminate: list[InputFile] = Field(default_factory=list)
    tokenizer: str
    minhash: dict[str, Any] | None = None
    records_in: int
    records_out: int = Field(description="distinct records written (train + eval, up-sampled copies excluded)")
    copies: int = Field(0, description="up-sampled copies written in addition, marked `copy_of`")
    dropped: dict[str, int] = Field(description="records dropped, by reason, over all stages")
    unreadable: dict[str, int] = Field(
        default_factory=dict, description="the records dropped as `unreadable`, by reason: the code of their "
        "finding (RS001, RS002) and the kind of problem (curate.tally.unreadable_reason)")
    stages: list[StageCount]
    lint_findings: dict[str, int] = Field(description="findings by rule code over all records read")
    buckets_before: dict[str, int] = Field(description="capability buckets after dedup, before balancing")
    buckets_after: dict[str, int] = Field(description="capability buckets after balancing (copies included)")
    length_edges: list[int]
    length_buckets: dict[str, int]
    split: dict[str, dict[str, int]] = Field(description="train / eval records per capability bucket")
    clusters: int = Field(description="near-duplicate clusters with more than one member")


def check_invariant(m: Manifest) -> list[str]:
    """Where the accounting doesn't add up (empty when it does)."""
    problems = []
    if m.records_in != m.records_out + sum(m.dropped.values()):
        problems.append(f"records in {m.records_in} != out {m.records_out} + dropped {sum(m.dropped.values())}")
    if sum(m.unreadable.values()) != m.dropped.get("unreadable", 0):
        problems.append(f"unreadable records by reason {sum(m.unreadable.values())} != dropped as unreadable "
                        f"{m.dropped.get('unreadable', 0)}")
    for s in m.stages:
        if s.records_in != s.records_out + sum(s.dropped.values()):
            problems.append(f"stage {s.stage}: in {s.records_in} != out {s.records_out} + dropped "
                            f"{sum(s.dropped.values())}")
    return problems
