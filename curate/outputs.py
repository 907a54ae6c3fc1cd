"""What a command may replace when it writes its output, and the lock that keeps two runs apart.

Every command that writes a folder or a file (`build -o`, `mask -o`, `dedup -o`, `bucket -o`, `train -o`,
`merge -o`) asks here before it writes. The rules, as git and rsync keep them:

- an existing folder is replaced only when it holds this tool's own marker (a build's `manifest.json`,
  a training run's `run.json`, …), checked by content, not by name; otherwise the command stops and names
  `--force`;
- an existing file is replaced only when the tool wrote it (its companion file is there, or its rows
  carry the fields the tool adds); otherwise `--force`;
- never, even with `--force`: `/`, the current folder, an input, a folder that holds an input or the
  current folder, or a symbolic link (its target is not ours to replace);
- an output folder is never read back as input: one that lies inside an input folder is skipped by the
  readers (`is_output_folder`).

Work folders beside an output carry the pid of the run that made them (`.OUT.work-PID`); a run that
was killed leaves them behind, and the next run into the same OUT removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


class OutputError(RuntimeError):
    """An output the command must not write (exit code 2, nothing written)."""


Marker = Callable[[Path], bool]
"""Whether a folder (or file) is one this tool wrote."""


def _json_keys(path: Path, keys: Sequence[str]) -> bool:
    try:
        if not path.is_file() or path.stat().st_size > 64 << 20:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and all(k in data for k in keys)


def build_marker(folder: Path) -> bool:
    """A `curate build` output: its `manifest.json` is the build's manifest."""
    return _json_keys(folder / "manifest.json", ("records_in", "records_out", "stages", "inputs"))


def run_marker(folder: Path) -> bool:
    """A `curate train` run: its `run.json` is the run's summary."""
    return _json_keys(folder / "run.json", ("complete", "global_step", "checkpoints"))


def is_output_folder(folder: Path) -> bool:
    """A folder some `curate` command wrote (a build's OUT, a training run): never read as input data."""
    return build_marker(folder) or run_marker(folder)


def first_row_has(path: Path, keys: Sequence[str]) -> bool:
    """Whether the first line of the JSON Lines file `path` is an object with all of `keys`."""
    try:
        with open(path, "rb") as fh:
            line = fh.readline(1 << 24)
        data = json.loads(line)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and all(k in data for k in keys)


def _resolved(p: Path) -> Path:
    return Path(os.path.realpath(p))


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def protected_reason(out: Path, inputs: Sequence[Path]) -> str | None:
    """Why `out` must never be replaced, even with `--force` (None when it may be)."""
    real = _resolved(out)
    if real == Path(real.anchor):
        return "is the root folder"
    cwd = _resolved(Path.cwd())
    if _is_within(cwd, real):
        return "is the current folder" if real == cwd else "holds the current folder"
    home = Path.home()
    if _is_within(_resolved(home), real):
        return "is your home folder" if real == _resolved(home) else "holds your home folder"
    for p in inputs:
        rp = _resolved(p)
        if rp == real:
            return f"is an input ({p})"
        if _is_within(rp, real):
            return f"holds an input ({p})"
    return None


def check_output_dir(out: Path, inputs: Sequence[Path], marker: Marker, what: str, force: bool = False) -> None:
    """Raise `OutputError` unless the folder `out` may be written: absent, or replaceable (see the module)."""
    if out.is_symlink():
        raise OutputError(f"{out}: is a symbolic link; give the folder itself (the link's target is not "
                          "replaced through it)")
    reason = protected_reason(out, inputs)
    if reason is not None:
        raise OutputError(f"{out}: {reason}; it cannot be replaced, even with --force; give a new folder for the "
                          f"{what}")
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        if force:
            return
        raise OutputError(f"{out}: exists and is not a folder; remove it, choose another -o, or pass --force to "
                          "replace it")
    if marker(out) or force:
        return
    if not any(out.iterdir()):
        return  # an empty folder holds nothing to lose
    raise OutputError(f"{out}: exists and is not a {what} written by curate; choose another -o, or pass --force "
                      "to replace it and everything in it")


