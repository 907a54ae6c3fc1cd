"""Capability buckets (signals, precedence, config) and length buckets."""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from curate.buckets import (
    DEFAULT_PRECEDENCE,
    DEFAULT_RULES,
    FALLBACK,
    BucketConfig,
    BucketConfigError,
    Bucketer,
    BucketRule,
    LengthConfig,
    length_bucket,
    length_bucket_names,
    length_edges,
)
from curate.buildconfig import BuildConfigError, load_build_config
from curate.config import ConfigError
from curate.readers import RecordReader
from curate.records import Trajectory

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "raw.jsonl"
CATEGORY_TO_BUCKET = {"single_tool": "single_call", "structured_json": "structured"}


# --- building records ----------------------------------------------------------------------------


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def say(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def calls(*named: tuple[str, dict[str, Any]], think: str = "") -> dict[str, Any]:
    """An assistant turn with one Hermes `<tool_call>` block per call."""
    blocks = "\n".join(f"<tool_call>\n{json.dumps({'name': n, 'arguments': a})}\n</tool_call>" for n, a in named)
    return {"role": "assistant", "content": (f"<think>{think}</think>\n" if think else "") + blocks}


def result(value: Any) -> dict[str, Any]:
    return {"role": "tool", "content": value if isinstance(value, str) else json.dumps(value)}


def traj(*messages: dict[str, Any]) -> Trajectory:
    return Trajectory.model_validate({"id": "t", "messages": list(messages)})


WEATHER = ("get_weather", {"city": "Oslo"})
STOCK = ("get_stock_price", {"symbol": "ACME"})
CALC = ("calculator", {"expression": "2 * 21"})
PYTHON = ("run_python", {"code": "print(1)"})


# What counts as a refusal (see curate.buckets): declining in so many words, saying the capability is
# lacking, or an apology then "I can't"; not a failure reported, uncertainty, or an idiom. One table per
# language, each with its near misses.
REFUSALS: dict[str, list[str]] = {
    "en": [
        "I can't help with that - it is illegal.", "I cannot assist with this request.",
        "Sorry, but I won't do that.", "I'm not able to help with this.", "I have to decline.",
        "That's not something I'll help with.", "I am unable to provide that.",
        "I'm unable to book flights for you.", "I’m not able to share that information.",  # a curly apostrophe
        "I’m unable to comply.", "I don't have the capability to send emails.",
        "I don’t have access to your calendar.", "I'm sorry, but I can't.", "I'm sorry, but I can't do that.",
        "Sorry, I cannot.", "I cannot provide instructions for making weapons.",
        "As an AI language model, I am not able to browse the internet.", "I must decline this request.",
        "I'll have to respectfully decline.", "I won't be able to help with that.", "I'm afraid I can't.",
        "I'm not capable of placing orders.", "I will not write that.",
        "i can't help with that.", "sorry, but i cannot do that.",  # typed without capitals
    ],
    "zh": [
        "抱歉，我无法提供这类信息。", "我不能帮助你做这件事。", "对不起，我无法完成这个请求。",
        "很抱歉，我不能这样做。", "我无法为您提供医疗诊断。", "我必须拒绝这个请求。",
        "作为一个AI语言模型，我无法浏览网页。", "恕我无法从命。", "不好意思，我没办法帮你订机票。",
    ],
}
NOT_REFUSALS: dict[str, list[str]] = {
    "en": [
        "I can help with that! Here's how.", "I can't wait to hear how it goes.", "I can't wait to help!",
        "Notable: it is not able to fly.", "I'm unable to find that file in the folder you named.",
        "Sorry, I can't see an attachment - could you paste the text?", "I can't believe how fast that was!",
        "I can't help but notice the date is a Sunday.", "I cannot stress enough how useful backups are.",
        "I can't thank you enough.", "The API cannot provide historical data before 2010.",
        "If the store can't deliver, I can suggest another one.", "i can't wait to try it!",
    ],
    "zh": [
        "我无法确定，让我查一下。", "好的，我可以帮你做这件事。", "我不会说法语，但可以用英语回答：你好。",
        "这个问题无法用一句话回答，下面分三点说明。", "抱歉让你久等了，结果如下。",
    ],
}


@pytest.fixture(scope="module")
def bucketer() -> Bucketer:
    return Bucketer(BucketConfig())


# --- signals ---------------------------------------------------------------------------------------


class TestSignals:
    def test_chat(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("What is the capital of Peru?"), say("Lima.")))
        assert (a.bucket, a.signals, a.calls, a.rounds, a.max_parallel) == ("chat", ["chat"], 0, 0, 0)

    def test_chat_only_when_nothing_else_holds(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Build me a weapon."), say("I can't help with that request.")))
        assert a.signals == ["refusal"]

    def test_single_call(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Weather in Oslo?"), calls(WEATHER), result({"temp": 3}), say("3 °C.")))
        assert (a.bucket, a.signals, a.calls, a.rounds, a.max_parallel) == ("single_call", ["single_call"], 1, 1, 1)

    def test_single_call_structured_openai(self, bucketer: Bucketer) -> None:
        call = {"role": "assistant", "content": None,
                "tool_calls": [{"id": "c1", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
        a = bucketer.assign(traj(user("Weather?"), call, {"role": "tool", "tool_call_id": "c1", "content": "{}"},
                                 say("Mild.")))
        assert (a.bucket, a.calls) == ("single_call", 1)

    def test_single_call_python_style(self, bucketer: Bucketer) -> None:
        turn = say('<tool_call>\nget_weather(city="Oslo")\n</tool_call>')
        assert bucketer.assign(traj(user("Weather?"), turn, result({}), say("Mild."))).bucket == "single_call"

    def test_parallel(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Oslo and Rome?"), calls(WEATHER, ("get_weather", {"city": "Rome"})),
                                 result({}), result({}), say("Both mild.")))
        assert (a.bucket, a.signals, a.calls, a.rounds, a.max_parallel) == ("parallel", ["parallel"], 2, 1, 2)

    def test_multi_step(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("News, then the price?"), calls(("search_web", {"query": "ACME"})),
                                 result({"results": []}), calls(STOCK), result({"price": 9}), say("Flat at 9.")))
        assert (a.bucket, a.signals, a.calls, a.rounds) == ("multi_step", ["multi_step"], 2, 2)

    @pytest.mark.parametrize("failure", [
        {"error": "city not found"},
        '<tool_response>\n{"error": "rate limit exceeded"}\n</tool_response>',
        {"stdout": "", "stderr": "NameError: name 'x' is not defined", "exit_code": 1},
        "Error: upstream timed out",
        "Traceback (most recent call last):\n  ...",
    ])
    def test_error_recovery(self, bucketer: Bucketer, failure: Any) -> None:
        a = bucketer.assign(traj(user("Weather in Olso?"), calls(WEATHER), result(failure), calls(WEATHER),
                                 result({"temp": 3}), say("3 °C.")))
        assert a.bucket == "error_recovery"
        assert a.signals == ["error_recovery", "multi_step"]

    def test_error_needs_a_later_call(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Weather?"), calls(WEATHER), result({"error": "city not found"}),
                                 say("I couldn't find that city.")))
        assert a.bucket == "single_call"

    @pytest.mark.parametrize("benign", [{"error": None, "temp": 3}, {"error": "", "temp": 3},
                                        {"results": [{"title": "How to fix a TypeError"}]}])
    def test_no_error_no_recovery(self, bucketer: Bucketer, benign: Any) -> None:
        a = bucketer.assign(traj(user("x"), calls(WEATHER), result(benign), calls(STOCK), result({}), say("ok")))
        assert a.bucket == "multi_step"

    @pytest.mark.parametrize("question", ["What's 12 times 7?", "3 x 11?", "quick: 12*5", "15% of 80?",
                                          "Can you calculate the area for me?", "(4 + 5) / 3"])
    def test_math_in_text(self, bucketer: Bucketer, question: str) -> None:
        assert bucketer.assign(traj(user(question), say("The answer."))).bucket == "math"

    @pytest.mark.parametrize("question", ["Days from 2024-11-05 to 2028-09-28?", "How many km is 5 miles?",
                                          "Is a 1920x1080 screen enough?", "Read notes/2024/q3.md"])
    def test_not_math(self, bucketer: Bucketer, question: str) -> None:
        assert bucketer.assign(traj(user(question), say("An answer."))).bucket == "chat"

    def test_math_by_tool(self, bucketer: Bucketer) -> None:
        one = bucketer.assign(traj(user("Please?"), calls(CALC), result({"result": 42}), say("42")))
        two = bucketer.assign(traj(user("Please?"), calls(CALC), result({"result": 42}), calls(CALC),
                                   result({"result": 42}), say("42")))
        assert (one.bucket, one.signals) == ("math", ["math", "single_call"])
        assert (two.bucket, two.signals) == ("math", ["math", "multi_step"])

    def test_calculator_among_other_tools_is_not_math(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Our bill was 100 GBP, in EUR split 3 ways?"),
                                 calls(("convert_currency", {"amount": 100})), result({"converted": 117}),
                                 calls(CALC), result({"result": 39}), say("39 EUR each.")))
        assert (a.bucket, a.signals) == ("multi_step", ["multi_step"])

    @pytest.mark.parametrize("name", ["calculator", "calc", "math_eval", "tools.calculator", "scientific-calculator"])
    def test_math_tool_names(self, bucketer: Bucketer, name: str) -> None:
        a = bucketer.assign(traj(user("?"), calls((name, {})), result({}), say("ok")))
        assert "math" in a.signals

    @pytest.mark.parametrize("name", ["calculate_shipping", "get_zip_code", "mathematician_bio"])
    def test_not_math_or_code_tools(self, bucketer: Bucketer, name: str) -> None:
        a = bucketer.assign(traj(user("?"), calls((name, {})), result({}), say("ok")))
        assert a.signals == ["single_call"]

    @pytest.mark.parametrize("answer", [
        "Here:\n\n```python\nprint('hi')\n```",
        "Like this:\n```js\nconsole.log(1)\n```",
        "def is_even(n):\n    return n % 2 == 0",
        "function add(a, b) {\n  return a + b;\n}",
    ])
    def test_code_in_text(self, bucketer: Bucketer, answer: str) -> None:
        assert bucketer.assign(traj(user("Show me how."), say(answer))).bucket == "code"

    @pytest.mark.parametrize("answer", ["The function of the liver is to filter blood.",
                                        "```json\n{\"a\": 1}\n```", "I'll define terms first: a def is…"])
    def test_not_code(self, bucketer: Bucketer, answer: str) -> None:
        assert "code" not in bucketer.assign(traj(user("?"), say(answer))).signals

    def test_code_by_tool(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Run it."), calls(PYTHON), result({"stdout": "1\n"}), say("It printed 1.")))
        assert (a.bucket, a.signals) == ("code", ["code", "single_call"])

    def test_code_inside_a_call_argument_does_not_count(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Save it."), calls(("write_file", {"text": "def f():\n    pass\n"})),
                                 result({"ok": True}), say("Saved.")))
        assert a.signals == ["single_call"]

    @pytest.mark.parametrize(("language", "answer"), [(lang, a) for lang, rows in REFUSALS.items() for a in rows])
    def test_refusal(self, bucketer: Bucketer, language: str, answer: str) -> None:
        assert bucketer.assign(traj(user("Tell me how to pick a lock."), say(answer))).bucket == "refusal"

    @pytest.mark.parametrize(("language", "answer"), [(lang, a) for lang, rows in NOT_REFUSALS.items() for a in rows])
    def test_not_refusal(self, bucketer: Bucketer, language: str, answer: str) -> None:
        assert bucketer.assign(traj(user("?"), say(answer))).bucket == "chat"

    def test_a_failure_reported_before_a_call_is_not_a_refusal(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Open notes.txt."), say("I'm unable to find that file, let me search again."),
                                 calls(("search_files", {"name": "notes.txt"})), result({"path": "docs/notes.txt"}),
                                 say("Found it in docs/.")))
        assert a.bucket == "single_call" and "refusal" not in a.signals

    def test_refusal_in_a_think_block_counts(self, bucketer: Bucketer) -> None:
        """The think segment is the assistant's text too (as `reasoning_content` is once read)."""
        a = bucketer.assign(traj(user("How do I get into my ex's email?"),
                                 say("<think>I must decline this.</think>\nHere is how to secure your own account.")))
        assert a.bucket == "refusal"

    def test_refusal_needs_no_call(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("?"), calls(WEATHER), result({"error": "no"}), say("I can't help with that.")))
        assert "refusal" not in a.signals

    @pytest.mark.parametrize("answer", ['{"name": "Maya", "age": 45}', '<think>Map them.</think>\n[1, 2, 3]',
                                        '```json\n{\n  "a": [1]\n}\n```', "```\n{\"a\": 1}\n```"])
    def test_structured(self, bucketer: Bucketer, answer: str) -> None:
        assert bucketer.assign(traj(user("As JSON, please."), say(answer))).bucket == "structured"

    @pytest.mark.parametrize("answer", ['Here it is: {"a": 1}', '{"a": 1', '"just a string"', "42",
                                        '```json\n{"a": 1}\n```\nAnything else?'])
    def test_not_structured(self, bucketer: Bucketer, answer: str) -> None:
        assert "structured" not in bucketer.assign(traj(user("?"), say(answer))).signals

    def test_structured_after_a_call(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Weather as JSON."), calls(WEATHER), result({"temp": 3}),
                                 say('{"city": "Oslo", "temp": 3}')))
        assert (a.bucket, a.signals) == ("structured", ["single_call", "structured"])

    def test_ending_on_a_call_is_not_structured(self, bucketer: Bucketer) -> None:
        assert "structured" not in bucketer.assign(traj(user("?"), calls(WEATHER))).signals

    def test_long_context(self, bucketer: Bucketer) -> None:
        doc = "The council met on Tuesday. Costs rose 12% this year. " * 230  # over 12,000 characters
        a = bucketer.assign(traj(user("Summarise:\n" + doc), say("Costs rose.")))
        assert (a.bucket, a.signals) == ("long_context", ["long_context", "math"])
        assert bucketer.assign(traj(user("Summarise:\n" + doc[:6000]), say("Costs rose."))).bucket == "math"

    def test_min_tokens_uses_the_count_given(self) -> None:
        rules = {"long": BucketRule(min_tokens=1000), "short": BucketRule(max_calls=0)}
        b = Bucketer(BucketConfig(rules=rules))
        record = traj(user("hi"), say("hello"))
        assert b.assign(record).bucket == "short"  # estimated from 7 characters
        assert b.assign(record, n_tokens=1500).bucket == "long"

    def test_empty_conversation(self, bucketer: Bucketer) -> None:
        assert bucketer.assign(traj()).bucket == "chat"

    def test_unparseable_call_still_counts(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("?"), say("<tool_call>\n{not json\n</tool_call>"), result({}), say("ok")))
        assert (a.calls, a.bucket) == (1, "single_call")


