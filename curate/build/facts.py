"""The per-record stage of `curate build`: each raw row's `record_facts`, the columns the global stages need.

Each batch of raw rows (`curate.build.raw`) is read, adapted and validated (`RecordReader.read_record`, the one
reading path), linted with the per-record rules, and, when it passes the lint gate, given what the global
stages need: its exact-dedup key, its MinHash signature, `completeness`, token count, capability bucket and
signals, and with `--decontaminate` its best match against the benchmarks (`BenchmarkIndex.match`, every
turn checked). Workers build their linter, tokenizer, bucketer and benchmark index once per process
(`_worker`), never per batch. An engine (`curate.build.engines`) decides where the batches run.

The rules that need the whole run (cross-record rules: duplicate ids, tool-schema problems reported once per
run) cannot be decided inside one worker's batch: workers lint each record with `Linter.lint_alone`, as
`curate lint --jobs` does, and keep its result (`linted`: the findings and what the cross-record rules
observe), for the lint gate to finish in the main process, in input order (`curate.build.gate.RunLint`).

Everything a row yields depends on that row alone, so the record facts are the same for any `num_proc` and any
batch size: outputs stay byte-identical with one process or several.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from curate import __version__
from curate.buckets import BucketConfig
from curate.build.raw import raw_record, release_pages
from curate.dedup import DedupConfig
from curate.dedup.decontamination import Benchmark
from curate.readers import RecordReader, fallback_id
from curate.records import ToolSpec, Trajectory
from curate.toolcalls import CallStyle
from curate.toolset import ToolSet

LARGE_RECORD_BYTES = 1 << 20
"""Records from this size on are token-counted in pieces (`count_tokens_in_pieces`): a fast tokenizer's
encoding of one text takes over a hundred times the text in memory."""
TOKEN_PIECE = 1 << 18
"""Characters per piece when counting the tokens of a large record."""
_TOKEN_CUT = re.compile(r"(?<=\S) (?=\S)")

"""Lint rules whose findings depend on earlier records (duplicate ids; tool-schema problems reported once
per run): left out of the workers' linters and decided by `RunLint`. A test checks that these are the only
rules keeping state between records."""



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


class WorkerSpec(BaseModel):
    """Everything a worker needs to compute the record facts of a record; its JSON keys the per-process cache."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tools: list[dict[str, Any]]
    keep_invalid: bool
    dedup: DedupConfig
    buckets: BucketConfig
    tokenizer: str | None
    benchmark: Benchmark | None = None
    """What `--decontaminate` checks against: every worker indexes it once (`BenchmarkIndex`)."""
    calls: CallStyle = "canonical"
    """How the export writes non-canonical calls (`[export] calls`): tokens are counted on that text."""

    def fingerprint(self, raw_fingerprint: str) -> str:
        """The record facts' fingerprint: the raw rows', this spec and the code version."""
        h = hashlib.sha256(f"{raw_fingerprint}\n{__version__}\n".encode())
        h.update(self.model_dump_json().encode())
        return h.hexdigest()[:32]


def record_facts_features(spec: WorkerSpec) -> Any:
    """The record facts' columns, declared so that `map` never infers (or mis-infers) a type from a batch."""
    from datasets import Features, List, Value

    cols: dict[str, Any] = {
        "source": Value("int32"), "line": Value("int64"),
        "readable": Value("bool"), "linted": Value("binary"), "record_id": Value("string"),
        "fallback_id": Value("string"),
        "processed": Value("bool"), "exact_key": Value("binary"), "ends_with_answer": Value("bool"),
        "has_tool_result": Value("bool"), "tokens": Value("int32"), "bucket": Value("string"),
        "signals": List(Value("string")),
    }
    if spec.dedup.near:
        cols["signature"] = List(Value("uint32"), length=spec.dedup.num_perm)
    if spec.benchmark is not None:
        cols["contamination"] = Value("string")  # `Contamination.to_json`, or null
    return Features(cols)


