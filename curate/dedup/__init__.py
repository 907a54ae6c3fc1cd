"""Exact and near-duplicate detection, and decontamination against reference sets.

Records are compared by a role-aware text (`conversation_text`): by default the user and assistant turns,
each prefixed by its role, with the system prompt and the tool schemas left out. Two stages:

1. **Exact**: records whose normalised text (NFKC, case-folded, whitespace collapsed) hashes alike
   (`exact_key`) form a group; the best copy is kept.
2. **Near**: MinHash signatures of the survivors' word n-gram shingles, banded LSH for candidate pairs,
   each candidate verified by the Jaccard similarity estimated from the full signatures, clusters by
   union-find over the verified pairs; the best copy of each cluster is kept.

Signatures are computed in batches with numpy and are bit-identical to `datasketch.MinHash(num_perm, seed)`
(datasketch >= 2.0, its default "affine32" scheme, default `sha1_hash32` hash) updated with the same shingles
encoded as UTF-8; `permutation="legacy"` reproduces datasketch's pre-2.0 scheme (`scheme="legacy"`).
`hash="xxh3_32"` trades that compatibility for speed. Every `Signatures` carries its `MinHashSettings`,
and combining signatures made with different settings raises `DedupError`.

`deduplicate(records, cfg)` runs both stages and returns a `DedupResult` (what is kept, what is dropped
and why, the clusters, and a cluster id for every record, which the split step uses to keep each cluster on
one side). `deduplicate_entries` gives the same result from what was computed per record elsewhere (ids,
completeness, exact keys, signatures): `curate build` computes those in worker processes and never holds
the records themselves. `decontaminate(train, reference, threshold)` finds training records that near-duplicate any
reference record (benchmark questions: by default user turns only).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.config import ConfigSection
from curate.records import Message, Role, Trajectory

SCHEME = "minhash-word-shingles"
NORMALISATION = "nfkc+casefold; words=\\w+"
DEFAULT_ROLES: tuple[Role, ...] = ("user", "assistant")
DECONTAMINATION_ROLES: tuple[Role, ...] = ("user",)
"""Benchmark questions are user prompts (BFCL rows have only user turns), so references compare by these."""

HashName = Literal["sha1_32", "xxh3_32"]
Permutation = Literal["affine32", "legacy"]
DropReason = Literal["exact_duplicate", "near_duplicate"]

_MAX32 = np.uint32(0xFFFFFFFF)
_MERSENNE61 = np.uint64((1 << 61) - 1)
_CHUNK_SHINGLES = 8192
"""Shingles permuted at once: a (num_perm, chunk) uint32 buffer of 4 MB at 128 permutations."""
LARGE_TEXT = 1 << 20
"""Characters from which a text is normalised and signed piece by piece (`_text_windows`), with the same
result: memory then grows with the piece, not the text (a list of every word or shingle of a 15 MB text
takes over a gigabyte)."""
_NON_WORD = re.compile(r"\W")
_SPACE_RUN = re.compile(r"\s+")
_VERIFY_CHUNK = 8192
MAX_BUCKET = 256
"""An LSH bucket larger than this compares each member with its next MAX_BUCKET - 1 members only, bounding the
work on a bucket of many near-identical records (whose links then run along the chain)."""
LSH_WEIGHTS = (0.1, 0.9)
"""(false positive, false negative) weights for choosing bands in dedup and decontamination. Every candidate
is verified with the full signature, so a false positive costs one comparison while a false negative loses
a duplicate: at threshold 0.8 and 128 permutations these give 14 bands of 9 rows (a pair of Jaccard 0.85 is
a candidate with probability 0.975) where datasketch's equal weights give 9 x 13 (0.686)."""


class DedupError(ValueError):
    """Signatures or settings that cannot be used together, or a bad argument: a person has to fix it."""


