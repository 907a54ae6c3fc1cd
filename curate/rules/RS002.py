from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RS002(Rule):
    """The record does not match any supported shape or the canonical schema.

    Records are read as OpenAI `messages`, ChatML or ShareGPT `conversations`,
    `instruction`/`output` pairs or BFCL rows, then checked against the canonical `Trajectory`
    schema (`schemas/trajectory.schema.json`): known roles, string content, well-formed
    `tool_calls` and tool specs. A record that fails is not linted further.

    **Anti-pattern**::

        {"messages": [{"role": "robot", "content": 42}]}

    **Best practice**::

        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]}
    """

    code = "RS002"
    name = "schema-violation"
    group = "record"
    needs_record = False

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        for message_index, text in ctx.shape_errors:
            yield ctx.finding(self, text, message_index)
