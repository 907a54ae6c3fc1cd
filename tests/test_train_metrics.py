"""Generation metrics and turn scoring: pass@k, diversity, and the BFCL-style comparison of calls.

Pure Python, no model. The BFCL part checks the argument matcher on every single-turn BFCL ground
truth: each call written as a Python-style reference must match itself re-rendered as a JSON
`<tool_call>`, and mutated copies (a changed value, a dropped required argument, an extra
argument, a wrong name) must not.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from curate.readers import from_bfcl, normalise_tools
from curate.records import Message
from curate_train.metrics import (
    distinct_n,
    diversity,
    mean_or_none,
    mean_pass_at_k,
    pairwise_different_ratio,
    pass_at_k,
    pass_at_ks,
    unique_ratio,
)
from curate_train.scoring import TurnScorer, max_matching, normalise_answer, normalise_string, values_equal
from tests.test_bfcl import KNOWN_DEFECTS

BFCL = Path(__file__).resolve().parents[2] / "shared" / "real" / "bfcl"

# --- pass@k ---------------------------------------------------------------------------------------


def test_pass_at_k_hand_computed() -> None:
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))  # 0.7
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0  # n - c = 2 < k = 3: every 3-subset holds a pass
    assert pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0


def test_pass_at_k_matches_the_binomial_form_and_is_stable() -> None:
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1.0 if n - c < k else 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12), (n, c, k)
    # C(2000, 1000) overflows a float; the product form does not.
    assert 0.0 < pass_at_k(2000, 1, 1000) == pytest.approx(0.5)
    assert pass_at_ks(3, 1) == pytest.approx({1: 1 / 3, 2: 2 / 3, 3: 1.0})
    assert pass_at_ks(0, 0) == {}


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(n, c, k)


def test_mean_pass_at_k_over_prompts() -> None:
    assert mean_pass_at_k([{1: 0.0, 2: 0.0}, {1: 1.0, 2: 1.0}]) == {1: 0.5, 2: 0.5}
    assert mean_pass_at_k([{1: 0.2, 2: 0.4}, {1: 0.4}]) == pytest.approx({1: 0.3})  # only the shared k
    assert mean_pass_at_k([]) == {}


# --- diversity --------------------------------------------------------------------------------------


def test_diversity_on_crafted_samples() -> None:
    same = ["the answer is 4"] * 4
    assert unique_ratio(same) == 0.25
    assert pairwise_different_ratio(same) == 0.0
    assert distinct_n(same, 1) == pytest.approx(4 / 16)
    assert distinct_n(same, 2) == pytest.approx(3 / 12)

    mixed = ["a b", "a b", "a c", "d"]
    assert unique_ratio(mixed) == 0.75
    assert pairwise_different_ratio(mixed) == pytest.approx(5 / 6)  # only the pair of "a b" is equal
    assert distinct_n(mixed, 1) == pytest.approx(4 / 7)  # a, b, c, d over 7 tokens
    assert distinct_n(mixed, 2) == pytest.approx(2 / 3)  # (a b), (a c) over 3 bigrams; "d" has none

    d = diversity(["x y z", "x y w"])
    assert (d.unique_ratio, d.pairwise_ratio) == (1.0, 1.0)
    assert d.distinct_1 == pytest.approx(4 / 6) and d.distinct_2 == pytest.approx(3 / 4)


def test_diversity_edge_cases_are_none_not_zero() -> None:
    one = diversity(["only one sample"])
    assert one.unique_ratio is None and one.pairwise_ratio is None  # undefined, not 0 (nor a perfect 1)
    assert one.distinct_1 == 1.0
    none = diversity([])
    assert none == type(none)(None, None, None, None)
    empty = diversity(["", "  "])
    assert empty.unique_ratio == 1.0 and empty.pairwise_ratio == 1.0  # "" and "  " are different outputs
    assert empty.distinct_1 is None and empty.distinct_2 is None  # no tokens: 0/0, not 0
    assert distinct_n(["one"], 2) is None
    assert mean_or_none([None, 0.5, None, 1.0]) == 0.75
    assert mean_or_none([None]) is None


# --- scoring ----------------------------------------------------------------------------------------

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                                                                "default": "celsius"},
                           "days": {"type": "integer"}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "convert", "parameters": {
            "type": "object",
            "properties": {"amount": {"type": "number"}, "to": {"type": "string"},
                           "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["amount", "to"]}}},
]


def block(name: str, arguments: dict[str, Any]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def call(name: str, **args: Any) -> str:
    return block(name, args)


def ref(*blocks: str, think: str = "<think>Plan.</think>\n") -> Message:
    return Message(role="assistant", content=think + "\n".join(blocks))


@pytest.fixture(scope="module")
def scorer() -> TurnScorer:
    return TurnScorer()


def test_a_matching_call_passes(scorer: TurnScorer) -> None:
    s = scorer.score("<think>Weather, so get_weather.</think>\n" + call("get_weather", city="Oslo"),
                     ref(call("get_weather", city="Oslo")), TOOLS)
    assert s.format_ok and s.passed and s.calls_match and s.names_match
    assert (s.blocks, s.parsed, s.schema_valid, s.reference_calls, s.matched_calls) == (1, 1, 1, 1, 1)
    assert s.answer_match is None and s.problems == []


@pytest.mark.parametrize(("output", "code"), [
    ("<think>unclosed " + call("get_weather", city="Oslo"), "FM001"),
    ("<think>a</think><think>b</think>" + call("get_weather", city="Oslo"), "FM002"),
    (call("get_weather", city="Oslo") + "<think>late</think>", "FM003"),
    ("<tool-call>{}</tool-call>", "FM005"),
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}', "FM006"),
    (call("get_weather", city="Oslo") + "<tool_response>{}</tool_response>", "FM007"),
])
def test_format_problems_are_the_linters(scorer: TurnScorer, output: str, code: str) -> None:
    s = scorer.score(output, ref(call("get_weather", city="Oslo")), TOOLS)
    assert not s.format_ok
    assert any(p.startswith(code) for p in s.format_problems), s.format_problems


def test_a_turn_that_never_ends_is_a_format_failure(scorer: TurnScorer) -> None:
    out = call("get_weather", city="Oslo")
    assert scorer.score(out, ref(call("get_weather", city="Oslo")), TOOLS).format_ok
    s = scorer.score(out, ref(call("get_weather", city="Oslo")), TOOLS, stopped=False)
    assert not s.format_ok and any("end-of-turn" in p for p in s.format_problems)
    assert s.calls_match  # the call itself still matches: accuracy and format are separate metrics


def test_unclosed_block_counts_as_an_unparsed_call(scorer: TurnScorer) -> None:
    s = scorer.score('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}',
                     ref(call("get_weather", city="Oslo")), TOOLS)
    assert (s.blocks, s.parsed) == (1, 0)
    assert not s.calls_match and not s.passed


def test_unparseable_call(scorer: TurnScorer) -> None:
    s = scorer.score('<tool_call>\n{"name": "get_weather", "arguments": {"city": Oslo}}\n</tool_call>',
                     ref(call("get_weather", city="Oslo")), TOOLS)
    assert s.format_ok  # the tags are fine; the JSON is not
    assert (s.blocks, s.parsed, s.schema_valid, s.matched_calls) == (1, 0, 0, 0)
    assert not s.passed and any(p.startswith("TC001") for p in s.problems)


def test_schema_invalid_call_still_parses(scorer: TurnScorer) -> None:
    s = scorer.score(call("get_weather", city="Oslo", unit="kelvin"), ref(call("get_weather", city="Oslo")), TOOLS)
    assert (s.parsed, s.schema_valid) == (1, 0)
    assert any(p.startswith("TC006") for p in s.problems)
    s = scorer.score(call("get_weather", city="Oslo", days="two"), ref(call("get_weather", city="Oslo")), TOOLS)
    assert (s.parsed, s.schema_valid) == (1, 0) and any(p.startswith("TC005") for p in s.problems)
    s = scorer.score(call("get_time", city="Oslo"), ref(call("get_weather", city="Oslo")), TOOLS)
    assert (s.parsed, s.schema_valid) == (1, 0) and any(p.startswith("TC002") for p in s.problems)


def test_wrong_name_extra_arg_missing_arg_and_wrong_value_do_not_match(scorer: TurnScorer) -> None:
    reference = ref(call("get_weather", city="Oslo", unit="fahrenheit"))
    cases = {
        "name": call("convert", city="Oslo", unit="fahrenheit"),
        "extra": call("get_weather", city="Oslo", unit="fahrenheit", days=2),
        "missing required": call("get_weather", unit="fahrenheit"),
        "missing optional": call("get_weather", city="Oslo"),  # the reference's value is not the default
        "value": call("get_weather", city="Bergen", unit="fahrenheit"),
    }
    for what, out in cases.items():
        s = scorer.score(out, reference, TOOLS)
        assert not s.calls_match and not s.passed and s.matched_calls == 0, what
        assert s.names_match == (what != "name"), what


def test_an_optional_argument_at_its_default_may_be_left_out(scorer: TurnScorer) -> None:
    s = scorer.score(call("get_weather", city="Oslo"), ref(call("get_weather", city="Oslo", unit="celsius")), TOOLS)
    assert s.calls_match


def test_values_are_normalised_as_bfcl_does(scorer: TurnScorer) -> None:
    assert normalise_string("  April 1, 2024 ") == normalise_string("april 1 2024") == "april12024"
    assert normalise_string("New_York") == normalise_string("new york")
    assert normalise_string("it's") == 'it"s'
    assert values_equal(1, 1.0) and not values_equal(True, 1) and not values_equal("1", 1)
    assert values_equal(["A b", 2], ["ab", 2.0]) and not values_equal(["a", "b"], ["b", "a"])
    assert values_equal({"k": "São Paulo"}, {"k": "são-paulo"}) and not values_equal({"k": 1}, {"k": 1, "j": 2})
    assert values_equal(None, None) and not values_equal(None, "")
    s = scorer.score(call("get_weather", city="  new-york ", unit="FAHRENHEIT"),
                     ref(call("get_weather", city="New York", unit="fahrenheit")), TOOLS)
    assert s.calls_match
    s = scorer.score(call("convert", amount=10, to="EUR", tags=["b", "a"]),
                     ref(call("convert", amount=10.0, to="eur", tags=["a", "b"])), TOOLS)
    assert not s.calls_match  # lists are compared in order, as BFCL's list checker does


def test_parallel_calls_match_in_any_order(scorer: TurnScorer) -> None:
    reference = ref(call("get_weather", city="Oslo"), call("get_weather", city="Paris"),
                    call("convert", amount=1, to="EUR"))
    out = "\n".join([call("convert", amount=1, to="eur"), call("get_weather", city="paris"),
                     call("get_weather", city="Oslo")])
    s = scorer.score(out, reference, TOOLS)
    assert s.calls_match and s.matched_calls == 3 and s.names_match
    # The same names twice is not a match: calls are a multiset, each used once.
    twice = "\n".join([call("convert", amount=1, to="EUR"), call("get_weather", city="Oslo"),
                       call("get_weather", city="Oslo")])
    s = scorer.score(twice, reference, TOOLS)
    assert not s.calls_match and s.matched_calls == 2 and s.names_match
    # A missing or an extra call fails the turn, though every call made matches.
    s = scorer.score("\n".join([call("get_weather", city="Oslo"), call("get_weather", city="Paris")]), reference, TOOLS)
    assert not s.calls_match and s.matched_calls == 2 and not s.names_match
    extra = out + "\n" + call("get_weather", city="Rome")
    assert not scorer.score(extra, reference, TOOLS).calls_match


def test_matching_is_maximal_not_greedy() -> None:
    # Reference 0 matches both outputs, reference 1 only the first: a greedy pass pairing 0 with 0 fails.
    assert max_matching([[True, True], [True, False]]) == 2
    assert max_matching([[True, False], [True, False]]) == 1
    assert max_matching([]) == 0


def test_python_style_and_positional_calls_are_read_by_the_shared_parser(scorer: TurnScorer) -> None:
    reference = ref(call("get_weather", city="Oslo", unit="fahrenheit"))
    s = scorer.score('<tool_call>get_weather(city="Oslo", unit="fahrenheit")</tool_call>', reference, TOOLS)
    assert s.calls_match
    s = scorer.score('<tool_call>get_weather("Oslo", "fahrenheit")</tool_call>', reference, TOOLS)
    assert s.calls_match and s.schema_valid == 1  # positional: a style warning (TC009), still schema-valid


def test_answer_match_without_reference_calls(scorer: TurnScorer) -> None:
    reference = Message(role="assistant", content="<think>Easy.</think>That comes to 6,951.77 NOK.")
    for out in ("that comes to 6951.77 nok", "<think>Other thoughts.</think>\n  That  comes to 6,951.77 NOK!"):
        s = scorer.score(out, reference, TOOLS)
        assert s.answer_match and s.passed and s.calls_match is None, out
    for out in ("That comes to 695177 NOK.", "That comes to 6,951.77 EUR.",
                "That comes to 6,951.77 NOK." + call("get_weather", city="Oslo")):
        s = scorer.score(out, reference, TOOLS)
        assert not s.answer_match and not s.passed, out
    assert normalise_answer("<think>x</think> Hello,   World!") == "hello world"


# --- BFCL ground truths -----------------------------------------------------------------------------

SINGLE_TURN = ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple",
               "live_parallel", "live_parallel_multiple")
# Rows whose ground truth leaves out a required argument (its first acceptable value is ""): BFCL's
# own checker rejects a call without it, so the truth cannot match itself. Taken from the linter's list.
MISSING_REQUIRED = {rid for rid, reason in KNOWN_DEFECTS.items() if reason.startswith("TC003")}


def _read(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + " changed"
    if isinstance(value, list):
        return [*value, "changed"]
    if isinstance(value, dict):
        return {**value, "changed": 1}
    return "changed"


def _render(calls: list[dict[str, Any]]) -> str:
    return "\n".join(block(c["name"], c["arguments"]) for c in calls)


@pytest.mark.skipif(not (BFCL / "possible_answer").is_dir(), reason=f"BFCL data not found at {BFCL}")
def test_bfcl_ground_truths_match_themselves_and_mutations_do_not(scorer: TurnScorer) -> None:
    rows_checked = calls_checked = 0
    self_failures: dict[str, list[str]] = {}
    mutation_misses: list[tuple[str, str]] = []
    mutations: dict[str, int] = dict.fromkeys(("value", "required", "extra", "name"), 0)
    for category in SINGLE_TURN:
        answers = {a["id"]: a["ground_truth"] for a in _read(BFCL / "possible_answer" / f"BFCL_v4_{category}.json")}
        for row in _read(BFCL / f"BFCL_v4_{category}.json"):
            truth = answers.get(row["id"])
            if truth is None:
                continue
            # The reference as BFCL writes calls (Python style); the "generated" turn as JSON blocks.
            reference = from_bfcl(row, truth, syntax="python")
            as_json = from_bfcl(row, truth, syntax="json")
            tools = normalise_tools(reference["tools"])
            ref_msg = Message.model_validate(reference["messages"][-1])
            blocks = as_json["messages"][-1]["content"].split("</tool_call>")
            calls = [json.loads(b.strip().split("\n")[1]) for b in blocks if b.strip()]
            rows_checked += 1
            calls_checked += len(calls)
            s = scorer.score(_render(calls), ref_msg, tools)
            if not s.calls_match:
                self_failures[row["id"]] = s.problems
                continue
            required = {t["function"]["name"]: t["function"]["parameters"].get("required", []) for t in tools}
            for i, c in enumerate(calls):
                variants: dict[str, dict[str, Any]] = {}
                if c["arguments"]:
                    key = sorted(c["arguments"])[0]
                    v = copy.deepcopy(c)
                    v["arguments"][key] = _changed(v["arguments"][key])
                    variants["value"] = v
                present = [r for r in required.get(c["name"], []) if r in c["arguments"]]
                if present:
                    v = copy.deepcopy(c)
                    del v["arguments"][present[0]]
                    variants["required"] = v
                variants["extra"] = {**c, "arguments": {**c["arguments"], "zz_not_a_parameter": 1}}
                variants["name"] = {**c, "name": c["name"] + "_other"}
                for kind, mutated in variants.items():
                    mutations[kind] += 1
                    out = _render([*calls[:i], mutated, *calls[i + 1 :]])
                    if scorer.score(out, ref_msg, tools).calls_match:
                        mutation_misses.append((row["id"], kind))
    assert set(self_failures) == MISSING_REQUIRED, {k: v for k, v in self_failures.items()
                                                    if k not in MISSING_REQUIRED}
    assert not mutation_misses, mutation_misses[:20]
    assert rows_checked == 2351 and calls_checked == 3152
    assert min(mutations.values()) > 1000, mutations
