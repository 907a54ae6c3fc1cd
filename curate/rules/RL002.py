from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RL002(Rule):
    """The first turn after the system prompt is not a user turn.

    Conversations start with a request. One that opens with the assistant or a tool result
    teaches the model to speak unprompted or to answer results no call produced.

    **Anti-pattern**::

        system: "..."  →  assistant: "How can I help?"

    **Best practice**::

        system: "..."  →  user: "Book a table for two."  →  assistant: ...
    """

    code = "RL002"
    name = "first-turn-not-user"
    group = "roles"
    skip_when = "roles_plain"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m in enumerate(ctx.record.messages):
            if m.role == "system":
                continue
            if m.role != "user":
                yield ctx.finding(self, f"first non-system turn is `{m.role}`, expected `user`", i, m.content)
            return