class Worker:
    """One process's linter, reader, tokenizer, bucketer and MinHashers, built once (see `_worker`)."""

    def __init__(self, spec: WorkerSpec) -> None:
        from curate.buckets import Bucketer
        from curate.dedup import MinHasher, MinHashSettings
        from curate.dedup.decontamination import BenchmarkIndex
        from curate.lint import Linter
        from curate.mask import Masker, MaskPolicy
        from curate.rules import all_rules
        from curate.tokenizer import load_tokenizer

        self.spec = spec
        self.reader = RecordReader()
        self.linter = Linter(spec.tools)
        self.errors = frozenset(code for code, rule in all_rules().items() if rule.severity == "error")
        self.specs = [ToolSpec.model_validate(t) for t in spec.tools]
        self.toolset = ToolSet(self.specs)
        self.masker = Masker(load_tokenizer(spec.tokenizer), MaskPolicy(calls=spec.calls))
        self.bucketer = Bucketer(spec.buckets)
        cfg = spec.dedup
        self.near = MinHasher(MinHashSettings.from_config(cfg)) if cfg.near else None
        self.benchmark = BenchmarkIndex(spec.benchmark) if spec.benchmark is not None else None

    def batch(self, batch: dict[str, list[Any]], paths: Sequence[str]) -> dict[str, Any]:
        """The facts of a batch of raw rows (see `record_facts_features` for the columns); `paths` by source."""
        from curate.dedup import completeness, normalised_text, text_digest

        n = len(batch["line"])
        out: dict[str, Any] = {
            "readable": [False] * n, "linted": [None] * n, "record_id": [None] * n, "fallback_id": [None] * n,
            "processed": [False] * n, "exact_key": [None] * n, "ends_with_answer": [False] * n,
            "has_tool_result": [False] * n, "tokens": [0] * n, "bucket": [None] * n, "signals": [[] for _ in range(n)],
        }
        records: list[Trajectory] = []
        where: list[int] = []
        sizes: list[int] = []
        rows = zip(batch["source"], batch["line"], batch["kind"], batch["payload"], strict=True)
        for k, (source, line, kind, payload) in enumerate(rows):
            path = paths[source]
            result = self.reader.read_record(raw_record(path, line, kind, payload))
            linted = self.linter.lint_alone(result)
            if linted.findings or linted.hidden or linted.observed is not None:  # a clean record: nothing to keep
                out["linted"][k] = pickle.dumps(linted, protocol=pickle.HIGHEST_PROTOCOL)
            codes = [f.code for f in linted.findings] + list(linted.hidden)
            record = result.record
            if record is None:
                continue
            out["readable"][k] = True
            out["record_id"][k] = record.id
            if record.id is None:
                out["fallback_id"][k] = fallback_id(path, line)
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
                out["exact_key"][k] = text_digest(text)  # 16 bytes, not 32 hex characters
        for k, r in zip(where, records, strict=True):
            out["ends_with_answer"][k], out["has_tool_result"][k] = completeness(r)
        if self.near is not None and near_texts is not None:
            out["signature"] = self._signatures(self.near, near_texts, where, n)
        if self.benchmark is not None:
            out["contamination"] = [None] * n
            for k, found in zip(where, self.benchmark.match(records), strict=True):
                if found is not None:
                    out["contamination"][k] = found.to_json()
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
"""One `Worker` per process and spec: `map` calls `record_facts_batch` per batch, and forked workers inherit the
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


def record_facts_batch(batch: dict[str, list[Any]], spec_json: str, paths: Sequence[str]) -> dict[str, Any]:
    """`Dataset.map` function: the record facts of one batch of raw rows."""
    return _worker(spec_json).batch(batch, paths)


def record_facts_table(batch: Any, spec_json: str, paths: Sequence[str]) -> Any:
    """The record facts of one batch of raw rows (a pyarrow Table) as a pyarrow Table with every column,
    `source` and `line` included: what `record_facts` gives for those rows, for engines other than `map`."""
    import pyarrow as pa

    cols = {name: batch.column(name).to_pylist() for name in ("source", "line", "kind", "payload")}
    facts = {"source": cols["source"], "line": cols["line"], **record_facts_batch(cols, spec_json, paths)}
    schema = record_facts_features(WorkerSpec.model_validate_json(spec_json)).arrow_schema
    arrays = []
    for field in schema:
        values = facts[field.name]
        if isinstance(values, np.ndarray) and values.ndim == 2:  # signatures: a fixed-size list per row
            values = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=field.type.value_type),
                                                       values.shape[1])
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)




def record_facts_arrow(batch: Any, spec_json: str, paths: Sequence[str]) -> Any:
    """`Dataset.map` function over Arrow batches (`record_facts_table`), which then releases the pages of the raw
    rows' file it read (`release_pages`): a process running it holds the batch, not every raw row it has read."""
    out = record_facts_table(batch, spec_json, paths)
    release_pages(c for col in batch.columns for c in col.chunks)
    return out
