"""Every BFCL v4 ground truth, linted: the validator must agree with real, independently written data.

Each row of the categories that have answers becomes a trajectory with `from_bfcl` (the first
acceptable value of each parameter; `""` first means the parameter is left out), written once as
JSON and once as Python-style calls for the single-turn categories, and is linted with the real
`Linter` and its tool-call rules. The ground truths must produce no finding at all, except the
ones listed in `KNOWN_DEFECTS`: places where BFCL's own answer breaks BFCL's own schema. That list
is exact both ways: a new finding fails the test (fix the parser/validator, or list the defect with
its reason), and so does a listed finding that went away.

The data lives outside the repository (`/work/shared/real/bfcl`, beside the checkout); the tests are
skipped when it is absent.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from curate.lint import Linter
from curate.readers import (
    RawRecord,
    ReadResult,
    bfcl_nested_value,
    from_bfcl,
    load_bfcl_func_docs,
    normalise_tools,
)
from curate.records import Finding, Trajectory
from curate.toolcalls import parse_message_calls

BFCL = Path(__file__).resolve().parents[2] / "shared" / "real" / "bfcl"

pytestmark = pytest.mark.skipif(
    not (BFCL / "possible_answer").is_dir(),
    reason=f"BFCL data not found at {BFCL} (expected BFCL_v4_*.json and possible_answer/ there)",
)

SINGLE_TURN = (
    "simple_python", "multiple", "parallel", "parallel_multiple",
    "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
)
MULTI_TURN = "multi_turn_base"
SYNTAXES = ("json", "python")

# Every tool-call rule (TC001-TC009). For multi-turn rows TC007 (calls without tool responses) is
# ignored: BFCL stores only the calls of each turn, never the tools' responses, so every turn but
# the last would be "unpaired" by construction. Single-turn rows end with their only assistant
# turn, which TC007 exempts, so there it stays selected.
SELECT = ["TC"]
MULTI_TURN_IGNORE = ["TC007"]

# Where BFCL's ground truth (its first acceptable value) violates its own function schema. Each
# reason starts with the codes the row must produce, exactly; checked both ways.
KNOWN_DEFECTS: dict[str, str] = {
    "simple_python_200": (
        "TC003: `calculate_emissions.fuel_efficiency` is required, but the first acceptable value is "
        '"" (omitted); 25.0 only comes second'
    ),
    "parallel_multiple_21": (
        "TC005: `linear_regression_fit.x`/`y` are arrays of floats; the ground truth passes the Python "
        "expressions \"data['sales']\" and \"data['future_sales']\" as strings"
    ),
    "parallel_multiple_26": (
        "TC004: `type` belongs to the items of `transactions`; the ground truth passes it as a "
        "top-level argument of `bank.calculate_balance`"
    ),
    "parallel_multiple_94": (
        "TC005: `sort_list.elements` declares integer items; the first call sorts fruit names (strings)"
    ),
    "live_multiple_87-38-4": (
        "TC006: `list_servers.type` is one of all/postgres/openapi/graphql; the ground truth gives 'openai'"
    ),
    "live_multiple_144-56-0": (
        "TC003: `get_sensor_readings_latest.perPage` is required, but the first acceptable value is "
        '"" (omitted); 100 only comes second'
    ),
    "live_multiple_189-83-0": (
        "TC004: `sendHttpRequest.data` declares only the placeholder properties param1/param2; the "
        "ground truth sends `name` and `email`"
    ),
    "live_multiple_507-149-4": (
        "TC003: `Flights_4_SearchOnewayFlight.origin_airport` is required, but its only acceptable "
        'value is "" (omitted)'
    ),
    "live_multiple_552-153-1": (
        "TC005: `Services_1_FindProvider.is_unisex` is a string enum ('True'/'False'/'dontcare'); "
        "the ground truth gives the boolean true"
    ),
    "live_multiple_595-158-1": (
        "TC005: `Hotels_4_SearchHotel.number_of_rooms` is a string enum ('1'/'2'/'3'/'dontcare'); "
        "the ground truth gives the integer 2"
    ),
    "live_multiple_596-158-2": (
        "TC005: `Hotels_4_SearchHotel.number_of_rooms` is a string enum ('1'/'2'/'3'/'dontcare'); "
        "the ground truth gives the integer 1"
    ),
    "live_multiple_731-167-2": (
        "TC005: `Homes_2_FindHomeByArea.in_unit_laundry` is a string enum ('True'/'False'/'dontcare'); "
        "the ground truth gives the boolean true"
    ),
    "live_multiple_733-167-4": (
        "TC005: `Homes_2_FindHomeByArea.in_unit_laundry` is a string enum ('True'/'False'/'dontcare'); "
        "the ground truth gives the boolean true"
    ),
    "live_multiple_735-167-6": (
        "TC005: `Homes_2_FindHomeByArea.in_unit_laundry` is a string enum ('True'/'False'/'dontcare'); "
        "the ground truth gives the boolean true"
    ),
    "live_multiple_750-169-5": (
        "TC006: `Media_3_FindMovies.genre` (required enum of genres) has no 'Any'; the ground truth gives 'Any'"
    ),
    "live_multiple_756-169-11": (
        "TC006: `Media_3_FindMovies.genre` enum has 'Horror'; the ground truth gives 'horror'"
    ),
    "live_multiple_834-178-9": (
        "TC003: `Music_3_PlayMedia.track` is required, but the first acceptable value is \"\" (omitted)"
    ),
    "live_multiple_835-178-10": (
        "TC006: `Music_3_LookupMusic.genre` enum has no 'Reggaeton' (only 'Reggae')"
    ),
    "live_multiple_862-181-3": (
        "TC004: `Trains_1_FindTrains` has no parameter `journey_start_time`"
    ),
    "live_multiple_871-182-8": (
        "TC006: `Movies_1_FindMovies.genre` enum has no 'Play'"
    ),
    "live_multiple_947-197-0": (
        "TC006: `set_countdown.duration` is one of five fixed durations; the ground truth gives '5 minutes'"
    ),
    "live_multiple_964-207-0": (
        "TC003 TC004: the ground truth passes `question` where `transfer_to_human_agent` requires "
        "`statement` (and declares nothing else)"
    ),
    "live_parallel_multiple_2-2-0": (
        "TC006: `ControlAppliance.execute.command` is an enum of three example commands; the second "
        "call's '침실, 공기청정기, 중지' is not one of them"
    ),
    "multi_turn_base_173": (
        "TC005: `close_ticket.ticket_id` is declared integer; the ground truth closes 'ticket_001' "
        "(the ticket ids of the row's initial_config are strings too)"
    ),
}

# Multi-turn ground truths are Python call strings, and some pass arguments by position, e.g.
# `cd('documents')`. TC009 reports each (a warning; the arguments are mapped onto the schema's
# parameter order and still validated). Exact list: record id -> tools called positionally, in order.
MULTI_TURN_POSITIONAL: dict[str, list[str]] = {
    "multi_turn_base_0": ["sort"],
    "multi_turn_base_24": ["cd"],
    "multi_turn_base_31": ["cd", "mean"],
    "multi_turn_base_32": ["touch"],
    "multi_turn_base_51": ["message_login"],
    "multi_turn_base_52": ["post_tweet"],
    "multi_turn_base_53": ["post_tweet"],
    "multi_turn_base_55": ["displayCarStatus", "fillFuelTank"],
    "multi_turn_base_56": ["get_zipcode_based_on_city", "get_zipcode_based_on_city", "displayCarStatus"],
    **{f"multi_turn_base_{n}": ["get_zipcode_based_on_city"] * 2
       for n in (57, 58, 59, 61, 62, 63, 67, 69, 71, 77, 80, 85)},
    "multi_turn_base_103": ["get_stock_info"],
    "multi_turn_base_105": ["get_available_stocks"],
    "multi_turn_base_144": ["mean"],
}


# --- BFCL's nested answer format -----------------------------------------------------------------


# --- the run -------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass
class Run:
    rows: Counter[str] = field(default_factory=Counter)
    """category -> rows converted"""
    expected_calls: Counter[str] = field(default_factory=Counter)
    """category -> calls in the ground truths"""
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(category, syntax) -> calls parsed from the converted trajectories"""
    findings: dict[tuple[str, str], list[Finding]] = field(default_factory=lambda: defaultdict(list))
    """(syntax, record id) -> findings"""
    seconds: float = 0.0


