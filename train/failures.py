"""Failed writes, told to a person: which file, what went wrong, and what to do (disk full, read-only, no
permission), whether the failure came as an OSError or as torch's or safetensors' own error.

torch.save reports a full disk as `RuntimeError: ... PytorchStreamWriter failed writing file ...` and
safetensors as `SafetensorError: ... IoError(Os { code: 28, ... })`, without an errno; both are
recognised here so that `curate train` and `curate merge` answer every one of them with one line and
exit code 2, never a traceback. Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from curate_train import TrainError

_OS_CODE = re.compile(r"code: (\d+)")
_ERRNO = re.compile(r"\[Errno (\d+)\]")


class CheckpointWriteError(TrainError):
    """A checkpoint could not be written (disk full, read-only, no permission); nothing of it was kept."""


def _first_copy_error(e: shutil.Error) -> tuple[str, str] | None:
    """(destination, reason) of the first file `shutil.copytree` could not copy."""
    errors = e.args[0] if e.args and isinstance(e.args[0], list) else []
    first = errors[0] if errors and isinstance(errors[0], tuple) and len(errors[0]) == 3 else None
    return (str(first[1]), str(first[2])) if first else None


def _code(e: BaseException) -> int | None:
    if isinstance(e, shutil.Error):
        first = _first_copy_error(e)
        m = _ERRNO.search(first[1]) if first else None
        return int(m.group(1)) if m else None
    if isinstance(e, OSError):
        return e.errno
    m = _OS_CODE.search(str(e)) if type(e).__name__ == "SafetensorError" else None
    return int(m.group(1)) if m else None


def write_failure(e: BaseException) -> str | None:
    """What went wrong when `e` is a failed read or write, as a short phrase naming the file when it is known;
    None for any other error."""
    if isinstance(e, (ConnectionError, TimeoutError)):
        return None  # another process of the run, not the disk
    if isinstance(e, shutil.Error):  # copytree: one error per file, in a list
        first = _first_copy_error(e)
        if first is None:
            return "copying failed"
        code = _code(e)
        return f"{Path(first[0]).name}: {os.strerror(code) if code else first[1]}"
    if isinstance(e, OSError):
        name = Path(os.fsdecode(e.filename)).name if e.filename else None
        cause = e.strerror or (os.strerror(e.errno) if e.errno else str(e))
        return f"{name}: {cause}" if name else cause
    text = str(e)
    if type(e).__name__ == "SafetensorError" and "IoError" in text:
        code = _code(e)
        return f"model weights: {os.strerror(code) if code else 'the write failed'}"
    if isinstance(e, RuntimeError) and ("PytorchStreamWriter failed" in text or "file write failed" in text):
        return "a torch.save file: the write failed (disk full?)"
    return None


def write_advice(e: BaseException) -> str:
    """What a user can do about the failed write `e` (`curate.outputs.write_advice`, the one mapping)."""
    from curate.outputs import write_advice as advice

    return advice(_code(e))


def failure_line(e: BaseException, where: object) -> str | None:
    """`WHERE: cannot write (CAUSE); WHAT TO DO` for a failed write `e` (None for any other error); `where` is
    what the user named (the output), unless the error names its own file."""
    reason = write_failure(e)
    if reason is None:
        return None
    if isinstance(e, OSError) and e.filename:
        return f"{os.fsdecode(e.filename)}: {e.strerror or reason}; {write_advice(e)}"
    return f"{where}: cannot write ({reason}); {write_advice(e)}"
