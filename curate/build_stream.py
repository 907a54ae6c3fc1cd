"""The per-record half of `curate build`, streamed through Arrow with `datasets`.

    INPUT files ──Dataset.from_generator──▶ raw rows ──Dataset.map(batched=True, num_proc=N)──▶ facts

1. **Raw rows** (`read_raw_dataset`): one row per record read from the inputs, in input order: which
   file (`source`, numbering the files met; a table gives their input and path), the `line`, and the
   record itself as it was read: a JSON Lines line's bytes, a decoded value (JSON arrays, Parquet,
   `datasets` folders; pickled), or why it could not be read. `from_generator` writes Arrow to disk in
   chunks, so memory holds one chunk, never the corpus.
2. **Facts** (`record_facts`): each batch of raw rows is read, adapted and validated
   (`RecordReader.read_record`, the one reading path), linted with the per-record rules, and, when
   it passes the lint gate, given what the global stages need: its exact-dedup key, its MinHash
   signature(s), `completeness`, token count, capability bucket and signals. Workers build their
   linter, tokenizer and bucketer once per process (`_worker`), never per batch.

The rules that need the whole run (`CROSS_RECORD_RULES`: duplicate ids, tool-schema problems reported
once per run) cannot be decided inside one worker's batch: workers leave them out and `RunLint`
decides them in the main process, in input order, from the facts. The main process then runs the
global stages on the facts' small columns and, at export, reads the chosen records back from the raw
rows (`RecordSource`): reading is deterministic, so a record read again is the record the workers saw.
Only the records written out are read twice, which costs less than serialising every record read into
the facts for export.

Everything a row yields depends on that row alone, so the facts are the same for any `num_proc` and
any batch size: outputs stay byte-identical with one process or several.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from curate import __version__
from curate.buildconfig import BucketConfig, DedupConfig
from curate.readers import DEFAULT_MAX_RECORD_BYTES, RawRecord, ReadError, ReadResult, RecordReader, iter_raw
from curate.records import ToolSpec, Trajectory
from curate.toolset import ToolSet

KIND_LINE, KIND_VALUE, KIND_UNREADABLE = 0, 1, 2
"""How a raw row holds its record: a JSON Lines line's bytes, a pickled decoded value, or an error."""

BATCH_SIZE = 1000
"""Raw rows per `map` batch (and per read-back chunk): enough to batch the tokenizer and the MinHash
permutations; a batch's working set, not the corpus, is what a process holds."""

LARGE_RECORD_BYTES = 1 << 20
"""Records from this size on are token-counted in pieces (`count_tokens_in_pieces`): a fast tokenizer's
encoding of one text takes over a hundred times the text in memory."""
TOKEN_PIECE = 1 << 18
"""Characters per piece when counting the tokens of a large record."""
_TOKEN_CUT = re.compile(r"(?<=\S) (?=\S)")

CROSS_RECORD_RULES = ("RS004", "TS001")
"""Lint rules whose findings depend on earlier records (duplicate ids; tool-schema problems reported once
per run): left out of the workers' linters and decided by `RunLint`. A test checks that these are the only
rules keeping state between records."""


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """`datasets` without progress bars (the build logs its own stages), restored afterwards."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


# --- raw rows --------------------------------------------------------------------------------------------


def raw_features() -> Any:
    """The raw rows' columns (see `RawRows`)."""
    from datasets import Features, Value

    return Features({"source": Value("int32"), "line": Value("int64"), "kind": Value("int8"),
                     "payload": Value("binary")})


