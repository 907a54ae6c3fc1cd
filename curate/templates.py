"""Is a tokenizer's own chat template fit to train tool calling on? A probe, and the ChatML fallback.

A chat template renders whatever it was written for and silently leaves out the rest: a template
without `tools` support renders no tool specs, one that only prints `content` drops structured tool
calls, one that knows no `tool` role drops or renames the results. The masks are then right for the
text rendered (the audit proves that much) and the model is trained to call tools it is never
shown. `probe_template` renders one small conversation that holds each of these things and names
what goes missing, before anything is masked or trained (`curate mask`, `curate train`).

The fix it names is `template = "chatml"`: the built-in Hermes / Qwen2.5 ChatML renderer with the
model's own tokenizer, the protocol tokens added where the tokenizer lacks them (`use_chatml`;
`curate train` then gives the model embeddings for them and trains embeddings and head).
"""

from __future__ import annotations

from typing import Any

from curate.records import Trajectory

FIX = ('use --template chatml (config: [mask] template = "chatml") to render with the built-in '
       "Hermes/Qwen2.5 ChatML template and the model's own tokenizer")

_CALLED, _CALLED_PARAM = "probe_lookup", "probe_query"
_UNCALLED, _UNCALLED_PARAM = "probe_convert", "probe_amount"
_ARGUMENT = "probe-call-argument"
_RESULT = "probe-tool-result"
_EARLIER_THINK, _LAST_THINK = "probe-earlier-thought", "probe-last-thought"


def probe_record() -> Trajectory:
    """A conversation holding what training data holds: tools, a structured call, a tool result, and
    `<think>` both in a turn before the last user turn and in the last exchange."""
    def spec(name: str, param: str) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": name, "description": f"{name} (probe)",
            "parameters": {"type": "object", "properties": {param: {"type": "string"}}, "required": [param]}}}

    return Trajectory.model_validate({
        "id": "template-probe",
        "tools": [spec(_CALLED, _CALLED_PARAM), spec(_UNCALLED, _UNCALLED_PARAM)],
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": f"<think>{_EARLIER_THINK}</think>first answer"},
            {"role": "user", "content": "second question"},
            {"role": "assistant", "content": f"<think>{_LAST_THINK}</think>", "tool_calls": [{
                "id": "call_0", "type": "function",
                "function": {"name": _CALLED, "arguments": {_CALLED_PARAM: _ARGUMENT}}}]},
            {"role": "tool", "content": _RESULT, "name": _CALLED, "tool_call_id": "call_0"},
            {"role": "assistant", "content": "second answer"},
        ]})


def probe_template(spans: Any, think: str = "keep") -> list[str]:
    """What the chat template of `spans` (a `curate.mask.TemplateSpans`) drops of the probe record.

    Reasoning is judged as masking will use the template. A template that drops earlier `<think>`
    blocks only when later turns follow (not prefix-stable, e.g. Qwen3's) loses nothing: `Masker`
    then renders each trained turn as the last turn of its own prefix ("per_turn"), where its
    `<think>` is kept. So a turn's reasoning is lost only when the policy trains it (every turn's
    under think "keep"; only turns after the last user turn otherwise, earlier ones being dropped or
    masked) and neither the whole conversation nor the conversation up to that turn renders it.
    A template that raises on the probe is reported as rejecting it.
    """
    from curate.mask import template_messages
    from curate.render import earlier_turns

    record = probe_record()
    messages, tools = template_messages(record)
    try:
        full = spans.render(messages, tools)[0]
        bare = spans.render(messages, None)[0]
        upto = {i: spans.render(messages[: i + 1], tools)[0]
                for i, m in enumerate(messages) if m["role"] == "assistant"}
    except Exception as e:  # jinja raises for roles, tools or shapes a template rejects
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return [f"a conversation with tools, tool calls and tool results (it raises: {first})"]
    lost = []
    if full == bare or any(n not in full for n in (_CALLED, _CALLED_PARAM, _UNCALLED, _UNCALLED_PARAM)):
        lost.append("the tool specs")
    if _ARGUMENT not in full:
        lost.append("the tool calls")
    if _RESULT not in full:
        lost.append("the tool results (role `tool`)")
    earlier = earlier_turns(record.messages)
    for i, text in ((2, _EARLIER_THINK), (4, _LAST_THINK)):
        trained = think == "keep" or i not in earlier
        if trained and text not in full and text not in upto[i]:
            lost.append("the <think> reasoning of " + ("earlier turns" if i in earlier else "the last turn"))
    return lost


def check_template(tokenizer: Any, spans: Any, think: str = "keep") -> None:
    """Raise `curate.mask.MaskError` (one line: what is lost, and the fix) when the template drops data."""
    from curate.mask import MaskError

    lost = probe_template(spans, think)
    if lost:
        name = getattr(tokenizer, "name_or_path", "?") or "?"
        what = ", ".join(lost[:-1]) + (" and " if len(lost) > 1 else "") + lost[-1]
        verb = "rejects" if lost[0].startswith("a conversation") else "drops"
        raise MaskError(f"tokenizer `{name}`: its chat template {verb} {what}, so training would not see what "
                        f"the data holds; {FIX}")


def use_chatml(tokenizer: Any) -> list[str]:
    """Make `tokenizer` render the built-in ChatML: the protocol tokens as atomic special tokens (added
    when missing) and `CHATML_TEMPLATE` as its chat template, so that generation prompts and saved
    checkpoints use the rendering trained on. Returns the tokens new to its vocabulary (the model
    needs embeddings for them). Idempotent."""
    from curate.render import CHATML_TEMPLATE, SPECIAL_TOKENS

    vocab = tokenizer.get_vocab()
    new = [t for t in SPECIAL_TOKENS if t not in vocab]
    added = set(tokenizer.get_added_vocab())
    atomic = [t for t in SPECIAL_TOKENS if t not in added]
    if atomic:
        tokenizer.add_tokens(atomic, special_tokens=True)
    tokenizer.chat_template = CHATML_TEMPLATE
    return new
