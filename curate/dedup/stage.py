"""The dedup stage: exact dedup, then near-dup dedup of the survivors, the best copy of each cluster kept."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curate.dedup.choice import DedupEntry, WarningCounts, _choice_keys, best_copy
from curate.dedup.config import DedupConfig
from curate.dedup.errors import DedupError
from curate.dedup.exact import exact_representatives, text_key
from curate.dedup.lsh import near_duplicate_labels
from curate.dedup.minhash import MinHashSettings, Signatures, sign_records, sign_texts
from curate.dedup.models import Cluster, ClusterMember, DedupResult, DroppedRecord
from curate.dedup.normalise import normalised_text
from curate.records import Trajectory


class DedupStage:
    """The stage in its steps, over what was computed per record: the exact groups (made when constructed),
    then the survivors' near-dup clusters (given to `result`), then what is kept and why.

    Whoever runs the stage signs the exact-dedup `survivors` with `settings` and clusters their signatures
    (`near_duplicate_labels`, or an engine's equivalent giving the same labels), then passes both to
    `result`: the stage computes on what it is given and calls nothing back.

    `exact_of[k]` is the copy exact dedup keeps of record k (k itself when kept or alone); `survivors` are the
    records it keeps, ascending, which the near stage compares; `settings` are the settings their signatures
    must have, None when there is no near stage to run (`near = false`, or no records), and then `result()`
    takes neither signatures nor labels.
    """

    def __init__(self, entries: Sequence[DedupEntry], cfg: DedupConfig | None = None,
                 warnings: WarningCounts | None = None, exact_keys: Sequence[str] | None = None) -> None:
        """`warnings` counts lint warnings per record, by id (a mapping) or by position (a sequence); records
        with fewer are preferred. `exact_keys[k]` is `exact_key(record k, cfg)`, needed when `cfg.exact`."""
        self.cfg = cfg or DedupConfig()
        n = len(entries)
        if self.cfg.exact and (exact_keys is None or len(exact_keys) != n):
            raise DedupError(f"exact dedup needs an exact key per record: {n} records, "
                             f"{'no' if exact_keys is None else len(exact_keys)} keys")
        self.ids = [e.id for e in entries]
        self.keys = _choice_keys(entries, warnings)
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
        survivors, keys = self.survivors, self.keys
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
            near_label = survivors[labels]
            by_label: dict[int, list[int]] = {}
            for pos, lab in enumerate(labels.tolist()):
                by_label.setdefault(lab, []).append(pos)
            for members in by_label.values():
                if len(members) > 1:
                    chosen = best_copy(survivors[members].tolist(), keys)
                    near_rep[members] = chosen
        return self._report(near_rep, near_label, sig_values)

    def _report(self, near_rep: np.ndarray, near_label: np.ndarray, sig_values: np.ndarray | None) -> DedupResult:
        """The result from each survivor's kept record (`near_rep`) and cluster label (`near_label`)."""
        survivors, rep, ids, settings = self.survivors, self.exact_of, self.ids, self.settings
        n = len(ids)
        survivor_pos = {int(k): p for p, k in enumerate(survivors)}
        kept_of = np.empty(n, dtype=np.int64)
        label = np.empty(n, dtype=np.int64)
        for k in range(n):
            p = survivor_pos[int(rep[k])]
            kept_of[k] = near_rep[p]
            label[k] = near_label[p]

        def jaccard_to_kept(k: int) -> float:
            if rep[k] != k or sig_values is None:  # exact copies (and the kept copy) count as identical
                return 1.0
            a, b = sig_values[survivor_pos[k]], sig_values[survivor_pos[int(kept_of[k])]]
            return float(np.count_nonzero(a == b)) / len(a)

        # cluster ids in order of each cluster's first index
        cluster_ids: dict[int, int] = {}
        for lab in label.tolist():
            cluster_ids.setdefault(lab, len(cluster_ids))
        cluster_of = {k: cluster_ids[int(label[k])] for k in range(n)}
        members_of: dict[int, list[int]] = {}
        for k in range(n):
            members_of.setdefault(cluster_of[k], []).append(k)

        dropped: list[DroppedRecord] = []
        clusters: list[Cluster] = []
        for cid, members in members_of.items():
            if len(members) < 2:
                continue
            kept = int(kept_of[members[0]])
            listed = []
            for k in sorted(members, key=lambda m: (m != kept, m)):
                relation = "kept" if k == kept else "exact_duplicate" if rep[k] != k else "near_duplicate"
                jac = jaccard_to_kept(k)
                listed.append(ClusterMember(index=k, id=ids[k], relation=relation, jaccard=jac))
                if relation != "kept":
                    dropped.append(DroppedRecord(index=k, id=ids[k], reason=relation, kept_index=kept,
                                                 kept_id=ids[kept], jaccard=jac))
            clusters.append(Cluster(cluster_id=cid, kept_index=kept, kept_id=ids[kept], members=listed))
        dropped.sort(key=lambda d: d.index)
        kept_list = [k for k in range(n) if kept_of[k] == k]
        counts = {
            "records": n,
            "kept": len(kept_list),
            "exact_duplicate": sum(d.reason == "exact_duplicate" for d in dropped),
            "near_duplicate": sum(d.reason == "near_duplicate" for d in dropped),
            "clusters": len(clusters),
        }
        return DedupResult(kept=kept_list, dropped=dropped, clusters=clusters, cluster_of=cluster_of,
                           settings=settings, counts=counts)


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
