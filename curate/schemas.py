"""Generate the JSON Schema files in `schemas/` from the pydantic models.

They are read and written through the package data (`curate.resources.SCHEMA_DIR`, `curate/data/schemas`): in
the repository a link to the top-level `schemas/`, in a wheel its copy, which `--check` then checks.

    python -m curate.schemas            # (re)write schemas/*.schema.json
    python -m curate.schemas --check    # exit 1 if a file differs from the models (used by the tests)
"""

from __future__ import annotations

import json
import sys

from pydantic import BaseModel

from curate.manifest import Manifest
from curate.records import FindingList, ToolSpec, Trajectory
from curate.resources import SCHEMA_DIR

SCHEMAS: dict[str, type[BaseModel]] = {
    "trajectory.schema.json": Trajectory,
    "tool_spec.schema.json": ToolSpec,
    "findings.schema.json": FindingList,
    "manifest.schema.json": Manifest,
}


def render(model: type[BaseModel], filename: str) -> str:
    """The schema document of one model, as written to `schemas/`."""
    schema = model.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": filename, **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    out_dir = SCHEMA_DIR
    stale = []
    for filename, model in SCHEMAS.items():
        text = render(model, filename)
        path = out_dir / filename
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(filename)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale schemas: {', '.join(stale)}; run `python -m curate.schemas`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
