"""Out-of-distribution (OOD) sets: files in any format the readers take, evaluated beside the eval split.

    sets = load_ood_sets([Path("bfcl/BFCL_v4_simple_python.json")])   # before any weights load
    data = sets[0].examples(tokenizer, cfg.mask)                       # masked as the eval split is

Each file (or folder) of `[eval] ood` / `--ood` is read with `curate.readers.RecordReader`, the reader of
`curate lint` and `curate build`, so a BFCL row with its `possible_answer/` beside it becomes a record whose
last assistant turn holds the reference calls. A set is named by its file stem; two different files with
the same stem are refused (rename one), the same file given twice is read once.

Every record of a set gets `bucket` = the set's name: the report compares sets against each other (set
× model), and a set is usually one capability already (a BFCL category), so capability buckets inside it
would only split a few dozen prompts further. The rows are then what generation takes from a build's
eval split (`curate_train.generate.evaluate_generation`), and the examples what the eval loss takes
(`curate_train.recipe.bucket_losses`).

Records the readers cannot read, and records without an assistant turn to evaluate (a BFCL row whose
answers are not beside it), are counted with their reason; a file that cannot be opened, or that holds no
usable record, is a TrainError naming the file and what to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.readers import ReadError, RecordReader
from curate.records import Trajectory
from curate_train import TrainError

NO_ASSISTANT = "without an assistant turn to evaluate"
UNREADABLE = "unreadable"
BFCL_HINT = "BFCL rows: put possible_answer/<the same file name> beside the file"


@dataclass
class OodSet:
    """One OOD set: its records read, as build rows (`bucket` = `name`), and what was left out."""

    name: str
    path: Path
    records: list[Trajectory]
    read: int
    """Records in the file, usable or not."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Records left out, by reason (`unreadable`, `without an assistant turn to evaluate`)."""
    first_problem: str | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The records as rows of a build's eval split (what generation prompts from)."""
        return [{**r.model_dump(mode="json", exclude_none=True), "bucket": self.name, "length_bucket": "all"}
                for r in self.records]

    def examples(self, tokenizer: Any, policy: Any) -> Any:
        """The masked examples (`curate_train.data.SplitData`) for `tokenizer` and the run's mask policy, as the eval
        split is masked (`curate_train.data.mask_rows`); a set whose records are all dropped has no examples."""
        from curate.mask import Masker, MaskError
        from curate_train.data import BuildRow, mask_rows

        try:
            masker = Masker(tokenizer, policy)
        except MaskError as e:
            raise TrainError(f"tokenizer `{getattr(tokenizer, 'name_or_path', '?')}`: {e}") from None
        return mask_rows([BuildRow(r, self.name, "all") for r in self.records], masker, self.path)

    def summary(self) -> str:
        """One line: what was read and what was left out, and why."""
        left = _counts(self.skipped)
        text = f"OOD set `{self.name}` ({self.path}): {len(self.records)} of {self.read} records"
        if left:
            text += f"; left out: {left}"
            if self.first_problem:
                text += f" (first: {self.first_problem})"
        return text


def set_names(paths: Sequence[Path]) -> list[tuple[str, Path]]:
    """(name, path) per distinct file: the name is the file stem; the same file twice counts once, and two
    files with one stem are a TrainError naming both."""
    seen: dict[Path, str] = {}
    by_name: dict[str, Path] = {}
    out: list[tuple[str, Path]] = []
    for path in paths:
        key = path.resolve()
        if key in seen:
            continue
        name = path.stem if path.suffix else path.name
        if name in by_name:
            raise TrainError(f"OOD sets are named by their file stem, and {by_name[name]} and {path} are both "
                             f"`{name}`; rename or copy one of them")
        seen[key], by_name[name] = name, path
        out.append((name, path))
    return out


def read_ood_set(name: str, path: Path, reader: RecordReader | None = None) -> OodSet:
    """The usable records of one file or folder; TrainError when it cannot be read or none is usable."""
    reader = reader or RecordReader()
    out = OodSet(name, path, [], 0)
    ids: Counter[str] = Counter()
    try:
        for result in reader.read(path):
            out.read += 1
            record = result.record
            if record is None:
                out.skipped[UNREADABLE] += 1
                problem = result.raw.error or "; ".join(text for _, text in result.shape_errors)
                out.first_problem = out.first_problem or f"record {out.read}: {problem}"
                continue
            if not any(m.role == "assistant" for m in record.messages):
                out.skipped[NO_ASSISTANT] += 1
                continue
            rid = record.id or f"{name}-{out.read}"
            ids[rid] += 1
            if ids[rid] > 1:  # masking and prompts are keyed by id
                rid = f"{rid}#{ids[rid]}"
            out.records.append(record if rid == record.id else record.model_copy(update={"id": rid}))
    except ReadError as e:
        problem = str(e).removeprefix(f"{path}: ")
        raise TrainError(f"OOD set {path}: {problem}; give a file or folder `curate lint` reads") from None
    except OSError as e:
        raise TrainError(f"OOD set {path}: cannot read it ({e.strerror or e}); check the path and its "
                         "permissions") from None
    if not out.records:
        if not out.read:
            why = "no record in it"
        else:
            why = _counts(out.skipped)
            if out.skipped[NO_ASSISTANT]:
                why += f"; {BFCL_HINT}"
            elif out.first_problem:
                why += f"; first: {out.first_problem}"
        raise TrainError(f"OOD set {path}: no usable record ({why}); give records with an assistant turn to "
                         "compare with (`curate lint` says what is wrong with the file)")
    return out


def _counts(reasons: Counter[str]) -> str:
    return ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))


def load_ood_sets(paths: Sequence[Path]) -> list[OodSet]:
    """Every OOD set of `paths`, read and checked (see the module docstring); [] for no paths."""
    reader = RecordReader()
    return [read_ood_set(name, path, reader) for name, path in set_names(paths)]
