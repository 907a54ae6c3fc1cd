"""MinHash signatures: their settings (`MinHashSettings`), the signer (`MinHasher`) and the result (`Signatures`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.dedup import normalise
from curate.dedup.config import DedupConfig, HashName
from curate.dedup.errors import DedupError
from curate.dedup.normalise import (
    DEFAULT_ROLES,
    NORMALISATION,
    _shingle_bytes,
    _text_windows,
    _word_bytes,
    normalise_text,
    normalised_text,
)
from curate.records import Role, Trajectory

SCHEME = "minhash-word-shingles"
Permutation = Literal["affine32", "legacy"]

_MAX32 = np.uint32(0xFFFFFFFF)
_MERSENNE61 = np.uint64((1 << 61) - 1)
_CHUNK_SHINGLES = 8192
"""Shingles permuted at once: a (num_perm, chunk) uint32 buffer of 4 MB at 128 permutations."""


def _datasketch_version() -> str:
    try:
        return metadata.version("datasketch")
    except metadata.PackageNotFoundError:
        return "n/a"


class MinHashSettings(BaseModel):
    """How signatures were made; signatures made with different settings must never be compared.

    `datasketch_version` records the installed datasketch whose `MinHash` these signatures equal
    (`"n/a"` when datasketch is absent or `hash` is not its default); it documents, and is left out of
    the compatibility check, since the values do not depend on it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme: Literal["minhash-word-shingles"] = SCHEME
    shingle: int = Field(5, ge=1, le=32, description="words per shingle")
    hash: HashName = Field("sha1_32", description="sha1_32: datasketch's sha1_hash32; xxh3_32: low 32 bits "
                                                  "of xxh3_64 (faster, not datasketch's default)")
    permutation: Permutation = Field("affine32", description="datasketch's scheme: affine32 (>= 2.0) or legacy")
    seed: int = 1
    num_perm: int = Field(128, ge=1, le=4096)
    roles: tuple[Role, ...] = DEFAULT_ROLES
    normalisation: str = NORMALISATION
    datasketch_version: str = "n/a"

    @field_validator("roles")
    @classmethod
    def _canonical_roles(cls, roles: tuple[Role, ...]) -> tuple[Role, ...]:
        # the text depends on the set of roles, not on the order they are listed in
        canonical = tuple(r for r in ("system", "user", "assistant", "tool") if r in roles)
        if not canonical:
            raise ValueError("`roles` needs at least one role")
        return canonical  # type: ignore[return-value]

    @model_validator(mode="before")
    @classmethod
    def _version(cls, data: Any) -> Any:
        if isinstance(data, dict) and "datasketch_version" not in data:
            data = {**data, "datasketch_version": _datasketch_version()
                    if data.get("hash", "sha1_32") == "sha1_32" else "n/a"}
        return data

    @classmethod
    def from_config(cls, cfg: DedupConfig, roles: Iterable[Role] | None = None,
                    hash: HashName | None = None) -> MinHashSettings:
        """Settings of `[dedup]`; `roles` overrides `cfg.roles` (decontamination uses user turns)."""
        return cls(shingle=cfg.shingle, num_perm=cfg.num_perm, seed=cfg.seed,
                   roles=tuple(roles if roles is not None else cfg.roles),
                   hash=hash or getattr(cfg, "hash", "sha1_32"))

    def compatibility_key(self) -> tuple[Any, ...]:
        """The fields that determine the values: equal keys, comparable signatures."""
        return (self.scheme, self.shingle, self.hash, self.permutation, self.seed, self.num_perm,
                self.roles, self.normalisation)

    def require_compatible(self, other: MinHashSettings, what: str = "signatures") -> None:
        """Raise `DedupError` naming the differing fields unless `other` makes comparable signatures."""
        if self.compatibility_key() == other.compatibility_key():
            return
        mine, theirs = self.model_dump(), other.model_dump()
        diff = ", ".join(f"{k}: {mine[k]!r} vs {theirs[k]!r}" for k in mine
                         if k != "datasketch_version" and mine[k] != theirs[k])
        raise DedupError(f"refuse to mix {what} made with different MinHash settings ({diff}); "
                         "recompute one side with the other's settings")


