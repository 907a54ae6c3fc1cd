from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class FM003(Rule):
    """A `<think>` block comes after a tool call in the same turn.

    Reasoning precedes action: the model thinks, then calls. Reasoning written after the call
    trains the model to justify calls it has already made.

    **Anti-pattern**::

        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call><think>I should look it up.</think>

    **Best practice**::

        <think>I should look it up.</think><tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "FM003"
    name = "think-after-tool-call"
    group = "format"
    skip_when = "tags_clean"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m, tags in ctx.tagged_assistant:
            first_call = next((t.start for t in tags if t.text == "<tool_call>"), None)
            if first_call is None:
                continue
            late = next((t.start for t in tags if t.text == "<think>" and t.start > first_call), None)
            if late is not None:
                text = m.content or ""
                yield ctx.finding(self, "<think> block after a <tool_call> (reasoning must come first)", i,
                                  text[late : late + 100])