class DedupConfig(ConfigSection):
    """`[dedup]` of a build config: which roles are compared, and the MinHash LSH settings."""

    exact: bool = True
    exact_roles: list[Role] = Field(default_factory=lambda: ["user", "assistant"])
    exact_include_tools: bool = False
    near: bool = True
    roles: list[Role] = Field(default_factory=lambda: ["user", "assistant"])
    shingle: int = Field(5, ge=1, le=32)
    num_perm: int = Field(128, ge=16, le=1024)
    threshold: float = Field(0.8, gt=0.0, lt=1.0)
    seed: int = Field(1, ge=0, le=2**32 - 1, description="seeds numpy's generator of the permutations")
    hash: HashName = Field(
        "sha1_32", description="sha1_32: signatures identical to datasketch's; xxh3_32: about 2x faster")


# --- text -------------------------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """NFKC, case-fold, and collapse every run of whitespace to one space (stripped at both ends)."""
    if len(text) > LARGE_TEXT:  # the same, without a list of every word (`\s` is what `str.split` splits on)
        return _SPACE_RUN.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _text_windows(text: str, size: int) -> Iterable[str]:
    """`text` in consecutive pieces of about `size` characters, each cut before a non-word character, so
    that no word (`words`) is split between two pieces."""
    i = 0
    while i < len(text):
        m = _NON_WORD.search(text, i + size) if i + size < len(text) else None
        if m is None:
            yield text[i:]
            return
        yield text[i:m.start()]
        i = m.start()


def _render_tool_calls(message: Message) -> str:
    parts = []
    for call in message.tool_calls or ():
        args: Any = call.function.arguments
        if isinstance(args, str):
            with contextlib.suppress(ValueError):
                args = json.loads(args)
        parts.append(json.dumps({"name": call.function.name, "arguments": args}, ensure_ascii=False,
                                sort_keys=True))
    return " ".join(parts)


def _turns(traj: Trajectory, roles: Iterable[Role], include_tools: bool) -> list[tuple[str, str]]:
    wanted = frozenset(roles)
    out: list[tuple[str, str]] = []
    if include_tools and traj.tools:
        specs = [t.model_dump(mode="json", exclude_none=True) for t in traj.tools]
        out.append(("tools", json.dumps(specs, ensure_ascii=False, sort_keys=True)))
    for m in traj.messages:
        if m.role not in wanted:
            continue
        body = m.content or ""
        if m.tool_calls:
            calls = _render_tool_calls(m)
            body = f"{body}\n{calls}" if body else calls
        out.append((m.role, body))
    return out


def conversation_text(traj: Trajectory, roles: Iterable[Role] = DEFAULT_ROLES, include_tools: bool = False) -> str:
    """The role-aware text of a conversation, one `role: text` block per turn of `roles`, unnormalised.

    Structured tool calls are rendered as JSON (`{"arguments": …, "name": …}`, keys sorted) after the turn's
    content; calls written in the content stay as written. `include_tools` puts the record's tool schemas
    first, as a `tools:` block. Use `normalised_text` for what the hashes see.
    """
    return "\n".join(f"{role}: {body}" for role, body in _turns(traj, roles, include_tools))


def normalised_text(traj: Trajectory, roles: Iterable[Role] = DEFAULT_ROLES, include_tools: bool = False) -> str:
    """`conversation_text` with each turn normalised (`normalise_text`), one line per turn.

    Whitespace inside a turn collapses to spaces, so the newlines between turns are unambiguous: the exact
    key cannot confuse one turn holding `assistant:` with two turns. Shingles are taken over its words.
    """
    lines = []
    for role, body in _turns(traj, roles, include_tools):
        norm = normalise_text(body)
        lines.append(f"{role}: {norm}" if norm else f"{role}:")
    return "\n".join(lines)


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