# --- precedence --------------------------------------------------------------------------------


class TestPrecedence:
    def test_default_precedence_names_every_rule_once(self) -> None:
        assert sorted(DEFAULT_PRECEDENCE) == sorted([*DEFAULT_RULES, FALLBACK])
        assert DEFAULT_PRECEDENCE[-1] == FALLBACK

    def test_error_recovery_beats_math_and_multi_step(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("605x72?"), calls(("calculator", {"expression": "605 x 72"})),
                                 result({"error": "invalid syntax at 'x'"}), calls(CALC), result({"result": 42}),
                                 say("42")))
        assert (a.bucket, a.signals) == ("error_recovery", ["error_recovery", "math", "multi_step"])

    def test_structured_beats_parallel(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Both, as JSON"), calls(WEATHER, STOCK), result({}), result({}),
                                 say('{"weather": 1, "stock": 2}')))
        assert (a.bucket, a.signals) == ("structured", ["parallel", "structured"])

    def test_code_beats_math(self, bucketer: Bucketer) -> None:
        a = bucketer.assign(traj(user("Write a function for 15% tips."), say("```python\ndef tip(x):\n    ...\n```")))
        assert (a.bucket, a.signals) == ("code", ["code", "math"])

    def test_precedence_from_config(self) -> None:
        order = ["parallel", *[n for n in DEFAULT_PRECEDENCE if n != "parallel"]]
        b = Bucketer(BucketConfig(precedence=order))
        a = b.assign(traj(user("Both, as JSON"), calls(WEATHER, STOCK), result({}), result({}), say('{"a": 1}')))
        assert a.bucket == "parallel"

    def test_fallback(self) -> None:
        b = Bucketer(BucketConfig(rules={"tools": BucketRule(min_calls=1)}))
        a = b.assign(traj(user("hi"), say("hello")))
        assert (a.bucket, a.signals) == (FALLBACK, [FALLBACK])
        assert b.buckets == ("tools", FALLBACK)


