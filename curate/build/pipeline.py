"""`curate build` step by step: `build()` checks OUT and runs a `Build`, whose methods are the README's steps.

    files → read → lint gate → exact dedup → near-dup dedup → decontamination → capability and
    length buckets → balanced mix → leak-free eval split → OUT/

`Build` holds the config, the inputs, OUT, the tools, the tokenizer and the engine once; `run()` calls the steps
in order: `read`, `lint_gate`, `dedup`, `decontaminate`, `bucket`, `balance`, `split`, `export`.

Per-record work streams through Arrow with `datasets`: the inputs become raw Arrow rows (`curate.build.raw`,
written in chunks), and the engine computes every raw row's record facts (`curate.build.facts`): it reads,
adapts, validates and lints each record and, for those passing the gate, computes its exact-dedup key, MinHash
signature(s), completeness, token count and capability bucket. The main process never holds the records: it
reads the record facts' small columns, decides what needs the whole run in input order (the cross-record lint
rules, unique ids, the lint gate: `curate.build.gate`), runs the global stages on those columns (exact and near
dedup with `DedupStage`, decontamination, length edges, balance, split), and at export reads the chosen records
back from the memory-mapped raw rows (or, for the Ray engine's JSON Lines inputs, from the inputs by offset), in
output order, a batch at a time, gathering the `datasets` folder's
columns as it writes the JSON Lines files (`curate.build.export`). The Arrow files live in a folder beside the
output (`.OUT.work-PID`), removed whatever happens.

Two stages scale with the corpus and run on an engine (`curate.build.engines`): the record facts of every raw
row and the near-dup clusters of their signatures. `LocalEngine` runs them in this machine's processes,
`curate.build.engines.ray.RayEngine` on a Ray cluster (`--engine ray`); every other stage is the same code
whatever the engine, so outputs are byte-identical across engines. Inputs and OUT may be `fsspec` URLs
(`curate.storage`).

Every stage counts what it drops and why (`StageCount`), and the manifest checks the invariant
records in = records out + records dropped. Each record's facts depend on that record alone, so outputs
are byte-identical for a seed with one process or several. The output folder is written next to its
final place and renamed into it at the end: a killed run leaves the previous output or none.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate import __version__
from curate.build.arrow import take_rows
from curate.build.engines.base import Engine
from curate.build.engines.local import LocalEngine
from curate.build.errors import BuildError, BuildRefused
from curate.build.export import (
    DatasetsSplit,
    RecordDumper,
    datasets_row,
    export_row,
    replace_dir,
    save_datasets_folder,
    write_formats,
)
from curate.build.facts import WorkerSpec, prepare_worker
from curate.build.gate import GatedRecord, GatedRecords, Labels, gate_records, with_id
from curate.build.raw import (
    RecordSource,
    column,
    content_fingerprint,
    digest_column,
    file_sha256,
    iter_column,
    raw_table,
    release_pages,
    signature_matrix,
    take_array,
)
from curate.buildconfig import BuildConfig
from curate.jsonl import write_jsonl
from curate.manifest import (
    BenchmarkFile,
    Decontamination,
    DroppedFiles,
    InputFile,
    Manifest,
    StageCount,
    check_invariant,
)
from curate.outputs import raise_if_terminated
from curate.readers import load_tool_specs
from curate.storage import Location
from curate.tally import Tally

STAGES = ("read", "lint", "exact_dedup", "near_dedup", "decontaminate", "balance", "split")


@dataclass
class BuildResult:
    manifest: Manifest
    out: Path
    train: int
    eval: int
    mix_table: Any = None
    tally: Tally | None = None
    """The records read, unreadable and dropped by reason: `tally.line()` ends `curate build`'s output."""


