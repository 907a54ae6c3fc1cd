"""What dedup reports: the records kept and dropped, and the clusters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from curate.dedup.minhash import MinHashSettings

DropReason = Literal["exact_duplicate", "near_duplicate"]


class DroppedRecord(BaseModel):
    """A record left out as a copy of `kept_index`."""

    index: int
    id: str | None
    reason: DropReason
    kept_index: int
    kept_id: str | None
    jaccard: float = Field(description="estimated Jaccard to the kept copy; 1.0 for exact duplicates")


class ClusterMember(BaseModel):
    """One record of a cluster and how it relates to the copy kept."""

    index: int
    id: str | None
    relation: Literal["kept", "exact_duplicate", "near_duplicate"]
    jaccard: float = Field(description="estimated Jaccard to the kept copy (1.0 for it and its exact copies)")


class Cluster(BaseModel):
    """Records judged copies of each other (two or more), with the one kept."""

    cluster_id: int
    kept_index: int
    kept_id: str | None
    members: list[ClusterMember]


class DedupResult(BaseModel):
    """What dedup keeps and drops, its clusters, and a cluster id for every record (kept or not)."""

    kept: list[int] = Field(description="indices of the records kept, ascending")
    dropped: list[DroppedRecord] = Field(description="by index")
    clusters: list[Cluster] = Field(description="clusters of two or more records, by cluster id")
    cluster_of: dict[int, int] = Field(description="index -> cluster id, for every record; singletons have "
                                                   "their own id; ids number clusters by their first index")
    settings: MinHashSettings | None = Field(description="the near-dup signatures' settings (None: no near stage)")
    counts: dict[str, int] = Field(description="records, kept, exact_duplicate, near_duplicate, clusters")