# --- configuration -----------------------------------------------------------------------------


class TestConfig:
    def test_rules_replace_the_defaults_and_keep_their_order(self) -> None:
        rules = {
            "greeting": BucketRule(pattern=r"(?i)\bhello\b", roles=["user"]),
            "tools": BucketRule(min_calls=1),
        }
        b = Bucketer(BucketConfig(rules=rules))
        assert b.precedence == ("greeting", "tools")
        a = b.assign(traj(user("Hello! Weather?"), calls(WEATHER), result({}), say("Mild.")))
        assert (a.bucket, a.signals) == ("greeting", ["greeting", "tools"])

    def test_rules_from_toml(self, tmp_path: Path) -> None:
        path = tmp_path / "build.toml"
        path.write_text(
            '[buckets]\nprecedence = ["weather", "other", "rest"]\n'
            '[buckets.rules.weather]\ntool_pattern = "^get_weather$"\n'
            '[[buckets.rules.weather.any_of]]\nmin_calls = 1\n'
            '[buckets.rules.rest]\nalone = true\nmax_calls = 99\n',
            encoding="utf-8",
        )
        b = Bucketer(load_build_config(path).buckets)
        assert b.assign(traj(user("?"), calls(WEATHER), result({}), say("ok"))).bucket == "weather"
        assert b.assign(traj(user("?"), calls(STOCK), result({}), say("ok"))).bucket == "rest"

    def test_tools_match_all_and_any(self) -> None:
        rules = {"any": BucketRule(tool_pattern="^calc"), "all": BucketRule(tool_pattern="^calc", tools_match="all")}
        b = Bucketer(BucketConfig(rules=rules))
        assert b.assign(traj(user("?"), calls(CALC, WEATHER))).signals == ["any"]
        assert b.assign(traj(user("?"), calls(CALC, CALC))).signals == ["all", "any"]
        assert b.assign(traj(user("?"), say("no calls"))).signals == [FALLBACK]

    def test_unknown_bucket_in_precedence(self) -> None:
        with pytest.raises(BucketConfigError, match=r"unknown bucket\(s\) `multistep`.*`multi_step`"):
            Bucketer(BucketConfig(precedence=[*DEFAULT_PRECEDENCE, "multistep"]))

    def test_rule_left_out_of_precedence(self) -> None:
        with pytest.raises(BucketConfigError, match=r"leaves out rule\(s\) `chat`"):
            Bucketer(BucketConfig(precedence=[n for n in DEFAULT_PRECEDENCE if n != "chat"]))

    def test_bucket_named_twice(self) -> None:
        with pytest.raises(BucketConfigError, match="`math` more than once"):
            Bucketer(BucketConfig(precedence=[*DEFAULT_PRECEDENCE, "math"]))

    def test_invalid_regex_names_the_rule(self) -> None:
        with pytest.raises(BucketConfigError, match=r"rule `broken`: `pattern` is not a valid regular expression"):
            Bucketer(BucketConfig(rules={"broken": BucketRule(pattern="(unclosed")}))

    def test_pattern_lists(self) -> None:
        rules = {"greeting": BucketRule(pattern=[r"\bhello\b", r"\bhi\b"], roles=["user"]),
                 "rest": BucketRule(max_calls=0)}
        b = Bucketer(BucketConfig(rules=rules))
        assert b.assign(traj(user("oh hi"), say("yes"))).bucket == "greeting"
        assert b.assign(traj(user("hey"), say("yes"))).bucket == "rest"
        with pytest.raises(BucketConfigError, match=r"rule `x`: `pattern\[1\]` is not a valid regular expression"):
            Bucketer(BucketConfig(rules={"x": BucketRule(pattern=["ok", "(bad"])}))
        with pytest.raises(BucketConfigError, match="`pattern` is an empty list"):
            Bucketer(BucketConfig(rules={"x": BucketRule(pattern=[])}))

    def test_pickles_as_its_config(self) -> None:
        b = pickle.loads(pickle.dumps(Bucketer(BucketConfig(precedence=list(DEFAULT_PRECEDENCE)))))
        assert b.assign(traj(user("3 x 4?"), say("12"))).bucket == "math"

    def test_invalid_regex_inside_any_of(self) -> None:
        rule = BucketRule(any_of=[BucketRule(min_calls=1), BucketRule(tool_pattern="[a-")])
        with pytest.raises(BucketConfigError, match=r"rule `x`, any_of\[1\]: `tool_pattern`"):
            Bucketer(BucketConfig(rules={"x": rule}))

    def test_invalid_error_pattern(self) -> None:
        with pytest.raises(BucketConfigError, match="rule `err`: `error_pattern`"):
            Bucketer(BucketConfig(rules={"err": BucketRule(tool_error_then_call=True, error_pattern="*")}))

    @pytest.mark.parametrize(("rule", "message"), [
        (BucketRule(), "no condition"),
        (BucketRule(min_calls=3, max_calls=1), "`min_calls` \\(3\\) is above `max_calls` \\(1\\)"),
        (BucketRule(error_pattern="oops"), "only used with `tool_error_then_call`"),
        (BucketRule(pattern="x", roles=[]), "needs at least one role"),
        (BucketRule(any_of=[BucketRule(min_calls=1, alone=True)]), "`alone` is only allowed on a rule"),
    ])
    def test_bad_rules(self, rule: BucketRule, message: str) -> None:
        with pytest.raises(BucketConfigError, match=message):
            Bucketer(BucketConfig(rules={"r": rule}))

    def test_reserved_and_empty(self) -> None:
        with pytest.raises(BucketConfigError, match="reserved"):
            Bucketer(BucketConfig(rules={FALLBACK: BucketRule(min_calls=1)}))
        with pytest.raises(BucketConfigError, match="`rules` is empty"):
            Bucketer(BucketConfig(rules={}))

    def test_config_error_is_a_config_error(self) -> None:
        """The command line reports every config error, bucket rules included, as one line, exit 2."""
        assert issubclass(BucketConfigError, ConfigError) and issubclass(BuildConfigError, ConfigError)


