from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class TC007(Rule):
    """Tool calls and tool responses do not pair up.

    After an assistant turn with N calls come N tool messages, one per call (matched by
    `tool_call_id` when both sides carry ids, else by count). A response with no call is reported,
    and so is a call with no response, except in the final assistant turn, which is how
    single-step examples end. (A tool message after a turn with no call at all is RL003.)

    **Anti-pattern**::

        user: "Weather in Oslo and Rome?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
        <tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>
        tool: {"temp": 21}
        assistant: "Oslo: 21 °C."

    **Best practice**::

        user: "Weather in Oslo and Rome?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
        <tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>
        tool: {"temp": 21}
        tool: {"temp": 25}
        assistant: "Oslo: 21 °C, Rome: 25 °C."
    """

    code = "TC007"
    name = "unpaired-call-response"
    group = "tool-calls"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        messages = ctx.record.messages
        n = len(messages)
        i = 0
        while i < n:
            if messages[i].role != "assistant" or not ctx.calls[i]:
                i += 1
                continue
            calls = ctx.calls[i]
            j = i + 1
            while j < n and messages[j].role == "tool":
                j += 1
            responses = messages[i + 1 : j]
            final_turn = j == n and not responses
            call_ids = [c.id for c in calls]
            response_ids = [m.tool_call_id for m in responses]
            if responses and all(call_ids) and all(response_ids):
                pending = list(call_ids)
                for k, rid in enumerate(response_ids):
                    if rid in pending:
                        pending.remove(rid)
                    else:
                        yield ctx.finding(self, f"tool response for `{rid}`, which no call of message {i} has",
                                          i + 1 + k, responses[k].content)
                for cid in pending:
                    call = next(c for c in calls if c.id == cid)
                    yield ctx.finding(self, f"call `{call.name}` (id `{cid}`) has no tool response", i, call.raw)
            elif len(responses) > len(calls):
                extra = len(responses) - len(calls)
                yield ctx.finding(
                    self, f"{len(responses)} tool responses for {len(calls)} call(s): {extra} with no call",
                    i + 1 + len(calls), responses[len(calls)].content,
                )
            elif len(responses) < len(calls) and not final_turn:
                missing = calls[len(responses):]
                names = ", ".join(f"`{c.name}`" for c in missing[:3])
                yield ctx.finding(
                    self, f"{len(calls)} call(s) but {len(responses)} tool response(s): no response for {names}",
                    i, missing[0].raw,
                )
            i = j
