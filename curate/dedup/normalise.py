"""The text the hashes see: a conversation's role-aware text, normalised, and its words and shingles."""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from curate.records import Message, Role, Trajectory

NORMALISATION = "nfkc+casefold; words=\\w+"
DEFAULT_ROLES: tuple[Role, ...] = ("user", "assistant")
LARGE_TEXT = 1 << 20
"""Characters from which a text is normalised and signed piece by piece (`_text_windows`), with the same
result: memory then grows with the piece, not the text (a list of every word or shingle of a 15 MB text
takes over a gigabyte)."""
_NON_WORD = re.compile(r"\W")
_SPACE_RUN = re.compile(r"\s+")


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
