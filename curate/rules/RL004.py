from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RL004(Rule):
    """The conversation does not end with an assistant turn.

    Training examples end on what the model should say. A trajectory that ends on a user or tool
    turn has nothing to learn at its end and is usually truncated.

    **Anti-pattern**::

        user: "Weather in Oslo?"
        →  assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
        →  tool: {"temp": 21}

    **Best practice**: end with the assistant's answer (or, for single-step examples, its call)::

        user: "Weather in Oslo?"
        →  assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
        →  tool: {"temp": 21}  →  assistant: "It is 21 °C."
    """

    code = "RL004"
    name = "last-turn-not-assistant"
    group = "roles"
    skip_when = "roles_plain"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        messages = ctx.record.messages
        if messages and messages[-1].role != "assistant":
            last = messages[-1]
            yield ctx.finding(
                self, f"the last turn is `{last.role}`, expected `assistant`", len(messages) - 1, last.content
            )
