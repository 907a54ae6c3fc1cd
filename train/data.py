"""Training data: the masked examples of a `curate build` output, and the batches they are trained in.

    OUT/train.jsonl, OUT/eval.jsonl  →  Example(input_ids, labels, bucket, length_bucket)  →  batches

Rows are the canonical records `curate build` writes plus its labels (`bucket`, `length_bucket`,
`signals`, `tokens`, `split`, `copy_of`); the labels are set aside, the record is masked by
`curate.mask.Masker` for the run's tokenizer and policy, exactly as `curate mask` does (audit
included: a failure stops the run), and every example keeps its capability and length bucket so
that eval loss can be reported per bucket.

Batches are planned once, as lists of example indices, and the Trainer shuffles the plans (seeded):

- packed (default): examples in a seeded order fill batches up to a token budget and are
  flattened into one row, with `position_ids` restarting at 0 for every example (the
  `DataCollatorWithFlattening` convention) and the label of each example's first token set to
  -100, so no token is trained to predict across an example boundary. The attention keeps the
  examples apart (`curate_train.model.packed_sdpa_attention`, or transformers' own block-diagonal mask
  for other attention implementations). No padding token is ever computed.
- padded (`packing = false`): `batch_size` examples per batch, right-padded, with an attention mask.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import ValidationError

from curate.mask import IGNORE, Masker, MaskError, MaskPolicy
from curate.records import Trajectory
from curate_train import TrainError

if TYPE_CHECKING:
    from curate_train.config import TrainConfig

BUILD_KEYS = ("bucket", "length_bucket", "signals", "tokens", "split", "copy_of")
"""Keys `curate build` adds to a canonical record (see curate.build.export_row)."""
MASK_BATCH = 512


@dataclass(slots=True)
class Example:
    """One masked example with the buckets of the record it came from."""

    id: str | None
    input_ids: list[int]
    labels: list[int]
    bucket: str
    length_bucket: str

    @property
    def trained_tokens(self) -> int:
        return sum(1 for lab in self.labels[1:] if lab != IGNORE)


@dataclass
class SplitData:
    """The examples of one split, and what was dropped on the way (with the reasons)."""

    path: Path
    records: int
    examples: list[Example]
    dropped: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def bucket_counts(self) -> dict[str, dict[str, int]]:
        """Examples and trained tokens per capability bucket and per length bucket."""
        out: dict[str, dict[str, int]] = {}
        for ex in self.examples:
            for key in (f"bucket/{ex.bucket}", f"length/{ex.length_bucket}"):
                row = out.setdefault(key, {"examples": 0, "trained_tokens": 0})
                row["examples"] += 1
                row["trained_tokens"] += ex.trained_tokens
        return dict(sorted(out.items()))


@dataclass(slots=True)
class BuildRow:
    record: Trajectory
    bucket: str
    length_bucket: str


def read_build_split(path: Path) -> list[BuildRow]:
    """The rows of OUT/train.jsonl or OUT/eval.jsonl as canonical records with their buckets."""
    if not path.exists():
        raise TrainError(f"{path}: not found; the data folder must be the output of `curate build`")
    rows: list[BuildRow] = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                labels = {k: data.pop(k, None) for k in BUILD_KEYS}
                record = Trajectory.model_validate(data)
            except (json.JSONDecodeError, ValidationError, AttributeError, TypeError) as e:
                first = str(e).splitlines()[0]
                raise TrainError(f"{path}:{line_no}: not a record written by `curate build` ({first}); "
                                 "rebuild the data folder with `curate build`") from None
            if record.id is None:  # build gives every record an id; keep examples traceable anyway
                record = record.model_copy(update={"id": f"{path.stem}-{line_no}"})
            rows.append(BuildRow(record, labels["bucket"] or "other", labels["length_bucket"] or "all"))
    return rows


def select_rows(rows: list[BuildRow], limit: int | None = None, per_bucket: int | None = None,
                seed: int = 0) -> list[BuildRow]:
    """A seeded sample of `limit` rows and/or the first `per_bucket` rows of each bucket, in file order."""
    if per_bucket is not None:
        seen: Counter[str] = Counter()
        kept = []
        for row in rows:
            seen[row.bucket] += 1
            if seen[row.bucket] <= per_bucket:
                kept.append(row)
        rows = kept
    if limit is not None and limit < len(rows):
        chosen = set(random.Random(seed).sample(range(len(rows)), limit))
        rows = [row for i, row in enumerate(rows) if i in chosen]
    return rows


def mask_rows(rows: list[BuildRow], masker: Masker, path: Path) -> SplitData:
    """Masked examples of `rows`; an audit failure is a TrainError naming the record and the tokens."""
    data = SplitData(path, len(rows), [])
    for start in range(0, len(rows), MASK_BATCH):
        batch = rows[start:start + MASK_BATCH]
        labels = {row.record.id: row for row in batch}
        result = masker.mask([row.record for row in batch])
        if result.failures:
            f = result.failures[0]
            raise TrainError(f"{path}: mask audit failed for record {f.id}: {f.reason}; offending tokens "
                             f"{f.tokens}; this is a bug in the masking of this template, please report it")
        data.dropped.update(result.dropped)
        data.notes.extend(n for n in result.notes if n not in data.notes)
        for ex in result.examples:
            row = labels[ex.id]
            data.examples.append(Example(ex.id, ex.input_ids, ex.labels, row.bucket, row.length_bucket))
    return data


def load_split(path: Path, tokenizer: Any, policy: MaskPolicy, limit: int | None = None,
               per_bucket: int | None = None, seed: int = 0) -> SplitData:
    """Read, select and mask one split of a build."""
    try:
        masker = Masker(tokenizer, policy)
    except MaskError as e:
        raise TrainError(f"tokenizer `{getattr(tokenizer, 'name_or_path', '?')}`: {e}") from None
    rows = select_rows(read_build_split(path), limit, per_bucket, seed)
    data = mask_rows(rows, masker, path)
    if not data.examples:
        why = ", ".join(f"{k} {v}" for k, v in sorted(data.dropped.items())) or "the file has no records"
        raise TrainError(f"{path}: no example left to train or evaluate on ({why})")
    return data


# --- batches -----------------------------------------------------------------------------------------


def packed_batches(examples: list[Example], tokens_per_batch: int, seed: int | None = None) -> list[list[int]]:
    """Example indices per batch, filled in order (seeded shuffle first, unless seed is None) up to the
    token budget; an example longer than the budget is a batch of its own."""
    order = list(range(len(examples)))
    if seed is not None:
        random.Random(seed).shuffle(order)
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i in order:
        n = len(examples[i].input_ids)
        if current and size + n > tokens_per_batch:
            batches.append(current)
            current, size = [], 0
        current.append(i)
        size += n
    if current:
        batches.append(current)
    return batches


def padded_batches(examples: list[Example], batch_size: int, seed: int | None = None) -> list[list[int]]:
    order = list(range(len(examples)))
    if seed is not None:
        random.Random(seed).shuffle(order)
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


class BatchDataset(torch.utils.data.Dataset[list[Example]]):
    """A dataset whose items are whole planned batches (the Trainer runs it with batch size 1)."""

    def __init__(self, examples: list[Example], batches: list[list[int]]) -> None:
        self.examples = examples
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> list[Example]:
        return [self.examples[k] for k in self.batches[i]]


def collate_packed(examples: list[Example]) -> dict[str, torch.Tensor]:
    """One row: input_ids, labels (-100 at every example's first token) and position_ids restarting at 0."""
    input_ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for ex in examples:
        input_ids += ex.input_ids
        labels += [IGNORE, *ex.labels[1:]]
        positions += range(len(ex.input_ids))
    return {"input_ids": torch.tensor([input_ids]), "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions])}


def collate_padded(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded rows with an attention mask; padding is never trained."""
    width = max(len(ex.input_ids) for ex in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for r, ex in enumerate(examples):
        n = len(ex.input_ids)
        ids[r, :n] = torch.tensor(ex.input_ids)
        labels[r, 1:n] = torch.tensor(ex.labels[1:])
        mask[r, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


@dataclass(frozen=True, slots=True)
class Batching:
    """How a run's examples go into batches, decided once from the config (`[data] packing`): packed rows up to a
    token budget, or padded rows of `batch_size` examples. The recipe plans and collates with it and tells the
    model loader which it is (packed rows need an attention that keeps their examples apart)."""

    packed: bool
    tokens_per_batch: int
    eval_tokens_per_batch: int
    batch_size: int

    @classmethod
    def of(cls, cfg: TrainConfig) -> Batching:
        return cls(cfg.data.packing, cfg.data.tokens_per_batch, cfg.eval_tokens_per_batch, cfg.data.batch_size)

    def train_plan(self, examples: list[Example], seed: int) -> list[list[int]]:
        """The training batches, in a seeded order."""
        if self.packed:
            return packed_batches(examples, self.tokens_per_batch, seed=seed)
        return padded_batches(examples, self.batch_size, seed=seed)

    def eval_plan(self, examples: list[Example]) -> list[list[int]]:
        """The evaluation batches, in file order."""
        if self.packed:
            return packed_batches(examples, self.eval_tokens_per_batch)
        return padded_batches(examples, self.batch_size)

    def collator(self, pad_id: int | None) -> Collator:
        return Collator(self.packed, pad_id if pad_id is not None else 0)


@dataclass(slots=True)
class Collator:
    """The Trainer's data collator: it gets a list of one planned batch and returns its tensors."""

    packing: bool
    pad_id: int

    def __call__(self, features: list[list[Example]]) -> dict[str, torch.Tensor]:
        examples = [ex for batch in features for ex in batch]
        return collate_packed(examples) if self.packing else collate_padded(examples, self.pad_id)


def example_of_positions(batch: dict[str, torch.Tensor], rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """For predicted positions (rows, cols) of a collated batch, the index of their example in the batch."""
    if "position_ids" not in batch:
        return rows  # padded: one example per row
    pos = batch["position_ids"][0]
    starts = torch.nonzero(pos == 0).flatten()
    return torch.searchsorted(starts, cols, right=True) - 1
