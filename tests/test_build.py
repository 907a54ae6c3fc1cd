"""`curate build` end to end: accounting, duplicates, leak-free split, determinism, atomic output, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curate.build import BuildError, build
from curate.buildconfig import BuildConfig, MixConfig
from curate.manifest import Manifest, check_invariant
from tests.conftest import REPO, read_jsonl, run_cli

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = REPO / "sample_data" / "tools.json"
EXPECTED = json.loads((REPO / "sample_data" / "expected_findings.json").read_text())


def test_every_record_is_accounted_for(built: Path) -> None:
    import jsonschema

    data = json.loads((built / "manifest.json").read_text())
    jsonschema.validate(data, json.loads((REPO / "schemas" / "manifest.schema.json").read_text()))
    m = Manifest.model_validate(data)
    assert check_invariant(m) == []
    assert m.records_in == EXPECTED["records"]
    train, eval_ = read_jsonl(built / "train.jsonl"), read_jsonl(built / "eval.jsonl")
    assert m.records_out == len({r["id"] for r in train + eval_ if "copy_of" not in r})
    assert m.records_in == m.records_out + sum(m.dropped.values())
    # the lint gate drops exactly the records with error findings (unreadable ones are counted apart)
    errors = {f["line"] for f in EXPECTED["findings"] if f["code"] not in ("RS004", "RL005", "TC009", "TS001")}
    assert m.dropped["unreadable"] + m.dropped["lint_error"] == len(errors)
    assert sum(m.lint_findings.values()) == len(EXPECTED["findings"])


def _true_jaccard(a: Any, b: Any) -> float:
    from curate.dedup import normalised_text, shingles

    sa, sb = set(shingles(normalised_text(a), 5)), set(shingles(normalised_text(b), 5))
    return len(sa & sb) / len(sa | sb)


def test_planted_duplicates_are_found(built: Path) -> None:
    """Exact copies always; planted near copies whenever their true Jaccard (user + assistant text,
    word 5-shingles, as dedup sees them) clears the 0.8 threshold with a margin for MinHash noise."""
    from curate.readers import RecordReader

    records = {r.record.id: r.record for r in RecordReader().read(SAMPLE) if r.record is not None}
    clusters = read_jsonl(built / "clusters.jsonl")
    cluster_of = {mem["id"]: c["cluster_id"] for c in clusters for mem in c["members"]}
    for dup, original in EXPECTED["exact_duplicates"].items():
        assert dup in cluster_of and cluster_of[dup] == cluster_of[original], (dup, original)
    clear, unclear = 0, 0
    for dup, original in EXPECTED["near_duplicates"].items():
        j = _true_jaccard(records[dup], records[original])
        if j >= 0.85:
            clear += 1
            assert dup in cluster_of and cluster_of[dup] == cluster_of[original], (dup, original, j)
        elif j < 0.75:
            unclear += 1
            assert cluster_of.get(dup, -1) != cluster_of.get(original, -2), (dup, original, j)
    assert clear >= 30  # most planted near copies are well above the threshold (37 at the time of writing)
    m = Manifest.model_validate_json((built / "manifest.json").read_text())
    assert m.dropped["exact_duplicate"] == len(EXPECTED["exact_duplicates"])
    # every near-duplicate drop really is one: true Jaccard to the copy kept near or above the threshold
    near = [(mem["id"], c["kept_id"]) for c in clusters for mem in c["members"] if mem["relation"] == "near_duplicate"]
    assert len(near) == m.dropped["near_duplicate"]
    for dup, kept in near:
        assert _true_jaccard(records[dup], records[kept]) >= 0.75, (dup, kept)


def test_no_near_duplicate_pair_across_train_and_eval(built: Path) -> None:
    from curate.dedup import DedupConfig, MinHashSettings, jaccard_pairs_above, sign_records
    from curate.records import Trajectory

    def sigs(name: str) -> Any:
        records = [Trajectory.model_validate({k: r[k] for k in ("id", "messages", "tools") if k in r})
                   for r in read_jsonl(built / name)]
        return sign_records(records, MinHashSettings.from_config(DedupConfig()))

    pairs = jaccard_pairs_above(sigs("train.jsonl"), 0.8, other=sigs("eval.jsonl"))
    assert pairs == []  # exhaustive: every train x eval pair compared


def test_outputs_carry_labels_and_load_with_datasets(built: Path) -> None:
    from datasets import load_dataset, load_from_disk

    train = read_jsonl(built / "train.jsonl")
    assert all(r["bucket"] and r["length_bucket"] and r["signals"] and r["tools"] and r["messages"] for r in train)
    ds = load_dataset("json", data_files={"train": str(built / "train.jsonl")}, split="train")
    assert len(ds) == len(train) and "messages" in ds.column_names
    dd = load_from_disk(str(built / "hf"))
    assert len(dd["train"]) == len(train) and len(dd["eval"]) == len(read_jsonl(built / "eval.jsonl"))
    assert "<svg" in (built / "report.html").read_text()


@pytest.mark.slow
def test_same_seed_gives_byte_identical_outputs_with_one_and_several_processes(tmp_path: Path, built: Path) -> None:
    other = tmp_path / "again"
    build([SAMPLE], other, BuildConfig(num_proc=2), [TOOLS])
    for f in sorted(p.relative_to(built) for p in built.rglob("*") if p.is_file()):
        a, b = (built / f).read_bytes(), (other / f).read_bytes()
        if f.name == "manifest.json":  # the manifest records the config, num_proc included
            a = a.replace(b'"num_proc": 1', b'"num_proc": 2')
        assert a == b, f
    third = tmp_path / "seed1"
    build([SAMPLE], third, BuildConfig(seed=1), [TOOLS])
    assert (third / "train.jsonl").read_bytes() != (built / "train.jsonl").read_bytes()


def test_failed_build_keeps_the_previous_output_and_leaves_nothing_half_written(
        tmp_path: Path, cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.jsonl").write_text("previous\n")
    import curate.build.pipeline as b

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(b, "save_datasets_folder", boom)
    with pytest.raises(RuntimeError):
        build([SAMPLE], out, BuildConfig(), [TOOLS])
    assert (out / "train.jsonl").read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_impossible_targets_and_bad_config_exit_2_without_output(tmp_path: Path, cache: str) -> None:
    env = {"CURATE_CACHE": cache}
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mix]\nstrategy = 'proportions'\nproportions = {chat = 0.5, code = 0.6}\n")
    res = run_cli("build", str(SAMPLE), "--tools", str(TOOLS), "-o", str(tmp_path / "o"), "--config", str(cfg),
                  env=env)
    assert res.returncode == 2 and "sum to 1" in res.stderr and str(cfg) in res.stderr
    cfg.write_text("[mix]\nfloors = {long_context = 500}\n")
    res = run_cli("build", str(SAMPLE), "--tools", str(TOOLS), "-o", str(tmp_path / "o"), "--config", str(cfg),
                  env=env)
    assert res.returncode == 2 and "long_context" in res.stderr and "Traceback" not in res.stderr
    cfg.write_text("[dedupe]\nthreshold = 0.9\n")
    res = run_cli("build", str(SAMPLE), "-o", str(tmp_path / "o"), "--config", str(cfg), env=env)
    assert res.returncode == 2 and "dedupe" in res.stderr
    res = run_cli("build", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o"), env=env)
    assert res.returncode == 2 and "no such file" in res.stderr
    res = run_cli("build", str(SAMPLE), "-o", str(tmp_path / "o"), "--tokenizer", str(tmp_path / "nope"), env=env)
    assert res.returncode == 2 and "cannot load tokenizer" in res.stderr
    assert not (tmp_path / "o").exists()


def test_decontamination_drops_records_that_match_a_benchmark(tmp_path: Path, cache: str) -> None:
    bench = tmp_path / "bench.jsonl"
    picked = []
    with open(SAMPLE, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                r = json.loads(line)
            except (ValueError, RecursionError):  # the corpus's planted unreadable lines
                continue
            if isinstance(r, dict) and str(r.get("id", "")).startswith("traj-") and len(picked) < 5:
                user = next((m["content"] for m in r["messages"] if m["role"] == "user"), None)
                if user and len(user.split()) > 12:
                    picked.append({"id": f"bench-{len(picked)}", "messages": [{"role": "user", "content": user}]})
    bench.write_text("".join(json.dumps(p) + "\n" for p in picked))
    m = build([SAMPLE], tmp_path / "o", BuildConfig(mix=MixConfig(strategy="none")), [TOOLS],
              decontaminate=[bench]).manifest
    assert m.dropped.get("contaminated", 0) >= len(picked)
    assert check_invariant(m) == []


def test_missing_input_is_a_build_error(tmp_path: Path, cache: str) -> None:
    with pytest.raises(BuildError, match="no such file"):
        build([tmp_path / "nope.jsonl"], tmp_path / "o", BuildConfig())


def test_stage_commands_run_the_builds_steps(tmp_path: Path, built: Path, cache: str) -> None:
    """`curate stats`, `dedup` and `bucket` run the build's read, lint gate, dedup and bucket steps: the same
    findings, the same records kept (under the build's ids, the same clusters) and the same labels."""
    env = {"CURATE_CACHE": cache}
    m = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    stage = {s["stage"]: s for s in m["stages"]}
    stats = run_cli("stats", str(SAMPLE), "--tools", str(TOOLS), env=env)
    assert stats.returncode == 0, stats.stderr
    shown = " ".join(stats.stdout.split())
    assert all(f"{code} {n}" in shown for code, n in EXPECTED["counts"].items())  # the gate's counts: lint's
    assert f"{stage['lint']['records_out']} records past the lint gate" in shown
    unreadable, lint_errors = m["dropped"]["unreadable"], stage["lint"]["dropped"]["lint_error"]
    assert stats.stdout.splitlines()[-1].startswith(  # the tally line, as the build's (test_build_tally_line)
        f"kept {stage['lint']['records_out']:,} of {m['records_in']:,} records; {unreadable} unreadable (RS00")
    assert stats.stdout.splitlines()[-1].endswith(f"{lint_errors} dropped (lint errors ×{lint_errors})")
    assert "single_call" in shown and "length buckets:" in shown

    kept = tmp_path / "kept.jsonl"
    dedup = run_cli("dedup", str(SAMPLE), "--tools", str(TOOLS), "-o", str(kept), env=env)
    assert dedup.returncode == 0, dedup.stderr
    last = dedup.stdout.splitlines()[-1]
    assert last.startswith(f"kept {stage['near_dedup']['records_out']:,} of {m['records_in']:,} records; "
                           f"{unreadable} unreadable")
    assert f"lint errors ×{lint_errors}" in last and "near duplicates ×" in last and "exact duplicates ×" in last
    assert (tmp_path / "kept.clusters.jsonl").read_bytes() == (built / "clusters.jsonl").read_bytes()
    kept_ids = [r["id"] for r in read_jsonl(kept)]
    assert len(set(kept_ids)) == len(kept_ids) == stage["near_dedup"]["records_out"]
    dropped = {mb["id"] for c in read_jsonl(built / "clusters.jsonl") for mb in c["members"]
               if mb["relation"] != "kept"}
    exported = {r["id"]: r for name in ("train.jsonl", "eval.jsonl") for r in read_jsonl(built / name)
                if "copy_of" not in r}
    assert set(exported) <= set(kept_ids) and not dropped & set(kept_ids)

    labelled = tmp_path / "b.jsonl"
    bucket = run_cli("bucket", str(SAMPLE), "--tools", str(TOOLS), "-o", str(labelled), env=env)
    assert bucket.returncode == 0, bucket.stderr
    out = read_jsonl(labelled)
    assert len(out) == stage["lint"]["records_out"]
    assert all(r["length_bucket"] and r["calls"] >= 0 and r["rounds"] >= 0 for r in out)
    by_id = {r["id"]: r for r in out}
    for rid, r in exported.items():  # the build's labels (length buckets follow each run's own edges)
        assert {k: by_id[rid][k] for k in ("bucket", "signals", "tokens", "tools")} == \
            {k: r[k] for k in ("bucket", "signals", "tokens", "tools")}

    everything = run_cli("bucket", str(SAMPLE), "--tools", str(TOOLS), "--keep-invalid", env=env)
    assert everything.returncode == 0, everything.stderr
    last = everything.stdout.splitlines()[-1]  # records no stage can use, and nothing else dropped
    assert last.startswith(f"kept {EXPECTED['records'] - unreadable:,} of {EXPECTED['records']:,} records; "
                           f"{unreadable} unreadable (") and "dropped" not in last


# --- the streamed pipeline: Arrow rows, workers, the main process's decisions -------------------------------


def _lint_counts(*paths: Path) -> dict[str, int]:
    """Findings by code of one `curate lint` run over `paths` (configuration files ignored)."""
    from collections import Counter

    res = run_cli("lint", "--isolated", "--format", "json", "--tools", str(TOOLS), *map(str, paths))
    assert res.returncode in (0, 1), res.stderr
    return dict(sorted(Counter(f["code"] for f in json.loads(res.stdout)).items()))


def _mixed_inputs(tmp_path: Path) -> list[Path]:
    """The sample corpus, a JSON array (decoded values, not lines) of some of its records, half of them
    without ids, and the sample corpus again: repeated ids at other places and at the same (file, line)."""
    records = []
    with open(SAMPLE, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                r = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(r, dict) and isinstance(r.get("messages"), list) and len(records) < 300:
                if len(records) % 2:
                    r.pop("id", None)
                records.append(r)
    array = tmp_path / "array.json"
    array.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return [SAMPLE, array, SAMPLE]


@pytest.mark.parametrize("num_proc", [1, 2])
def test_manifest_lint_counts_equal_one_lint_run(tmp_path: Path, cache: str, num_proc: int) -> None:
    """Workers lint each record alone; the cross-record rules (duplicate ids, tool-schema problems once
    per run) are decided afterwards in input order: together they count what `curate lint` reports."""
    m = build([SAMPLE], tmp_path / "o", BuildConfig(num_proc=num_proc), [TOOLS]).manifest
    assert m.lint_findings == _lint_counts(SAMPLE)
    assert m.lint_findings["RS004"] > 0 and m.lint_findings["TS001"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("num_proc", [1, 2])
def test_lint_counts_and_ids_over_several_inputs(tmp_path: Path, cache: str, num_proc: int) -> None:
    inputs = _mixed_inputs(tmp_path)
    out = tmp_path / "o"
    m = build(inputs, out, BuildConfig(num_proc=num_proc, mix=MixConfig(strategy="none")), [TOOLS]).manifest
    assert m.lint_findings == _lint_counts(*inputs)
    assert [f.records for f in m.inputs] == [EXPECTED["records"], 300, EXPECTED["records"]]
    assert check_invariant(m) == []
    exported = read_jsonl(out / "train.jsonl") + read_jsonl(out / "eval.jsonl")
    ids = [r["id"] for r in exported]
    assert len(set(ids)) == len(ids)
    renamed = [r for r in exported if "original_id" in r.get("meta", {})]
    assert any(r["meta"]["original_id"] is None and r["id"].startswith("array-") for r in renamed)  # FILE-LINE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["array.json", "o"]  # the Arrow work folder is gone


def test_cross_record_rules_are_the_rules_that_keep_state() -> None:
    """A rule keeping state between records cannot run in a worker that sees one batch: every such rule must be
    a cross-record rule, which the workers only observe and the main process decides (`RunLint`)."""
    from curate.rules import all_rules

    stateful = [code for code, rule in all_rules().items() if "__init__" in vars(rule)]
    assert stateful == sorted(code for code, rule in all_rules().items() if rule.cross_record) == ["RS004", "TS001"]


def test_dedup_from_precomputed_columns_equals_dedup_of_records(cache: str) -> None:
    """What the build computes per record in workers (ids, completeness, exact keys, signatures) gives
    the same dedup result as `deduplicate` over the records themselves."""
    from curate.dedup import (
        DedupConfig,
        DedupEntry,
        MinHashSettings,
        deduplicate,
        deduplicate_entries,
        exact_key,
        sign_records,
    )
    from curate.readers import RecordReader

    records = [r.record for r in RecordReader().read(SAMPLE) if r.record is not None]
    for cfg in (DedupConfig(), DedupConfig(roles=["user"], exact_include_tools=True)):
        warnings = [k % 3 for k in range(len(records))]
        expected = deduplicate(records, cfg, warnings)
        got = deduplicate_entries([DedupEntry.of(r) for r in records], cfg, warnings,
                                  exact_keys=[exact_key(r, cfg) for r in records],
                                  signatures=sign_records(records, MinHashSettings.from_config(cfg)))
        assert got == expected
        assert expected.counts["exact_duplicate"] and expected.counts["near_duplicate"]


def test_build_writes_no_datasets_cache_outside_its_work_folder(tmp_path: Path, cache: str) -> None:
    hf_home = tmp_path / "hf-home"
    env = {"CURATE_CACHE": cache, "HF_HOME": str(hf_home), "HF_DATASETS_CACHE": str(hf_home / "datasets")}
    res = run_cli("build", str(SAMPLE), "--tools", str(TOOLS), "-o", str(tmp_path / "out" / "o"), "--num-proc", "2",
                  env=env)
    assert res.returncode == 0, res.stderr
    assert not hf_home.exists() or not any(p.is_file() for p in hf_home.rglob("*"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["o"]
    m = json.loads((tmp_path / "out" / "o" / "manifest.json").read_text())
    last = res.stdout.splitlines()[-1]  # the tally line: one line whatever the width, the manifest's counts
    assert last.startswith(f"kept {m['records_out']:,} of {m['records_in']:,} records; "
                           f"{m['dropped']['unreadable']} unreadable (RS00")
    assert f"lint errors ×{m['dropped']['lint_error']}" in last and "near duplicates ×" in last


def test_a_failed_build_removes_the_folders_it_made(tmp_path: Path, cache: str) -> None:
    cfg = BuildConfig(mix=MixConfig(floors={"long_context": 500}))  # impossible: found after the work started
    with pytest.raises(ValueError, match="long_context"):
        build([SAMPLE], tmp_path / "a" / "b" / "out", cfg, [TOOLS])
    assert list(tmp_path.iterdir()) == []


def _records_with_long_tool_results(path: Path, n: int, words: int, seed: int) -> Path:
    """`n` distinct records, each a search whose tool result holds `words` random words (about 5 bytes each):
    where agent trajectories are big."""
    import random

    rng = random.Random(seed)
    vocab = [f"w{k:04d}" for k in range(5000)]
    with open(path, "w", encoding="utf-8") as fh:
        for k in range(n):
            query = " ".join(rng.choices(vocab, k=12))
            call = json.dumps({"name": "search_web", "arguments": {"query": query}})
            fh.write(json.dumps({"id": f"r{seed}-{k}", "messages": [
                {"role": "user", "content": f"Find {query}"},
                {"role": "assistant", "content": f"<tool_call>\n{call}\n</tool_call>"},
                {"role": "tool", "content": " ".join(rng.choices(vocab, k=words))},
                {"role": "assistant", "content": "Here is what I found."}]}) + "\n")
    return path


@pytest.mark.slow
def test_main_process_memory_does_not_grow_with_the_corpus(tmp_path: Path, cache: str) -> None:
    """Four times the records must not take four times the memory: a one-process build holds a batch of
    records at a time, never the corpus. Peak Python allocations (tracemalloc) with 1,000 and 4,000
    records of 4 kB: 28.6 and 30.0 MB; before records streamed through Arrow, 50.7 and 202 MB."""
    import tracemalloc

    cfg = BuildConfig(mix=MixConfig(strategy="none"))
    warm = _records_with_long_tool_results(tmp_path / "warm.jsonl", 20, words=700, seed=0)
    build([warm], tmp_path / "warm", cfg, [TOOLS])  # imports, tokenizer: not what is measured

    def peak(n: int) -> int:
        corpus = _records_with_long_tool_results(tmp_path / f"c{n}.jsonl", n, words=700, seed=n)
        tracemalloc.start()
        try:
            m = build([corpus], tmp_path / f"o{n}", cfg, [TOOLS]).manifest
            assert m.records_out == n  # every record went all the way through
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1000), peak(4000)
    assert large < 1.3 * small, (small, large)


def test_record_dumper_gives_the_whole_record_dump(cache: str) -> None:
    """The export dumps the shared `--tools` specs once; every row must still be the record's own dump,
    key order included (ids renamed, meta added, extra fields, records with their own tools)."""
    from curate.build import RecordDumper, with_id
    from curate.build.export import arguments_as_objects
    from curate.readers import RecordReader, load_tool_specs
    from curate.toolset import ToolSet

    toolset = ToolSet.from_dicts(load_tool_specs(TOOLS))
    dumper = RecordDumper(toolset.external)
    records = [r.record for r in RecordReader().read(SAMPLE) if r.record is not None]
    records.append(records[0].model_copy(update={"id": None, "tools": None, "meta": None}))
    records.append(records[1].model_validate({**records[1].model_dump(), "tools": None, "source": "x", "n": 1}))
    shared = 0
    for k, r in enumerate(records):
        r = toolset.attach(r)
        if k % 3 == 0:
            r = with_id(r, f"renamed-{k}")
        dump, is_shared = dumper.dump(r)
        whole = arguments_as_objects(r.model_dump(mode="json", exclude_none=True))
        assert list(dump.items()) == list(whole.items())
        if is_shared:
            shared += 1
            assert dump["tools"] is dumper.tools
    assert 0 < shared < len(records)


def test_datasets_split_saves_what_from_list_saves(tmp_path: Path, built: Path) -> None:
    """The `datasets` folder is gathered row by row; loaded, it must hold what `Dataset.from_list` over all the
    rows gives with its features (columns from the first row, types from every value), each row as written to
    train.jsonl: messages as structs, arguments and tools as the JSON values they were, nulls where absent."""
    from datasets import Dataset, Json, load_from_disk

    from curate.build import DatasetsSplit, datasets_row

    exported = read_jsonl(built / "train.jsonl")[:2500]
    for k, r in enumerate(exported):
        if k % 7 == 0:
            r["copy_of"] = r["id"]
        r["extra"] = k if k % 2 else None  # an extra field, sometimes missing
        if k == 5:  # a message field the record model does not know, first seen in a later batch
            r["messages"][0]["weight"] = {"w": [1, "x"]}
    gathered = DatasetsSplit(batch_size=300)
    for r in exported:
        gathered.add(datasets_row(r))
    gathered.dataset("f" * 16).save_to_disk(str(tmp_path / "gathered"))
    Dataset.from_list([datasets_row(r) for r in exported], features=gathered.features).save_to_disk(
        str(tmp_path / "listed"))
    got, listed = load_from_disk(str(tmp_path / "gathered")), load_from_disk(str(tmp_path / "listed"))
    assert got.features == listed.features and got.to_list() == listed.to_list()
    assert got.features["messages"].feature["weight"] == Json() and got[5]["messages"][0]["weight"] == {"w": [1, "x"]}
    assert got[0]["messages"][0]["weight"] is None

    def without_nulls(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_nulls(v) for k, v in value.items() if v is not None}
        return [without_nulls(v) for v in value] if isinstance(value, list) else value

    for r, g in zip(exported, got, strict=True):
        assert without_nulls(g) == without_nulls(datasets_row(r))


def test_datasets_split_keeps_a_column_that_only_later_rows_have() -> None:
    """`tools_source` is set only on records whose tools came from their system prompt: when the first row has
    none, `from_list` drops the column for every row; the build's folder keeps it, null where a row lacks it."""
    from curate.build import DatasetsSplit, datasets_row

    base = {"id": "a", "messages": [{"role": "user", "content": "hi"}], "tools": []}
    gathered = DatasetsSplit(batch_size=2)
    for k in range(5):
        row = {**base, "id": f"r{k}"}
        if k in (2, 4):
            row["tools_source"] = "system prompt"
        gathered.add(datasets_row(row))
    ds = gathered.dataset("f" * 16)
    assert ds["tools_source"] == [None, None, "system prompt", None, "system prompt"]
    assert ds["id"] == [f"r{k}" for k in range(5)] and len(ds["messages"]) == 5


def test_an_empty_input_builds_an_empty_set_when_allowed(tmp_path: Path, cache: str) -> None:
    """Refused by default (test_a_build_that_keeps_nothing_or_reads_too_little_is_refused); with two processes too."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = build([empty], tmp_path / "o", BuildConfig(num_proc=2), allow_empty=True)
    assert result.manifest.records_in == 0 and result.train == result.eval == 0
    assert (tmp_path / "o" / "train.jsonl").read_text() == ""
    assert check_invariant(result.manifest) == []


# --- nothing silent: hostile inputs ----------------------------------------------------------------------------


def _chat(i: int) -> dict[str, Any]:
    colour = ("red", "blue", "green")[i % 3]
    return {"id": f"c{i}", "messages": [
        {"role": "user", "content": f"In one sentence, what is item {i} of the {colour} list?"},
        {"role": "assistant", "content": f"Item {i} is {'a hammer' if i % 2 else 'a lantern'} numbered {i * 7}."}]}


def _hostile(tmp_path: Path, name: str) -> Path:
    """`shape`: records of a shape no reader recognises (a text-classification set); `mostly_bad`: 12 of 20
    lines unreadable (half invalid JSON, half an unknown shape); `empty`: no record at all."""
    path = tmp_path / f"{name}.jsonl"
    if name == "shape":
        lines = [json.dumps({"text": f"Review {i}: the plot drags but the score is superb.", "label": i % 2})
                 for i in range(30)]  # a sentiment dataset (IMDB's shape) given by mistake
    elif name == "mostly_bad":
        lines = [("{\"messages\": [" if i % 2 else json.dumps({"prompt_x": i})) if i % 5 < 3 else json.dumps(_chat(i))
                 for i in range(20)]
    else:
        lines = []
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "line", "todo"), [
    ("shape", "kept 0 of 30 records; 30 unreadable (RS002 unrecognised record shape ×30)",
     "More than half of the records are unreadable"),
    ("mostly_bad", "kept 8 of 20 records; 12 unreadable (RS001 invalid JSON ×6, RS002 unrecognised record shape ×6)",
     "More than half of the records are unreadable"),
    ("empty", "kept 0 of 0 records; none unreadable or dropped", "Nothing kept, so nothing was written. The input"),
])
def test_a_build_that_keeps_nothing_or_reads_too_little_is_refused(tmp_path: Path, cache: str, name: str, line: str,
                                                                  todo: str) -> None:
    """Exit 1 with the tally line and what to do; nothing written, not even OUT's parent folder."""
    from curate.build import BuildRefused

    data = _hostile(tmp_path, name)
    with pytest.raises(BuildRefused) as refused:
        build([data], tmp_path / "new" / "out", BuildConfig())
    assert refused.value.line == line and refused.value.todo.startswith(todo)
    assert not (tmp_path / "new").exists()
    res = run_cli("build", str(data), "-o", str(tmp_path / "o"), env={"CURATE_CACHE": cache})
    assert res.returncode == 1 and not (tmp_path / "o").exists()
    first, second = res.stderr.splitlines()[-2:]
    assert first == f"curate: error: {line}" and second.startswith(f"  {todo}")
    if name != "empty":  # where to look: lint shows each unreadable record's problem at its line
        assert f"`curate lint {data}`" in second and "Traceback" not in res.stderr


def test_allow_empty_writes_an_empty_build_and_exits_0(tmp_path: Path, cache: str) -> None:
    env = {"CURATE_CACHE": cache}
    res = run_cli("build", str(_hostile(tmp_path, "empty")), "-o", str(tmp_path / "o"), "--allow-empty", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == "kept 0 of 0 records; none unreadable or dropped"
    assert (tmp_path / "o" / "train.jsonl").read_text() == "" and (tmp_path / "o" / "eval.jsonl").read_text() == ""
    # --allow-empty accepts an empty result, never a mostly unreadable input
    res = run_cli("build", str(_hostile(tmp_path, "shape")), "-o", str(tmp_path / "o2"), "--allow-empty", env=env)
    assert res.returncode == 1 and "unrecognised record shape ×30" in res.stderr and not (tmp_path / "o2").exists()


def test_a_build_whose_records_all_fail_the_lint_gate_says_what_to_do(tmp_path: Path, cache: str) -> None:
    """Readable records that all call a tool nobody defines: the gate drops them; the advice names --tools."""
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]}
    records = [{**_chat(i), "messages": [_chat(i)["messages"][0], call]} for i in range(4)]
    data = tmp_path / "calls.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    tools = tmp_path / "other_tools.json"  # a --tools file that does not define the tool called
    tools.write_text(json.dumps([{"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {}}}}]), encoding="utf-8")
    res = run_cli("build", str(data), "--tools", str(tools), "-o", str(tmp_path / "o"), env={"CURATE_CACHE": cache},
                  cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "curate: error: kept 0 of 4 records; 4 dropped (lint errors ×4)" in res.stderr
    assert f"`curate lint {data} --tools {tools}` shows the errors" in res.stderr  # the build's view of the tools
    assert "(--tools)" in res.stderr and "--keep-invalid" in res.stderr and "--allow-empty" in res.stderr