_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words of a normalised text: maximal runs of Unicode word characters (`\\w+`); punctuation is dropped.

    So JSON, Python-style and prose renderings of the same call (`{"city": "Paris"}`, `city="Paris"`) share
    their words, and role prefixes (`user:`) become the words `user`, `assistant`.
    """
    return _WORD.findall(text)


def shingles(text: str, n: int = 5) -> list[str]:
    """The distinct word n-grams of a normalised text (`words`, joined by one space), in first-seen order.

    A text of fewer than `n` words is one shingle (its words); a text without words has none. Feeding these,
    encoded as UTF-8, to `datasketch.MinHash.update` gives the signatures `sign_texts` computes.
    """
    ws = _WORD.findall(text)
    if not ws:
        return []
    if len(ws) < n:
        return [" ".join(ws)]
    return list(dict.fromkeys(map(" ".join, zip(*(ws[k:] for k in range(n)), strict=False))))


# ASCII bytes that are not word characters become spaces; bytes >= 0x80 (parts of non-ASCII characters) stay.
_ASCII_WORD_TABLE = bytes(
    c if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95 or c >= 128) else 32 for c in range(256)
)


def _word_bytes(text: str) -> list[bytes]:
    """`words(text)`, encoded as UTF-8, without running a Unicode regex over the whole text."""
    if not text.isascii():
        # `\w` is str.isalnum() or "_"; blank the non-ASCII characters that are not (’ — … emoji) first.
        odd = [c for c in set(text) if c > "\x7f" and not c.isalnum()]
        if odd:
            text = text.translate(dict.fromkeys(map(ord, odd), " "))
    # Bytes >= 0x80 only occur inside non-ASCII characters, all of them word characters by now.
    return text.encode("utf-8").translate(_ASCII_WORD_TABLE).split()


def _shingle_bytes(text: str, n: int) -> list[bytes]:
    """`shingles(text, n)` encoded as UTF-8, repeats kept (they do not change a MinHash)."""
    ws = _word_bytes(text)
    if len(ws) < n:
        return [b" ".join(ws)] if ws else []
    return list(map(b" ".join, zip(*(ws[k:] for k in range(n)), strict=False)))


# --- settings and signatures ------------------------------------------------------------------------------


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

    def jaccard(self, i: int, j: int, other: Signatures | None = None) -> float:
        """Estimated Jaccard similarity of row i and row j (of `other` when given): the share of equal slots."""
        b = self if other is None else other
        self.settings.require_compatible(b.settings)
        return float(np.count_nonzero(self.values[i] == b.values[j])) / self.settings.num_perm

    @classmethod
    def concat(cls, parts: Sequence[Signatures]) -> Signatures:
        """Rows of all `parts`, in order; raises `DedupError` if their settings differ."""
        if not parts:
            raise DedupError("nothing to concatenate")
        for p in parts[1:]:
            parts[0].settings.require_compatible(p.settings)
        return cls(np.concatenate([p.values for p in parts]), parts[0].settings)

    def datasketch(self, i: int) -> Any:
        """Row i as a `datasketch.MinHash` (needs datasketch >= 2.0 installed; sha1_32 hash only)."""
        from datasketch import MinHash

        if self.settings.hash != "sha1_32":
            raise DedupError("only sha1_32 signatures equal datasketch's default MinHash")
        values = self.values[i].astype(np.uint64 if self.settings.permutation == "legacy" else np.uint32)
        return MinHash(seed=self.settings.seed, hashvalues=values, scheme=self.settings.permutation)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to an .npz file holding the values and the settings (as JSON)."""
        np.savez(Path(path), values=self.values, settings=np.array(self.settings.model_dump_json()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Signatures:
        """Read what `save` wrote."""
        with np.load(Path(path)) as data:
            settings = MinHashSettings.model_validate_json(str(data["settings"]))
            return cls(np.array(data["values"], dtype=np.uint32), settings)


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
        raise DedupError("hash `xxh3_32` needs the `xxhash` package (pip install xxhash)") from None
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
        self._hash = _sha1_32 if settings.hash == "sha1_32" else _xxh3_32

    def hash_shingles(self, items: Iterable[bytes]) -> np.ndarray:
        """The 32-bit hashes of encoded shingles (uint32), before permutation."""
        return self._hash(items)

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
        all_shingles: list[bytes] = []
        counts = []
        for i, text in enumerate(texts):
            if len(text) > LARGE_TEXT:
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
        for piece in _text_windows(text, LARGE_TEXT // 4):
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


# --- LSH --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
               false_negative_weight: float = 0.5) -> tuple[int, int]:
    """Bands b and rows r (b * r <= num_perm) minimising the weighted false positive + negative probability.

    The same choice as datasketch's `MinHashLSH(threshold, num_perm)` (`_optimal_param`): both integrands
    are polynomials of degree b * r <= num_perm, which Gauss-Legendre quadrature with num_perm / 2 + 1 nodes
    integrates exactly, so no scipy is needed.
    """
    if not 0.0 < threshold < 1.0:
        raise DedupError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    x, w = np.polynomial.legendre.leggauss(num_perm // 2 + 2)
    s_fp, w_fp = (x + 1) / 2 * threshold, w * threshold / 2
    s_fn, w_fn = threshold + (x + 1) / 2 * (1 - threshold), w * (1 - threshold) / 2
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]
        fp = (1 - (1 - s_fp[None, :] ** r) ** b) @ w_fp
        fn = ((1 - s_fn[None, :] ** r) ** b) @ w_fn
        err = fp * false_positive_weight + fn * false_negative_weight
        k = int(np.argmin(err))
        if err[k] < best:
            best, opt = float(err[k]), (b, k + 1)
    return opt


_BAND_MULT = np.uint64(0x9E3779B97F4A7C15)


def band_keys(values: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """A 64-bit key per (record, band): an (n, bands) uint64 array hashing each band's `rows` slots.

    Equal bands give equal keys; unequal bands collide with probability about 2^-64 (and candidates are
    verified anyway).
    """
    v = values.astype(np.uint64)
    keys = np.empty((values.shape[0], bands), dtype=np.uint64)
    for band in range(bands):
        h = np.full(values.shape[0], np.uint64(0xCBF29CE484222325) + np.uint64(band), dtype=np.uint64)
        for col in range(band * rows, (band + 1) * rows):
            h ^= v[:, col]
            h *= _BAND_MULT
            h ^= h >> np.uint64(29)
        keys[:, band] = h
    return keys


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(sorted_keys)
    new = np.ones(n, dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    starts = np.flatnonzero(new)
    return starts, np.diff(np.append(starts, n))


def _expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges: starts[k], starts[k]+1, …, starts[k]+counts[k]-1 for every k."""
    total = int(counts.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets


def _run_pairs(sorted_keys: np.ndarray, max_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (left, right) pairing each member of a run of equal keys with its next members (at most
    `max_bucket - 1` of them)."""
    starts, lengths = _runs(sorted_keys)
    multi = lengths >= 2
    if not multi.any():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts, lengths = starts[multi], lengths[multi]
    pos = _expand(starts, lengths)
    ends = np.repeat(starts + lengths, lengths)
    per = np.minimum(ends - 1 - pos, max_bucket - 1)
    return np.repeat(pos, per), _expand(pos + 1, per)


def _self_pairs(keys: np.ndarray, max_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    left, right = _run_pairs(keys[order], max_bucket)
    # stable sort: indices ascend within a bucket, so left < right
    return order[left].astype(np.int64), order[right].astype(np.int64)


def bucket_pairs(bands: np.ndarray, keys: np.ndarray, members: np.ndarray,
                 max_bucket: int = MAX_BUCKET) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (i < j) of whole LSH buckets, given as rows (band, band key, member): the pairs
    `candidate_pairs` makes of those buckets (before its de-duplication across bands).

    For an engine that groups rows by (band, key) itself, such as a shuffle across machines: every row of
    a bucket must be in the rows given.
    """
    order = np.lexsort((members, keys, bands))  # by bucket, members ascending within it, as `_self_pairs`
    bands, keys, members = bands[order], keys[order], members[order]
    bucket = np.zeros(len(order), dtype=np.int64)
    if len(order) > 1:
        bucket[1:] = np.cumsum((bands[1:] != bands[:-1]) | (keys[1:] != keys[:-1]))
    left, right = _run_pairs(bucket, max_bucket)
    return members[left].astype(np.int64), members[right].astype(np.int64)


def _cross_pairs(keys_a: np.ndarray, keys_b: np.ndarray, max_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    if len(keys_a) == 0 or len(keys_b) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.argsort(keys_b, kind="stable")
    sorted_b = keys_b[order]
    starts, lengths = _runs(sorted_b)
    uniq = sorted_b[starts]
    pos = np.minimum(np.searchsorted(uniq, keys_a), len(uniq) - 1)
    hit = np.flatnonzero(uniq[pos] == keys_a)
    per = np.minimum(lengths[pos[hit]], max_bucket)
    left = np.repeat(hit, per)
    right = order[_expand(starts[pos[hit]], per)]
    return left.astype(np.int64), right.astype(np.int64)


def _unique_pairs(parts: list[tuple[np.ndarray, np.ndarray]], n_right: int) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    codes = np.unique(np.concatenate([i * n_right + j for i, j in parts]))
    return codes // n_right, codes % n_right


def _equal_slots(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    out = np.empty(len(i), dtype=np.int64)
    for s in range(0, len(i), _VERIFY_CHUNK):
        e = s + _VERIFY_CHUNK
        out[s:e] = np.count_nonzero(a[i[s:e]] == b[j[s:e]], axis=1)
    return out


def _min_equal(threshold: float, num_perm: int) -> int:
    # estimated J = equal / num_perm >= threshold, in integers (no float edge cases)
    return int(np.ceil(threshold * num_perm - 1e-9))


def candidate_pairs(sigs: Signatures, threshold: float, other: Signatures | None = None,
                    max_bucket: int = MAX_BUCKET,
                    weights: tuple[float, float] = LSH_WEIGHTS) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) sharing at least one LSH band, unverified: within `sigs` (i < j) or `sigs` x `other`.

    Bands and rows come from `lsh_params(threshold, num_perm, *weights)`; pass (0.5, 0.5) for datasketch's
    `MinHashLSH` banding. Buckets larger than `max_bucket` pair each member with its next members only.
    """
    if other is not None:
        sigs.settings.require_compatible(other.settings)
    b, r = lsh_params(threshold, sigs.settings.num_perm, *weights)
    keys_a = band_keys(sigs.values, b, r)
    keys_b = band_keys(other.values, b, r) if other is not None else None
    parts = []
    for band in range(b):
        if keys_b is None:
            parts.append(_self_pairs(keys_a[:, band], max_bucket))
        else:
            parts.append(_cross_pairs(keys_a[:, band], keys_b[:, band], max_bucket))
    return _unique_pairs(parts, len(sigs) if other is None else len(other))


def verified_pairs(sigs: Signatures, threshold: float, other: Signatures | None = None,
                   max_bucket: int = MAX_BUCKET,
                   weights: tuple[float, float] = LSH_WEIGHTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LSH candidates whose estimated Jaccard is >= threshold: arrays i, j and the estimates."""
    i, j = candidate_pairs(sigs, threshold, other, max_bucket, weights)
    return verify_pairs(sigs.values, (sigs if other is None else other).values, i, j, threshold)


def verify_pairs(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray,
                 threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs (a[i[k]], b[j[k]]) whose estimated Jaccard is >= threshold: i, j and the estimates.

    The one verification rule, shared by every engine (integer slot counts: no float edge cases).
    """
    num_perm = a.shape[1]
    eq = _equal_slots(a, b, i, j)
    keep = eq >= _min_equal(threshold, num_perm)
    return i[keep], j[keep], eq[keep] / num_perm


def connected_components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Union-find over edges (i[k], j[k]) of n nodes: each node's label is the smallest node of its component.

    Vectorised: roots hook onto the smaller root of each edge, then paths are compressed, until no edge joins
    two components. The labels depend only on the edge set, not on its order.
    """
    parent = np.arange(n, dtype=np.int64)
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    while len(i):
        ri, rj = parent[i], parent[j]
        live = ri != rj
        if not live.any():
            break
        i, j, ri, rj = i[live], j[live], ri[live], rj[live]
        np.minimum.at(parent, np.maximum(ri, rj), np.minimum(ri, rj))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def near_duplicate_labels(sigs: Signatures, threshold: float, max_bucket: int = MAX_BUCKET) -> np.ndarray:
    """Cluster label of each row (the smallest row of its cluster): rows linked by verified LSH pairs.

    Another engine may compute the same labels its own way (`NearLabels`, e.g. the Ray engine's group-by
    per band): the verified pairs, hence the labels, must be these.
    """
    i, j, _ = verified_pairs(sigs, threshold, max_bucket=max_bucket)
    return connected_components(len(sigs), i, j)


def jaccard_pairs_above(sigs: Signatures, threshold: float, other: Signatures | None = None,
                        exhaustive: bool = True) -> list[tuple[int, int, float]]:
    """Every pair with estimated Jaccard >= threshold: (i, j, J), within `sigs` (i < j) or `sigs` x `other`.

    `exhaustive` compares all pairs (quadratic, blocked in numpy: for checks and test sets, such as "no
    train/eval pair reaches the threshold"); otherwise LSH candidates are verified, which scales but may miss
    a pair near the threshold.
    """
    if not 0.0 < threshold <= 1.0:
        raise DedupError(f"threshold must lie in (0, 1], got {threshold}")
    if other is not None:
        sigs.settings.require_compatible(other.settings)
    if not exhaustive:
        i, j, est = verified_pairs(sigs, threshold, other)
        return [(int(a), int(b), float(c)) for a, b, c in zip(i, j, est, strict=True)]
    a, b = sigs.values, (sigs if other is None else other).values
    need = _min_equal(threshold, sigs.settings.num_perm)
    block = max(1, (1 << 24) // max(1, len(b) * a.shape[1]))
    out: list[tuple[int, int, float]] = []
    for s in range(0, len(a), block):
        eq = (a[s:s + block, None, :] == b[None, :, :]).sum(axis=2)
        if other is None:
            eq = np.triu(eq, k=s + 1)  # only j > i
        for bi, bj in zip(*np.nonzero(eq >= need), strict=True):
            out.append((int(s + bi), int(bj), float(eq[bi, bj]) / sigs.settings.num_perm))
    return out


# --- decontamination --------------------------------------------------------------------------------------


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


# --- choosing the copy to keep ----------------------------------------------------------------------------

_HIDDEN_BLOCKS = re.compile(r"<think>.*?(?:</think>|$)|<tool_call>.*?(?:</tool_call>|$)", re.DOTALL)


def completeness(traj: Trajectory) -> tuple[bool, bool]:
    """(ends in an assistant turn with text outside think/tool-call blocks, has a tool result): more is better."""
    msgs = traj.messages
    last = msgs[-1] if msgs else None
    ends_with_answer = bool(last is not None and last.role == "assistant" and last.content
                            and _HIDDEN_BLOCKS.sub("", last.content).strip())
    has_tool_result = any(m.role == "tool" for m in msgs)
    return ends_with_answer, has_tool_result


WarningCounts = Mapping[str, int] | Sequence[int]
NearLabels = Callable[[Signatures, float], np.ndarray]
"""`near_duplicate_labels(sigs, threshold)` or an engine's equivalent (same labels, computed elsewhere)."""


@dataclass(frozen=True, slots=True)
class DedupEntry:
    """What choosing the copy to keep needs of a record, without the record: its id and `completeness`.

    `deduplicate_entries` works on these (plus exact keys and signatures computed elsewhere, such as the
    build's worker processes), so the main process never holds whole records.
    """

    id: str | None
    ends_with_answer: bool
    has_tool_result: bool

    @classmethod
    def of(cls, traj: Trajectory) -> DedupEntry:
        return cls(traj.id, *completeness(traj))


def _choice_keys(records: Sequence[Trajectory] | Sequence[DedupEntry],
                 warnings: WarningCounts | None) -> list[tuple[Any, ...]]:
    keys = []
    for k, r in enumerate(records):
        e = r if isinstance(r, DedupEntry) else DedupEntry.of(r)
        if warnings is None:
            w = 0
        elif isinstance(warnings, Mapping):
            w = warnings.get(e.id, 0) if e.id is not None else 0
        else:
            w = warnings[k]
        keys.append((w, not e.ends_with_answer, not e.has_tool_result, e.id is None, e.id or "", k))
    return keys


def best_copy(members: Iterable[int], keys: Sequence[tuple[Any, ...]]) -> int:
    """The member to keep: fewest warnings, then most complete, then smallest id, then earliest position."""
    return min(members, key=keys.__getitem__)


# --- the whole stage --------------------------------------------------------------------------------------


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

    def sign(survivors: np.ndarray, settings: MinHashSettings) -> Signatures:
        if signatures is not None:
            settings.require_compatible(signatures.settings, "precomputed signatures")
            if len(signatures) != len(records):
                raise DedupError(f"{len(signatures)} precomputed signatures for {len(records)} records")
            return signatures.take(survivors)
        if exact_texts is not None and set(cfg.exact_roles) == set(cfg.roles) and not cfg.exact_include_tools:
            return sign_texts([exact_texts[k] for k in survivors], settings, num_proc=num_proc, normalised=True)
        return sign_records([records[k] for k in survivors], settings, num_proc=num_proc)

    return _deduplicate([DedupEntry.of(r) for r in records], cfg, warnings, exact_keys, sign)


def deduplicate_entries(entries: Sequence[DedupEntry], cfg: DedupConfig | None = None,
                        warnings: WarningCounts | None = None, exact_keys: Sequence[str] | None = None,
                        signatures: Signatures | None = None,
                        near_labels: NearLabels | None = None) -> DedupResult:
    """`deduplicate` on what was computed per record elsewhere: the same result, without the records.

    `exact_keys[k]` is `exact_key(record k, cfg)` (needed when `cfg.exact`); `signatures` holds row k's
    signature over `cfg.roles` for every record (needed when `cfg.near`; settings must match `cfg`). Only
    the exact-dedup survivors' rows are read, so the others may hold anything. `near_labels` clusters the
    survivors' signatures (default `near_duplicate_labels`; the Ray engine passes its distributed one).
    """
    cfg = cfg or DedupConfig()
    n = len(entries)
    if cfg.exact and (exact_keys is None or len(exact_keys) != n):
        raise DedupError(f"exact dedup needs an exact key per record: {n} records, "
                         f"{'no' if exact_keys is None else len(exact_keys)} keys")

    def sign(survivors: np.ndarray, settings: MinHashSettings) -> Signatures:
        if signatures is None:
            raise DedupError("near-duplicate dedup needs precomputed signatures of every record")
        settings.require_compatible(signatures.settings, "precomputed signatures")
        if len(signatures) != n:
            raise DedupError(f"{len(signatures)} precomputed signatures for {n} records")
        return signatures.take(survivors)

    return _deduplicate(entries, cfg, warnings, exact_keys if cfg.exact else None, sign,
                        near_labels or near_duplicate_labels)


def _deduplicate(entries: Sequence[DedupEntry], cfg: DedupConfig, warnings: WarningCounts | None,
                 exact_keys: Sequence[str] | None,
                 sign: Callable[[np.ndarray, MinHashSettings], Signatures],
                 near_labels: NearLabels = near_duplicate_labels) -> DedupResult:
    """Both stages over entries: `exact_keys` (None: no exact stage) and `sign(survivors, settings)`;
    `near_labels` clusters the survivors' signatures."""
    n = len(entries)
    ids = [e.id for e in entries]
    keys = _choice_keys(entries, warnings)
    rep = np.arange(n)  # exact representative of each record
    if exact_keys is not None:
        groups: dict[str, list[int]] = {}
        for k, key in enumerate(exact_keys):
            groups.setdefault(key, []).append(k)
        for members in groups.values():
            if len(members) > 1:
                rep[members] = best_copy(members, keys)
    survivors = np.flatnonzero(rep == np.arange(n))

    near_rep = survivors.copy()  # per survivor: the kept record of its near cluster
    near_label = survivors.copy()
    settings: MinHashSettings | None = None
    sig_values: np.ndarray | None = None
    if cfg.near and len(survivors):
        settings = MinHashSettings.from_config(cfg)
        sigs = sign(survivors, settings)
        sig_values = sigs.values
        local = near_labels(sigs, cfg.threshold)
        near_label = survivors[local]
        by_label: dict[int, list[int]] = {}
        for pos, lab in enumerate(local.tolist()):
            by_label.setdefault(lab, []).append(pos)
        for members in by_label.values():
            if len(members) > 1:
                chosen = best_copy(survivors[members].tolist(), keys)
                near_rep[members] = chosen
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
