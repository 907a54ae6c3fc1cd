"""The error dedup raises: signatures, settings or arguments that a person has to fix."""

from __future__ import annotations


class DedupError(ValueError):
    """Signatures or settings that cannot be used together, or a bad argument: a person has to fix it."""
