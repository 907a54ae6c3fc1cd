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
        for turn in ctx.call_turns:
            i = turn.index
            if turn.by_id:
                for k in turn.unasked:
                    yield ctx.finding(self, f"tool response for `{messages[k].tool_call_id}`, which no call of "
                                      f"message {i} has", k, messages[k].content)
                for call in turn.unanswered:
                    yield ctx.finding(self, f"call `{call.name}` (id `{call.id}`) has no tool response", i, call.raw)
            elif turn.unasked:
                responses, calls = len(turn.responses), len(turn.calls)
                yield ctx.finding(
                    self, f"{responses} tool responses for {calls} call(s): {responses - calls} with no call",
                    turn.unasked[0], messages[turn.unasked[0]].content,
                )
            elif turn.unanswered and not turn.final:
                names = ", ".join(f"`{c.name}`" for c in turn.unanswered[:3])
                yield ctx.finding(
                    self, f"{len(turn.calls)} call(s) but {len(turn.responses)} tool response(s): no response for "
                    f"{names}", i, turn.unanswered[0].raw,
                )
