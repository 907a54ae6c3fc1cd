"""Where `curate build` reads and writes: local paths, or any `fsspec` URL.

A plain path or a `file://` URL is used in place. Any other URL (`s3://`, `gs://`, `hf://`, `memory://`, …)
goes through `fsspec`: its files are copied into the build's work folder before reading (the build reads
each input once, in order), and the finished output folder is uploaded under a temporary name and then
moved to its place, so readers of OUT never see a half-uploaded folder under the final name. On object
stores that move is a copy; OUT is only complete once `manifest.json` is there, which the build writes last.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Location = str | os.PathLike[str]
"""A local path, or an `fsspec` URL (`file:///data/raw.jsonl`, `s3://bucket/raw.jsonl`)."""


class StorageError(RuntimeError):
    """A location that cannot be read or written (exit code 2)."""


def is_url(location: Location) -> bool:
    return isinstance(location, str) and "://" in location


def as_location(text: str) -> Location:
    """A command-line argument as a location: URLs stay strings (`Path` would fold `//`), paths become `Path`."""
    return text if is_url(text) else Path(text)


def local_path(location: Location) -> Path | None:
    """The local path of `location` (a path or a `file://` URL), or None for a remote URL."""
    if not is_url(location):
        return Path(location)
    fs, path = _fs(str(location))
    from fsspec.implementations.local import LocalFileSystem

    return Path(path) if isinstance(fs, LocalFileSystem) else None


def _fs(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs

        return url_to_fs(url)
    except (ImportError, ValueError) as e:  # unknown protocol, or its fsspec package is not installed
        raise StorageError(f"{url}: {e}") from None


def exists(location: Location) -> bool:
    path = local_path(location)
    if path is not None:
        return path.exists()
    fs, remote = _fs(str(location))
    return bool(fs.exists(remote))


def size(location: Location) -> int:
    """The bytes of a file or folder (all its files) at `location`."""
    path = local_path(location)
    if path is not None:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    fs, remote = _fs(str(location))
    return int(fs.du(remote, total=True))


def fetch(locations: Sequence[Location], folder: Path) -> list[Path]:
    """Local paths of `locations`: local ones as they are, remote ones copied under `folder` (file names kept,
    so ids made from them are the same as for a local copy)."""
    out: list[Path] = []
    for k, location in enumerate(locations):
        path = local_path(location)
        if path is None:
            fs, remote = _fs(str(location))
            path = folder / str(k) / Path(remote.rstrip("/")).name
            path.parent.mkdir(parents=True, exist_ok=True)
            fs.get(remote, str(path), recursive=bool(fs.isdir(remote)))
        out.append(path)
    return out


def publish(local: Path, location: Location) -> None:
    """Upload the finished folder `local` to the remote `location`, replacing what is there."""
    fs, remote = _fs(str(location))
    remote = remote.rstrip("/")
    tmp = f"{remote}.tmp-{os.getpid()}"
    if fs.exists(tmp):
        fs.rm(tmp, recursive=True)
    try:
        fs.put(str(local), tmp, recursive=True)
        if fs.exists(remote):
            fs.rm(remote, recursive=True)
        fs.mv(tmp, remote, recursive=True)
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp, recursive=True)
        raise
