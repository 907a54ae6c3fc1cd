"""`RUN/eval_report.json`: the evaluation of a training run, as a pydantic model.

The model is the one source of truth; `schemas/eval_report.schema.json` is generated from it and a
test fails when the two drift:

    python -m curate_train.eval_report            # (re)write schemas/eval_report.schema.json
    python -m curate_train.eval_report --check    # exit 1 if the file differs from the model

It lives in `train` (not in `curate.schemas`) because data flows one way: `train` imports
`curate`, never the reverse. The rendering is `curate.schemas.render`, so all schemas look alike.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from curate import __version__
from curate.schemas import SCHEMA_DIR, render
from curate_train.graduation import (
    BaselineEval,
    CheckpointEval,
    EvalLogEntry,
    Graduation,
    GraduationThresholds,
    OodSetEval,
    graduate,
)

SCHEMA_FILE = "eval_report.schema.json"
LIBRARIES = ("torch", "transformers", "peft", "bitsandbytes", "tokenizers", "accelerate")


class EvalReport(BaseModel):
    """Everything needed to pick a checkpoint and trust the choice: the loss history per bucket, the
    generation metrics of every checkpoint and of the base, the same on every out-of-distribution set,
    and the graduation verdict (whose `thresholds` are the ones used)."""

    model_config = ConfigDict(extra="forbid")

    tool: str = "curate train"
    version: str = Field(description="curate-agents version.")
    versions: dict[str, str] = Field(description="Versions of the libraries that shape the numbers.")
    model: str = Field(description="The base model trained (name or path, or `tiny`).")
    data: str | None = Field(None, description="The `curate build` output trained on.")
    history: list[EvalLogEntry] = Field(description="Every evaluation during training, in step order.")
    base: BaselineEval | None = Field(description="The base model before SFT (zero-shot baseline).")
    checkpoints: list[CheckpointEval] = Field(description="Every saved checkpoint with its generation metrics.")
    ood: list[OodSetEval] = Field(
        default_factory=list, description="Every out-of-distribution set (`[eval] ood` / `--ood`): loss on assistant "
        "tokens and generation metrics of the base and of every checkpoint.")
    graduation: Graduation


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed versions of `names` (without importing them); missing ones are left out."""
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def build_report(model: str, history: list[EvalLogEntry], checkpoints: list[CheckpointEval],
                 base: BaselineEval | None, thresholds: GraduationThresholds | None = None,
                 data: str | None = None, ood: list[OodSetEval] | None = None) -> EvalReport:
    """Grade the run (`curate_train.graduation.graduate`) and wrap everything as the report."""
    history = sorted(history, key=lambda e: e.step)
    checkpoints = sorted(checkpoints, key=lambda c: c.step)
    ood = ood or []
    return EvalReport(version=__version__, versions=library_versions(), model=model, data=data, history=history,
                      base=base, checkpoints=checkpoints, ood=ood,
                      graduation=graduate(history, checkpoints, base, thresholds, ood))


def write_report(report: EvalReport, path: Path) -> None:
    """Write the report as indented JSON (a temporary file renamed into place: never half-written)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def schema_text() -> str:
    """The schema document of `EvalReport`, as written to `schemas/`."""
    return render(EvalReport, SCHEMA_FILE)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = SCHEMA_DIR / SCHEMA_FILE
    text = schema_text()
    if "--check" in args:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"stale schema: {SCHEMA_FILE}; run `python -m curate_train.eval_report`", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