@pytest.fixture(scope="module")
def run() -> Run:
    started = time.perf_counter()
    result = Run()
    docs = load_bfcl_func_docs(BFCL / "multi_turn_func_doc")
    for category in (*SINGLE_TURN, MULTI_TURN):
        rows = _read_jsonl(BFCL / f"BFCL_v4_{category}.json")
        answer_rows = _read_jsonl(BFCL / "possible_answer" / f"BFCL_v4_{category}.json")
        answers = {a["id"]: a["ground_truth"] for a in answer_rows}
        multi = category == MULTI_TURN
        for syntax in ("json",) if multi else SYNTAXES:
            linter = Linter(select=SELECT, ignore=MULTI_TURN_IGNORE if multi else None)
            for line, row in enumerate(rows, 1):
                truth = answers.get(row["id"])
                if truth is None:
                    continue
                if syntax == "json":
                    result.rows[category] += 1
                    result.expected_calls[category] += sum(map(len, truth)) if multi else len(truth)
                adapted = from_bfcl(row, truth, syntax=syntax, func_docs=docs)
                adapted["tools"] = normalise_tools(adapted["tools"])
                record = Trajectory.model_validate(adapted)
                for i, message in enumerate(record.messages):
                    if message.role == "assistant":
                        result.calls[category, syntax] += len(parse_message_calls(message, i))
                raw = RawRecord(f"BFCL_v4_{category}.json[{syntax}]", line, row)
                for finding in linter.lint_result(ReadResult(raw, record, record.id, [])):
                    result.findings[syntax, finding.record_id].append(finding)
    result.seconds = time.perf_counter() - started
    return result


def _show(findings: list[Finding]) -> str:
    return "\n".join(f"  {f.record_id} {f.code} {f.message}" for f in findings)


