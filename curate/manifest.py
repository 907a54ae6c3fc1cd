"""The build manifest: what came in, what every stage dropped and why, what went out.

Written as `OUT/manifest.json` by `curate build`; its JSON Schema is `schemas/manifest.schema.json`.
The invariant `records_in == records_out + sum(dropped)` holds, and `check_invariant` says where
it doesn't.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class InputFile(BaseModel):
    path: str
    sha256: str
    bytes: int
    records: int = Field(description="records read from the file (lines, elements or rows), readable or not")


class BenchmarkFile(InputFile):
    """A `--decontaminate` file: what was indexed from it and the training records that matched it."""

    unreadable: int = Field(0, description="its records that could not be read (left out of the index)")
    items: int = Field(0, description="turns indexed (benchmark items), of the roles `decontamination.config` names")
    too_short: int = Field(0, description="turns of fewer than 3 words, not indexed")
    calls: int = Field(0, description="answer calls indexed (BFCL possible_answer, or the calls its records make)")
    matched: dict[str, int] = Field(default_factory=dict, description="training records whose best match is "
                                    "an item of this file, by method (ngram, near_copy, tool_call)")


class Decontamination(BaseModel):
    """How the decontamination stage ran and what it did (`OUT/contamination.jsonl` lists every record)."""

    mode: Literal["drop", "flag"] = Field(description="drop: matching records left out; flag: kept and marked "
                                          "with a `contamination` field")
    config: dict[str, Any] = Field(description="the settings (`curate.dedup.decontamination.DecontamConfig`)")
    index: dict[str, int] = Field(description="the index: items, distinct n-grams, substring items, whole-turn "
                                  "items, near-copy shingles, answer calls")
    matched: int = Field(description="training records that matched (dropped or flagged)")
    by_method: dict[str, int] = Field(description="matched records by method of their best match")


class StageCount(BaseModel):
    """One stage: records in, records out, records dropped by reason."""

    stage: str
    records_in: int
    records_out: int
    dropped: dict[str, int] = Field(default_factory=dict)


class DroppedFiles(BaseModel):
    """`OUT/dropped/<reason>.jsonl`: the records each stage dropped, with what dropped them, at most `cap` a reason."""

    cap: int = Field(description="records written per reason at most (`[export] dropped_cap`); 0: none")
    written: dict[str, int] = Field(description="records written to dropped/<reason>.jsonl, by reason (a reason "
                                    "dropped more often than `cap` has `cap`; unreadable records are not written)")


class Manifest(BaseModel):
    """Everything a person needs to trust, reproduce and audit a built set."""

    tool: str = "curate build"
    version: str
    versions: dict[str, str] = Field(description="versions of the libraries that shape the output")
    config: dict[str, Any]
    inputs: list[InputFile]
    decontaminate: list[BenchmarkFile] = Field(default_factory=list)
    decontamination: Decontamination | None = Field(None, description="None without --decontaminate")
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
    dropped_files: DroppedFiles | None = Field(None, description="what `OUT/dropped/` holds (None: a build "
                                               "written before it existed)")


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
