from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RL005(Rule):
    """A message has empty content (and, for the assistant, no tool call).

    An empty user turn asks nothing; an empty assistant turn trains the model to stop at once; an
    empty tool result hides whether the call worked.

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
            if (not m.content or m.content.isspace()) and not m.tool_calls:
                yield ctx.finding(self, f"{m.role} message has empty content", i)