# --- the tests -----------------------------------------------------------------------------------


def test_every_row_and_every_ground_truth_call_is_read(run: Run) -> None:
    assert dict(run.rows) == {
        "simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200,
        "live_simple": 258, "live_multiple": 1053, "live_parallel": 16, "live_parallel_multiple": 24,
        "multi_turn_base": 200,
    }
    for category, expected in run.expected_calls.items():
        syntaxes = ("json",) if category == MULTI_TURN else SYNTAXES
        for syntax in syntaxes:
            assert run.calls[category, syntax] == expected, (category, syntax)
    per_syntax = {s: sum(n for (_, s2), n in run.calls.items() if s2 == s) for s in SYNTAXES}
    # 3152 single-turn calls in each syntax, plus the 1142 multi-turn calls (as BFCL writes them).
    assert per_syntax == {"json": 3152 + 1142, "python": 3152}
    print(f"\nBFCL: {sum(run.rows.values())} rows, calls checked: {per_syntax}, in {run.seconds:.2f}s")


def test_ground_truths_have_no_findings_but_the_known_defects(run: Run) -> None:
    unexpected: list[Finding] = []
    codes: dict[str, set[str]] = defaultdict(set)
    for (_syntax, record_id), findings in run.findings.items():
        for f in findings:
            if f.code == "TC009" and record_id in MULTI_TURN_POSITIONAL:
                continue  # checked on its own below
            if record_id in KNOWN_DEFECTS:
                codes[record_id].add(f.code)
            else:
                unexpected.append(f)
    assert not unexpected, (
        "tool-call findings on BFCL ground truths: fix the parser/validator, or add the row to "
        "KNOWN_DEFECTS with the reason if BFCL's answer really breaks its schema:\n" + _show(unexpected)
    )
    gone = sorted(set(KNOWN_DEFECTS) - set(codes))
    assert not gone, f"listed in KNOWN_DEFECTS but no longer found (remove them): {gone}"
    for record_id, reason in KNOWN_DEFECTS.items():
        listed = set(re.match(r"(?:TC\d{3} ?)+", reason).group(0).split())  # type: ignore[union-attr]
        assert codes[record_id] == listed, (record_id, sorted(codes[record_id]), reason)


def test_known_defects_are_found_in_every_syntax(run: Run) -> None:
    for record_id in KNOWN_DEFECTS:
        syntaxes = ("json",) if record_id.startswith(MULTI_TURN) else SYNTAXES
        for syntax in syntaxes:
            assert run.findings.get((syntax, record_id)), (syntax, record_id)


def test_json_and_python_calls_give_the_same_findings(run: Run) -> None:
    def by_syntax(syntax: str) -> dict[str, list[tuple[str, str]]]:
        return {rid: [(f.code, f.message) for f in fs]
                for (s, rid), fs in run.findings.items() if s == syntax and not rid.startswith(MULTI_TURN)}

    assert by_syntax("json") == by_syntax("python")


def test_multi_turn_positional_arguments_are_the_known_ones(run: Run) -> None:
    positional = {
        rid: [re.search(r"call to `([^`]+)`", f.message).group(1)  # type: ignore[union-attr]
              for f in fs if f.code == "TC009"]
        for (_s, rid), fs in run.findings.items()
    }
    positional = {rid: names for rid, names in positional.items() if names}
    assert positional == MULTI_TURN_POSITIONAL
    assert sum(map(len, positional.values())) == 40
    # Mapped onto the parameters by position, they must still be valid: no other finding on them.
    others = [f for rid in MULTI_TURN_POSITIONAL for f in run.findings[("json", rid)] if f.code != "TC009"]
    assert not others, _show(others)


def test_nested_answer_format_is_resolved() -> None:
    schema = {"type": "dict", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    assert bfcl_nested_value({"a": ["x", "y"], "b": ["", 3]}, schema) == {"a": "x"}
    listed = {"type": "array", "items": schema}
    assert bfcl_nested_value([{"a": ["x"]}, {"b": [2]}], listed) == [{"a": "x"}, {"b": 2}]
    # Not in the answer format (a value that is not a list of acceptable values): taken as it is.
    assert bfcl_nested_value({"a": "x"}, schema) == {"a": "x"}
    assert bfcl_nested_value({"a": ["x"]}, {"type": "any"}) == {"a": ["x"]}


def test_reading_the_files_directly_gives_the_same_findings(run: Run) -> None:
    """`curate lint BFCL_v4_<cat>.json` finds `possible_answer/` itself and must agree with the above."""
    for category in (*SINGLE_TURN, MULTI_TURN):
        multi = category == MULTI_TURN
        linter = Linter(select=SELECT, ignore=MULTI_TURN_IGNORE if multi else None)
        got = [(f.record_id, f.code, f.message) for f in linter.lint_path(BFCL / f"BFCL_v4_{category}.json")]
        assert linter.stats.records == run.rows[category]
        expected = [(f.record_id, f.code, f.message) for (s, _), fs in run.findings.items() if s == "json"
                    for f in fs if f.path == f"BFCL_v4_{category}.json[json]"]
        assert sorted(got) == sorted(expected), category
