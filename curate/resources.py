"""Files the commands read besides the code, found inside the installed package (`importlib.resources`).

`curate/data/` is the package data: `schemas/` (the JSON Schemas generated from the models) and `sample/`
(the sample corpus and its tools, from which the built-in tokenizer and the tiny base are made). In the
repository they are links to the top-level `schemas/` and `sample_data/`, which stay the sources of truth; a
wheel holds copies, so a command works the same from any folder, with or without the repository.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_path(*parts: str) -> Path:
    """A file or folder of the package data (`curate/data/PARTS`), as a path (curate installs as folders)."""
    return Path(str(files("curate").joinpath("data", *parts)))


SCHEMA_DIR = data_path("schemas")
SAMPLE_CORPUS = data_path("sample", "raw.jsonl")
SAMPLE_TOOLS = data_path("sample", "tools.json")
