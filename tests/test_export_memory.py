"""The `datasets` folder (OUT/hf) gathered on disk: the same folder `save_to_disk` writes of the whole split, with
memory that does not grow with the number of rows (issue #20)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_jsonl
from tests.test_scale import same_folder


def varied_rows(built: Path) -> list[dict[str, Any]]:
    """The sample build's train rows, with columns whose batches infer differently: `extra` int in the first batches
    and float later (the whole column is float), `later` first seen after some batches, a struct whose fields grow
    from batch to batch, null in whole batches, `tags` a list empty in whole batches, of structs later."""
    rows = read_jsonl(built / "train.jsonl")
    for k, r in enumerate(rows):
        r["extra"] = (k if k < 700 else k + 0.5) if k % 2 else None
        if k > 900:
            r["later"] = {"a": k} if k < 1200 or k % 3 else {"b": "x", "a": None}
        r["tags"] = [{"n": k}] if k >= 600 and k % 5 == 0 else []
        if k % 7 == 0:
            r["copy_of"] = r["id"]
    return rows


def gathered(rows: list[dict[str, Any]], folder: Path | None = None) -> Any:
    from curate.build import DatasetsSplit, datasets_row

    split = DatasetsSplit(batch_size=300, folder=folder)
    for r in rows:
        split.add(datasets_row(r))
    return split


def test_a_split_saved_from_disk_is_the_split_saved_whole(tmp_path: Path, built: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`DatasetsSplit.save`, written a batch at a time from the spill file, writes what `save_to_disk` of the whole
    split writes: the same shards (several here, as past 500 MB), record batches (smaller than 1,000 rows here, as
    for rows over 100 KB), features, dataset_info.json and state.json with the given fingerprint; each small
    column gets the type `datasets` infers from all its values, even when its batches inferred others."""
    from datasets import Dataset, config, load_from_disk

    rows = varied_rows(built)
    split = gathered(rows)
    whole = split.dataset("f" * 16)
    nbytes = whole.data.nbytes
    monkeypatch.setattr(config, "MAX_SHARD_SIZE", int(nbytes / 3.5))  # 4 shards, far from a shard boundary
    monkeypatch.setattr(config, "MAX_ROW_GROUP_SIZE", int(nbytes / len(rows) * 150.5))  # 150 rows a record batch
    whole.save_to_disk(str(tmp_path / "whole"))
    split.save(tmp_path / "disk", "f" * 16)
    assert len(list((tmp_path / "disk").glob("data-*-of-00004.arrow"))) == 4
    same_folder(tmp_path / "disk", tmp_path / "whole")
    a, b = load_from_disk(str(tmp_path / "whole")), load_from_disk(str(tmp_path / "disk"))
    assert a.features == b.features and a.to_list() == b.to_list() and len(b) == len(rows)
    for column in ("extra", "later", "tags", "copy_of", "tokens"):
        assert b.features[column] == Dataset.from_dict({column: [r.get(column) for r in rows]}).features[column]
    assert b[0]["later"] is None and b[1001]["later"] == {"a": 1001, "b": None} and b[701]["extra"] == 701.5
    assert b[1200]["later"] == {"a": None, "b": "x"} and b[600]["tags"] == [{"n": 600}] and b[601]["tags"] == []


def test_an_empty_split_saves_as_save_to_disk_does(tmp_path: Path) -> None:
    """An empty split (no eval rows, say) writes what `save_to_disk` writes of an empty dataset, with the fingerprint
    given."""
    import json

    from datasets import Dataset

    from curate.build import DatasetsSplit

    DatasetsSplit().save(tmp_path / "empty", "e" * 16)
    Dataset.from_dict({}).save_to_disk(str(tmp_path / "listed"))
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["dataset_info.json", "state.json"]
    assert (tmp_path / "empty" / "dataset_info.json").read_bytes() == (
        tmp_path / "listed" / "dataset_info.json").read_bytes()
    state = json.loads((tmp_path / "empty" / "state.json").read_text())
    assert state == {**json.loads((tmp_path / "listed" / "state.json").read_text()), "_fingerprint": "e" * 16}


def test_memory_does_not_grow_with_the_rows(tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows wait on disk, not in memory: Arrow's allocations while gathering (at each batch spilled) and while
    writing the folder (at each record batch written) peak no higher for four times the rows, and stay a small part
    of the folder's size."""
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter

    from curate.build import arrow

    peak = [0]
    real_write, real_append = ArrowWriter.write_table, arrow.SpillFile.append

    def write_table(self: Any, table: Any, writer_batch_size: int | None = None) -> None:
        peak[0] = max(peak[0], pa.total_allocated_bytes())
        real_write(self, table, writer_batch_size)

    def append(self: Any, table: Any) -> None:
        peak[0] = max(peak[0], pa.total_allocated_bytes())
        real_append(self, table)

    monkeypatch.setattr(ArrowWriter, "write_table", write_table)
    monkeypatch.setattr(arrow.SpillFile, "append", append)
    rows = read_jsonl(built / "train.jsonl")

    def gathered_and_saved(copies: int) -> tuple[int, int]:
        peak[0] = 0
        before = pa.total_allocated_bytes()
        split = gathered(rows * copies, tmp_path)
        split.save(tmp_path / f"hf{copies}", "f" * 16)
        split.close()
        return peak[0] - before, sum(p.stat().st_size for p in (tmp_path / f"hf{copies}").glob("data-*.arrow"))

    (small, _), (large, size) = gathered_and_saved(2), gathered_and_saved(8)
    assert large < 1.3 * small and large < size / 4, (small, large, size)
    assert list(tmp_path.glob(".spill-*")) == []


def test_the_spill_file_is_removed_once_the_folder_is_written(tmp_path: Path, built: Path) -> None:
    """`save_datasets_folder` leaves the `datasets` folder and no spill file, in the work folder or a temporary one;
    a split never saved loses its file when closed."""
    from datasets import load_from_disk

    from curate.build.export import save_datasets_folder

    work = tmp_path / "work"
    work.mkdir()
    rows = read_jsonl(built / "train.jsonl")
    train, spare = gathered(rows, work), gathered(rows[:10])
    save_datasets_folder(tmp_path / "hf", {"train": (train, built / "train.jsonl")})
    assert list(work.iterdir()) == []
    assert load_from_disk(str(tmp_path / "hf"))["train"].num_rows == len(rows)
    temporary = spare._spill.path
    assert temporary.exists()
    spare.close()
    assert not temporary.exists() and not temporary.parent.exists()
