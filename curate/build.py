"""`curate build`: raw trajectory files in, a vetted, bucket-balanced ChatML set out.

    files → read → lint gate → exact dedup → near-dup dedup → decontamination → capability and
    length buckets → balanced mix → leak-free eval split → OUT/

Every stage counts what it drops and why (`StageCount`), and the manifest checks the invariant
records in = records out + records dropped. The per-record work (reading and linting in order;
signatures, buckets and token counts in `num_proc` processes over ordered batches) is the same
with one process or several, so outputs are byte-identical for a seed. The output folder is
written next to its final place and renamed into it at the end: a killed run leaves the previous
output or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate import __version__
from curate.buildconfig import BuildConfig
from curate.jsonl import write_jsonl
from curate.lint import Linter
from curate.manifest import InputFile, Manifest, StageCount, check_invariant
from curate.readers import RawRecord, RecordReader, load_tool_specs
from curate.records import ToolSpec, Trajectory


class BuildError(RuntimeError):
    """A build that cannot go on, with what to do about it (exit code 2, nothing written)."""


@dataclass
class Item:
    """One readable record on its way through the pipeline."""

    index: int
    record: Trajectory
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
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
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


def read_and_lint(paths: Sequence[Path], tools: Sequence[dict[str, Any]], keep_invalid: bool,
                  stage: dict[str, StageCount], lint_counts: Counter[str],
                  inputs: list[InputFile]) -> list[Item]:
    """Read every input in order, lint every record, keep the readable ones without errors."""
    specs = [ToolSpec.model_validate(t) for t in tools]
    linter = Linter(tools)
    items: list[Item] = []
    seen_ids: set[str] = set()
    read = stage["read"]
    gate = stage["lint"]
    for path in paths:
        n_before = read.records_in
        for result in linter.reader.read(path):
            read.records_in += 1
            findings = list(linter.lint_result(result))
            for f in findings:
                lint_counts[f.code] += 1
            if result.record is None:
                read.dropped["unreadable"] = read.dropped.get("unreadable", 0) + 1
                continue
            read.records_out += 1
            gate.records_in += 1
            errors = [f for f in findings if f.severity == "error"]
            if errors and not keep_invalid:
                gate.dropped["lint_error"] = gate.dropped.get("lint_error", 0) + 1
                continue
            gate.records_out += 1
            record = prepare_record(result.record, result.raw, specs, seen_ids)
            items.append(Item(read.records_in - 1, record, len(findings) - len(errors)))
        digest, size = file_sha256(path)
        inputs.append(InputFile(path=str(path), sha256=digest, bytes=size, records=read.records_in - n_before))
    return items


def prepare_record(record: Trajectory, raw: RawRecord, specs: Sequence[ToolSpec], seen: set[str]) -> Trajectory:
    """A readable record as the stages want it: the `--tools` specs attached when it has none (exported
    records carry the tools they call), and an id of its own."""
    if specs and not record.tools:
        record = record.model_copy(update={"tools": list(specs)})
    return unique_id(record, f"{Path(raw.path).stem}-{raw.line}", seen)


def unique_id(record: Trajectory, fallback: str, seen: set[str]) -> Trajectory:
    """Every exported record gets an id of its own: a missing id becomes `FILE-LINE`, a repeated one
    gets `~N`; the id it had is kept in `meta.original_id`."""
    rid = record.id if record.id is not None else fallback
    new, n = rid, 1
    while new in seen:
        n += 1
        new = f"{rid}~{n}"
    seen.add(new)
    if new == record.id:
        return record
    meta = {**(record.meta or {}), "original_id": record.id}
    return record.model_copy(update={"id": new, "meta": meta})


def export_row(item: Item, split: str, copy_of: str | None = None) -> dict[str, Any]:
    """A record as written to train.jsonl / eval.jsonl: canonical messages and tools, plus labels."""
    row = item.record.model_dump(mode="json", exclude_none=True)
    row["bucket"] = item.bucket
    row["length_bucket"] = item.length_bucket
    row["signals"] = item.signals
    row["tokens"] = item.tokens
    row["split"] = split
    if copy_of is not None:
        row["copy_of"] = copy_of
    return row


def save_datasets_folder(out: Path, train: Path, eval_: Path) -> None:
    """The same rows as a `datasets` folder (DatasetDict with train / eval), deterministic fingerprints."""
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()

    def load(path: Path) -> Dataset:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        # nested, ragged structures (tool schemas, arguments) are kept as JSON text columns
        for r in rows:
            r["messages"] = json.dumps(r["messages"], ensure_ascii=False)
            r["tools"] = json.dumps(r.get("tools") or [], ensure_ascii=False)
            r.pop("meta", None)
            r.setdefault("copy_of", None)
        return Dataset.from_list(rows) if rows else Dataset.from_dict({})

    dd = DatasetDict({"train": load(train), "eval": load(eval_)})
    dd.save_to_disk(str(out))
    for split in ("train", "eval"):  # datasets fingerprints in-memory data randomly: make it a content hash
        state = out / split / "state.json"
        data = json.loads(state.read_text())
        data["_fingerprint"] = hashlib.sha256((train if split == "train" else eval_).read_bytes()).hexdigest()[:16]
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


def build(inputs: Sequence[Path], out: Path, cfg: BuildConfig, tools_files: Sequence[Path] = (),
          tokenizer: str | None = None, decontaminate: Sequence[Path] = (), log: Any = None) -> BuildResult:
    """Run the whole pipeline and write `out/`; raises BuildError (and writes nothing) on bad input."""
    from curate.buckets import Bucketer, length_bucket, length_bucket_names, length_edges
    from curate.dedup import MinHashSettings, deduplicate, sign_records
    from curate.dedup import decontaminate as find_contaminated
    from curate.mask import Masker
    from curate.mix import balance, split_eval
    from curate.tokenizer import load_tokenizer

    say = log or (lambda _msg: None)
    for p in (*inputs, *tools_files, *decontaminate):
        if not p.exists():
            raise BuildError(f"{p}: no such file or directory")
    tools = tools_from(tools_files)
    masker = Masker(load_tokenizer(tokenizer))  # fails early on a tokenizer that can't be loaded
    bucketer = Bucketer(cfg.buckets)

    stages = {name: StageCount(stage=name, records_in=0, records_out=0) for name in STAGES}
    lint_counts: Counter[str] = Counter()
    input_files: list[InputFile] = []
    say("reading and linting")
    items = read_and_lint(inputs, tools, cfg.lint.keep_invalid, stages, lint_counts, input_files)
    records_in = stages["read"].records_in

    say(f"deduplicating {len(items)} records")
    dres = deduplicate([it.record for it in items], cfg.dedup, warnings=[it.warnings for it in items],
                       num_proc=cfg.num_proc)
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
        reader = RecordReader()
        refs = []
        for p in decontaminate:
            before = len(refs)
            refs.extend(r.record for r in reader.read(p) if r.record is not None)
            digest, size = file_sha256(p)
            decon_files.append(InputFile(path=str(p), sha256=digest, bytes=size, records=len(refs) - before))
        settings = MinHashSettings.from_config(cfg.dedup, roles=["user"])
        contaminated = find_contaminated(sign_records([it.record for it in kept], settings, cfg.num_proc),
                                         sign_records(refs, settings, cfg.num_proc), cfg.dedup.threshold)
    _count(stages["decontaminate"], len(kept), {"contaminated": len(contaminated)})
    kept = [it for i, it in enumerate(kept) if i not in contaminated]

    say("counting tokens and assigning buckets")
    for start in range(0, len(kept), 1024):
        batch = kept[start:start + 1024]
        for it, n in zip(batch, masker.count_tokens([it.record for it in batch]), strict=True):
            it.tokens = n
            a = bucketer.assign(it.record, n)
            it.bucket, it.signals = a.bucket, list(a.signals)
    edges = length_edges([it.tokens for it in kept], cfg.length)
    for it in kept:
        it.length_bucket = length_bucket(it.tokens, edges)

    say("balancing")
    mix = balance([(i, it.bucket, it.cluster) for i, it in enumerate(kept)], cfg.mix, cfg.seed,
                  buckets=bucketer.buckets)
    n_selected = sum(1 for m in mix.items if not m.is_copy)
    _count(stages["balance"], len(kept), {"balancing": len(kept) - n_selected})
    train_idx, eval_idx = split_eval(mix.items, cfg.split, cfg.seed)
    _count(stages["split"], n_selected, {})

    # --- write ---------------------------------------------------------------------------------
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        copies_of = Counter(m.index for m in mix.items if m.is_copy)

        def rows(indices: list[int], split: str) -> Iterator[dict[str, Any]]:
            seen: set[int] = set()
            for i in indices:  # a copy repeats its original's index
                it = kept[i]
                if i in seen:
                    yield export_row(it, split, copy_of=it.record.id or f"#{it.index}")
                else:
                    seen.add(i)
                    yield export_row(it, split)

        n_train = write_jsonl(tmp / "train.jsonl", rows(train_idx, "train"))
        n_eval = write_jsonl(tmp / "eval.jsonl", rows(eval_idx, "eval"))
        save_datasets_folder(tmp / "hf", tmp / "train.jsonl", tmp / "eval.jsonl")
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
