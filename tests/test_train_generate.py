"""Evaluation by generation with a tiny random Qwen2 model on crafted eval rows.

The model is untrained, so the tests assert what generation must guarantee whatever the model
writes: the prompts chosen, the counts per bucket, metrics that are None (with a reason) when a
bucket has nothing to measure them on, determinism for a seed, and state left as it was found.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from curate.mask import TemplateSpans  # noqa: E402
from curate.records import Message  # noqa: E402
from curate.schemas import SCHEMA_DIR  # noqa: E402
from curate.tokenizer import load_tokenizer  # noqa: E402
from curate_train.distributed import Processes  # noqa: E402
from curate_train.eval_report import SCHEMA_FILE, build_report  # noqa: E402
from curate_train.generate import (  # noqa: E402
    PromptResult,
    _Generator,
    evaluate_generation,
    select_prompts,
    summarise,
)
from curate_train.graduation import BaselineEval, CheckpointEval, EvalLogEntry  # noqa: E402
from curate_train.metrics import GenerationEval  # noqa: E402
from curate_train.report_html import render_report  # noqa: E402
from curate_train.scoring import TurnScorer  # noqa: E402

# Evaluation prints nothing into the user's terminal: transformers' deprecation of `past_key_values` (renamed
# `cache`) warned at every generate and forward call; the current name is used wherever it exists.
pytestmark = pytest.mark.filterwarnings("error:.*past_key_values.*:FutureWarning")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def weather_call(city: str) -> str:
    return "<tool_call>\n" + json.dumps({"name": "get_weather", "arguments": {"city": city}}) + "\n</tool_call>"


ROWS: list[dict[str, Any]] = [
    {"id": "w1", "bucket": "single_call", "length_bucket": "short", "tools": [WEATHER], "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "<think>Use the tool.</think>\n" + weather_call("Oslo")}]},
    {"id": "w2", "bucket": "single_call", "length_bucket": "short", "tools": [WEATHER], "messages": [
        {"role": "user", "content": "Is it raining in Paris?"},
        {"role": "assistant", "content": weather_call("Paris")}]},
    {"id": "c1", "bucket": "chat", "length_bucket": "short", "messages": [
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": "Hello!"}]},
    {"id": "m1", "bucket": "multi_step", "length_bucket": "short", "tools": [WEATHER], "messages": [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": weather_call("Rome")},
        {"role": "tool", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "It is 21 degrees in Rome."}]},
]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return load_tokenizer(None)


@pytest.fixture(scope="module")
def model(tokenizer: Any) -> Any:
    torch.manual_seed(0)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048)
    return transformers.Qwen2ForCausalLM(config).eval()


def run(model: Any, tokenizer: Any, rows: list[dict[str, Any]] = ROWS, **kw: Any) -> GenerationEval:
    args: dict[str, Any] = {"prompts_per_bucket": 2, "n_samples": 2, "max_new_tokens": 6, "seed": 0, **kw}
    return evaluate_generation(model, tokenizer, rows, **args)


@pytest.fixture(scope="module")
def evaluated(model: Any, tokenizer: Any) -> GenerationEval:
    return run(model, tokenizer)


# --- choosing and rendering prompts (no model) ---------------------------------------------------------


def test_prompts_are_chosen_per_bucket_by_seed_not_by_file_order() -> None:
    chosen = select_prompts(ROWS, 1, seed=0)
    assert sorted(chosen) == ["chat", "multi_step", "single_call"]
    assert all(len(ps) == 1 for ps in chosen.values())
    assert select_prompts(list(reversed(ROWS)), 1, seed=0)["single_call"][0].id == chosen["single_call"][0].id
    picks = {select_prompts(ROWS, 1, seed=s)["single_call"][0].id for s in range(20)}
    assert picks == {"w1", "w2"}  # the seed decides, over seeds both are picked
    assert [p.id for p in select_prompts(ROWS, 5, seed=3)["single_call"]] == \
        [p.id for p in select_prompts(ROWS, 5, seed=3)["single_call"]]


def test_the_prompt_is_the_conversation_before_the_last_assistant_turn(tokenizer: Any) -> None:
    (p,) = select_prompts(ROWS, 1, seed=0)["multi_step"]
    assert [m["role"] for m in p.messages] == ["user", "assistant", "tool"]
    assert p.reference.content == "It is 21 degrees in Rome."
    text = TemplateSpans(tokenizer).render(p.messages, p.tools, add_generation_prompt=True)[0]
    assert text.endswith("<|im_start|>assistant\n") and "get_weather" in text and "21 degrees" not in text
    # `last_and_call` also prompts for the last turn with calls (agent records mostly end on an answer).
    first, last = select_prompts(ROWS, 1, seed=0, turns="last_and_call")["multi_step"]
    assert [m["role"] for m in first.messages] == ["user"] and "Rome" in (first.reference.content or "")
    assert last.reference.content == "It is 21 degrees in Rome."
    # Records without tools get the fallback tools.
    (chat,) = select_prompts(ROWS, 1, seed=0, tools_fallback=[WEATHER])["chat"]
    assert chat.tools and chat.tools[0]["function"]["name"] == "get_weather"
    assert select_prompts(ROWS, 1, seed=0)["chat"][0].tools is None


def test_an_empty_bucket_has_every_metric_none_with_a_reason() -> None:
    m = summarise([], n_samples=4)
    assert (m.prompts, m.samples) == (0, 0)
    assert m.format_accuracy is None and m.unique_ratio is None and m.pass_at_k == {}
    assert set(m.missing) >= {"format_accuracy", "tool_call_accuracy", "unique_ratio", "pass_at_k"}


def test_summarise_counts_calls_and_prompts() -> None:
    scorer = TurnScorer()
    (p1, p2) = select_prompts(ROWS, 2, seed=0)["single_call"]
    good = weather_call(p1.reference.content.split('"city": "')[1].split('"')[0])  # type: ignore[union-attr]
    results = [
        PromptResult(p1, good, True, scorer.score(good, p1.reference, p1.tools), [good, "x"], [True, False]),
        PromptResult(p2, "<tool_call>{bad</tool_call>", False,
                     scorer.score("<tool_call>{bad</tool_call>", p2.reference, p2.tools, stopped=False),
                     ["y", "y"], [False, False]),
    ]
    m = summarise(results, n_samples=2)
    assert (m.prompts, m.samples, m.prompts_with_calls) == (2, 4, 2)
    assert (m.format_accuracy, m.stop_rate, m.parse_rate, m.schema_valid_rate) == (0.5, 0.5, 0.5, 1.0)
    assert (m.tool_name_accuracy, m.arg_match, m.tool_call_accuracy) == (0.5, 0.5, 0.5)
    assert m.answer_match is None and "answer_match" in m.missing
    assert m.unique_ratio == pytest.approx(0.75) and m.pairwise_ratio == pytest.approx(0.5)
    assert m.pass_at_k == pytest.approx({1: 0.25, 2: 0.5})
    assert [e.passed for e in m.examples] == [True, False]


# --- generating -------------------------------------------------------------------------------------


def test_generation_metrics_per_bucket_with_correct_counts(evaluated: GenerationEval) -> None:
    assert sorted(evaluated.buckets) == ["chat", "multi_step", "single_call"]
    counts = {b: (m.prompts, m.samples, m.prompts_with_calls) for b, m in evaluated.buckets.items()}
    assert counts == {"chat": (1, 2, 0), "multi_step": (1, 2, 0), "single_call": (2, 4, 2)}
    o = evaluated.overall
    assert (o.prompts, o.samples, o.prompts_with_calls) == (4, 8, 2)
    for m in (o, *evaluated.buckets.values()):
        assert m.format_accuracy is not None and 0.0 <= m.format_accuracy <= 1.0
        assert set(m.pass_at_k) == {1, 2} and all(0.0 <= v <= 1.0 for v in m.pass_at_k.values())
        assert m.unique_ratio is not None and m.pairwise_ratio is not None
    chat = evaluated.buckets["chat"]
    assert chat.tool_call_accuracy is None and chat.tool_name_accuracy is None and chat.arg_match is None
    assert "tool call" in chat.missing["tool_call_accuracy"]
    assert chat.answer_match is not None
    calls = evaluated.buckets["single_call"]
    assert calls.tool_call_accuracy is not None and calls.answer_match is None and "answer_match" in calls.missing
    assert len(calls.examples) == 2 and all(e.reference for e in calls.examples)
    assert evaluated.settings.n_samples == 2 and evaluated.settings.temperature == 0.7


def test_cached_prompt_and_padded_batches_give_what_plain_generate_gives(model: Any, tokenizer: Any) -> None:
    template = TemplateSpans(tokenizer)
    texts = [template.render(p.messages, p.tools, add_generation_prompt=True)[0]
             for ps in select_prompts(ROWS, 2, seed=0).values() for p in ps]
    assert len({len(t) for t in texts}) > 1  # different lengths: the batch is padded
    expected = []
    for text in texts:  # one prompt at a time, no cache reuse, no padding
        enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        out = model.generate(**enc, max_new_tokens=6, do_sample=False, eos_token_id=[tokenizer.eos_token_id],
                             pad_token_id=tokenizer.pad_token_id)
        new = out[0, enc["input_ids"].shape[1]:].tolist()
        new = new[: new.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in new else new
        expected.append(tokenizer.decode(new, skip_special_tokens=False).strip())
    for batch_size in (1, 3):
        greedy, samples = _Generator(model, tokenizer, 6, batch_size).run(texts, 2, 0.7, seed=0)
        assert [g for g, _ in greedy] == expected, batch_size
        assert all(len(s) == 2 for s in samples)


def test_a_share_of_the_batches_gives_what_the_whole_run_gives_for_them(model: Any, tokenizer: Any) -> None:
    """N processes each generate 1 in N batches (`curate_train.distributed`): every batch is seeded on its own,
    so its outputs do not depend on which process runs it or on the batches before it."""
    template = TemplateSpans(tokenizer)
    texts = [template.render(p.messages, p.tools, add_generation_prompt=True)[0]
             for ps in select_prompts(ROWS, 2, seed=0).values() for p in ps]
    generator = _Generator(model, tokenizer, 6, 1)
    greedy, samples = generator.run(texts, 2, 0.7, seed=0)
    covered: list[int] = []
    for rank in (0, 1):
        share = Processes(rank, 2)
        mine = [i for batch in share.shard(generator.batches(texts)) for i in batch]
        part_greedy, part_samples = generator.run(texts, 2, 0.7, seed=0, processes=share)
        assert [part_greedy[i] for i in mine] == [greedy[i] for i in mine]
        assert [part_samples[i] for i in mine] == [samples[i] for i in mine]
        covered += mine
    assert sorted(covered) == list(range(len(texts)))


def test_one_sample_gives_no_diversity_and_pass_at_1_only(model: Any, tokenizer: Any) -> None:
    ev = run(model, tokenizer, prompts_per_bucket=1, n_samples=1)
    assert {b: m.prompts for b, m in ev.buckets.items()} == {"chat": 1, "multi_step": 1, "single_call": 1}
    for m in (ev.overall, *ev.buckets.values()):
        assert m.unique_ratio is None and m.pairwise_ratio is None
        assert "at least 2" in m.missing["unique_ratio"]
        assert set(m.pass_at_k) == {1}
    none = run(model, tokenizer, prompts_per_bucket=1, n_samples=0)
    assert none.overall.pass_at_k == {} and none.overall.samples == 0 and none.overall.format_accuracy is not None


def test_generation_is_seeded_and_leaves_state_as_found(model: Any, tokenizer: Any, evaluated: GenerationEval) -> None:
    side = tokenizer.padding_side
    model.train()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    again = run(model, tokenizer)
    assert torch.equal(torch.rand(3), expected)  # the global RNG continues as if nothing had run
    assert model.training  # mode restored
    model.eval()
    assert tokenizer.padding_side == side
    assert again == evaluated  # same seed, same outputs and metrics


def test_a_tokenizer_without_chat_template_is_a_clear_error(model: Any, tokenizer: Any) -> None:
    from curate.mask import MaskError

    bare = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    bare.chat_template = None
    with pytest.raises(MaskError, match="no chat template"):
        run(model, bare)


def test_eval_report_from_real_metrics_validates_and_renders(evaluated: GenerationEval) -> None:
    history = [EvalLogEntry(step=s, train_loss=5.0 - s / 10, eval_loss=5.1 - s / 10,
                            eval_loss_by_bucket={b: 5.2 - s / 10 for b in evaluated.buckets},
                            eval_loss_by_length={"short": 5.1 - s / 10}) for s in (1, 2, 3, 4)]
    base = BaselineEval(eval_loss=8.3, eval_loss_by_bucket={b: 8.3 for b in evaluated.buckets}, generation=evaluated)
    report = build_report("tiny", history, [CheckpointEval(name="checkpoint-4", step=4, epoch=1.0,
                                                           generation=evaluated)], base)
    schema = json.loads((SCHEMA_DIR / SCHEMA_FILE).read_text())
    jsonschema.validate(json.loads(report.model_dump_json()), schema)
    page = render_report(report)
    assert "<svg" in page and "single_call" in page and "checkpoint-4" in page
    assert report.graduation.recommended == "checkpoint-4"
    assert not report.graduation.ready_for_rl  # an untrained model: the reasons say why
    assert any(r.startswith("format_accuracy:") or r.startswith("tool_call_accuracy:")
               for r in report.graduation.reasons)


def test_reference_turns_with_structured_calls_are_scored() -> None:
    scorer = TurnScorer()
    ref = Message.model_validate({"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]})
    assert scorer.score(weather_call("oslo"), ref, [WEATHER]).calls_match
    assert not scorer.score(weather_call("Bergen"), ref, [WEATHER]).calls_match


def test_cache_kwarg_follows_the_rename_each_callable_declares() -> None:
    from transformers.utils.deprecation import deprecate_kwarg

    from curate_train.generate import cache_kwarg

    @deprecate_kwarg("past_key_values", "99.0.0", new_name="cache")
    def renamed(cache: Any = None) -> Any:
        return cache

    def plain(past_key_values: Any = None) -> Any:
        return past_key_values

    assert cache_kwarg(renamed) == "cache" and cache_kwarg(plain) == "past_key_values"
