"""Out-of-distribution sets of `curate train` (`[eval] ood`, `--ood`): read with curate's readers before anything
loads, measured (loss and generation) for the base and every checkpoint, flagged and ranked by in graduation, and
shown beside the eval split in the reports.

The graduation tests use hand-written numbers (no model); one end-to-end run trains the tiny model with five
BFCL rows (and their answers) as the OOD set.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from curate_train import TrainError
from curate_train.config import load_train_config
from curate_train.eval_report import build_report
from curate_train.graduation import (
    BaselineEval,
    CheckpointEval,
    GraduationThresholds,
    OodResult,
    OodSetEval,
    graduate,
)
from curate_train.metrics import BucketMetrics, GenerationEval, GenerationSettings
from curate_train.ood import NO_ASSISTANT, UNREADABLE, load_ood_sets
from curate_train.report_html import print_report, render_report
from tests.conftest import REPO, run_cli
from tests.test_train_core import write_build
from tests.test_train_graduation import BASE, entry, gen
from tests.test_train_safety import QUICK as QUICK_RUN

BFCL = REPO.parent / "shared" / "real" / "bfcl"
SIMPLE = "BFCL_v4_simple_python.json"


def bfcl_set(folder: Path, n: int = 5, name: str = SIMPLE) -> Path:
    """The first `n` rows of BFCL's simple_python category, with their answers beside them as BFCL ships them."""
    if not (BFCL / SIMPLE).exists():
        pytest.skip(f"{BFCL / SIMPLE} not present")
    (folder / "possible_answer").mkdir(parents=True, exist_ok=True)
    for src, dst in ((BFCL / SIMPLE, folder / name), (BFCL / "possible_answer" / SIMPLE,
                                                     folder / "possible_answer" / name)):
        lines = src.read_text(encoding="utf-8").splitlines()[:n]
        dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / name


# --- reading the sets -----------------------------------------------------------------------------------


def test_a_bfcl_file_with_its_answers_is_a_set_named_by_its_stem(tmp_path: Path) -> None:
    [s] = load_ood_sets([bfcl_set(tmp_path)])
    assert s.name == "BFCL_v4_simple_python" and s.read == 5 and len(s.records) == 5 and not s.skipped
    row = s.rows[0]
    assert row["bucket"] == s.name and row["id"] == "simple_python_0" and row["tools"]
    assert row["messages"][-1]["role"] == "assistant" and "<tool_call>" in row["messages"][-1]["content"]
    assert "calculate_triangle_area" in row["messages"][-1]["content"]


def test_records_left_out_are_counted_with_their_reason(tmp_path: Path) -> None:
    good = {"id": "a", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    no_answer = {"id": "b", "messages": [{"role": "user", "content": "hi"}]}
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(no_answer) + "\n", encoding="utf-8")
    [s] = load_ood_sets([path])
    assert [r.id for r in s.records] == ["a"] and s.read == 3
    assert s.skipped == {UNREADABLE: 1, NO_ASSISTANT: 1}
    assert "1 of 3 records" in s.summary() and "left out: 1 unreadable, 1 without an assistant turn" in s.summary()


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("", "no usable record (no record in it)"),
    ("{not json\n", "no usable record (1 unreadable; first: record 1:"),
])
def test_a_file_that_gives_no_record_is_one_error_naming_it(tmp_path: Path, content: str | None,
                                                            expected: str) -> None:
    path = tmp_path / "ood.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainError) as e:
        load_ood_sets([path])
    assert str(path) in str(e.value) and expected in str(e.value) and "\n" not in str(e.value)


def test_bfcl_rows_without_their_answers_say_where_the_answers_go(tmp_path: Path) -> None:
    path = bfcl_set(tmp_path)
    shutil.rmtree(tmp_path / "possible_answer")
    with pytest.raises(TrainError, match="possible_answer"):
        load_ood_sets([path])


