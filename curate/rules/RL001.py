from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RL001(Rule):
    """A system message appears after the first turn.

    Chat templates place the system prompt first; one in the middle is rendered inconsistently
    (or dropped) and teaches the model to expect instructions mid-conversation.

    **Anti-pattern**::

        user: "hi"  →  system: "You are terse."  →  assistant: "Hello."

    **Best practice**::

        system: "You are terse."  →  user: "hi"  →  assistant: "Hello."
    """

    code = "RL001"
    name = "system-not-first"
    group = "roles"
    skip_when = "roles_plain"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m in enumerate(ctx.record.messages):
            if i > 0 and m.role == "system":
                yield ctx.finding(self, "system message is not the first message", i, m.content)
