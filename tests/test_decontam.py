"""Decontamination: a benchmark item found in any turn of a training record, by n-grams, near copies and
answer calls; `curate build --decontaminate` and `curate decontam` on top of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curate.build import BuildError, build
from curate.buildconfig import BuildConfig, LintGate, MixConfig
from curate.dedup.decontamination import BenchmarkIndex, DecontamConfig, read_benchmark
from curate.manifest import Manifest, check_invariant
from curate.records import Trajectory
from tests.conftest import REPO, run_cli, write_jsonl
from tests.planted_contamination import CLEAN, figures

BFCL = REPO.parent / "shared" / "real" / "bfcl"
SIMPLE = BFCL / "BFCL_v4_simple_python.json"
needs_bfcl = pytest.mark.skipif(not SIMPLE.exists(), reason=f"BFCL data not found at {BFCL}")

QUESTIONS = [
    "Find the area of a triangle with a base of 10 units and height of 5 units.",
    "Calculate the compound interest for an initial principal of 5000 dollars at 5 percent for 3 years.",
    "What is the boiling point of water at an altitude of 2000 meters above the sea level?",
    "Book a table for four people at an Italian restaurant in downtown Chicago tonight at 8 pm.",
]
TRIANGLE = {"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}


def bfcl_file(folder: Path, questions: list[str], name: str = "BFCL_v4_simple_python.json",
              answers: list[dict[str, Any]] | None = None) -> Path:
    """BFCL rows (one user turn each) in `folder/name`, with `possible_answer/name` when `answers` are given."""
    folder.mkdir(parents=True, exist_ok=True)
    fn = [{"name": "calculate_triangle_area", "description": "area",
           "parameters": {"type": "dict", "properties": {"base": {"type": "integer"}, "height": {"type": "integer"},
                                                         "unit": {"type": "string"}}, "required": ["base", "height"]}}]
    write_jsonl(folder / name, [{"id": f"q_{k}", "question": [[{"role": "user", "content": q}]], "function": fn}
                                for k, q in enumerate(questions)])
    if answers is not None:
        (folder / "possible_answer").mkdir(exist_ok=True)
        write_jsonl(folder / "possible_answer" / name,
                    [{"id": f"q_{k}", "ground_truth": [a]} for k, a in enumerate(answers)])
    return folder / name


def chat(rid: str, *turns: tuple[str, str]) -> dict[str, Any]:
    return {"id": rid, "messages": [{"role": r, "content": c} for r, c in turns]}


def index_of(bench: Path, **settings: Any) -> BenchmarkIndex:
    b, _ = read_benchmark([bench], [str(bench)], DecontamConfig(**settings), 1 << 24)
    return BenchmarkIndex(b)


def matches(index: BenchmarkIndex, *records: dict[str, Any]) -> list[Any]:
    return index.match([Trajectory.model_validate(r) for r in records])


# --- the index ----------------------------------------------------------------------------------------------


def test_a_question_is_found_in_any_turn_not_only_as_the_whole_record(tmp_path: Path) -> None:
    """The issue's case: the question as the second user turn after an unrelated exchange, or quoted in a tool
    result written with JSON escapes, is found in that turn, as the whole record is."""
    index = index_of(bfcl_file(tmp_path, QUESTIONS))
    q = QUESTIONS[1]
    found = matches(
        index,
        chat("whole", ("user", q.upper()), ("assistant", "ok")),
        chat("second", ("user", "Hi!"), ("assistant", "Hello, how can I help?"), ("user", "What's the time?"),
             ("assistant", "Noon."), ("user", q), ("assistant", "Sure.")),
        chat("tool", ("user", "read my mail"), ("assistant", "Reading."),
             ("tool", json.dumps({"subject": "Re: homework", "body": f"Dear tutor, {q} Regards, \u00c9lodie"}))),
        chat("clean", ("user", "What is the boiling point of my kettle's patience? A joke, please."),
             ("assistant", "Short.")),
    )
    assert [(m.method, m.index, m.turn) if m else None for m in found] == [
        ("ngram", 1, 0), ("ngram", 1, 4), ("ngram", 1, 2), None]
    assert found[0].overlap == found[1].overlap == 1.0


def test_coverage_is_the_share_of_an_items_ngrams_one_turn_holds(tmp_path: Path) -> None:
    q = " ".join(f"word{k}" for k in range(40))  # 28 distinct 13-grams
    index = index_of(bfcl_file(tmp_path, [q]), coverage=0.5)
    half = " ".join(f"word{k}" for k in range(20))  # 8 of the 28
    most = " ".join(f"word{k}" for k in range(30))  # 18 of the 28
    found = matches(index, chat("half", ("user", half)), chat("most", ("user", f"intro {most} outro")))
    assert found[0] is None
    assert found[1] is not None and found[1].overlap == pytest.approx(18 / 28)
    assert matches(index_of(bfcl_file(tmp_path, [q]), coverage=0.25), chat("half", ("user", half)))[0] is not None


def test_short_items_match_whole_inside_a_turn_and_shorter_ones_only_as_the_whole_turn(tmp_path: Path) -> None:
    index = index_of(bfcl_file(tmp_path, ["Calculate the factorial of the number 5", "Who discovered radium?",
                                          "version"]))
    found = matches(
        index,
        chat("inside", ("user", "Quick one. Calculate the factorial of the number 5, then explain it.")),
        chat("part", ("user", "Calculate the factorial of the number 6")),  # a near copy is too short to judge
        chat("radium-whole", ("user", "who discovered RADIUM")),
        chat("radium-inside", ("user", "Tell me who discovered radium and when it was first isolated.")),
        chat("version", ("user", "version")),
    )
    assert [m.index if m else None for m in found] == [0, None, 1, None, None]
    assert index.summary()["items"] == 2  # "version" (1 word) is not indexed


def test_near_copies_with_a_changed_number_or_name(tmp_path: Path) -> None:
    index = index_of(bfcl_file(tmp_path, QUESTIONS))
    found = matches(
        index,
        chat("number", ("user", QUESTIONS[1].replace("5000", "7500").replace("3 years", "4 years"))),
        chat("name", ("user", QUESTIONS[3].replace("Chicago", "Lisbon"))),
        chat("other", ("user", "Book a flight for two people from Chicago to Boston next Friday morning.")),
    )
    assert found[0] is not None and (found[0].method, found[0].index, found[0].overlap) == ("near_copy", 1, 1.0)
    assert found[1] is not None and found[1].index == 3
    assert found[2] is None
    assert matches(index_of(bfcl_file(tmp_path, QUESTIONS), near=False), chat("n", ("user", QUESTIONS[1].replace(
        "5000", "7500").replace("3 years", "4 years"))))[0] is None


def test_a_call_of_the_benchmark_answer_matches_with_acceptable_values_only(tmp_path: Path) -> None:
    bench = bfcl_file(tmp_path, QUESTIONS[:1], answers=[TRIANGLE])

    def call(args: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"name": "calculate_triangle_area", "arguments": args})
        return chat("c", ("user", "go"), ("assistant", f"<tool_call>\n{body}\n</tool_call>"))

    index = index_of(bench)
    found = matches(index, call({"base": 10, "height": 5}), call({"base": 10.0, "height": 5, "unit": "Units"}),
                    call({"base": 10, "height": 6}), call({"base": 10}), call({"base": 10, "height": 5, "x": 1}))
    assert [m.method if m else None for m in found] == ["tool_call", "tool_call", None, None, None]
    assert index.bench.calls[0].arguments["unit"] == ["units", ""]
    assert matches(index_of(bench, tool_calls=False), call({"base": 10, "height": 5}))[0] is None


def test_reference_answers_are_indexed_when_asked(tmp_path: Path) -> None:
    rows = [chat("b1", ("user", "hello there"), ("assistant", "The capital of Australia is Canberra, not Sydney as "
                                                              "many people believe; it was chosen as a compromise."))]
    bench = write_jsonl(tmp_path / "bench.jsonl", rows)
    copy = chat("t", ("user", "Tell me a fact."), ("assistant", rows[0]["messages"][1]["content"]))
    assert matches(index_of(bench), copy)[0] is None
    found = matches(index_of(bench, roles=["user", "assistant"]), copy)[0]
    assert found is not None and found.turn == 1


@needs_bfcl
def test_planted_corpus_from_bfcl_recall_and_precision() -> None:
    """The figures the README gives: BFCL simple_python planted six ways, and clean records sharing phrases."""
    got = figures(SIMPLE, BFCL / "BFCL_v4_live_simple.json")
    share = {kind: hit / n for kind, (n, hit, _) in got.items()}
    assert min(share["whole"], share["in_conversation"], share["in_tool_result"]) >= 0.98
    assert share["changed_number"] >= 0.9
    assert share["answer_call"] >= 0.98
    clean = [got[k] for k in CLEAN]
    assert 1 - sum(hit for _, hit, _ in clean) / sum(n for n, _, _ in clean) >= 0.99


@needs_bfcl
def test_every_bfcl_category_indexes_and_reads_its_answers() -> None:
    files = sorted(BFCL.glob("BFCL_v4_*.json"))
    bench, counts = read_benchmark(files, [f.name for f in files], DecontamConfig(), 1 << 24)
    index = BenchmarkIndex(bench)
    by_name = dict(zip([f.name for f in files], counts, strict=True))
    assert all(c.unreadable == 0 for c in counts)
    assert by_name["BFCL_v4_simple_python.json"].calls >= 399  # every row's ground truth
    assert by_name["BFCL_v4_irrelevance.json"].calls == 0  # no answer: no call should be made
    assert index.summary()["items"] == sum(c.items for c in counts) > 3000


# --- curate build and curate decontam -------------------------------------------------------------------------


def training_file(tmp_path: Path) -> Path:
    records = [chat(f"clean-{k}", ("user", f"Please summarise meeting number {k} about the {w} project plan."),
                    ("assistant", f"The {w} meeting agreed on the next steps."))
               for k, w in enumerate(["apollo", "borealis", "cygnus", "draco", "eridanus", "fornax"] * 3)]
    records += [chat("whole", ("user", QUESTIONS[0]), ("assistant", "Let me compute it.")),
                chat("second", ("user", "Hi there"), ("assistant", "Hello! How can I help?"),
                     ("user", "Weather is nice."), ("assistant", "Indeed."), ("user", QUESTIONS[2]),
                     ("assistant", "About 93 degrees Celsius."))]
    return write_jsonl(tmp_path / "train.jsonl", records)


def test_build_drops_and_lists_contaminated_records(tmp_path: Path, cache: str) -> None:
    bench = bfcl_file(tmp_path / "bench", QUESTIONS)
    other = write_jsonl(tmp_path / "other.jsonl", [chat("o1", ("user", "An unrelated benchmark question that "
                                                                       "nobody asks in the training data at all."))])
    out = tmp_path / "o"
    m = build([training_file(tmp_path)], out, BuildConfig(mix=MixConfig(strategy="none")),
              decontaminate=[bench, other]).manifest
    assert check_invariant(m) == [] and m.dropped.get("contaminated") == 2
    assert [(f.path, f.items, f.matched) for f in m.decontaminate] == [
        (str(bench), 4, {"ngram": 2}), (str(other), 1, {})]
    assert m.decontamination is not None and m.decontamination.by_method == {"ngram": 2}
    kept = {json.loads(line)["id"] for f in ("train.jsonl", "eval.jsonl") for line in (out / f).open()}
    assert not kept & {"whole", "second"} and len(kept) == 18
    listed = [json.loads(line) for line in (out / "contamination.jsonl").open()]
    assert [(r["id"], r["turn"], r["method"], r["item"], r["item_turn"], r["action"]) for r in listed] == [
        ("whole", 0, "ngram", "q_0", 0, "dropped"), ("second", 4, "ngram", "q_2", 0, "dropped")]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Decontamination" in report and "q_2" in report


@needs_bfcl
def test_the_issues_case_50_bfcl_questions_three_ways(tmp_path: Path, cache: str) -> None:
    """Issue #18: 50 BFCL simple_python questions as the benchmark, each in the training data as the whole
    record, as the second user turn after a greeting and an unrelated exchange, and quoted in a tool result:
    none reaches the output, and every one is listed with the item it holds."""
    lines = SIMPLE.read_text(encoding="utf-8").splitlines()[:50]
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    qs = [(json.loads(line)["id"], json.loads(line)["question"][0][0]["content"]) for line in lines]
    records = [chat(f"clean-{k}", ("user", f"Draft a short note to colleague {k} about moving our weekly sync."),
                    ("assistant", f"Here is a note for colleague {k}.")) for k in range(60)]
    for qid, q in qs:
        records += [chat(f"whole-{qid}", ("user", q), ("assistant", "Working on it.")),
                    chat(f"second-{qid}", ("user", "Good morning!"), ("assistant", "Good morning! What can I do?"),
                         ("user", "Do you like jazz?"), ("assistant", "I enjoy talking about it."), ("user", q),
                         ("assistant", "Let me see.")),
                    chat(f"tool-{qid}", ("user", f"What does ticket {qid} say?"), ("assistant", "Checking."),
                         ("tool", json.dumps({"ticket": 7, "text": q})), ("assistant", "It asks a question."))]
    out = tmp_path / "o"
    cfg = BuildConfig(mix=MixConfig(strategy="none"), lint=LintGate(keep_invalid=True))  # a result with no call
    m = build([write_jsonl(tmp_path / "train.jsonl", records)], out, cfg, decontaminate=[bench]).manifest
    kept = {r["id"] for f in ("train.jsonl", "eval.jsonl") for r in map(json.loads, (out / f).open())}
    assert kept == {f"clean-{k}" for k in range(60)}
    listed = {r["id"]: r for r in map(json.loads, (out / "contamination.jsonl").open())}
    assert len(listed) == m.dropped["contaminated"] == 150
    assert all(listed[f"{way}-{qid}"]["item"] == qid for qid, _ in qs for way in ("whole", "second", "tool"))
    assert {listed[f"second-{qid}"]["turn"] for qid, _ in qs} == {4}


def test_flag_mode_keeps_and_marks(tmp_path: Path, cache: str) -> None:
    out = tmp_path / "o"
    m = build([training_file(tmp_path)], out, BuildConfig(mix=MixConfig(strategy="none")),
              decontaminate=[bfcl_file(tmp_path / "bench", QUESTIONS)], decontam=DecontamConfig(mode="flag")).manifest
    assert "contaminated" not in m.dropped and m.decontamination is not None and m.decontamination.matched == 2
    rows = {r["id"]: r for f in ("train.jsonl", "eval.jsonl") for r in map(json.loads, (out / f).open())}
    assert len(rows) == 20
    assert rows["second"]["contamination"]["method"] == "ngram" and rows["second"]["contamination"]["turn"] == 4
    assert "contamination" not in rows["clean-0"]
    Manifest.model_validate_json((out / "manifest.json").read_text())


def test_an_unreadable_benchmark_stops_the_build_and_an_empty_one_warns(tmp_path: Path, cache: str) -> None:
    train = training_file(tmp_path)
    bad = tmp_path / "bench.jsonl"
    bad.write_bytes(b"\x00\x01 not json\n{broken\n")
    out = tmp_path / "o"
    res = run_cli("build", str(train), "-o", str(out), "--decontaminate", str(bad), env={"CURATE_CACHE": cache})
    assert res.returncode == 2 and str(bad) in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()
    with pytest.raises(BuildError, match=r"bench\.jsonl"):
        build([train], out, BuildConfig(), decontaminate=[bad])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    res = run_cli("build", str(train), "-o", str(out), "--decontaminate", str(empty), "--decontaminate-mode", "flag",
                  env={"CURATE_CACHE": cache})
    assert res.returncode == 0, res.stderr
    assert "warning" in res.stderr and "empty.jsonl" in res.stderr
    res = run_cli("build", str(train), "-o", str(tmp_path / "o2"), "--decontaminate", str(empty),
                  "--decontaminate-coverage", "2", env={"CURATE_CACHE": cache})
    assert res.returncode == 2 and "coverage" in res.stderr and not (tmp_path / "o2").exists()


def test_decontam_command_prints_the_table_and_writes_what_it_keeps(tmp_path: Path, cache: str) -> None:
    train = training_file(tmp_path)
    bench = bfcl_file(tmp_path / "bench", QUESTIONS)
    env = {"CURATE_CACHE": cache, "COLUMNS": "200"}
    res = run_cli("decontam", str(train), "--against", str(bench), env=env)
    assert res.returncode == 0, res.stderr
    assert "2 of 20 records hold a benchmark item" in res.stdout and "q_2 (turn 0)" in res.stdout
    out = tmp_path / "kept.jsonl"
    res = run_cli("decontam", str(train), "--against", str(bench), "-o", str(out), env=env)
    assert res.returncode == 0, res.stderr
    assert len(out.read_text().splitlines()) == 18
    listed = [json.loads(line) for line in (tmp_path / "kept.contamination.jsonl").open()]
    assert {r["id"] for r in listed} == {"whole", "second"}
    res = run_cli("decontam", str(train), "--against", str(tmp_path / "missing.json"), env=env)
    assert res.returncode == 2 and "missing.json" in res.stderr


def test_data_from_a_benchmark_reaches_the_terminal_escaped(tmp_path: Path, cache: str) -> None:
    evil = "Find the area of a triangle \x1b]0;owned\x07 with a base of 10 units and height of 5 units."
    bench = write_jsonl(tmp_path / "bench.jsonl", [chat("id\x1b[2J", ("user", evil))])
    train = write_jsonl(tmp_path / "train.jsonl", [chat("t\x1b[31m", ("user", evil))])
    res = run_cli("decontam", str(train), "--against", str(bench), "--keep-invalid",
                  env={"CURATE_CACHE": cache, "COLUMNS": "300"})
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "1 of 1 records" in res.stdout


def test_docstring_examples_hold() -> None:
    import doctest

    from curate.dedup import ngrams

    result = doctest.testmod(ngrams)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray instance at a time under pytest-xdist (`make test`)
def test_the_ray_engine_finds_what_the_local_engine_finds(tmp_path: Path, cache: str) -> None:
    pytest.importorskip("ray", reason="the Ray engine needs the `ray` extra")
    from curate.build.engines.ray import RayEngine

    train, bench = training_file(tmp_path), bfcl_file(tmp_path / "bench", QUESTIONS)
    cfg = BuildConfig(mix=MixConfig(strategy="none"), num_proc=2)
    build([train], tmp_path / "local", cfg, decontaminate=[bench])
    build([train], tmp_path / "ray", cfg, decontaminate=[bench], engine=RayEngine(num_cpus=2))
    files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*") if p.is_file())
    assert Path("contamination.jsonl") in files
    for f in files:
        assert (tmp_path / "local" / f).read_bytes() == (tmp_path / "ray" / f).read_bytes(), f


def test_the_build_config_sets_decontamination_and_an_option_overrides_it(tmp_path: Path, cache: str) -> None:
    """`[decontaminate]` in the config file is what the build runs with; a `--decontaminate-*` option wins."""
    train = training_file(tmp_path)
    bench = bfcl_file(tmp_path / "bench", QUESTIONS)
    cfg = tmp_path / "build.toml"
    cfg.write_text('[mix]\nstrategy = "none"\n\n[decontaminate]\nmode = "flag"\n', encoding="utf-8")
    env = {"CURATE_CACHE": cache}
    res = run_cli("build", str(train), "--config", str(cfg), "-o", str(tmp_path / "flagged"),
                  "--decontaminate", str(bench), env=env)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for f in ("train.jsonl", "eval.jsonl") for line in (tmp_path / "flagged" / f).open()]
    assert len(rows) == 20 and sum("contamination" in r for r in rows) == 2
    res = run_cli("build", str(train), "--config", str(cfg), "-o", str(tmp_path / "dropped"),
                  "--decontaminate", str(bench), "--decontaminate-mode", "drop", env=env)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for f in ("train.jsonl", "eval.jsonl") for line in (tmp_path / "dropped" / f).open()]
    assert len(rows) == 18 and not any("contamination" in r for r in rows)
    cfg.write_text('[decontaminate]\ncoverage = 2\n', encoding="utf-8")
    res = run_cli("build", str(train), "--config", str(cfg), "-o", str(tmp_path / "bad"),
                  "--decontaminate", str(bench), env=env)
    assert res.returncode == 2 and "[decontaminate] coverage" in res.stderr and not (tmp_path / "bad").exists()
