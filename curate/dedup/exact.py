"""Exact duplicates: a key per record (a hash of its normalised text), and the copy kept of each group."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from curate.dedup.choice import first_of_groups
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
    """The exact key of an already normalised text (what `exact_key` hashes): `text_digest` in hex."""
    return text_digest(text).hex()


def text_digest(text: str) -> bytes:
    """The 16 bytes `text_key` writes in hex: what the build's record facts keep per record (16 bytes, not a
    32-character string)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def exact_representatives(exact_keys: Sequence[str] | np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The copy kept of each record's exact group (records with equal `exact_keys`: hex keys, or digests as a
    numpy `S16` array): an array of indices, the record itself when it is kept or has no copy; `ranks` are
    `choice_ranks`, the lowest of a group kept (as `best_copy` picks)."""
    n = len(exact_keys)
    if n == 0:
        return np.arange(0)
    _, group = np.unique(np.asarray(exact_keys), return_inverse=True)
    return first_of_groups(group.reshape(-1), ranks)
