"""The dedup stage: exact dedup, then near-dup dedup of the survivors, the best copy of each cluster kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.dedup.choice import DedupEntry, WarningCounts, choice_ranks, first_of_groups
from curate.dedup.config import DedupConfig
from curate.dedup.errors import DedupError
from curate.dedup.exact import exact_representatives, text_key
from curate.dedup.lsh import near_duplicate_labels
from curate.dedup.minhash import MinHashSettings, Signatures, sign_records, sign_texts
from curate.dedup.models import DedupArrays, DedupResult
from curate.dedup.normalise import normalised_text
from curate.records import Trajectory


@dataclass
class DedupColumns:
    """What choosing the copy to keep needs of each record, as columns (`DedupEntry` per record, transposed):
    ids (a sequence or a pyarrow string array) and the two `completeness` flags."""

    ids: Any
    ends_with_answer: np.ndarray
    has_tool_result: np.ndarray

    @classmethod
    def of(cls, entries: Sequence[DedupEntry]) -> DedupColumns:
        return cls([e.id for e in entries], np.array([e.ends_with_answer for e in entries], dtype=bool),
                   np.array([e.has_tool_result for e in entries], dtype=bool))


class DedupStage:
    """The stage in its steps, over what was computed per record: the exact groups (made when constructed),
    then the survivors' near-dup clusters (given to `result`), then what is kept and why.

    Whoever runs the stage signs the exact-dedup `survivors` with `settings` and clusters their signatures
    (`near_duplicate_labels`, or an engine's equivalent giving the same labels), then passes both to
    `result` (or `arrays`): the stage computes on what it is given and calls nothing back.

    `exact_of[k]` is the copy exact dedup keeps of record k (k itself when kept or alone); `survivors` are the
    records it keeps, ascending, which the near stage compares; `settings` are the settings their signatures
    must have, None when there is no near stage to run (`near = false`, or no records), and then `result()`
    takes neither signatures nor labels. Everything per record is a numpy column (`choice_ranks`,
    `DedupArrays`), so a million records cost a few arrays.
    """

    def __init__(self, entries: Sequence[DedupEntry] | DedupColumns, cfg: DedupConfig | None = None,
                 warnings: WarningCounts | np.ndarray | None = None,
                 exact_keys: Sequence[str] | np.ndarray | None = None) -> None:
        """`warnings` counts lint warnings per record, by id (a mapping) or by position (a sequence); records
        with fewer are preferred. `exact_keys[k]` is `exact_key(record k, cfg)` (or its `text_digest`, as a
        numpy `S16` array), needed when `cfg.exact`."""
        self.cfg = cfg or DedupConfig()
        cols = entries if isinstance(entries, DedupColumns) else DedupColumns.of(entries)
        n = len(cols.ids)
        if self.cfg.exact and (exact_keys is None or len(exact_keys) != n):
            raise DedupError(f"exact dedup needs an exact key per record: {n} records, "
                             f"{'no' if exact_keys is None else len(exact_keys)} keys")
        self.ids = cols.ids
        self.keys = choice_ranks(cols.ids, cols.ends_with_answer, cols.has_tool_result, warnings)
        self.exact_of = np.arange(n)
        if self.cfg.exact and exact_keys is not None:
            self.exact_of = exact_representatives(exact_keys, self.keys)
        self.survivors = np.flatnonzero(self.exact_of == np.arange(n))
        self.settings = MinHashSettings.from_config(self.cfg) if self.cfg.near and len(self.survivors) else None

    def survivor_signatures(self, signatures: Signatures) -> Signatures:
        """The survivors' rows of `signatures`, which holds a row per record (others' rows may hold anything);
        raises `DedupError` unless they were made with `settings`."""
        if self.settings is None:
            raise DedupError("there is no near-duplicate stage to sign for (near = false, or no records)")
        self.settings.require_compatible(signatures.settings, "precomputed signatures")
        if len(signatures) != len(self.ids):
            raise DedupError(f"{len(signatures)} precomputed signatures for {len(self.ids)} records")
        return signatures.take(self.survivors)

    def result(self, sigs: Signatures | None = None, labels: np.ndarray | None = None) -> DedupResult:
        """What is kept and dropped, given the survivors' signatures (row p is `survivors[p]`'s) and their
        cluster labels (`near_duplicate_labels(sigs, cfg.threshold)`): both None when `settings` is None."""
        return self.arrays(sigs, labels).to_result()

    def arrays(self, sigs: Signatures | None = None, labels: np.ndarray | None = None) -> DedupArrays:
        """`result` as numpy columns (`DedupArrays`), for a caller holding many records."""
        survivors = self.survivors
        near_rep = survivors.copy()  # per survivor: the kept record of its near cluster
        near_label = survivors.copy()
        sig_values: np.ndarray | None = None
        if self.settings is not None:
            if sigs is None or labels is None:
                raise DedupError("the near-duplicate stage needs the survivors' signatures and their labels")
            self.settings.require_compatible(sigs.settings, "the survivors' signatures")
            if len(sigs) != len(survivors) or len(labels) != len(survivors):
                raise DedupError(f"{len(survivors)} survivors of exact dedup, {len(sigs)} signatures and "
                                 f"{len(labels)} labels")
            sig_values = sigs.values
            labels = np.asarray(labels, dtype=np.int64)
            near_label = survivors[labels]
            near_rep = survivors[first_of_groups(labels, self.keys[survivors])]
        return self._report(near_rep, near_label, sig_values)

    def _report(self, near_rep: np.ndarray, near_label: np.ndarray, sig_values: np.ndarray | None) -> DedupArrays:
        """The result from each survivor's kept record (`near_rep`) and cluster label (`near_label`)."""
        survivors, rep = self.survivors, self.exact_of
        n = len(rep)
        survivor_pos = np.full(n, -1, dtype=np.int64)
        survivor_pos[survivors] = np.arange(len(survivors))
        kept_of = near_rep[survivor_pos[rep]].astype(np.int64, copy=False)
        label = near_label[survivor_pos[rep]]
        index = np.arange(n)

        # estimated Jaccard to the kept copy: exact copies (and the kept copy) count as identical
        jaccard = np.ones(n, dtype=np.float64)
        near = np.flatnonzero((rep == index) & (kept_of != index))
        if sig_values is not None and len(near):
            step = 8192  # rows compared at a time: two 8192 x num_perm slices, whatever the corpus
            for a in range(0, len(near), step):
                k = near[a:a + step]
                equal = np.count_nonzero(sig_values[survivor_pos[k]] == sig_values[survivor_pos[kept_of[k]]], axis=1)
                jaccard[k] = equal / sig_values.shape[1]

        # cluster ids in order of each cluster's first index
        _, first, inverse = np.unique(label, return_index=True, return_inverse=True)
        cluster_id = np.empty(len(first), dtype=np.int64)
        cluster_id[np.argsort(first, kind="stable")] = np.arange(len(first))
        cluster_of = cluster_id[inverse.reshape(-1)] if n else np.zeros(0, dtype=np.int64)
        sizes = np.bincount(cluster_of) if n else np.zeros(0, dtype=np.int64)
        gone = kept_of != index
        counts = {
            "records": n,
            "kept": int(n - np.count_nonzero(gone)),
            "exact_duplicate": int(np.count_nonzero(gone & (rep != index))),
            "near_duplicate": int(np.count_nonzero(gone & (rep == index))),
            "clusters": int(np.count_nonzero(sizes >= 2)),
        }
        return DedupArrays(ids=self.ids, exact_of=rep, kept_of=kept_of, cluster_of=cluster_of, jaccard=jaccard,
                           settings=self.settings, counts=counts)