# --- the sample corpus -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_sample() -> list[Trajectory]:
    records = [r.record for r in RecordReader().read(SAMPLE) if r.record is not None]
    return [r for r in records if not (r.id or "").startswith("defect-")]


def test_agreement_with_sample_categories(bucketer: Bucketer, clean_sample: list[Trajectory]) -> None:
    """The default rules agree with the generator's `meta.category` on at least 95% of clean records.

    The known disagreements are the generator's own overlaps: `single_tool` draws calculator and
    `run_python` tasks from the same templates as `math` and `code`, so those records carry both
    signals and the content bucket wins.
    """
    confusion: Counter[tuple[str, str]] = Counter()
    for record in clean_sample:
        category = (record.meta or {}).get("category")
        expected = CATEGORY_TO_BUCKET.get(category, category)
        confusion[(expected, bucketer.assign(record).bucket)] += 1
    total = sum(confusion.values())
    agree = sum(n for (want, got), n in confusion.items() if want == got)
    table = "\n".join(f"  {want:>15} -> {got:<15} {n:5d}" for (want, got), n in sorted(confusion.items()))
    assert total > 2000
    assert agree / total >= 0.95, f"agreement {agree}/{total} = {agree / total:.1%}\nexpected -> assigned:\n{table}"
    per_category = Counter(want for want, _ in confusion.elements())
    for category, n in per_category.items():
        recall = confusion[(category, category)] / n
        assert recall >= 0.85, f"{category}: recall {recall:.1%}\n{table}"