def test_two_files_with_one_stem_are_refused_and_one_file_twice_is_read_once(tmp_path: Path) -> None:
    a = bfcl_set(tmp_path / "a")
    b = bfcl_set(tmp_path / "b")
    with pytest.raises(TrainError, match="both `BFCL_v4_simple_python`; rename"):
        load_ood_sets([a, b])
    assert len(load_ood_sets([a, tmp_path / "a" / ".." / "a" / SIMPLE])) == 1


def test_config_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "conf" / "train.toml"
    cfg.parent.mkdir()
    cfg.write_text('[eval]\nood = ["sets/x.jsonl", "/abs/y.jsonl"]\nood_prompts = 4\n', encoding="utf-8")
    loaded = load_train_config(cfg)
    assert loaded.eval.ood == [str(tmp_path / "conf" / "sets" / "x.jsonl"), "/abs/y.jsonl"]
    assert loaded.eval.ood_prompts == 4


# --- the command line: bad sets stop the run before anything is written -----------------------------------


@pytest.mark.parametrize("content", [None, "", "garbage that is not json\n"])
def test_a_bad_ood_file_exits_2_with_one_line_before_anything_is_written(tmp_path: Path,
                                                                         content: str | None) -> None:
    build = write_build(tmp_path / "build")
    ood = tmp_path / "held_out.jsonl"
    if content is not None:
        ood.write_text(content, encoding="utf-8")
    run = tmp_path / "run"
    res = run_cli("train", str(build), "--model", str(tmp_path / "no-model-needed"), "-o", str(run),
                  "--ood", str(ood), env={"CURATE_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "held_out.jsonl" in lines[0] and "OOD set" in lines[0]
    assert not run.exists() and not (tmp_path / "run.partial").exists() and not (tmp_path / "cache").exists()


def test_ood_option_is_documented_as_adding_to_the_config() -> None:
    out = " ".join(run_cli("train", "--help").stdout.split())
    assert "--ood FILE" in out and "adds to the config's [eval] ood" in out


# --- graduation (no model) --------------------------------------------------------------------------------

SETTINGS = GenerationSettings(prompts_per_bucket=4, n_samples=4, temperature=0.7, max_new_tokens=64, seed=0,
                              turns="last")


def ood_gen(arg: float = 0.5, passk: float = 0.5) -> GenerationEval:
    m = BucketMetrics(prompts=4, samples=16, prompts_with_calls=4, format_accuracy=0.9, parse_rate=1.0,
                      schema_valid_rate=0.9, arg_match=arg, tool_call_accuracy=arg, pass_at_k={1: passk / 2, 4: passk})
    return GenerationEval(settings=SETTINGS, overall=m, buckets={"bfcl": m})


def ood_set(base: tuple[float, float, float], **ckpts: tuple[float, float, float]) -> OodSetEval:
    """A set with (loss, argument match, pass@k) for the base and per checkpoint (`checkpoint_20=...`)."""
    def result(v: tuple[float, float, float]) -> OodResult:
        return OodResult(loss=v[0], tokens=100, generation=ood_gen(v[1], v[2]))

    return OodSetEval(name="bfcl", path="bfcl.json", read=4, records=4, examples=4, base=result(base),
                      checkpoints={k.replace("_", "-"): result(v) for k, v in ckpts.items()})


def two_checkpoints(second_loss: float = 1.2) -> tuple[list[Any], list[CheckpointEval]]:
    """Both healthy and converged enough; the second has the lower in-distribution eval loss (unless told)."""
    history = [entry(20, 1.5, 1.45, chat=1.5, tools=1.5), entry(40, second_loss, second_loss - 0.05,
                                                                chat=second_loss, tools=second_loss)]
    return history, [CheckpointEval(name="checkpoint-20", step=20, generation=gen()),
                     CheckpointEval(name="checkpoint-40", step=40, generation=gen())]


def test_an_ood_regression_while_in_distribution_improves_is_flagged_with_what_to_do() -> None:
    history, ckpts = two_checkpoints()
    ood = ood_set((2.0, 0.5, 0.5), checkpoint_20=(1.8, 0.6, 0.6), checkpoint_40=(2.4, 0.3, 0.6))
    g = graduate(history, ckpts, BASE, ood=[ood])
    found = {(r.checkpoint, r.against, r.metric): r for r in g.ood_regressions}
    assert set(found) == {("checkpoint-40", "previous", "loss"), ("checkpoint-40", "previous", "arg_match"),
                          ("checkpoint-40", "base", "loss"), ("checkpoint-40", "base", "arg_match")}
    r = found["checkpoint-40", "previous", "loss"]
    assert (r.before, r.after, r.set) == (1.8, 2.4, "bfcl")
    text = r.sentence()
    assert "eval loss fell 1.500 → 1.200 vs checkpoint-20" in text and "OOD set `bfcl` loss rose 1.800 → 2.400" in text
    assert "prefer an earlier checkpoint" in text
    assert g.checkpoints[1].ood_regressions and not g.checkpoints[0].ood_regressions


def test_no_flag_without_an_in_distribution_gain_or_within_the_tolerances() -> None:
    history, ckpts = two_checkpoints(second_loss=1.5)  # no in-distribution gain over checkpoint-20
    worse = ood_set((2.0, 0.5, 0.5), checkpoint_20=(1.8, 0.6, 0.6), checkpoint_40=(2.4, 0.3, 0.3))
    assert graduate(history, ckpts, None, ood=[worse]).ood_regressions == []
    history, ckpts = two_checkpoints()  # a gain, but OOD moves less than the tolerances (0.05)
    close = ood_set((2.0, 0.5, 0.5), checkpoint_20=(1.8, 0.6, 0.6), checkpoint_40=(1.84, 0.56, 0.57))
    assert graduate(history, ckpts, BASE, ood=[close]).ood_regressions == []
    loose = GraduationThresholds(ood_loss_tolerance=1.0, ood_metric_tolerance=0.5)
    assert graduate(history, ckpts, BASE, loose, ood=[worse]).ood_regressions == []


def test_ood_sets_rank_the_recommendation() -> None:
    history, ckpts = two_checkpoints()
    without = graduate(history, ckpts, BASE)
    assert without.recommended == "checkpoint-40"  # the lower in-distribution eval loss
    ood = ood_set((2.0, 0.5, 0.5), checkpoint_20=(1.8, 0.6, 0.6), checkpoint_40=(2.4, 0.3, 0.6))
    g = graduate(history, ckpts, BASE, ood=[ood])
    assert g.recommended == "checkpoint-20" and "ranked by the OOD sets" in g.recommendation
    assert g.checkpoints[0].ood_loss == 1.8 and g.checkpoints[1].ood_pass_at_max_k == 0.6
    assert g.ood_sets == ["bfcl"]
    # OOD losses within the tolerance are tied: OOD pass@k decides, then the in-distribution eval loss
    tied = ood_set((2.0, 0.5, 0.5), checkpoint_20=(1.80, 0.6, 0.4), checkpoint_40=(1.82, 0.6, 0.7))
    assert graduate(history, ckpts, BASE, ood=[tied]).recommended == "checkpoint-40"
    level = ood_set((2.0, 0.5, 0.5), checkpoint_20=(1.80, 0.6, 0.6), checkpoint_40=(1.82, 0.6, 0.6))
    assert graduate(history, ckpts, BASE, ood=[level]).recommended == "checkpoint-40"
    # the regressions of the recommended checkpoint are among its reasons
    history2, ckpts2 = two_checkpoints()
    only = graduate(history2, ckpts2[1:], BaselineEval(eval_loss=3.0), ood=[ood])
    assert any(r.startswith("OOD regression: checkpoint-40") for r in only.reasons)


def test_reports_show_in_and_out_of_distribution_side_by_side_escaped() -> None:
    history, ckpts = two_checkpoints()
    ood = ood_set((2.0, 0.5, 0.5), checkpoint_20=(1.8, 0.6, 0.6), checkpoint_40=(2.4, 0.3, 0.6))
    ood = ood.model_copy(update={"name": "<b>[red]bfcl", "path": "sets/<b>.json"})
    report = build_report("tiny", history, ckpts, BASE, ood=[ood])
    page = render_report(report)
    assert "In distribution and out of distribution" in page and "eval split (in distribution)" in page
    assert "&lt;b&gt;[red]bfcl" in page and "<b>[red]" not in page and "2.400" in page
    assert "schema-valid" in page and "argument match" in page and "loss rose 1.800 → 2.400" in page
    console = Console(record=True, width=220, color_system=None)
    print_report(report, console)
    text = console.export_text()
    assert "<b>[red]bfcl" in text and "eval split (in distribution)" in text
    assert "2.400" in text and "OOD regression" in text
    assert "out of distribution" not in render_report(build_report("tiny", history, ckpts, BASE))


# --- end to end -------------------------------------------------------------------------------------------

# the quick run of the safety tests, with a few OOD prompts and room for a short call
QUICK = (QUICK_RUN.replace("[generation]", "ood_prompts = 3\n[generation]")
         .replace("max_new_tokens = 8", "max_new_tokens = 12"))


@pytest.fixture(scope="module")
def tiny(cache: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, built (not pretrained): the run is about where the numbers go, not their quality."""
    pytest.importorskip("bitsandbytes")
    from curate_train.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.mark.slow
def test_a_run_reports_ood_loss_and_generation_for_the_base_and_every_checkpoint(tiny: Path, cache: str,
                                                                                  tmp_path: Path) -> None:
    build = write_build(tmp_path / "build")
    ood = bfcl_set(tmp_path / "bfcl")
    cfg = tmp_path / "quick.toml"
    cfg.write_text(QUICK, encoding="utf-8")
    run = tmp_path / "run"
    res = run_cli("train", str(build), "--model", str(tiny), "--config", str(cfg), "-o", str(run),
                  "--ood", str(ood), env={"OMP_NUM_THREADS": "1", "CURATE_CACHE": cache}, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "OOD set `BFCL_v4_simple_python`" in res.stderr and "5 of 5 records" in res.stderr
    report = json.loads((run / "eval_report.json").read_text(encoding="utf-8"))
    [s] = report["ood"]
    assert s["name"] == "BFCL_v4_simple_python" and s["records"] == 5 and s["examples"] == 5
    checkpoints = [c["name"] for c in report["checkpoints"]]
    assert len(checkpoints) == 2 and sorted(s["checkpoints"]) == sorted(checkpoints)
    for result in [s["base"], *s["checkpoints"].values()]:
        assert result["loss"] > 0 and result["tokens"] > 0
        overall = result["generation"]["overall"]
        assert overall["prompts"] == 3 and overall["prompts_with_calls"] == 3 and overall["pass_at_k"]
        assert list(result["generation"]["buckets"]) == ["BFCL_v4_simple_python"]
    # training moves the OOD loss of the checkpoints away from the base's
    assert s["checkpoints"][checkpoints[-1]]["loss"] != s["base"]["loss"]
    assert report["graduation"]["ood_sets"] == ["BFCL_v4_simple_python"]
    assert "ranked by the OOD sets" in report["graduation"]["recommendation"]
    assert json.loads((run / "train_config.json").read_text())["eval"]["ood"] == [str(ood)]
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "BFCL_v4_simple_python" in page and "In distribution and out of distribution" in page
    assert "BFCL_v4_simple" in res.stdout and "eval split" in res.stdout  # the terminal table (80 columns)
    # the README's tables are printed from such a run: the base and every checkpoint, the recommended starred
    from bench.run_table import tables

    text = tables(run)
    best = report["graduation"]["recommended"]
    header = "| set | metric | base | " + " | ".join(c + (" ★" if c == best else "") for c in checkpoints) + " |"
    assert header in text and "| eval split | loss (assistant tokens) |" in text
    again = tables(run, regrade=True)  # the same measurements graded by the installed rule: the same choice here
    assert f"recommended (★): {best} (graded again by this version's rule; the run's own report recommended {best})" \
        in again
    base_loss = f"{s['base']['loss']:.3f}"
    assert f"| OOD `BFCL_v4_simple_python` (5 records) | loss (assistant tokens) | {base_loss} |" in text
