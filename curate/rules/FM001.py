from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class FM001(Rule):
    """`<think>` and `</think>` do not pair up in an assistant turn.

    An unclosed `<think>` makes the whole answer (tool calls included) look like reasoning, and a
    stray `</think>` leaks template residue into what the model learns to say. Templates that put
    `<think>` in the generation prompt need the tag written in the data all the same.

    **Anti-pattern**::

        <think>The user wants the weather. <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>

    **Best practice**::

        <think>The user wants the weather.</think>
        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "FM001"
    name = "unbalanced-think"
    group = "format"
    skip_when = "tags_clean"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m, tags in ctx.tagged_assistant:
            depth = unclosed = stray = 0
            first = None
            for tag in tags:
                if tag.text == "<think>":
                    if depth:
                        unclosed += 1
                        first = first if first is not None else tag.start
                    depth = 1
                elif tag.text == "</think>":
                    if depth:
                        depth = 0
                    else:
                        stray += 1
                        first = first if first is not None else tag.start
            unclosed += depth
            if unclosed or stray:
                parts = []
                if unclosed:
                    parts.append(f"{unclosed} unclosed <think>")
                if stray:
                    parts.append(f"{stray} </think> without <think>")
                text = m.content or ""
                start = first if first is not None else text.rfind("<think>")
                yield ctx.finding(self, ", ".join(parts), i, text[max(start, 0) : max(start, 0) + 100])
