"""Masks: right by construction, proven by the audit, identical to transformers' own assistant masks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.mask import IGNORE, Masker, MaskError, MaskPolicy, template_messages, token_labels
from curate.readers import RecordReader, load_tool_specs
from curate.records import ToolSpec, Trajectory
from curate.render import CHATML_TEMPLATE, IM_END
from tests.conftest import REPO, run_cli

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = [ToolSpec.model_validate(t) for t in load_tool_specs(REPO / "sample_data" / "tools.json")]


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The built-in tokenizer, built from the sample corpus into a private cache."""
    import os

    os.environ["CURATE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from curate.tokenizer import load_tokenizer

    return load_tokenizer()


def sample_records() -> list[Trajectory]:
    out = []
    for r in RecordReader().read(SAMPLE):
        if r.record is not None and r.record.messages:
            rec = r.record
            out.append(rec if rec.tools else rec.model_copy(update={"tools": TOOLS}))
    return out


def traj(*turns: tuple[str, str | None], **extra: Any) -> Trajectory:
    return Trajectory.model_validate({"id": "t", "messages": [{"role": r, "content": c} for r, c in turns], **extra})


def trained_text(tokenizer: Any, ex: Any) -> str:
    ids = [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != IGNORE]
    return tokenizer.backend_tokenizer.decode(ids, skip_special_tokens=False)


def test_builtin_tokenizer_has_atomic_protocol_tokens_and_the_chatml_template(tokenizer: Any) -> None:
    for tag in ("<|im_start|>", IM_END, "<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>",
                "</tool_response>"):
        assert tokenizer.tokenize(f"x{tag}y") == ["x", tag, "y"], tag
    assert tokenizer.chat_template == CHATML_TEMPLATE
    assert tokenizer.eos_token == IM_END


def test_builtin_tokenizer_build_is_deterministic_and_loads_offline(tmp_path: Path, tokenizer: Any) -> None:
    from transformers import AutoTokenizer

    from curate.tokenizer import build_builtin_tokenizer

    a = build_builtin_tokenizer([SAMPLE], tmp_path / "a", vocab_size=1024)
    b = build_builtin_tokenizer([SAMPLE], tmp_path / "b", vocab_size=1024)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    loaded = AutoTokenizer.from_pretrained(str(a), local_files_only=True)
    assert loaded("<tool_call>")["input_ids"] == [loaded.convert_tokens_to_ids("<tool_call>")]


def test_masks_equal_transformers_assistant_masks_on_the_whole_sample_corpus(tokenizer: Any) -> None:
    """Token for token, against apply_chat_template(return_assistant_tokens_mask=True)."""
    records = sample_records()
    result = Masker(tokenizer).mask(records)
    assert not result.failures
    ids = [rec.id for rec in records]
    by_id = {ex.id: ex for ex in result.examples if ids.count(ex.id) == 1}
    compared = 0
    for rec in records:
        ex = by_id.get(rec.id)
        if ex is None:  # dropped (nothing to train) or an id the corpus repeats on purpose
            continue
        messages, tools = template_messages(rec)
        ref = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
        assert ref["input_ids"] == ex.input_ids, rec.id
        ours = [int(lab != IGNORE) for lab in ex.labels]
        assert ref["assistant_masks"] == ours, rec.id
        compared += 1
    assert compared >= 2000


def test_trained_tokens_are_exactly_the_assistant_text_and_end_of_turn(tokenizer: Any) -> None:
    t = traj(("system", "Be brief."), ("user", "Weather in Oslo?"),
             ("assistant", "<think>Call the tool.</think>\n<tool_call>\n{\"name\": \"get_weather\", "
                           "\"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"),
             ("tool", '{"temp": 21}'), ("assistant", "  It is 21 °C.  "))
    ex = Masker(tokenizer).mask([t]).examples[0]
    assert trained_text(tokenizer, ex) == (
        "<think>Call the tool.</think>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}"
        f"\n</tool_call>{IM_END}It is 21 °C.{IM_END}")
    assert ex.counts["eot"] == 2 and ex.counts["think"] > 0 and ex.counts["tool_call"] > 0
    assert ex.counts["answer"] > 0


def test_policies(tokenizer: Any) -> None:
    t = traj(("user", "a?"), ("assistant", "<think>one</think>A."), ("user", "b?"),
             ("assistant", "<think>two</think>B."))
    def text(**kw: Any) -> str:
        return trained_text(tokenizer, Masker(tokenizer, MaskPolicy(**kw)).mask([t]).examples[0])
    assert text() == f"<think>one</think>A.{IM_END}<think>two</think>B.{IM_END}"
    assert text(turns="last") == f"<think>two</think>B.{IM_END}"
    assert text(think="mask") == f"A.{IM_END}<think>two</think>B.{IM_END}"
    assert text(think="drop") == f"A.{IM_END}<think>two</think>B.{IM_END}"
    dropped = Masker(tokenizer, MaskPolicy(think="drop")).mask([t]).examples[0]
    assert "one" not in tokenizer.decode(dropped.input_ids)  # dropped from the text, not just masked
    opt_out = t.model_copy(deep=True)
    opt_out.messages[1].train = False
    assert trained_text(tokenizer, Masker(tokenizer).mask([opt_out]).examples[0]) == \
        f"<think>two</think>B.{IM_END}"


def test_no_trained_token_means_dropped_and_counted(tokenizer: Any) -> None:
    t = traj(("user", "a?"), ("assistant", "A."))
    t.messages[1].train = False
    result = Masker(tokenizer).mask([t])
    assert result.examples == [] and result.dropped == {"no_trained_tokens": 1}


def test_truncation_is_explicit(tokenizer: Any) -> None:
    long_turn = "word " * 400
    t = traj(("user", long_turn), ("assistant", "A."), ("user", "b?"), ("assistant", "B."))
    n = len(Masker(tokenizer).mask([t]).examples[0].input_ids)
    dropped = Masker(tokenizer, MaskPolicy(max_length=n - 1)).mask([t])
    assert dropped.examples == [] and dropped.dropped == {"too_long": 1}
    assert dropped.notes == [f"record t: {n} tokens > max_length {n - 1}; dropped (raise --max-length, or "
                             "--truncation cut_front to cut whole turns from the front)"]
    cut = Masker(tokenizer, MaskPolicy(max_length=n - 1, truncation="cut_front")).mask([t])
    assert len(cut.examples) == 1 and trained_text(tokenizer, cut.examples[0]) == f"B.{IM_END}"
    assert len(cut.examples[0].input_ids) <= n - 1


def _prefix_template_tokenizer(tokenizer: Any, template: str) -> Any:
    import copy

    other = copy.deepcopy(tokenizer)
    other.chat_template = template
    return other


# A ChatML template without generation tags that drops <think> from turns before the last user turn.
DROPPING_TEMPLATE = (
    "{%- set ns = namespace(last_user=-1) -%}"
    "{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- for m in messages -%}"
    "{%- set c = m.content or '' -%}"
    "{%- if m.role == 'assistant' and loop.index0 < ns.last_user and '</think>' in c -%}"
    "{%- set c = c.split('</think>')[-1] -%}{%- endif -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + c + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
PLAIN_TEMPLATE = DROPPING_TEMPLATE.replace("and '</think>' in c", "and false")


def test_prefix_rendering_for_templates_without_generation_tags(tokenizer: Any) -> None:
    tok = _prefix_template_tokenizer(tokenizer, PLAIN_TEMPLATE)
    t = traj(("user", "a?"), ("assistant", "<think>one</think>A."), ("user", "b?"), ("assistant", "B."))
    result = Masker(tok).mask([t])
    assert result.examples[0].method == "prefix" and not result.failures
    assert trained_text(tok, result.examples[0]) == f"<think>one</think>A.{IM_END}B.{IM_END}"


def test_template_that_is_not_prefix_stable_is_masked_turn_by_turn_and_said_so(tokenizer: Any) -> None:
    tok = _prefix_template_tokenizer(tokenizer, DROPPING_TEMPLATE)
    t = traj(("user", "a?"), ("assistant", "<think>one</think>A."), ("user", "b?"),
             ("assistant", "<think>two</think>B."))
    result = Masker(tok).mask([t])
    assert [ex.method for ex in result.examples] == ["per_turn", "per_turn"]
    assert [trained_text(tok, ex) for ex in result.examples] == [
        f"<think>one</think>A.{IM_END}", f"<think>two</think>B.{IM_END}"]
    assert any("not prefix-stable" in n for n in result.notes)


def test_bad_templates_and_roles_give_clear_messages(tokenizer: Any) -> None:
    no_template = _prefix_template_tokenizer(tokenizer, None)
    with pytest.raises(MaskError, match="no chat template"):
        Masker(no_template, MaskPolicy(template="tokenizer"))
    assert Masker(no_template, MaskPolicy(template="chatml")).method == "chatml"  # the built-in renderer works
    strict = _prefix_template_tokenizer(tokenizer, (
        "{%- for m in messages -%}{%- if m.role == 'tool' -%}{{ raise_exception('tool role not supported') }}"
        "{%- endif -%}{{- '<|im_start|>' + m.role + '\\n' + (m.content or '') + '<|im_end|>\\n' -}}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"))
    t = traj(("user", "a?"), ("assistant", "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>"),
             ("tool", "1"), ("assistant", "done"))
    result = Masker(strict).mask([t])
    assert result.examples == [] and result.dropped == {"template_error": 1}
    assert "record t" in result.notes[0] and "tool role not supported" in result.notes[0]


def test_bfcl_trajectories_render_and_audit_clean(tokenizer: Any) -> None:
    bfcl = REPO.parent / "shared" / "real" / "bfcl"
    if not bfcl.exists():
        pytest.skip("BFCL data not present at ../shared/real/bfcl")
    records = [r.record for path in sorted(bfcl.glob("BFCL_v4_*.json"))
               for r in RecordReader().read(path) if r.record is not None]
    assert len(records) > 2700  # every category, irrelevance (no answer) included
    result = Masker(tokenizer).mask(records)
    answered = [r for r in records if any(m.role == "assistant" for m in r.messages)]
    assert not result.failures and len(result.examples) == len(answered)
    # irrelevance rows have no answer (no call should be made): nothing to train, dropped and counted
    assert result.dropped == {"no_trained_tokens": len(records) - len(answered)}


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_tagged = st.one_of(_text, st.sampled_from(["<think>", "</think>", "<tool_call>", "</tool_call>", "<|im_end|>",
                                             "<tool_response>", " ", "\n", "", "é😀", "  x  "]))
_content = st.lists(_tagged, max_size=6).map("".join)


@st.composite
def trajectories(draw: st.DrawFn) -> Trajectory:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(_content)})
    for _ in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(_content)})
        if draw(st.booleans()):
            messages.append({"role": "assistant", "content": draw(_content), "tool_calls": [
                {"type": "function", "function": {"name": "f", "arguments": {"x": draw(_text)}}}]})
            messages.append({"role": "tool", "content": draw(_content)})
        long = draw(st.booleans()) and draw(st.booleans())
        messages.append({"role": "assistant", "content": draw(_content) * (200 if long else 1),
                         "train": draw(st.sampled_from([None, None, False]))})
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}] \
        if draw(st.booleans()) else None
    return Trajectory.model_validate({"id": "h", "messages": messages, "tools": tools})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(trajectories(), st.sampled_from(["keep", "drop", "mask"]), st.sampled_from(["all", "last"]))