@dataclass(frozen=True)
class Signatures:
    """MinHash signatures of n texts: `values` is an (n, num_perm) uint32 array, row i for text i."""

    values: np.ndarray
    settings: MinHashSettings

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != self.settings.num_perm:
            raise DedupError(f"signature array of shape {self.values.shape} does not match "
                             f"num_perm={self.settings.num_perm}")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def take(self, indices: Sequence[int] | np.ndarray) -> Signatures:
        """The signatures of `indices`, in that order (row k of the result is row indices[k])."""
        return Signatures(self.values[np.asarray(indices, dtype=np.int64)], self.settings)


def _fmix32(h: np.ndarray) -> np.ndarray:
    # MurmurHash3's 32-bit finalizer, as datasketch's affine32 scheme pre-mixes each input hash.
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


try:  # CPython's own SHA-1 has less per-call overhead than OpenSSL's for short inputs; same digests
    from _sha1 import sha1 as _sha1
except ImportError:  # pragma: no cover - builds without it (FIPS)
    _sha1 = hashlib.sha1


def _sha1_32(items: Iterable[bytes]) -> np.ndarray:
    sha1 = _sha1
    digests = b"".join([sha1(s).digest() for s in items])
    # datasketch's sha1_hash32: the first 4 bytes of each 20-byte digest, little-endian.
    return np.frombuffer(digests, dtype="<u4")[::5]


