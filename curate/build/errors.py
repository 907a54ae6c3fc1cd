"""`BuildError`: a build that cannot go on (exit code 2, nothing written)."""

from __future__ import annotations


class BuildError(RuntimeError):
    """A build that cannot go on, with what to do about it (exit code 2, nothing written)."""
