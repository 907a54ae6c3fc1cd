"""Dedup: exact and near-duplicate detection, and decontamination against reference sets.

Records are compared by a role-aware text (`normalise`: `conversation_text`, `normalised_text`): by default
the user and assistant turns, each prefixed by its role, with the system prompt and the tool schemas left out.
The stage (`stage`: `DedupStage`, `deduplicate`) runs two steps and keeps the best copy of each group
(`choice`: fewest lint warnings, then most complete, then id order):

1. **Exact** (`exact`): records whose normalised text (NFKC, case-folded, whitespace collapsed) hashes alike
   (`exact_key`) form a group.
2. **Near**: MinHash signatures (`minhash`) of the survivors' word n-gram shingles; banded LSH for candidate
   pairs, each verified by the Jaccard similarity estimated from the full signatures, clusters by union-find
   over the verified pairs (`lsh`: `near_duplicate_labels`).

Signatures are computed in batches with numpy and are bit-identical to `datasketch.MinHash(num_perm, seed)`
(datasketch >= 2.0, its default "affine32" scheme, default `sha1_hash32` hash) updated with the same shingles
encoded as UTF-8; `permutation="legacy"` reproduces datasketch's pre-2.0 scheme (`scheme="legacy"`).
`hash="xxh3_32"` trades that compatibility for speed. Every `Signatures` carries its `MinHashSettings`,
and combining signatures made with different settings raises `DedupError` (`errors`).

`deduplicate(records, cfg)` runs both steps and returns a `DedupResult` (`models`: what is kept, what is
dropped and why, the clusters, and a cluster id for every record, which the split step uses to keep each
cluster on one side). `DedupStage` runs them one at a time on what was computed per record elsewhere (ids,
completeness, exact keys, signatures): `curate build` computes those in worker processes, clusters the
survivors' signatures on its engine and passes the labels in, never holding the records themselves, and takes the
outcome as numpy columns (`DedupStage.arrays`: `DedupArrays`, ids and flags given as `DedupColumns`);
`deduplicate_entries` does the same in one call. Decontamination (`decontamination`): `read_benchmark` reads
benchmark files into items (one per turn) and answer calls, `BenchmarkIndex` indexes them (word n-grams as
hashes: `ngrams`) and finds, per training record, the benchmark item any of its turns holds (n-gram coverage,
near copies by exact shingle Jaccard, answer calls). `[dedup]` of a build config is `DedupConfig` (`config`).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from curate.dedup import normalise
from curate.dedup.choice import DedupEntry, WarningCounts, best_copy, choice_ranks, completeness
from curate.dedup.choice import _choice_keys as _choice_keys
from curate.dedup.config import DedupConfig, HashName
from curate.dedup.errors import DedupError
from curate.dedup.exact import exact_key, exact_representatives, text_digest, text_key
from curate.dedup.lsh import (
    LSH_WEIGHTS,
    MAX_BUCKET,
    band_keys,
    bucket_pairs,
    candidate_pairs,
    connected_components,
    jaccard_pairs_above,
    lsh_params,
    near_duplicate_labels,
    sorted_unique,
    verified_pairs,
    verify_pairs,
)
from curate.dedup.minhash import SCHEME, MinHasher, MinHashSettings, Permutation, Signatures, sign_records, sign_texts
from curate.dedup.models import Cluster, ClusterMember, DedupArrays, DedupResult, DroppedRecord, DropReason
from curate.dedup.normalise import (
    DEFAULT_ROLES,
    LARGE_TEXT,
    NORMALISATION,
    conversation_text,
    normalise_text,
    normalised_text,
    shingles,
    words,
)
from curate.dedup.normalise import _word_bytes as _word_bytes
from curate.dedup.stage import DedupColumns, DedupStage, deduplicate, deduplicate_entries

__all__ = [
    "DEFAULT_ROLES",
    "LARGE_TEXT",
    "LSH_WEIGHTS",
    "MAX_BUCKET",
    "NORMALISATION",
    "SCHEME",
    "Cluster",
    "ClusterMember",
    "DedupArrays",
    "DedupColumns",
    "DedupConfig",
    "DedupEntry",
    "DedupError",
    "DedupResult",
    "DedupStage",
    "DropReason",
    "DroppedRecord",
    "HashName",
    "MinHashSettings",
    "MinHasher",
    "Permutation",
    "Signatures",
    "WarningCounts",
    "band_keys",
    "best_copy",
    "bucket_pairs",
    "candidate_pairs",
    "choice_ranks",
    "completeness",
    "connected_components",
    "conversation_text",
    "deduplicate",
    "deduplicate_entries",
    "exact_key",
    "exact_representatives",
    "jaccard_pairs_above",
    "lsh_params",
    "near_duplicate_labels",
    "normalise_text",
    "normalised_text",
    "shingles",
    "sign_records",
    "sign_texts",
    "sorted_unique",
    "text_digest",
    "text_key",
    "verified_pairs",
    "verify_pairs",
    "words",
]


class _Package(types.ModuleType):
    """This package, where setting `LARGE_TEXT` sets the length from which texts are normalised and signed piece
    by piece (tests lower it to cut a text into hundreds of windows)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "LARGE_TEXT":
            normalise.LARGE_TEXT = value
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
