"""What to install when a command needs an optional extra: the one place that words it.

A bare `pip install curate-agents` lints JSON and JSONL; the rest comes with extras (`pyproject.toml`'s
`[project.optional-dependencies]`). Every message that asks for one names the extra, `pip install
'curate-agents[EXTRA]'`, which works from a wheel as from the repository (never an editable install of a checkout).
"""

from __future__ import annotations

PACKAGE = "curate-agents"

EXTRAS_OF_MODULE: dict[str, tuple[str, ...]] = {
    "datasets": ("data",), "pyarrow": ("data",), "datasketch": ("data",), "xxhash": ("data",),
    "numpy": ("data", "mask", "train"), "transformers": ("mask", "train"), "tokenizers": ("mask", "train"),
    "jinja2": ("mask", "train"), "torch": ("train",), "peft": ("train",), "bitsandbytes": ("train",),
    "accelerate": ("train",), "tensorboard": ("train",), "gguf": ("real",), "ray": ("ray",),
}
"""The extras that install each optional top-level import (as `pyproject.toml` lists them)."""

COMMAND_EXTRAS: dict[str, tuple[str, ...]] = {
    "build": ("data", "mask"), "bucket": ("data", "mask"), "stats": ("data", "mask"),
    "dedup": ("data",), "decontam": ("data",), "mask": ("mask",),
    "train": ("train",), "merge": ("train",),
}
"""The extras each command needs beyond the bare install (`lint` and `rule` need none)."""


def install_command(*extras: str) -> str:
    """`pip install 'curate-agents[a,b]'`."""
    return f"pip install '{PACKAGE}[{','.join(extras)}]'"


def needs(what: str, extra: str) -> str:
    """`WHAT: pip install 'curate-agents[EXTRA]'`, the message of a feature whose extra is not installed."""
    return f"{what}: {install_command(extra)}"


def missing_module_message(command: str | None, error: ImportError) -> str | None:
    """The one line for a command that stopped on a module an extra installs, or None for any other
    ImportError (a broken install or a bug: its traceback is what helps)."""
    name = (getattr(error, "name", None) or "").split(".")[0]
    if name not in EXTRAS_OF_MODULE:
        return None
    extras = COMMAND_EXTRAS.get(command or "", ())
    if not set(extras) & set(EXTRAS_OF_MODULE[name]):  # an option's own extra (`--engine ray`, a GGUF model)
        extras = (*extras, EXTRAS_OF_MODULE[name][0])
    where = f"`curate {command}`" if command else "this command"
    return f"{where} needs `{name}`, which is not installed: {install_command(*extras)}"
