from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class FM006(Rule):
    """`<tool_call>` and `</tool_call>` do not pair up in an assistant turn.

    An unclosed block hides the call from every parser (it is not counted as a call at all), and
    a stray closing tag is template residue the model learns to emit.

    **Anti-pattern**::

        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}

    **Best practice**::

        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "FM006"
    name = "unbalanced-tool-call"
    group = "format"
    skip_when = "tags_clean"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m, _tags in ctx.tagged_assistant:
            if not m.content or "tool_call>" not in m.content:
                continue
            blocks = ctx.blocks(i)
            if blocks.unclosed or blocks.stray_closes:
                parts = []
                if blocks.unclosed:
                    parts.append(f"{blocks.unclosed} unclosed <tool_call>")
                if blocks.stray_closes:
                    parts.append(f"{blocks.stray_closes} </tool_call> without <tool_call>")
                start = blocks.first_problem
                yield ctx.finding(self, ", ".join(parts), i, m.content[start : start + 100])
