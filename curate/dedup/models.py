"""What dedup reports: the records kept and dropped, and the clusters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
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


@dataclass
class DedupArrays:
    """`DedupResult` as a few numpy columns (8 bytes per record each, not a dict entry and models per record):
    what `DedupStage.arrays` gives a caller holding a million records. `to_result()` is the `DedupResult`.

    Record k is kept when `kept_of[k] == k`; otherwise it is an exact duplicate of `kept_of[k]` when
    `exact_of[k] != k`, else a near duplicate. `cluster_of[k]` numbers clusters by their first index (singletons
    too); `jaccard[k]` is k's estimated Jaccard to its kept copy (1.0 for the kept copy and exact duplicates).
    """

    ids: Any
    """The records' ids, by index: a sequence, or a pyarrow string array."""
    exact_of: np.ndarray
    kept_of: np.ndarray
    cluster_of: np.ndarray
    jaccard: np.ndarray
    settings: MinHashSettings | None
    counts: dict[str, int]

    def id_of(self, k: int) -> str | None:
        """Record k's id."""
        value = self.ids[k]
        return value.as_py() if hasattr(value, "as_py") else value

    @property
    def kept(self) -> np.ndarray:
        """The indices of the records kept, ascending."""
        return np.flatnonzero(self.kept_of == np.arange(len(self.kept_of)))

    def dropped(self, reason: DropReason | None = None) -> np.ndarray:
        """The indices of the records dropped (as `reason`, when given), ascending."""
        index = np.arange(len(self.kept_of))
        gone = self.kept_of != index
        if reason is not None:
            gone &= (self.exact_of != index) if reason == "exact_duplicate" else (self.exact_of == index)
        return np.flatnonzero(gone)

    def relation(self, k: int) -> Literal["kept", "exact_duplicate", "near_duplicate"]:
        return "kept" if self.kept_of[k] == k else "exact_duplicate" if self.exact_of[k] != k else "near_duplicate"

    def cluster_sizes(self) -> np.ndarray:
        """The records of each cluster, by cluster id (singletons: 1)."""
        return np.bincount(self.cluster_of, minlength=0) if len(self.cluster_of) else np.zeros(0, dtype=np.int64)

    def clusters(self) -> Iterator[Cluster]:
        """The clusters of two or more records, by cluster id, one at a time (as `DedupResult.clusters`)."""
        if not len(self.cluster_of):
            return
        sizes = self.cluster_sizes()
        multi = np.flatnonzero(sizes[self.cluster_of] >= 2)
        multi = multi[np.argsort(self.cluster_of[multi], kind="stable")]
        cuts = np.flatnonzero(np.diff(self.cluster_of[multi])) + 1
        for members in np.split(multi, cuts) if len(multi) else []:
            kept = int(self.kept_of[members[0]])
            order = [kept, *(k for k in members.tolist() if k != kept)]
            listed = [ClusterMember(index=k, id=self.id_of(k), relation=self.relation(k),
                                    jaccard=float(self.jaccard[k])) for k in order]
            yield Cluster(cluster_id=int(self.cluster_of[kept]), kept_index=kept, kept_id=self.id_of(kept),
                          members=listed)

    def to_result(self) -> DedupResult:
        """The same outcome as a `DedupResult`."""
        dropped = []
        for k in self.dropped().tolist():
            kept = int(self.kept_of[k])
            dropped.append(DroppedRecord(index=k, id=self.id_of(k), reason=self.relation(k), kept_index=kept,
                                         kept_id=self.id_of(kept), jaccard=float(self.jaccard[k])))
        return DedupResult(kept=self.kept.tolist(), dropped=dropped, clusters=list(self.clusters()),
                           cluster_of=dict(enumerate(self.cluster_of.tolist())), settings=self.settings,
                           counts=dict(self.counts))
