"""`BuildError`: a build that cannot go on (exit code 2, nothing written); `BuildRefused`: a build whose result is
refused (exit code 1, nothing written)."""

from __future__ import annotations


class BuildError(RuntimeError):
    """A build that cannot go on, with what to do about it (exit code 2, nothing written)."""


class BuildRefused(BuildError):
    """A build that ran but whose result is refused (it keeps no record, or most records are unreadable): exit
    code 1, nothing written. `line` is its `curate.tally.Tally` line, `todo` what to do."""

    def __init__(self, line: str, todo: str) -> None:
        super().__init__(f"{line}. {todo}")
        self.line = line
        self.todo = todo