def test_audit_holds_for_random_trajectories(tokenizer: Any, t: Trajectory, think: str, turns: str) -> None:
    result = Masker(tokenizer, MaskPolicy(think=think, turns=turns)).mask([t])
    assert not result.failures, result.failures
    masker = Masker(tokenizer, MaskPolicy(think=think, turns=turns))
    for ex in result.examples:
        # independent check: labels mapped token by token from offsets equal the boundary-based ones
        (spans,), _ = masker.spans(t)
        enc = tokenizer.backend_tokenizer.encode(spans.text, add_special_tokens=False)
        assert enc.ids == ex.input_ids
        labels, _, problem = token_labels(spans, enc.ids, enc.offsets)
        assert problem is None and labels == ex.labels
        assert trained_text(tokenizer, ex).endswith(IM_END)


def test_mask_cli_audit_show_and_output(tmp_path: Path, tokenizer: Any) -> None:
    import os

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{i}", "messages": [
        {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"<think>t</think>a{i}"}]}) + "\n"
        for i in range(3)) + "{bad\n", encoding="utf-8")
    env_cache = os.environ["CURATE_CACHE"]
    out = tmp_path / "m.jsonl"
    res = run_cli("mask", str(data), "--audit", "-o", str(out), env={"CURATE_CACHE": env_cache})
    assert res.returncode == 0, res.stderr
    assert "all passed" in res.stdout
    assert res.stdout.splitlines()[-1] == "masked 3 examples from 4 records; 1 unreadable (RS001 invalid JSON ×1)"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["r0", "r1", "r2"]
    assert all(len(r["input_ids"]) == len(r["labels"]) == len(r["attention_mask"]) for r in rows)
    meta = json.loads(Path(str(out) + ".meta.jsonl").read_text())
    assert meta["policy"]["turns"] == "all" and meta["method"] == "chatml" and meta["examples"] == 3
    assert meta["records"] == 4 and meta["unreadable"] == {"RS001 invalid JSON": 1} and meta["dropped"] == {}
    shown = run_cli("mask", str(data), "--show", "1", env={"CURATE_CACHE": env_cache})
    assert shown.returncode == 0 and "r0" in shown.stdout and "trained" in shown.stdout
    bad = run_cli("mask", str(data), "--tokenizer", str(tmp_path / "no-such-tokenizer"),
                  env={"CURATE_CACHE": env_cache})
    assert bad.returncode == 2 and "cannot load tokenizer" in bad.stderr and "Traceback" not in bad.stderr


