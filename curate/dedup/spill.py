"""A signature matrix on disk: the near-dup stage's (n, num_perm) uint32 rows in a file of the build's work
folder, read a block or a gather at a time, so a million survivors' signatures (512 MB) never sit in memory.

Reads are `os.pread` into this process's own buffers, not a memory map: a map's pages count in the process's
resident memory once touched, and the kernel faults in 64 KB around every touched page, so gathering 16,384
random rows of a memory-mapped 1,000,000-row matrix maps all of it (measured: 444 MB of 466).

`RowFile` answers the indexing the LSH and the dedup report use: `values[rows]` (an int array: those rows, in
that order), `values[start:stop]` and `values[start:stop, c0:c1]` (a block of consecutive rows), `len`,
`shape`, `ndim`, and `np.asarray(values)` (everything, for an engine that ships the matrix elsewhere).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np


class RowFile:
    """An (n, width) uint32 matrix stored row-major in `path` (no header), opened for reading."""

    ndim = 2
    dtype = np.dtype(np.uint32)

    def __init__(self, path: Path, n: int, width: int) -> None:
        self.path = path
        self.shape = (n, width)
        self.row_bytes = width * self.dtype.itemsize
        self._fd = -1  # `close` (and `__del__`) work even when the open below fails
        self._fd = os.open(path, os.O_RDONLY)

    @classmethod
    def write(cls, path: Path, blocks: Iterable[np.ndarray], width: int) -> RowFile:
        """The rows of `blocks` (each (k, width) uint32, in order) written to `path`, then opened."""
        n = 0
        with open(path, "wb") as fh:
            for block in blocks:
                block = np.ascontiguousarray(block, dtype=np.uint32)
                if block.ndim != 2 or block.shape[1] != width:
                    raise ValueError(f"a block of shape {block.shape} in a matrix of width {width}")
                fh.write(block.tobytes())
                n += len(block)
        return cls(path, n, width)

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    def _read(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1, read at once."""
        size = (stop - start) * self.row_bytes
        data = os.pread(self._fd, size, start * self.row_bytes) if size else b""
        if len(data) != size:
            raise OSError(f"{self.path}: {len(data)} bytes read of {size}: the file was changed")
        return np.frombuffer(data, dtype=self.dtype).reshape(stop - start, self.shape[1])

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (any order, repeats allowed), as a new array: each run of consecutive rows one read."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= len(self):
            raise IndexError(f"row index out of range for {len(self)} rows")
        distinct, inverse = np.unique(rows, return_inverse=True)
        got = np.empty((len(distinct), self.shape[1]), dtype=self.dtype)
        cuts = [0, *(np.flatnonzero(np.diff(distinct) != 1) + 1).tolist(), len(distinct)]
        for a, b in pairwise(cuts):
            got[a:b] = self._read(int(distinct[a]), int(distinct[b - 1]) + 1)
        out[:] = got[inverse.reshape(-1)]
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        cols: Any = slice(None)
        if isinstance(key, tuple):
            key, cols = key
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise IndexError("RowFile takes a block of consecutive rows or an array of rows")
            return self._read(start, max(start, stop))[:, cols]
        return self.rows(np.asarray(key))[:, cols]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self._read(0, len(self))
        return whole if dtype is None else whole.astype(dtype)