def build(inputs: Sequence[Location], out: Location, cfg: BuildConfig, tools_files: Sequence[Location] = (),
          tokenizer: str | None = None, decontaminate: Sequence[Location] = (), log: Any = None,
          engine: Engine | None = None, force: bool = False, allow_empty: bool = False,
          decontam: Any = None) -> BuildResult:
    """Run the whole pipeline and write `out/`; raises BuildError (and writes nothing) on bad input.

    `decontaminate`: benchmark files checked against every turn of every record, with `decontam`'s settings
    (a `curate.dedup.decontamination.DecontamConfig`; default: its defaults).

    A result that keeps no record (unless `allow_empty`), or a run that could not read more than half of its
    records, raises `BuildRefused` (a BuildError) with the run's tally line and what to do, and writes nothing.

    Locations are local paths or `fsspec` URLs (`curate.storage`). `engine` runs the per-record stages and
    the near-dup clustering (default `LocalEngine`; `curate.build.engines.ray.RayEngine` for a Ray cluster): the
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
            return Build(inputs, out, cfg, tools_files, tokenizer, decontaminate, log, engine,
                         allow_empty, decontam).run(None)
        local = [q for q in (local_path(p) for p in (*inputs, *tools_files, *decontaminate)) if q is not None]
        check_output_dir(final, local, build_marker, "build output", force)
        created = make_parents(final.parent)
        try:
            with output_lock(final, "build"):
                check_output_dir(final, local, build_marker, "build output", force)  # as it is now we hold it
                remove_stale(final)
                return Build(inputs, out, cfg, tools_files, tokenizer, decontaminate, log, engine,
                             allow_empty, decontam).run(final)
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


@contextlib.contextmanager
def work_folder(out: Path) -> Iterator[Path]:
    """`.OUT.work-PID` beside `out` (its parent exists), for the raw rows and record facts: removed whatever
    happens, and one left by a killed run removed by the next run into the same `out`."""
    work = out.with_name(f".{out.name}.work-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_parents(folder: Path) -> list[Path]:
    """`mkdir -p folder`, returning the folders it created, outermost first."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing



