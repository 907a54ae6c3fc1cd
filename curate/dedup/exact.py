"""Exact duplicates: a key per record (a hash of its normalised text), and the copy kept of each group."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.dedup.choice import best_copy
from curate.dedup.config import DedupConfig
from curate.dedup.normalise import normalised_text
from curate.records import Trajectory


def exact_key(traj: Trajectory, cfg: DedupConfig | None = None) -> str:
    """A stable hex digest (blake2b, 128 bits) of the normalised text over `cfg.exact_roles`.

    The system prompt and the tool schemas are left out unless `cfg.exact_roles` has `system` or
    `cfg.exact_include_tools` is set. Equal keys mean equal normalised texts (barring a 2^-128 collision).
    """
    cfg = cfg or DedupConfig()
    return text_key(normalised_text(traj, cfg.exact_roles, cfg.exact_include_tools))


def text_key(text: str) -> str:
    """The exact key of an already normalised text (what `exact_key` hashes)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def exact_representatives(exact_keys: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> np.ndarray:
    """The copy kept of each record's exact group (records with equal `exact_keys`): an array of indices, the
    record itself when it is kept or has no copy; `keys` are the choice keys `best_copy` compares."""
    rep = np.arange(len(exact_keys))
    groups: dict[str, list[int]] = {}
    for k, key in enumerate(exact_keys):
        groups.setdefault(key, []).append(k)
    for members in groups.values():
        if len(members) > 1:
            rep[members] = best_copy(members, keys)
    return rep
