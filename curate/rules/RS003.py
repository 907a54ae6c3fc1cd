from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RS003(Rule):
    """The conversation has no messages.

    An empty conversation teaches nothing and breaks tools that expect at least one turn.

    **Anti-pattern**::

        {"id": "a1", "messages": []}

    **Best practice**: drop the record, or fill in the conversation it was meant to hold::

        {"id": "a1", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]}
    """

    code = "RS003"
    name = "empty-conversation"
    group = "record"
    skip_when = "roles_plain"  # plain roles mean at least two messages

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        if not ctx.record.messages:
            yield ctx.finding(self, "the conversation has no messages")
