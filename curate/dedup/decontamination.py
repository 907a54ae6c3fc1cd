"""Decontamination: the training records that near-duplicate a record of a reference set (a benchmark)."""

from __future__ import annotations

from curate.dedup.lsh import verified_pairs
from curate.dedup.minhash import Signatures
from curate.records import Role

DECONTAMINATION_ROLES: tuple[Role, ...] = ("user",)
"""Benchmark questions are user prompts (BFCL rows have only user turns), so references compare by these."""


def contamination_matches(train: Signatures, reference: Signatures, threshold: float,
                          max_bucket: int = 1024) -> dict[int, tuple[int, float]]:
    """Train rows that near-duplicate a reference row: train index -> (best reference index, estimated J).

    An LSH index over the reference bands is queried with the train bands, each hit verified with the full
    signatures. Both sides must share settings (roles included: sign both with `DECONTAMINATION_ROLES`
    for benchmark questions).
    """
    train.settings.require_compatible(reference.settings, "train and reference signatures")
    i, j, est = verified_pairs(train, threshold, reference, max_bucket=max_bucket)
    best: dict[int, tuple[int, float]] = {}
    for a, b, c in zip(i.tolist(), j.tolist(), est.tolist(), strict=True):
        if a not in best or c > best[a][1]:
            best[a] = (b, c)
    return best


def decontaminate(train: Signatures, reference: Signatures, threshold: float) -> set[int]:
    """Indices of train rows whose estimated Jaccard to some reference row is >= threshold."""
    return set(contamination_matches(train, reference, threshold))
