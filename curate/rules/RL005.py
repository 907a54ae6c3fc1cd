from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RL005(Rule):
    """A message has empty content (and, for the assistant, no tool call).

    An empty user turn asks nothing; an empty assistant turn trains the model to stop at once; an
    empty tool result hides whether the call worked. An assistant turn that only reasons (a `<think>`
    block, or a `reasoning_content` field, and no answer and no call) is a generation cut off after
    its reasoning: it trains the model to think and then stop.

    **Anti-pattern**::

        user: "Weather in Oslo?"  →  assistant: "   "

    **Best practice**: give the turn its text, or remove it::

        user: "Weather in Oslo?"  →  assistant: "It is 21 °C."
    """

    code = "RL005"
    name = "empty-content"
    group = "roles"
    severity = "warning"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m in enumerate(ctx.record.messages):
            content = m.content
            if m.tool_calls:
                continue
            if not content or content.isspace():
                yield ctx.finding(self, f"{m.role} message has empty content", i)
            elif m.role == "assistant" and content[-40:].rstrip().endswith("</think>") \
                    and content.lstrip().startswith("<think>"):
                yield ctx.finding(self, "assistant message has only its reasoning: no answer and no call after "
                                  "</think>", i, content)