def _xxh3_32(items: Iterable[bytes]) -> np.ndarray:
    try:
        import xxhash
    except ImportError:
        from curate.extras import needs

        raise DedupError(needs("hash `xxh3_32` needs the `xxhash` package", "data")) from None
    digest = xxhash.xxh3_64_intdigest
    return (np.fromiter(map(digest, items), dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


class MinHasher:
    """Computes signatures for one `MinHashSettings`: permutations drawn once, texts signed in batches."""

    def __init__(self, settings: MinHashSettings) -> None:
        self.settings = settings
        gen = np.random.RandomState(settings.seed)
        p = settings.num_perm
        if settings.permutation == "affine32":
            # datasketch.MinHash._init_permutations, scheme affine32: odd a, any b, arithmetic mod 2^32.
            a = gen.randint(0, 1 << 31, p, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
            b = gen.randint(0, 1 << 32, p, dtype=np.uint32)
        else:
            pairs = [(gen.randint(1, _MERSENNE61, dtype=np.uint64), gen.randint(0, _MERSENNE61, dtype=np.uint64))
                     for _ in range(p)]
            a, b = np.array(pairs, dtype=np.uint64).T
        self.a = np.ascontiguousarray(a)[:, None]
        self.b = np.ascontiguousarray(b)[:, None]

    def sign_texts(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        """Signatures of normalised texts: an (len(texts), num_perm) uint32 array.

        Texts must already be normalised (`normalise_text` / `normalised_text`); a text without words
        gets the empty signature (all 2^32-1), like a datasketch MinHash never updated.
        """
        out = np.full((len(texts), self.settings.num_perm), _MAX32, dtype=np.uint32)
        for s in range(0, len(texts), batch_size):
            self._sign_batch(texts[s:s + batch_size], out[s:s + batch_size])
        return out

    def _sign_batch(self, texts: Sequence[str], out: np.ndarray) -> None:
        n_shingle = self.settings.shingle
        large = normalise.LARGE_TEXT  # read here, not imported: setting `curate.dedup.LARGE_TEXT` changes it
        all_shingles: list[bytes] = []
        counts = []
        for i, text in enumerate(texts):
            if len(text) > large:
                self._sign_large(text, out[i])
                sh = []
            else:
                sh = _shingle_bytes(text, n_shingle)
            counts.append(len(sh))
            all_shingles += sh
        if not all_shingles:
            return
        if self.settings.hash == "sha1_32":
            # sha1 dominates: hash each distinct shingle of the batch once (templated data repeats a lot).
            index: dict[bytes, int] = {}
            codes = [index.setdefault(sh, len(index)) for sh in all_shingles]
            hv = _sha1_32(index)[np.array(codes, dtype=np.int64)]
        else:
            hv = _xxh3_32(all_shingles)
        if self.settings.permutation == "affine32":
            hv = _fmix32(hv)
        count_arr = np.array(counts, dtype=np.int64)
        rows = np.flatnonzero(count_arr)
        starts = np.concatenate(([0], np.cumsum(count_arr[rows])))
        # Permute and reduce in chunks of whole records, about _CHUNK_SHINGLES shingles each.
        k = 0
        while k < len(rows):
            end = max(int(np.searchsorted(starts, starts[k] + _CHUNK_SHINGLES, side="right")) - 1, k + 1)
            lo, hi = int(starts[k]), int(starts[end])
            out[rows[k:end]] = self._permute_min(hv[lo:hi], starts[k:end] - lo).T
            k = end

    def _sign_large(self, text: str, row: np.ndarray) -> None:
        """Sign one long text into `row` window by window (`_text_windows`), each window's shingles with the
        last `shingle - 1` words of the one before: the shingles of the whole text, never all held at once."""
        n = self.settings.shingle
        carry: list[bytes] = []
        words = 0
        for piece in _text_windows(text, normalise.LARGE_TEXT // 4):
            ws = _word_bytes(piece)
            words += len(ws)
            ws = carry + ws
            if len(ws) >= n:
                self._min_into(list(map(b" ".join, zip(*(ws[k:] for k in range(n)), strict=False))), row)
            carry = ws[-(n - 1):] if n > 1 else []
        if words < n:  # fewer words than a shingle: the one shingle of them all
            shingles = _shingle_bytes(text, n)
            if shingles:
                self._min_into(shingles, row)

    def _min_into(self, shingles: list[bytes], row: np.ndarray) -> None:
        """Lower `row` (one signature) to the minimum hash of `shingles` under each permutation."""
        hv = _sha1_32(dict.fromkeys(shingles)) if self.settings.hash == "sha1_32" else _xxh3_32(shingles)
        if self.settings.permutation == "affine32":
            hv = _fmix32(hv)
        first = np.zeros(1, dtype=np.int64)
        for s in range(0, len(hv), _CHUNK_SHINGLES):
            np.minimum(row, self._permute_min(hv[s:s + _CHUNK_SHINGLES], first)[:, 0], out=row)

    def _permute_min(self, hv: np.ndarray, seg_starts: np.ndarray) -> np.ndarray:
        # Shape (num_perm, shingles): reducing along the contiguous axis is several times faster.
        if self.settings.permutation == "affine32":  # hv is pre-mixed (fmix32) by the caller
            phv = self.a * hv[None, :]
            phv += self.b
        else:
            phv = self.a * hv.astype(np.uint64)[None, :]
            phv += self.b
            phv %= _MERSENNE61
            phv &= np.uint64(0xFFFFFFFF)
        return np.minimum.reduceat(phv, seg_starts, axis=1).astype(np.uint32, copy=False)


def _sign_chunk(args: tuple[str, list[str]]) -> np.ndarray:
    settings_json, texts = args
    return MinHasher(MinHashSettings.model_validate_json(settings_json)).sign_texts(texts)


def sign_texts(texts: Sequence[str], settings: MinHashSettings, num_proc: int = 1, normalised: bool = False,
               batch_size: int = 2048) -> Signatures:
    """Signatures of texts (normalised here unless `normalised`); `num_proc` > 1 signs batches in processes.

    The result does not depend on `num_proc` or `batch_size`.
    """
    if not normalised:
        texts = [normalise_text(t) for t in texts]
    if num_proc <= 1 or len(texts) <= batch_size:
        return Signatures(MinHasher(settings).sign_texts(texts), settings)
    from curate.parallel import ordered_map

    payload = settings.model_dump_json()
    batches = ((payload, list(texts[i:i + batch_size])) for i in range(0, len(texts), batch_size))
    parts = list(ordered_map(_sign_chunk, batches, num_proc, "dedup"))
    return Signatures(np.concatenate(parts), settings)


def sign_records(records: Sequence[Trajectory], settings: MinHashSettings, num_proc: int = 1) -> Signatures:
    """Signatures of records over `settings.roles` (tool schemas left out)."""
    texts = [normalised_text(r, settings.roles) for r in records]
    return sign_texts(texts, settings, num_proc=num_proc, normalised=True)
