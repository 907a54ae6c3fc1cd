from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class FM002(Rule):
    """An assistant turn holds more than one `<think>` block.

    The protocol is one reasoning block per turn, first. Several blocks are rendered differently
    by templates that strip reasoning from earlier turns, and teach interleaved formats the
    inference template will not reproduce.

    **Anti-pattern**::

        <think>Plan A.</think> Sure. <think>Plan B.</think>
        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>

    **Best practice**::

        <think>Plan A, then B.</think>
        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "FM002"
    name = "multiple-think-blocks"
    group = "format"
    skip_when = "tags_clean"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m, tags in ctx.tagged_assistant:
            opens = [t for t in tags if t.text == "<think>"]
            if len(opens) > 1:
                text = m.content or ""
                yield ctx.finding(self, f"{len(opens)} <think> blocks in one turn (at most one)", i,
                                  text[opens[1].start : opens[1].start + 100])
