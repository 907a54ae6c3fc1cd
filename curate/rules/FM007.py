from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class FM007(Rule):
    """An assistant turn contains `<tool_response>`: the model writes its own tool results.

    Tool results come from tools, in tool turns. An assistant turn that holds one teaches the
    model to hallucinate results instead of waiting for them; it usually means a tool turn was
    merged into the assistant's text.

    **Anti-pattern**::

        <tool_call>{"name": "get_weather", ...}</tool_call>
        <tool_response>{"temp": 21}</tool_response> It is 21 °C.

    **Best practice**: end the assistant turn after the call; put the result in a `tool` message::

        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
        tool: {"temp": 21}
        assistant: "It is 21 °C."
    """

    code = "FM007"
    name = "tool-response-in-assistant"
    group = "format"
    skip_when = "tags_clean"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m, tags in ctx.tagged_assistant:
            hit = next((t for t in tags if t.text in ("<tool_response>", "</tool_response>")), None)
            if hit is not None:
                yield ctx.finding(self, "assistant turn contains a <tool_response> (results belong in tool turns)",
                                  i, (m.content or "")[hit.start : hit.start + 100])
