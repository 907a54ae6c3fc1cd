"""The JSON Schemas in schemas/ are generated from the pydantic models and must not drift."""

from __future__ import annotations

import json

import jsonschema

from curate.schemas import SCHEMA_DIR, SCHEMAS, render


def test_schema_files_match_the_models() -> None:
    for filename, model in SCHEMAS.items():
        path = SCHEMA_DIR / filename
        assert path.exists(), f"missing {path}; run `python -m curate.schemas`"
        assert path.read_text(encoding="utf-8") == render(model, filename), (
            f"{filename} is stale; run `python -m curate.schemas`"
        )


def test_trajectory_schema_accepts_canonical_and_rejects_bad_records() -> None:
    schema = json.loads((SCHEMA_DIR / "trajectory.schema.json").read_text())
    good = {"id": "x", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "content": "{}", "tool_call_id": "c"},
        {"role": "assistant", "content": "done"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}
    jsonschema.validate(good, schema)
    bad = {"messages": [{"role": "robot", "content": "hi"}]}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("role `robot` must be rejected")