def test_mask_jobs_and_its_alias_num_proc_give_the_output_of_one_process(tmp_path: Path, tokenizer: Any) -> None:
    """`--jobs N` and `--num-proc N` (its earlier name) are one option: the same bytes as one process."""
    import os

    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    data = tmp_path / "d.jsonl"
    data.write_bytes(b"".join(lines[:1100]))  # three batches of 512
    env = {"CURATE_CACHE": os.environ["CURATE_CACHE"]}
    outs = {}
    for name, flags in {"one": ["-j", "1"], "jobs": ["--jobs", "2"], "num-proc": ["--num-proc", "2"]}.items():
        out = tmp_path / f"{name}.jsonl"
        res = run_cli("mask", str(data), "--tools", str(REPO / "sample_data" / "tools.json"), "-o", str(out), *flags,
                      env=env)
        assert res.returncode == 0, res.stderr
        outs[name] = out.read_bytes()
    assert outs["one"] == outs["jobs"] == outs["num-proc"] and outs["one"].count(b"\n") > 1000


def test_mask_gives_records_the_ids_the_build_gives_them(tmp_path: Path, tokenizer: Any) -> None:
    """A record without an id is `STEM-LINE` (its line in its file), a repeated id gets `~2`: in the mask output
    exactly as in the build's, so masked examples and built records join on `id`."""
    import os

    from curate.build import build
    from curate.buildconfig import BuildConfig

    topics = ["the tides", "a sourdough starter", "TCP slow start", "the Krebs cycle", "Kepler's third law",
              "a B-tree split", "the Doppler effect", "Rayleigh scattering"]

    def chat(topic: str, rid: str | None = None) -> str:
        record: dict[str, Any] = {"messages": [{"role": "user", "content": f"Explain {topic} in two sentences."},
                                               {"role": "assistant", "content": f"Here is {topic}, briefly: …"}]}
        if rid is not None:
            record["id"] = rid
        return json.dumps(record) + "\n"

    data = tmp_path / "chats.jsonl"
    data.write_text(chat(topics[0]) + chat(topics[1], "a") + "{not json\n" + chat(topics[2], "a") + "\n"
                    + chat(topics[3]) + "".join(chat(t, f"t{i}") for i, t in enumerate(topics[4:])),
                    encoding="utf-8")
    env = {"CURATE_CACHE": os.environ["CURATE_CACHE"]}
    out = tmp_path / "m.jsonl"
    res = run_cli("mask", str(data), "-o", str(out), env=env)
    assert res.returncode == 0, res.stderr
    masked = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert masked == ["chats-1", "a", "a~2", "chats-6", "t0", "t1", "t2", "t3"]  # line 5 is blank
    built = build([data], tmp_path / "b", BuildConfig())
    ids = {json.loads(line)["id"] for name in ("train.jsonl", "eval.jsonl")
           for line in (built.out / name).read_text().splitlines()}
    assert ids == set(masked)