def deduplicate(records: Sequence[Trajectory], cfg: DedupConfig | None = None,
                warnings: WarningCounts | None = None, num_proc: int = 1,
                signatures: Signatures | None = None) -> DedupResult:
    """Exact dedup (if `cfg.exact`), then near-dup over the survivors (if `cfg.near`): keep the best copy of each.

    `warnings` counts lint warnings per record, by id (a mapping) or by position (a sequence); records
    with fewer are preferred. `signatures` may supply precomputed signatures of all records (settings
    must match `cfg`); otherwise the survivors are signed here with `num_proc` processes. Which copy is
    kept does not depend on input order when ids differ; cluster ids do.
    """
    cfg = cfg or DedupConfig()
    exact_texts: list[str] | None = None
    exact_keys: list[str] | None = None
    if cfg.exact:
        exact_texts = [normalised_text(r, cfg.exact_roles, cfg.exact_include_tools) for r in records]
        exact_keys = [text_key(t) for t in exact_texts]
    stage = DedupStage([DedupEntry.of(r) for r in records], cfg, warnings, exact_keys)
    if stage.settings is None:
        return stage.result()
    survivors = stage.survivors
    if signatures is not None:
        sigs = stage.survivor_signatures(signatures)
    elif exact_texts is not None and set(cfg.exact_roles) == set(cfg.roles) and not cfg.exact_include_tools:
        sigs = sign_texts([exact_texts[k] for k in survivors], stage.settings, num_proc=num_proc, normalised=True)
    else:
        sigs = sign_records([records[k] for k in survivors], stage.settings, num_proc=num_proc)
    return stage.result(sigs, near_duplicate_labels(sigs, cfg.threshold))


def deduplicate_entries(entries: Sequence[DedupEntry], cfg: DedupConfig | None = None,
                        warnings: WarningCounts | None = None, exact_keys: Sequence[str] | None = None,
                        signatures: Signatures | None = None) -> DedupResult:
    """`deduplicate` on what was computed per record elsewhere: the same result, without the records.

    `exact_keys[k]` is `exact_key(record k, cfg)` (needed when `cfg.exact`); `signatures` holds row k's
    signature over `cfg.roles` for every record (needed when `cfg.near`; settings must match `cfg`). Only
    the exact-dedup survivors' rows are read, so the others may hold anything. `DedupStage` runs the same steps
    one by one, for a caller that clusters the survivors' signatures itself (the build, on its engine).
    """
    stage = DedupStage(entries, cfg, warnings, exact_keys)
    if stage.settings is None:
        return stage.result()
    if signatures is None:
        raise DedupError("near-duplicate dedup needs precomputed signatures of every record")
    sigs = stage.survivor_signatures(signatures)
    return stage.result(sigs, near_duplicate_labels(sigs, stage.cfg.threshold))