class RawRows:
    """The rows of `read_raw_dataset`, and the files they came from.

    A row is (`source`, `line`, `kind`, `payload`): `source` numbers the files met, per input (a folder
    input holds several; an input given twice counts twice), and `sources[source]` is that file's input
    index and path, so rows stay four small columns. `kind` says what `payload` holds: the bytes of a
    JSON Lines line, a decoded value (pickled), or why the record could not be read (UTF-8).
    Records over `max_record_bytes` are never held: their row is unreadable, saying so (see `iter_raw`).
    """

    def __init__(self, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self.sources: list[tuple[int, str]] = []
        self.rows = 0
        self.max_record_bytes = max_record_bytes

    def __call__(self, paths: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        for f, path in enumerate(paths):
            known: dict[str, int] = {}
            for raw in iter_raw(path, self.max_record_bytes):
                source = known.get(raw.path)
                if source is None:
                    source = known[raw.path] = len(self.sources)
                    self.sources.append((f, raw.path))
                if raw.text is not None:
                    kind, payload = KIND_LINE, raw.text
                elif raw.error is not None:  # no text: a decoded value or an error, never decoded twice
                    kind, payload = KIND_UNREADABLE, raw.error.encode("utf-8", "surrogatepass")
                else:
                    kind, payload = KIND_VALUE, pickle.dumps(raw.data, protocol=pickle.HIGHEST_PROTOCOL)
                self.rows += 1
                yield {"source": source, "line": raw.line, "kind": kind, "payload": payload}


def count_tokens_in_pieces(tokenizer: Any, text: str, piece: int = TOKEN_PIECE) -> int:
    """The tokens of `text` counted piece by piece, each of about `piece` characters, so memory follows the
    piece, not the text.

    Pieces are cut before a single space between two non-space characters: a byte-level BPE pre-tokenizer
    (GPT-2's, Qwen's, the built-in tokenizer's) never joins across that cut, so the count is exact for them;
    other tokenizers may count a token more or less per piece. A stretch of `2 * piece` characters without
    such a space is cut where it stands (a text no tokenizer reads as words anyway)."""
    backend = tokenizer.backend_tokenizer
    encode_batch = getattr(backend, "encode_batch_fast", backend.encode_batch)
    total = 0
    i = 0
    while i < len(text):
        end = i + piece
        if end < len(text):
            m = _TOKEN_CUT.search(text, end, end + piece)
            end = m.start() if m is not None else end
        total += len(encode_batch([text[i:end]], add_special_tokens=False)[0])
        i = end
    return total


def raw_record(path: str, line: int, kind: int, payload: bytes) -> RawRecord:
    """The `RawRecord` a raw row was made from."""
    if kind == KIND_LINE:
        return RawRecord(path, line, text=payload)
    if kind == KIND_VALUE:
        return RawRecord(path, line, data=pickle.loads(payload))  # our own rows, written by RawRows
    return RawRecord(path, line, error=payload.decode("utf-8", "surrogatepass"))


def read_raw_dataset(paths: Sequence[Path], cache_dir: Path, fingerprint: str,
                     max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> tuple[Any, list[tuple[int, str]]]:
    """Every record of `paths` as Arrow rows on disk under `cache_dir`, and the files they came from
    (see `RawRows`). Raises `ReadError` for a file that cannot be read at all, as `RecordReader` does.

    Records over `max_record_bytes` become unreadable rows (RS001, dropped as `unreadable` by the build)
    without being held in memory."""
    from datasets import Dataset
    from datasets.exceptions import DatasetGenerationError

    rows = RawRows(max_record_bytes)
    try:
        with quiet_datasets():
            # a tuple, not a list: `from_generator` would split a list of paths into shards
            raw = Dataset.from_generator(rows, features=raw_features(), cache_dir=str(cache_dir),
                                         gen_kwargs={"paths": tuple(str(p) for p in paths)}, fingerprint=fingerprint)
    except DatasetGenerationError as e:
        cause: BaseException | None = e
        while cause is not None and not isinstance(cause, ReadError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise
    except ValueError:
        if rows.rows:
            raise
        # no record at all: datasets refuses an empty split ("corresponds to no data"); an empty table will do
        raw = Dataset.from_dict({name: [] for name in raw_features()}, features=raw_features())
    return raw, rows.sources


# --- facts: the per-record stages -----------------------------------------------------------------------


class WorkerSpec(BaseModel):
    """Everything a worker needs to compute a record's facts; its JSON keys the per-process cache."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tools: list[dict[str, Any]]
    keep_invalid: bool
    dedup: DedupConfig
    buckets: BucketConfig
    tokenizer: str | None
    decontaminate: bool

    def fingerprint(self, raw_fingerprint: str) -> str:
        """The facts' fingerprint: the raw rows', this spec and the code version."""
        h = hashlib.sha256(f"{raw_fingerprint}\n{__version__}\n".encode())
        h.update(self.model_dump_json().encode())
        return h.hexdigest()[:32]


def facts_features(spec: WorkerSpec) -> Any:
    """The facts' columns, declared so that `map` never infers (or mis-infers) a type from a batch."""
    from datasets import Features, List, Value

    cols: dict[str, Any] = {
        "source": Value("int32"), "line": Value("int64"),
        "readable": Value("bool"), "codes": List(Value("string")), "record_id": Value("string"),
        "fallback_id": Value("string"), "ts001": List(Value("string")), "ts001_external": List(Value("string")),
        "processed": Value("bool"), "exact_key": Value("string"), "ends_with_answer": Value("bool"),
        "has_tool_result": Value("bool"), "tokens": Value("int32"), "bucket": Value("string"),
        "signals": List(Value("string")),
    }
    if spec.dedup.near:
        cols["signature"] = List(Value("uint32"), length=spec.dedup.num_perm)
    if spec.decontaminate:
        cols["decon_signature"] = List(Value("uint32"), length=spec.dedup.num_perm)
    return Features(cols)


class Worker:
    """One process's linter, reader, tokenizer, bucketer and MinHashers, built once (see `_worker`)."""

    def __init__(self, spec: WorkerSpec) -> None:
        from curate.buckets import Bucketer
        from curate.dedup import DECONTAMINATION_ROLES, MinHasher, MinHashSettings
        from curate.lint import Linter
        from curate.mask import Masker
        from curate.rules import all_rules
        from curate.tokenizer import load_tokenizer

        self.spec = spec
        self.reader = RecordReader()
        self.linter = Linter(spec.tools, ignore=CROSS_RECORD_RULES)
        self.schema_rule = all_rules()["TS001"]
        self.errors = frozenset(code for code, rule in all_rules().items() if rule.severity == "error")
        self.specs = [ToolSpec.model_validate(t) for t in spec.tools]
        self.toolset = ToolSet(self.specs)
        self.masker = Masker(load_tokenizer(spec.tokenizer))
        self.bucketer = Bucketer(spec.buckets)
        cfg = spec.dedup
        self.near = MinHasher(MinHashSettings.from_config(cfg)) if cfg.near else None
        self.decon = (MinHasher(MinHashSettings.from_config(cfg, roles=DECONTAMINATION_ROLES))
                      if spec.decontaminate else None)

    def tool_schema_keys(self, result: ReadResult, with_external: bool) -> tuple[list[str], list[str]]:
        """TS001's messages for this record alone: for its own tools, and (`with_external`) for the
        `--tools` specs it does not redefine, which count only at the run's first readable record.

        That record is the first readable one of its batch (batches are contiguous, in order), so only
        those carry the second list; `RunLint` decides which problems are new.
        """
        from curate.rules.base import RecordContext, ToolRegistry

        assert result.record is not None
        raw, record = result.raw, result.record
        if not record.tools and not (with_external and self.linter.external):
            return [], []
        own_specs = [t.function for t in record.tools or ()]

        def messages(external: dict[str, Any]) -> list[str]:
            tools = ToolRegistry(own_specs, external, self.linter.cache)
            ctx = RecordContext(raw.path, raw.line, record.id, record, tools)
            return [f.message for f in self.schema_rule().check(ctx)]  # a fresh rule: this record only

        own = messages({}) if own_specs else []
        if not (with_external and self.linter.external):
            return own, []
        mine = set(own)
        return own, [m for m in messages(self.linter.external) if m not in mine]

    def batch(self, batch: dict[str, list[Any]], paths: Sequence[str]) -> dict[str, Any]:
        """The facts of a batch of raw rows (see `facts_features` for the columns); `paths` by source."""
        from curate.dedup import completeness, normalised_text, text_key

        n = len(batch["line"])
        out: dict[str, Any] = {
            "readable": [False] * n, "codes": [[] for _ in range(n)], "record_id": [None] * n,
            "fallback_id": [None] * n, "ts001": [[] for _ in range(n)], "ts001_external": [[] for _ in range(n)],
            "processed": [False] * n, "exact_key": [None] * n, "ends_with_answer": [False] * n,
            "has_tool_result": [False] * n, "tokens": [0] * n, "bucket": [None] * n, "signals": [[] for _ in range(n)],
        }
        records: list[Trajectory] = []
        where: list[int] = []
        sizes: list[int] = []
        rows = zip(batch["source"], batch["line"], batch["kind"], batch["payload"], strict=True)
        first = True  # the batch's first readable record
        for k, (source, line, kind, payload) in enumerate(rows):
            path = paths[source]
            result = self.reader.read_record(raw_record(path, line, kind, payload))
            codes = [f.code for f in self.linter.lint_result(result)]
            out["codes"][k] = codes
            record = result.record
            if record is None:
                continue
            out["readable"][k] = True
            out["record_id"][k] = record.id
            if record.id is None:
                out["fallback_id"][k] = f"{Path(path).stem}-{line}"
            out["ts001"][k], out["ts001_external"][k] = self.tool_schema_keys(result, with_external=first)
            first = False
            if not self.spec.keep_invalid and not self.errors.isdisjoint(codes):
                continue  # the lint gate drops it: nothing more to compute
            out["processed"][k] = True
            records.append(self.toolset.attach(record))
            where.append(k)
            sizes.append(len(payload))

        cfg = self.spec.dedup
        near_texts = [normalised_text(r, cfg.roles) for r in records] if self.near is not None else None
        if cfg.exact:  # the default roles sign the very text the exact key hashes: normalise it once
            same = near_texts is not None and set(cfg.exact_roles) == set(cfg.roles) and not cfg.exact_include_tools
            exact_texts = near_texts if same and near_texts is not None else [
                normalised_text(r, cfg.exact_roles, cfg.exact_include_tools) for r in records]
            for k, text in zip(where, exact_texts, strict=True):
                out["exact_key"][k] = text_key(text)
        for k, r in zip(where, records, strict=True):
            out["ends_with_answer"][k], out["has_tool_result"][k] = completeness(r)
        if self.near is not None and near_texts is not None:
            out["signature"] = self._signatures(self.near, near_texts, where, n)
        if self.decon is not None:
            user = [normalised_text(r, self.decon.settings.roles) for r in records]
            out["decon_signature"] = self._signatures(self.decon, user, where, n)
        for k, r, tokens in zip(where, records, self.count_tokens(records, sizes), strict=True):
            a = self.bucketer.assign(r, tokens)
            out["tokens"][k], out["bucket"][k], out["signals"][k] = tokens, a.bucket, list(a.signals)
        return out

    def count_tokens(self, records: Sequence[Trajectory], sizes: Sequence[int]) -> list[int]:
        """`Masker.count_tokens` of `records`, those of `LARGE_RECORD_BYTES` or more (`sizes`: their raw
        rows' bytes) counted in pieces (`count_tokens_in_pieces`)."""
        from curate.mask import MaskError

        large = {k for k, size in enumerate(sizes) if size >= LARGE_RECORD_BYTES}
        if not large:
            return self.masker.count_tokens(records)
        small = [k for k in range(len(records)) if k not in large]
        counts = [0] * len(records)
        for k, n in zip(small, self.masker.count_tokens([records[k] for k in small]), strict=True):
            counts[k] = n
        for k in sorted(large):
            if not records[k].messages:
                continue
            try:
                spans, _ = self.masker.spans(records[k])
            except MaskError:
                continue  # as `Masker.count_tokens`: 0 when the record cannot be rendered
            counts[k] = count_tokens_in_pieces(self.masker.tokenizer, spans[-1].text)
        return counts

    @staticmethod
    def _signatures(hasher: Any, texts: list[str], where: list[int], n: int) -> np.ndarray:
        values = np.zeros((n, hasher.settings.num_perm), dtype=np.uint32)  # rows not processed: never read
        if where:
            values[np.asarray(where, dtype=np.int64)] = hasher.sign_texts(texts)
        return values


_WORKERS: dict[str, Worker] = {}
"""One `Worker` per process and spec: `map` calls `facts_batch` per batch, and forked workers inherit the
main process's (built before `map` forks), so nothing is loaded per batch."""


def _worker(spec_json: str) -> Worker:
    worker = _WORKERS.get(spec_json)
    if worker is None:
        _WORKERS.clear()  # one build's worker at a time: a tokenizer is big
        worker = _WORKERS[spec_json] = Worker(WorkerSpec.model_validate_json(spec_json))
    return worker


def prepare_worker(spec: WorkerSpec) -> Worker:
    """Build this process's worker now: bad tools, bucket rules or tokenizers fail before any work."""
    return _worker(spec.model_dump_json())


def facts_batch(batch: dict[str, list[Any]], spec_json: str, paths: Sequence[str]) -> dict[str, Any]:
    """`Dataset.map` function: the facts of one batch of raw rows."""
    return _worker(spec_json).batch(batch, paths)


def facts_table(batch: Any, spec_json: str, paths: Sequence[str]) -> Any:
    """The facts of one batch of raw rows (a pyarrow Table) as a pyarrow Table with every facts column,
    `source` and `line` included: what `record_facts` gives for those rows, for engines other than `map`."""
    import pyarrow as pa

    cols = {name: batch.column(name).to_pylist() for name in ("source", "line", "kind", "payload")}
    facts = {"source": cols["source"], "line": cols["line"], **facts_batch(cols, spec_json, paths)}
    schema = facts_features(WorkerSpec.model_validate_json(spec_json)).arrow_schema
    arrays = []
    for field in schema:
        values = facts[field.name]
        if isinstance(values, np.ndarray) and values.ndim == 2:  # signatures: a fixed-size list per row
            values = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=field.type.value_type),
                                                       values.shape[1])
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def record_facts(raw: Any, sources: Sequence[tuple[int, str]], spec: WorkerSpec, num_proc: int, cache_dir: Path,
                 fingerprint: str) -> Any:
    """The facts of every raw row, in order, computed in `num_proc` processes (see `Worker.batch`)."""
    from datasets import Dataset

    spec_json = spec.model_dump_json()
    prepare_worker(spec)
    if not len(raw):  # `map` hands an empty dataset back unchanged, without the new columns
        features = facts_features(spec)
        return Dataset.from_dict({name: [] for name in features}, features=features)
    kwargs = {"spec_json": spec_json, "paths": [path for _, path in sources]}
    try:
        with quiet_datasets():
            return raw.map(facts_batch, batched=True, batch_size=BATCH_SIZE, fn_kwargs=kwargs,
                           remove_columns=["kind", "payload"], features=facts_features(spec),
                           num_proc=num_proc if num_proc > 1 and len(raw) > BATCH_SIZE else None,
                           cache_file_name=str(cache_dir / "facts.arrow"), new_fingerprint=fingerprint,
                           load_from_cache_file=False)
    except Exception as e:
        raise_interrupt_behind(e)
        raise


def raise_interrupt_behind(e: BaseException) -> None:
    """Re-raise the Ctrl-C or SIGTERM that `e` was raised while handling, if any.

    `datasets`' process pool turns an interrupt into a `TimeoutError` while it cleans up; the user pressed
    Ctrl-C, and the command must unwind as for Ctrl-C (exit 130, work folder removed), not report a bug."""
    cause = e.__context__ or e.__cause__
    while cause is not None:
        if not isinstance(cause, Exception):  # KeyboardInterrupt, curate.cli.Terminated
            raise cause.with_traceback(None) from None
        cause = cause.__context__ or cause.__cause__


class Engine(Protocol):
    """What runs the stages that scale with the corpus (see `LocalEngine`)."""

    name: str

    def start(self) -> None:
        """Connect (or fail with `BuildError`) before anything is written."""

    def stop(self) -> None:
        """Release what `start` took."""

    def facts(self, raw: Any, sources: Sequence[tuple[int, str]], spec: WorkerSpec, num_proc: int,
              work: Path, fingerprint: str) -> Any:
        """The facts of every raw row, in order, as a `datasets.Dataset` (what `record_facts` gives)."""

    def near_labels(self, sigs: Any, threshold: float) -> np.ndarray:
        """What `near_duplicate_labels(sigs, threshold)` gives."""


class LocalEngine:
    """The per-record stages in this machine's processes (`Dataset.map`), near-dup clusters in this process.

    An engine runs the two stages that scale with the corpus: the facts of every raw row, and the clusters
    of the near-dup signatures. Every other stage is the build's own, the same whatever the engine, so an
    engine that gives the same facts and labels gives the same output (see `curate.build_ray.RayEngine`).
    """

    name = "local"

    def start(self) -> None:
        """Nothing to connect to."""

    def stop(self) -> None:
        """Nothing to release."""

    def facts(self, raw: Any, sources: Sequence[tuple[int, str]], spec: WorkerSpec, num_proc: int,
              work: Path, fingerprint: str) -> Any:
        """`record_facts`: the facts of every raw row, in order, as a `datasets.Dataset`."""
        return record_facts(raw, sources, spec, num_proc, work, fingerprint)

    def near_labels(self, sigs: Any, threshold: float) -> np.ndarray:
        """`near_duplicate_labels`."""
        from curate.dedup import near_duplicate_labels

        return near_duplicate_labels(sigs, threshold)


# --- the main process's side ----------------------------------------------------------------------------


class RunLint:
    """The lint gate's cross-record half: every cross-record rule, decided in input order on the facts by the
    decider `curate lint` uses (`curate.lint.CrossRecordRules`), so the build counts what one lint run reports.

    The workers leave `CROSS_RECORD_RULES` out and keep what those rules observe of each readable record in
    the facts: RS004 needs only the record's id and place; TS001's observation is the `ts001` and
    `ts001_external` columns (`Worker.tool_schema_keys`). A rule declared cross-record that the workers would
    run per batch, or whose observation the facts lack, cannot be decided here: `RunLint()` raises at once.
    """

    OBSERVED = ("TS001",)
    """The cross-record rules whose observations the facts carry."""

    def __init__(self) -> None:
        from curate.lint import CrossRecordRules
        from curate.rules import all_rules
        from curate.rules.base import RecordContext
        from curate.rules.TS001 import SchemaProblems

        self.rules = CrossRecordRules(cls() for cls in all_rules().values() if cls.cross_record)
        if sorted(self.rules.codes) != sorted(CROSS_RECORD_RULES):
            raise RuntimeError(f"the build's workers leave out {', '.join(CROSS_RECORD_RULES)}, but the cross-record "
                               f"rules are {', '.join(self.rules.codes)}: update `CROSS_RECORD_RULES` (a bug)")
        for rule in self.rules.observing:
            if rule.code not in self.OBSERVED:
                raise RuntimeError(f"{rule.code} observes records, but the build's facts do not carry what it "
                                   "observes: add it to `Worker.batch` and `RunLint.codes` (a bug)")
        self._where, self._schema_problems = RecordContext, SchemaProblems

    def codes(self, record_id: str | None, path: str, line: int, ts001: list[str],
              ts001_external: list[str]) -> list[str]:
        """The codes the cross-record rules report for the next readable record."""
        observed = {"TS001": self._schema_problems(ts001, ts001_external)} if ts001 or ts001_external else {}
        return [f.code for f in self.rules.decide(self._where(path, line, record_id, None), observed)]


def column(ds: Any, name: str) -> Any:
    """One column of a dataset as a pyarrow ChunkedArray (memory-mapped: nothing is copied yet)."""
    return ds.data.column(name)


def signature_matrix(ds: Any, name: str, rows: np.ndarray, num_perm: int) -> np.ndarray:
    """Rows `rows` of a fixed-size signature column as an (len(rows), num_perm) uint32 array."""
    import pyarrow as pa

    taken = column(ds, name).take(pa.array(rows, type=pa.int64()))
    parts = [c.flatten().to_numpy(zero_copy_only=False) for c in taken.chunks if len(c)]
    flat = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
    return flat.astype(np.uint32, copy=False).reshape(len(rows), num_perm)


class RecordSource:
    """Records read back from the raw rows by row number, as the workers read them (tools attached)."""

    def __init__(self, raw: Any, sources: Sequence[tuple[int, str]], tools: Sequence[dict[str, Any]],
                 chunk: int = BATCH_SIZE) -> None:
        self.table = raw.data.table  # the memory-mapped pyarrow Table
        self.paths = [path for _, path in sources]
        self.reader = RecordReader()
        self.specs = [ToolSpec.model_validate(t) for t in tools]
        self.toolset = ToolSet(self.specs)
        self.chunk = chunk

    def records(self, rows: Sequence[int]) -> Iterator[Trajectory]:
        """The records of `rows`, in that order, `chunk` rows in memory at a time."""
        import pyarrow as pa

        for start in range(0, len(rows), self.chunk):
            taken = self.table.take(pa.array(rows[start:start + self.chunk], type=pa.int64()))
            cols = [taken.column(c).to_pylist() for c in ("source", "line", "kind", "payload")]
            for source, line, kind, payload in zip(*cols, strict=True):
                result = self.reader.read_record(raw_record(self.paths[source], line, kind, payload))
                if result.record is None:  # cannot happen: the workers read this very row
                    raise RuntimeError(f"{self.paths[source]}:{line}: a record read before could not be read again")
                yield self.toolset.attach(result.record)


def content_fingerprint(hashes: Sequence[str], extra: object) -> str:
    """A fingerprint from input content hashes and what else shapes the rows (`extra`, JSON-able), never
    from times or process ids: the same inputs give the same fingerprint."""
    h = hashlib.sha256(json.dumps([list(hashes), extra, __version__], sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]