def check_output_file(out: Path, inputs: Sequence[Path], marker: Marker, what: str, force: bool = False) -> None:
    """Raise `OutputError` unless the file `out` may be written: absent, or replaceable (see the module)."""
    if out.is_symlink():
        raise OutputError(f"{out}: is a symbolic link; give a plain file path (the link's target is not "
                          "replaced through it)")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder; give a file path for the {what} (e.g. {out}/out.jsonl)")
    real = _resolved(out)
    for p in inputs:
        rp = _resolved(p)
        if rp == real:
            raise OutputError(f"{out}: is an input; it cannot be replaced, even with --force; give a new file")
    if not out.exists() or marker(out) or force:
        return
    raise OutputError(f"{out}: exists and is not a {what} written by curate; choose another -o, or pass --force "
                      "to replace it")


# --- work folders of dead runs, and the lock ------------------------------------------------------------------

_PID_SUFFIX = re.compile(r"\.(?:work|tmp|old|building)-(\d+)$")


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (a pid of another user's process counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_siblings(out: Path) -> Iterator[Path]:
    """Work folders and files this tool left beside `out` (`.OUT.work-PID`, `.OUT.tmp-PID`, `.OUT.old-PID`)
    whose process is gone."""
    parent = out.parent
    prefix = f".{out.name}."
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix):
            continue
        m = _PID_SUFFIX.search(name)
        if m and name[: m.start()] == f".{out.name}" and not pid_alive(int(m.group(1))):
            yield entry


def remove_stale(out: Path) -> list[Path]:
    """Remove what dead runs left beside `out`; returns what was removed."""
    removed = []
    for entry in stale_siblings(out):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(entry)
    return removed


@contextlib.contextmanager
def output_lock(out: Path, command: str) -> Iterator[None]:
    """Hold `.OUT.lock` beside `out` for the run: a second run into the same OUT stops at once (OutputError).

    The lock file is removed when the run ends; a lock whose file was replaced while we waited is retaken, so
    two runs never both believe they hold it.
    """
    lock = out.with_name(f".{out.name}.lock")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"{out.parent}: cannot write beside the output ({e.strerror}); choose another -o") \
                from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                holder = _read_pid(lock)
                who = f" (pid {holder})" if holder else ""
                raise OutputError(f"{out}: another `curate {command}`{who} is writing this output; wait for it to "
                                  "finish or choose another -o") from None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: take the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def write_advice(code: int | None) -> str:
    """What a user can do about a write that failed with errno `code` (the one mapping for every command)."""
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "free some space, or choose an -o on another disk"
    if code == errno.EROFS:
        return "the file system is read-only: choose another -o"
    if code in (errno.EACCES, errno.EPERM):
        return "no permission: fix the folder's permissions or choose an -o you may write to"
    return "check that the disk has space and the folder is writable"


def io_error_message(e: OSError, output: object = None) -> str:
    """One line for an I/O error while writing: the output (else the file), the cause, and what to do.

    The output the user named is what they can act on; the file that failed is a temporary one beside it."""
    where = output or e.filename or "the output"
    # the system's words for the errno: pyarrow's own read "Error writing bytes to file. Detail: [errno 28] …"
    cause = os.strerror(e.errno) if e.errno else e.strerror or str(e)
    return f"{where}: cannot write ({cause}); {write_advice(e.errno)}; nothing was written"


def _read_pid(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


class Terminated(BaseException):
    """SIGTERM, raised in the main process so that it unwinds like Ctrl-C: every `finally` removes its work
    folders and temporary files, and the command exits 143 (`curate.cli.unwind_on_sigterm`)."""


_terminated = False
"""Set when SIGTERM arrived: the exception the handler raises can be swallowed (raised while Python runs a
`__del__`, it is printed as "Exception ignored" and dropped), so commit points check this too."""


def note_terminated(value: bool = True) -> None:
    """Record (or, with False, forget) that SIGTERM arrived; the SIGTERM handler calls it before raising."""
    global _terminated
    _terminated = value


def raise_if_terminated() -> None:
    """Raise `Terminated` if SIGTERM arrived, even when the handler's own exception was swallowed: called
    before an output is put in place, and between a build's steps."""
    if _terminated:
        raise Terminated()
