"""`curate build`: raw trajectory files in, a vetted, bucket-balanced ChatML set out.

    files → read → lint gate → exact dedup → near-dup dedup → decontamination → capability and
    length buckets → balanced mix → leak-free eval split → OUT/

Per-record work streams through Arrow with `datasets` (`curate.build_stream`): the inputs become raw
Arrow rows (`Dataset.from_generator`, written in chunks), and one batched `Dataset.map` over `num_proc`
processes reads, adapts, validates and lints each record and, for those passing the gate, computes its
exact-dedup key, MinHash signature(s), completeness, token count and capability bucket. The main process
never holds the records: it reads the facts' small columns, decides what needs the whole run in input
order (the cross-record lint rules, unique ids, the lint gate), runs the global stages on those columns
(exact and near dedup with `DedupStage`, decontamination, length edges, balance, split), and
at export reads the chosen records back from the memory-mapped raw rows, in output order, a batch at a
time, gathering the `datasets` folder's columns as it writes the JSON Lines files. The Arrow files live
in a folder beside the output (`.OUT.work-PID`), removed whatever happens.

Two stages scale with the corpus and run on an engine: the facts of every raw row and the near-dup
clusters of their signatures. `LocalEngine` runs them in this machine's processes, `curate.build_ray.RayEngine`
on a Ray cluster (`--engine ray`); every other stage is the same code whatever the engine, so outputs are
byte-identical across engines. Inputs and OUT may be `fsspec` URLs (`curate.storage`).

Every stage counts what it drops and why (`StageCount`), and the manifest checks the invariant
records in = records out + records dropped. Each record's facts depend on that record alone, so outputs
are byte-identical for a seed with one process or several. The output folder is written next to its
final place and renamed into it at the end: a killed run leaves the previous output or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate import __version__
from curate.build_stream import (
    Engine,
    LocalEngine,
    RecordSource,
    RunLint,
    WorkerSpec,
    column,
    content_fingerprint,
    prepare_worker,
    quiet_datasets,
    read_raw_dataset,
    signature_matrix,
)
from curate.buildconfig import BuildConfig
from curate.jsonl import write_jsonl
from curate.manifest import InputFile, Manifest, StageCount, check_invariant
from curate.readers import RawRecord, RecordReader, load_tool_specs
from curate.records import ToolSpec, Trajectory
from curate.storage import Location
from curate.toolset import ToolSet


class BuildError(RuntimeError):
    """A build that cannot go on, with what to do about it (exit code 2, nothing written)."""


@dataclass
class Item:
    """One record past the lint gate, by its raw row: what the global stages need, never the record."""

    row: int
    """Its row among all records read (input order); the record is read back from it at export."""
    id: str
    """Its id in the output (`unique_name`): its own, or `FILE-LINE`, `~N` added when repeated."""
    warnings: int
    bucket: str = ""
    signals: list[str] = field(default_factory=list)
    tokens: int = 0
    length_bucket: str = ""
    cluster: int = -1


@dataclass
class BuildResult:
    manifest: Manifest
    out: Path
    train: int
    eval: int
    mix_table: Any = None


def file_sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    if path.is_dir():  # the files the readers read, in their order: never an output folder inside it
        from curate.readers import data_files, is_datasets_folder

        tops = [path] if is_datasets_folder(path) else list(data_files(path))
        files = [f for t in tops for f in ([t] if t.is_file() else sorted(p for p in t.rglob("*") if p.is_file()))]
        for f in files:
            h.update(str(f.relative_to(path)).encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
        return h.hexdigest(), size
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def versions() -> dict[str, str]:
    """Versions of what shapes the output (recorded in the manifest)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"curate": __version__, "python": platform.python_version()}
    for pkg in ("pydantic", "datasketch", "numpy", "tokenizers", "transformers", "datasets", "regex"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def gate_records(facts: Any, paths: Sequence[str], keep_invalid: bool, stage: dict[str, StageCount],
                 lint_counts: Counter[str]) -> list[Item]:
    """Count every record read and its findings, and pass the readable ones without errors, in input order.

    The workers linted each record alone; the cross-record rules (`RunLint`) are decided here, so the
    counts equal one `curate lint` run's. Ids are made unique here too, in the same order.
    """
    from curate.rules import all_rules

    errors = frozenset(code for code, rule in all_rules().items() if rule.severity == "error")
    cols = {name: column(facts, name).to_pylist() for name in
            ("readable", "processed", "codes", "record_id", "fallback_id", "ts001", "ts001_external")}
    sources = column(facts, "source").to_numpy().tolist()
    lines = column(facts, "line").to_numpy().tolist()
    run = RunLint()
    seen_ids: set[str] = set()
    items: list[Item] = []
    read = stage["read"]
    gate = stage["lint"]
    for row in range(len(lines)):
        read.records_in += 1
        codes = cols["codes"][row]
        readable = cols["readable"][row]
        rid = cols["record_id"][row]
        if readable:
            codes = codes + run.codes(rid, paths[sources[row]], lines[row], cols["ts001"][row],
                                      cols["ts001_external"][row])
        lint_counts.update(codes)
        if not readable:
            read.dropped["unreadable"] = read.dropped.get("unreadable", 0) + 1
            continue
        read.records_out += 1
        gate.records_in += 1
        n_errors = sum(code in errors for code in codes)
        if n_errors and not keep_invalid:
            gate.dropped["lint_error"] = gate.dropped.get("lint_error", 0) + 1
            continue
        if not cols["processed"][row]:  # the workers gate on a subset of these findings: never happens
            raise RuntimeError(f"record #{row} passed the lint gate but was not processed (a bug)")
        gate.records_out += 1
        name = unique_name(rid if rid is not None else cols["fallback_id"][row], seen_ids)
        items.append(Item(row, name, len(codes) - n_errors))
    return items


def take(facts: Any, name: str, rows: np.ndarray) -> list[Any]:
    """Column `name` at `rows`, as Python values."""
    import pyarrow as pa

    return column(facts, name).take(pa.array(rows, type=pa.int64())).to_pylist()


def sign_references(paths: Sequence[Path], settings: Any, max_record_bytes: int) -> tuple[Any, list[InputFile]]:
    """Signatures of the readable records of `--decontaminate` files, signed as the workers sign
    training records (`settings`), a chunk of records in memory at a time (none over `max_record_bytes`)."""
    from curate.dedup import MinHasher, Signatures, normalised_text

    hasher = MinHasher(settings)
    reader = RecordReader(max_record_bytes)
    parts: list[np.ndarray] = [np.empty((0, settings.num_perm), dtype=np.uint32)]
    files: list[InputFile] = []
    for p in paths:
        n = 0
        texts: list[str] = []
        for result in reader.read(p):
            if result.record is None:
                continue
            n += 1
            texts.append(normalised_text(result.record, settings.roles))
            if len(texts) == 1024:
                parts.append(hasher.sign_texts(texts))
                texts = []
        if texts:
            parts.append(hasher.sign_texts(texts))
        digest, size = file_sha256(p)
        files.append(InputFile(path=str(p), sha256=digest, bytes=size, records=n))
    return Signatures(np.concatenate(parts), settings), files


def prepare_record(record: Trajectory, raw: RawRecord, tools: ToolSet, seen: set[str]) -> Trajectory:
    """A readable record as the stages want it: with every tool it calls (`ToolSet.attach`), and an id of its
    own."""
    return unique_id(tools.attach(record), f"{Path(raw.path).stem}-{raw.line}", seen)


def unique_id(record: Trajectory, fallback: str, seen: set[str]) -> Trajectory:
    """Every exported record gets an id of its own: a missing id becomes `FILE-LINE`, a repeated one
    gets `~N`; the id it had is kept in `meta.original_id`."""
    return with_id(record, unique_name(record.id if record.id is not None else fallback, seen))


def unique_name(rid: str, seen: set[str]) -> str:
    """`rid`, or `rid~2`, `rid~3`, … if taken: the first free one, which is then taken."""
    new, n = rid, 1
    while new in seen:
        n += 1
        new = f"{rid}~{n}"
    seen.add(new)
    return new


def with_id(record: Trajectory, new: str) -> Trajectory:
    """The record under id `new`; a changed id keeps the one it had in `meta.original_id`."""
    if new == record.id:
        return record
    meta = {**(record.meta or {}), "original_id": record.id}
    return record.model_copy(update={"id": new, "meta": meta})


def export_row(row: dict[str, Any], item: Item, split: str, copy_of: str | None = None) -> dict[str, Any]:
    """A record as written to train.jsonl / eval.jsonl: its canonical dump (`RecordDumper`, changed in
    place), plus labels."""
    row["bucket"] = item.bucket
    row["length_bucket"] = item.length_bucket
    row["signals"] = item.signals
    row["tokens"] = item.tokens
    row["split"] = split
    if copy_of is not None:
        row["copy_of"] = copy_of
    return row


class RecordDumper:
    """`record.model_dump(mode="json", exclude_none=True)`, with the `--tools` specs dumped once.

    Most exported records carry the `--tools` specs attached to them (`ToolSet.attach`), and those specs
    are most of each row: dumping them once, and their JSON text once for the `datasets` folder, halves
    the export's time. A record carrying those very spec objects gets the shared dump, in the place the
    field has in a whole-record dump (right after `messages`); any other record is dumped whole.
    """

    def __init__(self, specs: Sequence[ToolSpec]) -> None:
        self.specs = list(specs)  # the very objects `ToolSet.attach` attached
        self.tools = [t.model_dump(mode="json", exclude_none=True) for t in self.specs]
        self.tools_json = json.dumps(self.tools, ensure_ascii=False)

    def dump(self, record: Trajectory) -> tuple[dict[str, Any], str | None]:
        """The record's dump, and its tools' JSON text when it is the shared one (else None)."""
        tools = record.tools
        if not (self.specs and tools and len(tools) == len(self.specs)
                and all(a is b for a, b in zip(tools, self.specs, strict=True))):
            return record.model_dump(mode="json", exclude_none=True), None
        row: dict[str, Any] = {}
        for key, value in record.model_dump(mode="json", exclude_none=True, exclude={"tools"}).items():
            row[key] = value
            if key == "messages":  # fields dump in declaration order: id, messages, tools, meta, extras
                row["tools"] = self.tools
        return row, self.tools_json


_TEXT_COLUMNS = ("messages", "tools")
"""Columns of the `datasets` folder holding nested, ragged structures (tool schemas, arguments) as JSON text."""


def datasets_row(row: dict[str, Any], tools_json: str | None = None) -> dict[str, Any]:
    """An exported row as the `datasets` folder holds it: messages and tools as JSON text, no `meta`
    (`tools_json`: the tools' text when already known)."""
    out = dict(row)
    out["messages"] = json.dumps(row["messages"], ensure_ascii=False)
    out["tools"] = tools_json if tools_json is not None else json.dumps(row.get("tools") or [], ensure_ascii=False)
    out.pop("meta", None)
    out.setdefault("copy_of", None)
    return out


class DatasetsSplit:
    """One split of the `datasets` folder, gathered row by row while its JSON Lines file is written.

    `dataset()` gives what `Dataset.from_list` makes of the rows, without holding them: columns are the
    first row's keys, each small column's type is inferred from all its values (kept: they are small),
    and the JSON text columns are built into Arrow strings a batch at a time and joined into one array,
    as `from_list` has them, so that `save_to_disk` writes the same bytes.
    """

    def __init__(self, batch_size: int = 1000) -> None:
        self.batch_size = batch_size
        self.columns: list[str] | None = None
        self.small: dict[str, list[Any]] = {}
        self.pending: dict[str, list[Any]] = {}
        self.chunks: dict[str, list[Any]] = {}

    def add(self, row: dict[str, Any]) -> None:
        """One row, as `datasets_row` gives it."""
        if self.columns is None:
            self.columns = list(row)
            self.small = {k: [] for k in self.columns if k not in _TEXT_COLUMNS}
            self.pending = {k: [] for k in self.columns if k in _TEXT_COLUMNS}
            self.chunks = {k: [] for k in self.pending}
        for k, values in self.small.items():
            values.append(row.get(k))
        for k, values in self.pending.items():
            values.append(row.get(k))
        if len(next(iter(self.pending.values()), ())) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        for k, values in self.pending.items():
            if values:
                self.chunks[k].append(pa.array(values, type=pa.string()))
                values.clear()

    def dataset(self, fingerprint: str) -> Any:
        import pyarrow as pa
        from datasets import Dataset, Features, Value
        from datasets.info import DatasetInfo
        from datasets.table import InMemoryTable

        if self.columns is None:
            return Dataset.from_dict({})
        self._flush()
        inferred = Dataset.from_dict(self.small).features if self.small else Features()
        features = Features({k: Value("string") if k in _TEXT_COLUMNS else inferred[k] for k in self.columns})
        arrays = []
        for k in self.columns:
            if k in _TEXT_COLUMNS:
                arrays.append(pa.concat_arrays(self.chunks.pop(k)) if self.chunks[k] else pa.array([], pa.string()))
            else:
                arrays.append(pa.array(self.small.pop(k), type=features.arrow_schema.field(k).type))
        table = pa.Table.from_arrays(arrays, names=self.columns)
        # an explicit fingerprint: without one, datasets hashes in-memory data by serialising all of it
        return Dataset(InMemoryTable(table), info=DatasetInfo(features=features), fingerprint=fingerprint)


def save_datasets_folder(out: Path, splits: dict[str, tuple[DatasetsSplit, Path]]) -> None:
    """The same rows as a `datasets` folder (DatasetDict with train / eval), deterministic fingerprints.

    `splits` maps each split to its gathered rows and its JSON Lines file, whose content hash is the
    split's fingerprint (datasets fingerprints in-memory data randomly).
    """
    from datasets import DatasetDict

    fingerprints = {name: file_sha256(path)[0][:16] for name, (_, path) in splits.items()}
    with quiet_datasets():
        DatasetDict({name: rows.dataset(fingerprints[name]) for name, (rows, _) in splits.items()}).save_to_disk(
            str(out))
    for name, fingerprint in fingerprints.items():  # the fingerprint goes in as given; sorted keys, as before
        state = out / name / "state.json"
        data = json.loads(state.read_text())
        data["_fingerprint"] = fingerprint
        state.write_text(json.dumps(data, indent=2, sort_keys=True))


def replace_dir(tmp: Path, out: Path) -> None:
    """Move a finished output folder into place; the previous one survives until the last moment."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old.exists():
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def tools_from(files: Sequence[Path]) -> list[dict[str, Any]]:
    return [t for f in files for t in load_tool_specs(f)]


STAGES = ("read", "lint", "exact_dedup", "near_dedup", "decontaminate", "balance", "split")


def build(inputs: Sequence[Location], out: Location, cfg: BuildConfig, tools_files: Sequence[Location] = (),
          tokenizer: str | None = None, decontaminate: Sequence[Location] = (), log: Any = None,
          engine: Engine | None = None, force: bool = False) -> BuildResult:
    """Run the whole pipeline and write `out/`; raises BuildError (and writes nothing) on bad input.

    Locations are local paths or `fsspec` URLs (`curate.storage`). `engine` runs the per-record stages and
    the near-dup clustering (default `LocalEngine`; `curate.build_ray.RayEngine` for a Ray cluster): the
    output is the same whatever the engine. An existing `out` is replaced only when it is an earlier build
    (its manifest), or with `force`, and never when it is `/`, the current folder, an input or holds one
    (`curate.outputs`); two builds into the same local `out` at once: the second raises BuildError.
    """
    from curate.outputs import OutputError, build_marker, check_output_dir, output_lock, remove_stale
    from curate.storage import StorageError, exists, local_path

    engine = engine or LocalEngine()
    try:
        for p in (*inputs, *tools_files, *decontaminate):
            if not exists(p):
                raise BuildError(f"{p}: no such file or directory")
        final = local_path(out)
        if final is None:
            _check_remote_output(out, force)
            return _build_staged(inputs, out, None, cfg, tools_files, tokenizer, decontaminate, log, engine)
        local = [q for q in (local_path(p) for p in (*inputs, *tools_files, *decontaminate)) if q is not None]
        check_output_dir(final, local, build_marker, "build output", force)
        created = make_parents(final.parent)
        try:
            with output_lock(final, "build"):
                check_output_dir(final, local, build_marker, "build output", force)  # as it is now we hold it
                remove_stale(final)
                return _build_staged(inputs, out, final, cfg, tools_files, tokenizer, decontaminate, log, engine)
        except BaseException:
            for folder in reversed(created):  # a failed run leaves nothing, not even the folders it made
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
    except (StorageError, OutputError) as e:
        raise BuildError(str(e)) from None


def _check_remote_output(out: Location, force: bool) -> None:
    """A remote OUT is replaced only when it holds a build's manifest, or with `force`."""
    from curate.storage import exists

    if force or not exists(out) or exists(f"{str(out).rstrip('/')}/manifest.json"):
        return
    raise BuildError(f"{out}: exists and is not a build output written by curate (no manifest.json); choose "
                     "another -o, or pass --force to replace it")


def _build_staged(inputs: Sequence[Location], out: Location, final: Path | None, cfg: BuildConfig,
                  tools_files: Sequence[Location], tokenizer: str | None, decontaminate: Sequence[Location],
                  log: Any, engine: Engine) -> BuildResult:
    """`build` once OUT is checked (and, when local, locked): a remote OUT is built in a local staging folder
    and uploaded."""
    from curate.storage import StorageError, fetch, publish

    say = log or (lambda _msg: None)
    staging = Path(tempfile.mkdtemp(prefix="curate-build-")) if final is None else None
    try:
        with tempfile.TemporaryDirectory(prefix="curate-tools-") as folder:  # remote --tools files: copied here
            tools = tools_from(fetch(tools_files, Path(folder)))
        spec = WorkerSpec(tools=tools, keep_invalid=cfg.lint.keep_invalid, dedup=cfg.dedup, buckets=cfg.buckets,
                          tokenizer=tokenizer, decontaminate=bool(decontaminate))
        worker = prepare_worker(spec)  # fails early on a tokenizer that can't be loaded, bad tools or bucket rules
        engine.start()  # fails early on an engine that can't be reached: nothing written yet
        try:
            target = (staging / "out") if staging is not None else final
            assert target is not None
            result = _build_into(inputs, target.resolve(), cfg, spec, worker.bucketer.buckets, tokenizer,
                                 decontaminate, say, engine)
        finally:
            engine.stop()
        if staging is not None:
            say(f"uploading to {out}")
            publish(result.out, out)
            result.out = Path(str(out))
        return result
    except StorageError as e:
        raise BuildError(str(e)) from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _build_into(inputs: Sequence[Location], out: Path, cfg: BuildConfig, spec: WorkerSpec, buckets: Sequence[str],
                tokenizer: str | None, decontaminate: Sequence[Location], say: Any, engine: Engine) -> BuildResult:
    """`build` into the local folder `out` (its parent exists), with a work folder beside it (removed whatever
    happens; one left by a killed run is removed by the next run into the same `out`)."""
    from curate.storage import fetch

    work = out.with_name(f".{out.name}.work-{os.getpid()}")  # the Arrow files
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        local_inputs = fetch(inputs, work / "inputs")
        local_decon = fetch(decontaminate, work / "decontaminate")
        return _build(local_inputs, [str(p) for p in inputs], out, work, cfg, spec, buckets, tokenizer,
                      local_decon, [str(p) for p in decontaminate], say, engine)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_parents(folder: Path) -> list[Path]:
    """`mkdir -p folder`, returning the folders it created, outermost first."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _build(inputs: Sequence[Path], names: Sequence[str], out: Path, work: Path, cfg: BuildConfig, spec: WorkerSpec,
           buckets: Sequence[str], tokenizer: str | None, decontaminate: Sequence[Path], decon_names: Sequence[str],
           say: Any, engine: Engine) -> BuildResult:
    """`build` once its inputs are checked and local, and its work folder made; `names` (`decon_names`): the
    inputs (`--decontaminate` files) as given, as the manifest records them."""
    from curate.buckets import length_bucket, length_bucket_names, length_edges
    from curate.dedup import DECONTAMINATION_ROLES, DedupEntry, DedupStage, MinHashSettings, Signatures
    from curate.dedup import decontaminate as find_contaminated
    from curate.mix import balance, split_eval

    stages = {name: StageCount(stage=name, records_in=0, records_out=0) for name in STAGES}
    lint_counts: Counter[str] = Counter()
    say("reading")
    hashes = [file_sha256(p) for p in inputs]
    raw_fp = content_fingerprint([h for h, _ in hashes], list(names))
    raw, sources = read_raw_dataset(inputs, work / "raw", raw_fp, cfg.max_record_bytes)
    say(f"linting, signing and labelling {len(raw)} records ({cfg.num_proc} process"
        f"{'es' if cfg.num_proc > 1 else ''}, {engine.name} engine)")
    facts = engine.facts(raw, sources, spec, cfg.num_proc, work, spec.fingerprint(raw_fp))
    source_rows = np.bincount(column(facts, "source").to_numpy(), minlength=len(sources)) if len(facts) \
        else np.zeros(len(sources), dtype=np.int64)
    per_input = np.zeros(len(inputs), dtype=np.int64)
    for (f, _), n in zip(sources, source_rows, strict=True):
        per_input[f] += n
    input_files = [InputFile(path=name, sha256=digest, bytes=size, records=int(n))
                   for name, (digest, size), n in zip(names, hashes, per_input, strict=True)]
    items = gate_records(facts, [path for _, path in sources], cfg.lint.keep_invalid, stages, lint_counts)
    records_in = stages["read"].records_in

    say(f"deduplicating {len(items)} records")
    rows = np.array([it.row for it in items], dtype=np.int64)
    entries = [DedupEntry(it.id, ends, tools) for it, ends, tools in
               zip(items, take(facts, "ends_with_answer", rows), take(facts, "has_tool_result", rows), strict=True)]
    dedup = DedupStage(entries, cfg.dedup, warnings=[it.warnings for it in items],
                       exact_keys=take(facts, "exact_key", rows) if cfg.dedup.exact else None)
    near = labels = None
    if dedup.settings is not None:  # the exact-dedup survivors' signatures, clustered by the engine
        near = Signatures(signature_matrix(facts, "signature", rows[dedup.survivors], cfg.dedup.num_perm),
                          dedup.settings)
        labels = engine.near_labels(near, cfg.dedup.threshold)
    dres = dedup.result(near, labels)
    del near
    reasons = Counter(d.reason for d in dres.dropped)
    _count(stages["exact_dedup"], len(items), {"exact_duplicate": reasons["exact_duplicate"]})
    _count(stages["near_dedup"], stages["exact_dedup"].records_out, {"near_duplicate": reasons["near_duplicate"]})
    kept = [items[k] for k in dres.kept]
    for k, it in zip(dres.kept, kept, strict=True):
        it.cluster = dres.cluster_of[k]

    contaminated: set[int] = set()
    decon_files: list[InputFile] = []
    if decontaminate and kept:
        say("decontaminating")
        settings = MinHashSettings.from_config(cfg.dedup, roles=DECONTAMINATION_ROLES)
        references, decon_files = sign_references(decontaminate, settings, cfg.max_record_bytes)
        for f, name in zip(decon_files, decon_names, strict=True):
            f.path = name
        kept_rows = np.array([it.row for it in kept], dtype=np.int64)
        train = Signatures(signature_matrix(facts, "decon_signature", kept_rows, cfg.dedup.num_perm), settings)
        contaminated = find_contaminated(train, references, cfg.dedup.threshold)
    _count(stages["decontaminate"], len(kept), {"contaminated": len(contaminated)})
    kept = [it for i, it in enumerate(kept) if i not in contaminated]

    kept_rows = np.array([it.row for it in kept], dtype=np.int64)
    for it, tokens, bucket, signals in zip(kept, take(facts, "tokens", kept_rows), take(facts, "bucket", kept_rows),
                                           take(facts, "signals", kept_rows), strict=True):
        it.tokens, it.bucket, it.signals = tokens, bucket, signals
    edges = length_edges([it.tokens for it in kept], cfg.length)
    for it in kept:
        it.length_bucket = length_bucket(it.tokens, edges)

    say("balancing")
    mix = balance([(i, it.bucket, it.cluster) for i, it in enumerate(kept)], cfg.mix, cfg.seed,
                  buckets=buckets)
    n_selected = sum(1 for m in mix.items if not m.is_copy)
    _count(stages["balance"], len(kept), {"balancing": len(kept) - n_selected})
    train_idx, eval_idx = split_eval(mix.items, cfg.split, cfg.seed)
    _count(stages["split"], n_selected, {})

    # --- write ---------------------------------------------------------------------------------
    say("writing")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        copies_of = Counter(m.index for m in mix.items if m.is_copy)
        source = RecordSource(raw, sources, spec.tools)
        dumper = RecordDumper(source.specs)

        def rows_of(indices: list[int], split: str, sink: DatasetsSplit) -> Iterator[dict[str, Any]]:
            seen: set[int] = set()
            records = source.records([kept[i].row for i in indices])
            for i, record in zip(indices, records, strict=True):  # a copy repeats its original's index
                it = kept[i]
                dump, tools_json = dumper.dump(with_id(record, it.id))
                if i in seen:
                    row = export_row(dump, it, split, copy_of=it.id or f"#{it.row}")
                else:
                    seen.add(i)
                    row = export_row(dump, it, split)
                sink.add(datasets_row(row, tools_json))
                yield row

        hf = {"train": DatasetsSplit(), "eval": DatasetsSplit()}
        n_train = write_jsonl(tmp / "train.jsonl", rows_of(train_idx, "train", hf["train"]))
        n_eval = write_jsonl(tmp / "eval.jsonl", rows_of(eval_idx, "eval", hf["eval"]))
        save_datasets_folder(tmp / "hf", {name: (rows, tmp / f"{name}.jsonl") for name, rows in hf.items()})
        del hf
        write_jsonl(tmp / "clusters.jsonl", (c.model_dump(mode="json") for c in dres.clusters))
        split_counts: dict[str, dict[str, int]] = {}
        for side, idx in (("train", train_idx), ("eval", eval_idx)):
            for i in idx:
                split_counts.setdefault(kept[i].bucket, {"train": 0, "eval": 0})[side] += 1
        lengths_out = Counter(kept[m.index].length_bucket for m in mix.items)
        dropped: Counter[str] = Counter()
        for st in stages.values():
            dropped.update(st.dropped)
        manifest = Manifest(
            version=__version__, versions=versions(), config=cfg.model_dump(mode="json"),
            inputs=input_files, decontaminate=decon_files, tokenizer=tokenizer or "builtin",
            minhash=dres.settings.model_dump(mode="json") if dres.settings else None,
            records_in=records_in, records_out=n_selected, copies=sum(copies_of.values()),
            dropped={k: v for k, v in sorted(dropped.items()) if v}, stages=list(stages.values()),
            lint_findings=dict(sorted(lint_counts.items())),
            buckets_before=dict(mix.before), buckets_after=dict(mix.after), length_edges=edges,
            length_buckets={name: lengths_out[name] for name in length_bucket_names(edges) if lengths_out[name]},
            split=dict(sorted(split_counts.items())), clusters=len(dres.clusters),
        )
        fail_if_broken(manifest)
        (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        lengths: dict[str, list[int]] = {}
        for m in mix.items:
            lengths.setdefault(kept[m.index].bucket, []).append(kept[m.index].tokens)
        sizes = Counter(len(c.members) for c in dres.clusters)
        from curate.report_html import render_report

        (tmp / "report.html").write_text(render_report(manifest, lengths, sizes), encoding="utf-8")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    from curate.mix import format_mix_table

    for note in mix.notes:
        say(f"mix: {note}")
    return BuildResult(manifest, out, n_train, n_eval, format_mix_table(mix.before, mix.after, mix.copies))


def _count(stage: StageCount, records_in: int, dropped: dict[str, int]) -> None:
    stage.records_in = records_in
    stage.dropped = {k: v for k, v in dropped.items() if v}
    stage.records_out = records_in - sum(dropped.values())


def fail_if_broken(m: Manifest) -> None:
    problems = check_invariant(m)
    if problems:
        raise BuildError("accounting does not add up (a bug): " + "; ".join(problems))
