"""Word n-grams as 64-bit hashes, many texts at a time: what the decontamination index is made of.

A `Vocabulary` numbers the words of a reference set (benchmark turns); every other word is 0, so a window
holding it can never match. Texts become one flat array of word numbers with the turn each word belongs to
(`WordRuns`), and `window_hashes` hashes every window of `n` words that lies inside one turn and holds no
unknown word, all turns of a batch in a few numpy passes. The hash is a polynomial over random 64-bit word
ids (mod 2**64): two different windows collide with probability about 2**-64, and windows of different
lengths hash differently.

>>> v = Vocabulary([[b"find", b"the", b"area"]])
>>> runs = v.runs([[b"please", b"find", b"the", b"area"], [b"find", b"the"]])
>>> runs.lengths.tolist(), runs.words.tolist()
([4, 2], [0, 1, 2, 3, 1, 2])
>>> h, pos = window_hashes(v.ids[runs.words], runs, 3)
>>> pos.tolist()  # only the window inside one turn and without the unknown "please"
[1]
>>> whole = v.runs([[b"find", b"the", b"area"]])
>>> bool(h[0] == window_hashes(v.ids[whole.words], whole, 3)[0][0])
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
"""An odd 64-bit constant: the base of the window polynomial."""
NUMBER_ID = np.uint64(0x5BD1E9955BD1E995)
"""The id every word made of digits has when numbers are masked (`Vocabulary.masked`)."""


def word_id(word: bytes) -> int:
    """A word's random but fixed 64-bit id (never 0: 0 is the unknown word)."""
    return int.from_bytes(hashlib.blake2b(word, digest_size=8).digest(), "little") or 1


@dataclass
class WordRuns:
    """Texts as one flat array of word numbers (`words`), with each text's word count (`lengths`)."""

    words: np.ndarray
    lengths: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        """Where each text begins in `words`."""
        return np.concatenate(([0], np.cumsum(self.lengths)[:-1])).astype(np.int64) if len(self.lengths) \
            else np.zeros(0, dtype=np.int64)

    def text_of(self) -> np.ndarray:
        """The text each word belongs to."""
        return np.repeat(np.arange(len(self.lengths), dtype=np.int64), self.lengths)


class Vocabulary:
    """The words of a reference set, numbered from 1 (0: a word it does not hold; `number`: a word of digits it
    does not hold), with each word's id (`ids`) and its id with numbers masked (`masked`)."""

    def __init__(self, texts: Iterable[Sequence[bytes]]) -> None:
        self.number: dict[bytes, int] = {}
        for words in texts:
            for w in words:
                if w not in self.number:
                    self.number[w] = len(self.number) + 1
        self.unknown_number = len(self.number) + 1
        words = list(self.number)
        ids = np.zeros(len(words) + 2, dtype=np.uint64)
        ids[1:len(words) + 1] = np.array([word_id(w) for w in words], dtype=np.uint64)
        self.ids = ids
        """Word number → id; 0 for the unknown word and for an unknown number (they never match)."""
        masked = ids.copy()
        digits = np.array([w.isdigit() for w in words], dtype=bool)
        masked[1:len(words) + 1][digits] = NUMBER_ID
        masked[self.unknown_number] = NUMBER_ID
        self.masked = masked
        """Word number → id with every number the same word: a changed number changes nothing."""

    def __len__(self) -> int:
        return len(self.number)

    def runs(self, texts: Sequence[Sequence[bytes]]) -> WordRuns:
        """The texts' words as numbers, flat (`WordRuns`)."""
        get, unknown_number = self.number.get, self.unknown_number
        flat = [get(w) or (unknown_number if w.isdigit() else 0) for words in texts for w in words]
        return WordRuns(np.array(flat, dtype=np.int64), np.array([len(t) for t in texts], dtype=np.int64))


def window_hashes(ids: np.ndarray, runs: WordRuns, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The hashes of every window of `n` words lying inside one text and holding no 0 id, and where each
    begins in the flat array; `ids` is the id of each word of `runs` (`Vocabulary.ids[runs.words]`)."""
    size = len(ids)
    if size < n or n < 1:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    count = size - n + 1
    h = ids[:count].copy()
    for k in range(1, n):
        h *= _MULTIPLIER
        h += ids[k:count + k]
    zeros = np.concatenate(([0], np.cumsum(ids == 0)))
    ok = zeros[n:] == zeros[:count]
    ends = np.cumsum(runs.lengths)  # a window must end before its text does
    text_of = runs.text_of()
    ok &= ends[text_of[:count]] >= np.arange(n, count + n)
    pos = np.flatnonzero(ok)
    return h[pos], pos


class Postings:
    """Hashes → the reference items holding them: sorted distinct `keys`, each with its items
    (`items[start[k]:start[k + 1]]`)."""

    def __init__(self, hashes: np.ndarray, items: np.ndarray) -> None:
        pairs = np.unique(np.stack([hashes.astype(np.uint64), items.astype(np.uint64)]), axis=1) if len(hashes) \
            else np.zeros((2, 0), dtype=np.uint64)
        self.keys, first = np.unique(pairs[0], return_index=True)
        self.start = np.concatenate((first, [pairs.shape[1]])).astype(np.int64)
        self.items = pairs[1].astype(np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, the index of its key, or -1."""
        if not len(self.keys) or not len(hashes):
            return np.full(len(hashes), -1, dtype=np.int64)
        at = np.searchsorted(self.keys, hashes)
        at[at == len(self.keys)] = 0
        return np.where(self.keys[at] == hashes, at, -1)

    def expand(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For keys found (`find` >= 0), one (position in `keys`, item) pair per item holding the key."""
        counts = self.start[keys + 1] - self.start[keys]
        owner = np.repeat(np.arange(len(keys), dtype=np.int64), counts)
        offsets = np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return owner, self.items[self.start[keys][owner] + offsets]