# --- length buckets ----------------------------------------------------------------------------


class TestLength:
    def test_explicit_edges(self) -> None:
        edges = length_edges([1, 2, 3], LengthConfig(edges=[256, 512, 1024, 2048]))
        assert edges == [256, 512, 1024, 2048]
        names = [length_bucket(n, edges) for n in (0, 255, 256, 511, 512, 1023, 1024, 2047, 2048, 10**6)]
        assert names == ["<256", "<256", "256-511", "256-511", "512-1023", "512-1023", "1024-2047", "1024-2047",
                         ">=2048", ">=2048"]
        assert length_bucket_names(edges) == ["<256", "256-511", "512-1023", "1024-2047", ">=2048"]

    def test_default_quartiles(self) -> None:
        counts = list(range(1, 101))  # quartiles 25.75, 50.5, 75.25
        edges = length_edges(counts, LengthConfig())
        assert edges == [26, 51, 76]
        per_bucket = Counter(length_bucket(n, edges) for n in counts)
        assert per_bucket == {"<26": 25, "26-50": 25, "51-75": 25, ">=76": 25}
        assert set(per_bucket) == set(length_bucket_names(edges))

    def test_custom_quantiles_and_input_order(self) -> None:
        counts = [900, 100, 500, 300, 700]
        assert length_edges(counts, LengthConfig(quantiles=[0.5])) == [500]
        assert length_edges(counts, LengthConfig(quantiles=[0.5])) == length_edges(sorted(counts), None)[1:2]

    def test_equal_lengths_collapse(self) -> None:
        assert length_edges([300] * 10, LengthConfig()) == []
        assert length_bucket(300, []) == "all"
        assert length_edges([], LengthConfig()) == []
        assert length_edges([100, 100, 100, 500], LengthConfig()) == [200]

    def test_config_validation(self) -> None:
        with pytest.raises(ValueError, match="either `edges` or `quantiles`"):
            LengthConfig(edges=[1], quantiles=[0.5])
        with pytest.raises(ValueError, match="strictly increasing"):
            LengthConfig(edges=[512, 256])
