"""The two errors readers raise: a file that cannot be read at all, and a record whose shape cannot be adapted."""

from __future__ import annotations


class ReadError(Exception):
    """A file that cannot be read at all (missing, unreadable, unknown format): a usage error."""


class ShapeError(ValueError):
    """A record whose shape cannot be adapted; `message_index` points at the message at fault."""

    def __init__(self, message: str, message_index: int | None = None) -> None:
        super().__init__(message)
        self.message_index = message_index
