"""Arrow rows: Parquet files and `datasets.save_to_disk` folders, one record per row, nulls read as absent.

Rows are read by Arrow in batches and are not limited by `max_record_bytes`. A row group or Arrow file that
breaks mid-way is one unreadable record where it breaks; reading goes on with the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curate.extras import needs
from curate.readers.errors import ReadError
from curate.readers.raw import RawRecord


def _drop_nulls(value: Any) -> Any:
    """Arrow fills the struct fields a row lacks with None: read them as absent (None in lists is kept)."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _arrow_row(path: str, row: int, data: Any) -> RawRecord:
    """The record of one Arrow row (`row`: 1-based); a row nested too deeply to copy is unreadable."""
    try:
        return RawRecord(path, row, data=_drop_nulls(data))
    except RecursionError:
        return RawRecord(path, row, error="invalid record: nesting is too deep to read")


def iter_parquet(path: Path) -> Iterator[RawRecord]:
    """The rows of a Parquet file, row group by row group; raises `ReadError` if it cannot be opened."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the install
        raise ReadError(needs(f"{path}: reading Parquet needs pyarrow", "data")) from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for bad files
        raise ReadError(f"{path}: not a readable Parquet file: {e}") from None
    row = 0
    for group in range(pf.num_row_groups):
        size = pf.metadata.row_group(group).num_rows
        done = 0
        try:
            for batch in pf.iter_batches(batch_size=1024, row_groups=[group]):
                for data in batch.to_pylist():
                    done += 1
                    yield _arrow_row(str(path), row + done, data)
        except Exception as e:  # a corrupt row group: one finding where it breaks, then the next group
            reason = " ".join(str(e).split())
            yield RawRecord(str(path), row + done + 1, error=f"cannot read rows {row + done + 1}-{row + size} "
                            f"(Parquet row group {group + 1}): {reason}")
        row += size


def is_datasets_folder(path: Path) -> bool:
    """Whether `path` is a folder written by `datasets.save_to_disk` (a Dataset or a DatasetDict)."""
    return (path / "dataset_dict.json").is_file() or (
        (path / "dataset_info.json").is_file() and (path / "state.json").is_file()
    )


def iter_datasets_folder(path: Path) -> Iterator[RawRecord]:
    """A folder written by `datasets.save_to_disk` (Dataset or DatasetDict): one record per row, split by
    split (each read at `PATH/SPLIT`); raises `ReadError` if it cannot be opened."""
    try:
        from datasets import Dataset, DatasetDict, load_from_disk
    except ImportError:  # pragma: no cover
        raise ReadError(needs(f"{path}: reading datasets folders needs `datasets`", "data")) from None
    try:
        ds = load_from_disk(str(path))
    except Exception as e:
        raise ReadError(f"{path}: not a readable datasets folder: {e}") from None
    splits: list[tuple[str, Dataset]] = list(ds.items()) if isinstance(ds, DatasetDict) else [("", ds)]
    for split, d in splits:
        where = str(path / split) if split else str(path)
        row = 0
        try:
            for data in d:
                row += 1
                yield _arrow_row(where, row, data)
        except Exception as e:  # a corrupt Arrow file
            yield RawRecord(where, row + 1, error=f"cannot read the rows from row {row + 1} on: {e}")