class Build:
    """One run of `curate build` once OUT is checked (and, when local, locked), its steps one method each.

    Config, inputs, OUT, `--tools` files, tokenizer and engine are held once; `run()` calls `prepare()`, then the
    steps in the README's order. A stage command (`curate.stages_cmd`) calls `prepare()` and the steps it needs.
    Each step counts what it drops in `stages` (the unreadable records by reason in `unreadable`; `tally()` sums
    them up); the record facts, the dedup result and the length edges stay on the build for the steps after.
    """

    def __init__(self, inputs: Sequence[Location], out: Location, cfg: BuildConfig,
                 tools_files: Sequence[Location] = (), tokenizer: str | None = None,
                 decontaminate: Sequence[Location] = (), log: Any = None, engine: Engine | None = None,
                 allow_empty: bool = False, decontam: Any = None) -> None:
        from curate.dedup.decontamination import DecontamConfig

        self.inputs = list(inputs)
        self.allow_empty = allow_empty
        self.out = out
        self.cfg = cfg
        self.tools_files = list(tools_files)
        self.tokenizer = tokenizer
        self.references = list(decontaminate)
        self.decontam: DecontamConfig = decontam or DecontamConfig()
        self._log = log or (lambda _msg: None)
        self.engine = engine or LocalEngine()
        self.stages = {name: StageCount(stage=name, records_in=0, records_out=0) for name in STAGES}
        self.lint_counts: Counter[str] = Counter()
        self.unreadable: Counter[str] = Counter()
        self.spec: WorkerSpec | None = None
        self.buckets: Sequence[str] = ()
        self.raw: Any = None
        self.sources: list[tuple[int, str]] = []
        self.record_facts: Any = None
        self.work: Path | None = None
        """The work folder (`read` is given it): where steps spill what memory need not hold."""
        self.input_files: list[InputFile] = []
        self.dedup_result: Any = None
        self.reference_files: list[BenchmarkFile] = []
        self.decontamination: Decontamination | None = None
        self.contamination: list[tuple[GatedRecord, Any]] = []
        """The records that matched a benchmark, each with its `Contamination`, in input order."""
        self.length_edges: list[int] = []
        self.gated: GatedRecords = GatedRecords.of([], [], [])
        """The records past the lint gate (in input order), before dedup."""


    def say(self, msg: str) -> None:
        """Tell the user the build reached a step; a SIGTERM whose exception was swallowed stops it here."""
        raise_if_terminated()
        self._log(msg)
    def prepare(self) -> None:
        """The workers' spec (config, `--tools`, tokenizer), this process's worker and the engine, before any step.

        A tokenizer that can't be loaded, bad tools or bucket rules, or an engine that can't be reached fail here,
        before anything is written. The engine is started: the caller stops it (`self.engine.stop()`) when done.
        """
        from curate.storage import fetch

        with tempfile.TemporaryDirectory(prefix="curate-tools-") as folder:  # remote --tools files: copied here
            tools = tools_from(fetch(self.tools_files, Path(folder)))
        cfg = self.cfg
        self.spec = WorkerSpec(tools=tools, keep_invalid=cfg.lint.keep_invalid, dedup=cfg.dedup,
                               buckets=cfg.buckets, tokenizer=self.tokenizer, calls=cfg.export.calls)
        worker = prepare_worker(self.spec)
        self.buckets = worker.bucketer.buckets
        self.engine.start()

    def run(self, final: Path | None) -> BuildResult:
        """Build into the local folder `final`, or, when None (a remote OUT), into a local staging folder that is
        then uploaded to OUT."""
        from curate.storage import StorageError, publish

        staging = Path(tempfile.mkdtemp(prefix="curate-build-")) if final is None else None
        try:
            self.prepare()
            try:
                target = (staging / "out") if staging is not None else final
                assert target is not None
                result = self.run_steps(target.resolve())
            finally:
                self.engine.stop()
            if staging is not None:
                self.say(f"uploading to {self.out}")
                publish(result.out, self.out)
                result.out = Path(str(self.out))
            return result
        except StorageError as e:
            raise BuildError(str(e)) from None
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    def run_steps(self, out: Path) -> BuildResult:
        """The steps, in order, into the local folder `out` (its parent exists), with a work folder beside it
        (removed whatever happens; one left by a killed run is removed by the next run into the same `out`)."""
        from curate.build.space import check_space
        from curate.storage import fetch
        from curate.terminal import progress

        check_space(out.parent, self.inputs, self.cfg.export.formats)  # the work folder and the output go there
        # the steps as a bar of stages (its count: steps done of BUILD_STEPS), on a terminal only
        with work_folder(out) as work, progress("build", total=BUILD_STEPS) as bar:  # the Arrow files
            bar.stage("build: reading and linting")
            inputs = fetch(self.inputs, work / "inputs")
            references = fetch(self.references, work / "decontaminate")
            self.load_benchmark(references)
            self.read(inputs, work)
            bar.stage("build: lint gate")
            gated = self.lint_gate()
            self.refuse_if()  # most records unreadable, or none past the gate: no need to go on
            bar.stage(f"build: dedup of {len(gated):,} records")
            kept = self.dedup(gated)
            bar.stage("build: decontamination")
            kept = self.decontaminate(kept)
            bar.stage("build: buckets")
            self.bucket(kept)
            bar.stage("build: balance and split")
            mix = self.balance(kept)
            train_idx, eval_idx = self.split(mix)
            self.refuse_if()
            bar.stage("build: writing")
            result = self.export(out, kept, mix, train_idx, eval_idx, work)
            bar.stage("build: done")
            return result

    def tally(self) -> Tally:
        """The records read, and those unreadable and dropped so far by reason: the line the commands end with."""
        dropped: Counter[str] = Counter()
        for name, st in self.stages.items():
            if name != "read":
                dropped.update(st.dropped)
        return Tally(self.stages["read"].records_in, Counter(self.unreadable), dropped)

    def refuse_if(self) -> None:
        """Raise `BuildRefused` when most records are unreadable, or when nothing is kept (so far: the steps
        only drop) and the build does not allow an empty result (`--allow-empty`)."""
        tally = self.tally()
        lint_args = [*(str(p) for p in self.inputs), *(a for t in self.tools_files for a in ("--tools", str(t)))]
        todo = tally.refusal(lint_args, self.allow_empty)
        if todo is not None:
            raise BuildRefused(tally.line(), todo)

    def read(self, inputs: Sequence[Path], work: Path) -> None:
        """Every record of the (local) `inputs` as raw rows in `work`, and each row's record facts, computed by
        the engine; the manifest's input files, with the records read from each."""
        from curate.storage import local_path

        assert self.spec is not None
        names = [str(p) for p in self.inputs]  # the inputs as given, as the manifest records them
        self.work = work
        self.say("reading")
        hashes = [file_sha256(p) for p in inputs]
        raw_fp = content_fingerprint([h for h, _ in hashes], list(names))
        readable = [local_path(p) is not None for p in self.inputs]  # not a remote input fetched into `work`
        self.raw, self.sources = self.engine.read(inputs, readable, work, raw_fp, self.cfg.max_record_bytes,
                                                  self.cfg.num_proc)
        # the pages of the raw rows' file that opening it touched: the workers read them, not this process
        self.release_raw()
        num_proc = self.cfg.num_proc
        self.say(f"linting, signing and labelling {len(self.raw)} records ({num_proc} process"
                 f"{'es' if num_proc > 1 else ''}, {self.engine.name} engine)")
        facts = self.engine.record_facts(self.raw, self.sources, self.spec, num_proc, work,
                                         self.spec.fingerprint(raw_fp))
        self.record_facts = facts
        self.release_raw()  # the pages the map read when it ran in this process (one process): read again at export
        source_rows = np.bincount(column(facts, "source").to_numpy(), minlength=len(self.sources)) if len(facts) \
            else np.zeros(len(self.sources), dtype=np.int64)
        per_input = np.zeros(len(inputs), dtype=np.int64)
        for (f, _), n in zip(self.sources, source_rows, strict=True):
            per_input[f] += n
        self.input_files = [InputFile(path=name, sha256=digest, bytes=size, records=int(n))
                            for name, (digest, size), n in zip(names, hashes, per_input, strict=True)]

    def release_raw(self) -> None:
        """`release_pages` of every raw row held here: their pages leave this process's RSS until export reads them
        again."""
        table = raw_table(self.raw)
        if table is not None:
            release_pages(c for col in table.columns for c in col.chunks)

    def lint_gate(self) -> GatedRecords:
        """Step 1: every record read counted with its findings; those without errors pass (`gate_records`)."""
        assert self.spec is not None
        self.gated = gate_records(self.record_facts, [path for _, path in self.sources], self.cfg.lint.keep_invalid,
                                  self.stages, self.lint_counts, self.spec.tools, self.unreadable)
        return self.gated

    def dedup(self, gated: GatedRecords) -> GatedRecords:
        """Steps 2 and 3: exact dedup, then near-dup dedup of the survivors clustered on the engine; the kept
        records, each with its cluster. The outcome stays as numpy columns (`DedupArrays`)."""
        from curate.dedup import DedupColumns, DedupStage, Signatures

        cfg, facts = self.cfg, self.record_facts
        self.say(f"deduplicating {len(gated)} records")
        rows = gated.rows
        entries = DedupColumns(gated.ids, take_array(facts, "ends_with_answer", rows),
                               take_array(facts, "has_tool_result", rows))
        dedup = DedupStage(entries, cfg.dedup, warnings=gated.warnings,
                           exact_keys=digest_column(facts, "exact_key", rows) if cfg.dedup.exact else None)
        near = labels = None
        if dedup.settings is not None:  # the exact-dedup survivors' signatures, clustered by the engine
            near = Signatures(self.signatures(rows[dedup.survivors]), dedup.settings)
            labels = self.engine.near_labels(near, cfg.dedup.threshold)
        dres = self.dedup_result = dedup.arrays(near, labels)
        if near is not None:
            near.values.close()  # the spilled file goes with the work folder
        del near, labels, dedup
        _count(self.stages["exact_dedup"], len(gated), {"exact_duplicate": dres.counts["exact_duplicate"]})
        _count(self.stages["near_dedup"], self.stages["exact_dedup"].records_out,
               {"near_duplicate": dres.counts["near_duplicate"]})
        kept_pos = dres.kept
        kept = gated.take(kept_pos)
        kept.cluster = dres.cluster_of[kept_pos]
        return kept

    def signatures(self, rows: np.ndarray) -> Any:
        """The signatures of the record facts' `rows` (in that order), spilled into the work folder (`read` was
        given it) as a `RowFile`: 512 B a record that memory need not hold, the LSH reading them a block or a
        gather at a time."""
        from curate.dedup.spill import RowFile

        assert self.work is not None
        facts, num_perm, step = self.record_facts, self.cfg.dedup.num_perm, 1 << 16
        blocks = (signature_matrix(facts, "signature", rows[a:a + step], num_perm) for a in range(0, len(rows), step))
        return RowFile.write(self.work / "signatures.u32", blocks, num_perm)

    def load_benchmark(self, references: Sequence[Path]) -> None:
        """The (local) `--decontaminate` files read and indexed, into the workers' spec, before any record is
        read: a file that cannot be read stops the build here, an empty one is a warning."""
        from curate.dedup import DedupError
        from curate.dedup.decontamination import read_benchmark

        if not references:
            return
        assert self.spec is not None
        names = [str(p) for p in self.references]
        self.say(f"indexing {len(references)} benchmark file{'s' if len(references) > 1 else ''}")
        try:
            bench, counts = read_benchmark(references, names, self.decontam, self.cfg.max_record_bytes)
        except DedupError as e:
            raise BuildError(str(e)) from None
        self.reference_files = []
        for p, name, c in zip(references, names, counts, strict=True):
            digest, size = file_sha256(p)
            self.reference_files.append(BenchmarkFile(path=name, sha256=digest, bytes=size, records=c.records,
                                                      unreadable=c.unreadable, items=c.items,
                                                      too_short=c.too_short, calls=c.calls))
            if not c.items and not c.calls:
                self.say(f"warning: {name}: no benchmark item in it (empty, or every turn too short): nothing "
                         "to check against")
        self.spec = self.spec.model_copy(update={"benchmark": bench})
        index = prepare_worker(self.spec).benchmark
        assert index is not None
        self.decontamination = Decontamination(mode=self.decontam.mode, config=self.decontam.model_dump(mode="json"),
                                               index=index.summary(), matched=0, by_method={})

    def decontaminate(self, kept: GatedRecords) -> GatedRecords:
        """Step 4: the records holding a benchmark item in any turn (the workers' `contamination` facts) dropped,
        or, with `--decontaminate-mode flag`, kept and marked."""
        from curate.dedup.decontamination import Contamination

        assert self.spec is not None
        bench, summary = self.spec.benchmark, self.decontamination
        self.contamination = []
        matched = np.zeros(0, dtype=np.int64)
        if bench is not None and summary is not None and len(kept):
            self.say("decontaminating")
            found = take_rows(column(self.record_facts, "contamination"), kept.rows)
            matched = np.flatnonzero(found.is_valid().to_numpy(zero_copy_only=False))
            for g, text in zip(kept.records(matched), take_rows(found, matched).to_pylist(), strict=True):
                self.contamination.append((g, Contamination.from_json(text)))
            by_method: Counter[str] = Counter()
            for _, c in self.contamination:
                by_method[c.method] += 1
                f = self.reference_files[self.benchmark_entry(c)[0]]
                f.matched[c.method] = f.matched.get(c.method, 0) + 1
            summary.matched, summary.by_method = len(self.contamination), dict(sorted(by_method.items()))
        dropping = self.decontam.mode == "drop"
        _count(self.stages["decontaminate"], len(kept), {"contaminated": len(self.contamination) if dropping else 0})
        if not dropping or not self.contamination:
            return kept
        return kept.take(np.setdiff1d(np.arange(len(kept)), matched))

    def benchmark_entry(self, c: Any) -> tuple[int, str | None, int]:
        """The benchmark file (index), record id and message index of a match (an item, or an answer call)."""
        assert self.spec is not None and self.spec.benchmark is not None
        bench = self.spec.benchmark
        entry = bench.calls[c.index] if c.method == "tool_call" else bench.items[c.index]
        return entry.file, entry.id, entry.turn

    def contamination_row(self, g: GatedRecord, c: Any) -> dict[str, Any]:
        """A line of `OUT/contamination.jsonl` (and, with `--decontaminate-mode flag`, the `contamination` field
        of the record): the record, its turn, the benchmark item it matched, the method and the overlap."""
        assert self.spec is not None and self.spec.benchmark is not None
        f, item_id, item_turn = self.benchmark_entry(c)
        bench = self.spec.benchmark
        text = bench.calls[c.index].name if c.method == "tool_call" else bench.items[c.index].text
        return {"id": g.id, "turn": c.turn, "action": "dropped" if self.decontam.mode == "drop" else "flagged",
                "method": c.method, "overlap": round(c.overlap, 4), "benchmark": bench.files[f], "item": item_id,
                "item_turn": item_turn, "item_text": text[:300]}

    def bucket(self, kept: GatedRecords) -> None:
        """Steps 5 and 6: each record's capability bucket, signals and tokens (from its record facts), and its
        length bucket by the edges the kept records' token counts give."""
        from curate.buckets import length_bucket, length_edges

        facts, rows, n = self.record_facts, kept.rows, len(kept)
        kept.tokens = take_array(facts, "tokens", rows).astype(np.int64)
        kept.bucket = Labels.of(iter_column(facts, "bucket", rows), n)
        kept.signals = Labels.of((tuple(s) for s in iter_column(facts, "signals", rows)), n)
        self.length_edges = edges = length_edges(kept.tokens.tolist(), self.cfg.length)
        # `length_bucket` of each record: the same name for every count between two edges
        codes = np.searchsorted(np.asarray(edges, dtype=np.int64), kept.tokens, side="right").astype(np.int32)
        first = {int(c): int(t) for c, t in zip(codes[::-1].tolist(), kept.tokens[::-1].tolist(), strict=True)}
        kept.length_bucket = Labels(codes, [length_bucket(first.get(c, 0), edges) for c in range(len(edges) + 1)])

    def balance(self, kept: GatedRecords) -> Any:
        """Step 7: the balanced mix (`curate.mix.balance`) over the kept records' capability buckets."""
        from curate.mix import MixColumns, balance_columns

        self.say("balancing")
        cols = MixColumns.of_arrays(np.arange(len(kept), dtype=np.int64), kept.bucket.codes, kept.bucket.values,
                                    kept.cluster, known=self.buckets)
        mix = balance_columns(cols, self.cfg.mix, self.cfg.seed)
        _count(self.stages["balance"], len(kept), {"balancing": len(kept) - mix.selected})
        return mix

    def split(self, mix: Any) -> tuple[np.ndarray, np.ndarray]:
        """Step 8: the mix's records split into train and eval (`curate.split.split_columns`)."""
        from curate.split import split_columns

        train_idx, eval_idx = split_columns(mix.columns(), self.cfg.split, self.cfg.seed)
        _count(self.stages["split"], mix.selected, {})
        return train_idx, eval_idx

    def export(self, out: Path, kept: GatedRecords, mix: Any, train_idx: np.ndarray,
               eval_idx: np.ndarray, work: Path | None = None) -> BuildResult:
        """Step 9: train.jsonl, eval.jsonl, the formats `[export] formats` asks for (the `datasets` folder, gathered
        on disk in the work folder `work`, lf/, openai/), clusters.jsonl, dropped/ (`write_dropped`), manifest.json
        and report.html written beside `out` and moved into it."""
        from curate.buckets import length_bucket_names

        assert self.spec is not None
        cfg, dres, edges = self.cfg, self.dedup_result, self.length_edges
        n_selected = mix.selected
        self.say("writing")
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            contamination = [self.contamination_row(g, c) for g, c in self.contamination]
            marks = {} if self.decontam.mode == "drop" else {
                g.row: {k: v for k, v in row.items() if k != "id"} for (g, _), row in
                zip(self.contamination, contamination, strict=True)}
            source = RecordSource(self.raw, self.sources, self.spec.tools)
            dumper = RecordDumper(source.specs, cfg.export.calls)

            def rows_of(indices: np.ndarray, split: str, sink: DatasetsSplit | None) -> Iterator[dict[str, Any]]:
                seen: set[int] = set()
                records = source.records(kept.rows[np.asarray(indices, dtype=np.int64)])
                for i, g, record in zip(indices.tolist(), kept.records(indices), records, strict=True):  # copies repeat
                    dump, _ = dumper.dump(with_id(record, g.id))
                    if i in seen:
                        row = export_row(dump, g, split, copy_of=g.id or f"#{g.row}")
                    else:
                        seen.add(i)
                        row = export_row(dump, g, split)
                    if g.row in marks:  # --decontaminate-mode flag: kept, and marked
                        row["contamination"] = marks[g.row]
                    if sink is not None:
                        sink.add(datasets_row(row))
                    yield row

            hf = {name: DatasetsSplit(folder=work) for name in ("train", "eval")} if "hf" in cfg.export.formats else {}
            n_train = write_jsonl(tmp / "train.jsonl", rows_of(train_idx, "train", hf.get("train")))
            n_eval = write_jsonl(tmp / "eval.jsonl", rows_of(eval_idx, "eval", hf.get("eval")))
            if hf:
                save_datasets_folder(tmp / "hf", {name: (rows, tmp / f"{name}.jsonl") for name, rows in hf.items()})
            del hf
            write_formats(tmp, cfg.export.formats, {name: tmp / f"{name}.jsonl" for name in ("train", "eval")})
            write_jsonl(tmp / "clusters.jsonl", (c.model_dump(mode="json") for c in dres.clusters()))
            if self.references:
                write_jsonl(tmp / "contamination.jsonl", contamination)
            dropped_rows = self.write_dropped(tmp / "dropped", source, kept, mix, contamination)
            split_counts: dict[str, dict[str, int]] = {}
            for side, idx in (("train", train_idx), ("eval", eval_idx)):
                per_code = np.bincount(kept.bucket.codes[idx], minlength=len(kept.bucket.values))
                for k in np.flatnonzero(per_code).tolist():
                    split_counts.setdefault(kept.bucket.values[k], {"train": 0, "eval": 0})[side] += int(per_code[k])
            lb = kept.length_bucket
            lengths_out = Counter({lb.values[k]: int(c) for k, c in
                                   enumerate(np.bincount(lb.codes[mix.index], minlength=len(lb.values))) if c})
            dropped: Counter[str] = Counter()
            for st in self.stages.values():
                dropped.update(st.dropped)
            manifest = Manifest(
                version=__version__, versions=versions(), config=cfg.model_dump(mode="json"),
                inputs=self.input_files, decontaminate=self.reference_files, decontamination=self.decontamination,
                tokenizer=self.tokenizer or "builtin",
                minhash=dres.settings.model_dump(mode="json") if dres.settings else None,
                records_in=self.stages["read"].records_in, records_out=n_selected,
                copies=int(np.count_nonzero(mix.copy)),
                dropped={k: v for k, v in sorted(dropped.items()) if v}, stages=list(self.stages.values()),
                unreadable=dict(sorted(self.unreadable.items())),
                lint_findings=dict(sorted(self.lint_counts.items())),
                buckets_before=dict(mix.before), buckets_after=dict(mix.after), length_edges=edges,
                length_buckets={name: lengths_out[name] for name in length_bucket_names(edges) if lengths_out[name]},
                split=dict(sorted(split_counts.items())), clusters=dres.counts["clusters"],
                dropped_files=DroppedFiles(cap=cfg.export.dropped_cap,
                                           written={k: len(v) for k, v in dropped_rows.items()}),
            )
            fail_if_broken(manifest)
            (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
            lengths: dict[str, list[int]] = {}
            tokens = kept.tokens.tolist()
            for i in mix.index.tolist():
                lengths.setdefault(kept.bucket[i], []).append(tokens[i])
            sizes = Counter(size for size in dres.cluster_sizes().tolist() if size >= 2)  # by cluster id, as listed
            from curate.report_html import render_report

            (tmp / "report.html").write_text(render_report(manifest, lengths, sizes, contamination, dropped_rows),
                                             encoding="utf-8")
            replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        from curate.mix import format_mix_table

        for note in mix.notes:
            self.say(f"mix: {note}")
        return BuildResult(manifest, out, n_train, n_eval, format_mix_table(mix.before, mix.after, mix.copies),
                           self.tally())


    def write_dropped(self, folder: Path, source: RecordSource, kept: GatedRecords, mix: Any,
                      contamination: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """`OUT/dropped/<reason>.jsonl` (`curate.build.dropped`): at most `[export] dropped_cap` records each stage
        dropped, as written (calls as they were), with what dropped them; the lines written, by reason."""
        from curate.build.dropped import Drop, dedup_drops, lint_drops, write_dropped

        cap = self.cfg.export.dropped_cap
        if cap == 0:
            return {}
        drops: dict[str, list[Drop]] = {
            "lint_error": lint_drops(self.record_facts, self.gated, cap),
            "exact_duplicate": dedup_drops(self.dedup_result, self.gated, "exact_duplicate", cap),
            "near_duplicate": dedup_drops(self.dedup_result, self.gated, "near_duplicate", cap)}
        if self.decontam.mode == "drop":
            drops["contaminated"] = sorted(
                (Drop(g.row, g.id, {k: v for k, v in row.items() if k not in ("id", "action")})
                 for (g, _), row in zip(self.contamination, contamination, strict=True)), key=lambda d: d.row)[:cap]
        left = np.ones(len(kept), dtype=bool)
        left[mix.index] = False
        drops["balancing"] = [Drop(g.row, g.id, {"bucket": g.bucket, "cluster": g.cluster})
                              for g in kept.records(np.flatnonzero(left)[:cap])]
        dumper = RecordDumper(source.specs, "as-written")
        return write_dropped(folder, drops, source.records, lambda r: dumper.dump(r)[0])


BUILD_STEPS = 7
"""The stages `Build.run_steps` shows on its progress bar (`bar.stage` calls before `build: done`)."""


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


def tools_from(files: Sequence[Path]) -> list[dict[str, Any]]:
    """The tool specs of the `--tools` files, in order."""
    return [t for f in files for t in load_tool_specs(f)]



def _count(stage: StageCount, records_in: int, dropped: dict[str, int]) -> None:
    stage.records_in = records_in
    stage.dropped = {k: v for k, v in dropped.items() if v}
    stage.records_out = records_in - sum(dropped.values())


def fail_if_broken(m: Manifest) -> None:
    problems = check_invariant(m)
    if problems:
        raise BuildError("accounting does not add up (a bug): " + "; ".join(problems))
