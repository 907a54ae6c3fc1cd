from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RL003(Rule):
    """A tool message does not follow an assistant turn that made a call.

    Tool results answer calls. A tool message after a user turn, or after an assistant turn
    without any call, is a result nobody asked for. (When the numbers of calls and results of a
    round differ, that is TC007.)

    **Anti-pattern**::

        user: "Weather in Oslo?"  →  tool: {"temp": 21}

    **Best practice**::

        user: "Weather in Oslo?"
        →  assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
        →  tool: {"temp": 21}  →  assistant: "It is 21 °C."
    """

    code = "RL003"
    name = "orphan-tool-message"
    group = "roles"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        messages = ctx.record.messages
        roles = ctx.roles
        next_tool = roles.find("t")
        while next_tool >= 0:
            i = next_tool
            next_tool = roles.find("t", i + 1)
            m = messages[i]
            j = len(roles[:i].rstrip("t")) - 1  # the last turn before this run of tool turns
            if j < 0 or messages[j].role != "assistant":
                before = messages[j].role if j >= 0 else "nothing"
                yield ctx.finding(self, f"tool message follows {before}, not an assistant call", i, m.content)
            elif not ctx.calls[j]:
                yield ctx.finding(
                    self, f"tool message follows assistant message {j}, which makes no tool call", i, m.content
                )
