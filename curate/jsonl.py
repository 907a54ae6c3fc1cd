"""Writing JSON Lines atomically: a killed run leaves the previous file or none, never half a file."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any


class JsonlWriter:
    """Rows streamed to a temporary file beside `path` (`.NAME.tmp-PID`); `commit` renames it into place.

    Leaving the `with` block without `commit` (an error, Ctrl-C) removes the temporary file: the previous
    file at `path`, if any, is untouched. A run killed outright leaves the `.tmp-PID` file, which the next
    run into the same output removes (`curate.outputs.remove_stale`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.rows = 0
        self._fh: Any = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed by commit/discard

    def write(self, row: dict[str, Any]) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.rows += 1

    def finish(self) -> None:
        """Flush and close the temporary file (disk-full errors surface here, before anything is replaced)."""
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def commit(self) -> int:
        """Move the finished file into place; returns the number of rows."""
        self.finish()
        self.tmp.replace(self.path)
        return self.rows

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.discard()  # after commit the temporary file is gone already: nothing to remove


def commit_together(writers: Sequence[JsonlWriter]) -> None:
    """Commit files that belong together (data and its companion): all are finished before any is moved, so
    a full disk replaces none of them."""
    for w in writers:
        w.finish()
    for w in writers:
        w.commit()


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write `rows` to `path` through a temporary file beside it; returns the number of rows."""
    with JsonlWriter(path) as w:
        for row in rows:
            w.write(row)
        return w.commit()