@pytest.mark.parametrize(("lines", "allow_empty", "code", "last"), [
    ([json.dumps({"text": f"Review {i}: superb.", "label": 1}) for i in range(5)], False, 1,
     "masked 0 examples from 5 records; 5 unreadable (RS002 unrecognised record shape ×5)"),
    (["{bad", "[1]", "{also bad"] + [json.dumps({"id": f"r{i}", "messages": [
        {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}) for i in range(2)], True, 1,
     "masked 2 examples from 5 records; 3 unreadable (RS001 invalid JSON ×2, RS002 not a JSON object ×1)"),
    ([], False, 1, "masked 0 examples from 0 records; none unreadable or dropped"),
    ([], True, 0, "masked 0 examples from 0 records; none unreadable or dropped"),
])
def test_mask_refuses_an_empty_or_mostly_unreadable_input(tmp_path: Path, tokenizer: Any, lines: list[str],
                                                          allow_empty: bool, code: int, last: str) -> None:
    """Records it cannot read are counted by reason as the build counts them; no example at all (unless
    --allow-empty), or most records unreadable (even with it), is exit 1 with nothing written."""
    import os

    data = tmp_path / "d.jsonl"
    data.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    out = tmp_path / "m.jsonl"
    res = run_cli("mask", str(data), "-o", str(out), *(["--allow-empty"] if allow_empty else []),
                  env={"CURATE_CACHE": os.environ["CURATE_CACHE"]})
    assert res.returncode == code, res.stderr
    if code:
        assert res.stderr.splitlines()[-2] == f"curate: error: {last}" and not out.exists()
        assert "nothing was written" in res.stderr.splitlines()[-1]
    else:
        assert res.stdout.splitlines()[-1] == last and out.read_text() == ""
