from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class TS001(Rule):
    """A tool's parameter schema cannot be fully used for checking.

    Unknown type names (`"type": "datetime"`), parameters that are not an object schema, required
    parameters missing from `properties`, invalid JSON Schema keywords, `$ref`s that cannot be
    resolved or are recursive, and schemas whose `$ref`s expand past 5,000 nodes once inlined
    (references repeated at every level double the schema per level: 18 levels in 2 KB would make a
    million nodes); such a schema's `$ref`s are left unconstrained. Calls to such a tool are checked
    as far as the schema allows. Each distinct problem is reported once per run, at the first
    record where the tool appears.

    **Anti-pattern**::

        tools: [{"name": "book", "parameters": {"type": "dict",
                 "properties": {"when": {"type": "datetime"}}}}]
        user: "Book it for noon."
        assistant: <tool_call>{"name": "book", "arguments": {"when": "12:00"}}</tool_call>

    **Best practice**::

        tools: [{"name": "book", "parameters": {"type": "object",
                 "properties": {"when": {"type": "string", "format": "date-time"}}}}]
        user: "Book it for noon."
        assistant: <tool_call>{"name": "book", "arguments": {"when": "12:00"}}</tool_call>
    """

    code = "TS001"
    name = "unusable-tool-schema"
    group = "tool-calls"
    severity = "warning"

    def __init__(self) -> None:
        self.reported: set[tuple[str, str]] = set()
        self.external_checked = False

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        if ctx.tools is None:
            return
        # The record's own tools every time; the --tools specs once per run (they never change).
        names = list(ctx.tools.own)
        if not self.external_checked:
            names += [n for n in ctx.tools.external if n not in ctx.tools.own]
            self.external_checked = True
        for name in names:
            tool = ctx.tools.get(name) if name in ctx.tools.own else ctx.tools.external[name]
            assert tool is not None
            for problem in tool.problems:
                if (name, problem) not in self.reported:
                    self.reported.add((name, problem))
                    yield ctx.finding(self, f"tool `{name}`: {problem}")
