from typing import NamedTuple

from curate.records import Finding
from curate.rules.base import CrossRecordRule, RecordContext
from curate.validate import CompiledTool


class SchemaProblems(NamedTuple):
    """What TS001 observes of one record: the problems of its own tools' schemas, and of the `--tools` specs
    it does not redefine, as their messages."""

    own: list[str]
    external: list[str]


def problem_message(tool: str, problem: str) -> str:
    return f"tool `{tool}`: {problem}"


class TS001(CrossRecordRule):
    """A tool's parameter schema cannot be fully used for checking.

    Unknown type names (`"type": "datetime"`, `Foo` in `"List[Foo]"`), parameters that are neither an
    object schema nor a map of parameter specs, required parameters missing from `properties`, invalid
    JSON Schema keywords, `$ref`s that are not followed (by URI or `$anchor`, under a nested `$id`, pointing at
    nothing, recursive; each message says which) and `$dynamicRef`s, and schemas whose `$ref`s
    expand past 5,000 nodes once inlined (references repeated at every level double the schema per
    level: 18 levels in 2 KB would make a million nodes); such a schema's `$ref`s are left
    unconstrained. Python type names and strings (`"dict"`, `"int, optional"`, `"List[int]"`,
    `"Dict[str, Any]"`, `"Optional[str]"`, `"Tuple[int, int]"`, `"array<string>"`) and bare parameters
    (xLAM / APIGen) are JSON Schema in another dialect, not problems. Calls to such a tool are checked
    as far as the schema allows, and the summary counts them as not validated (the last line of the
    text output and of `--statistics`), whether this rule is selected or not. Each distinct problem is
    reported once per run, at the first record where the tool appears.

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
        self.reported: set[str] = set()
        """The problems reported so far in the run."""
        self.external_checked = False
        """Whether the run's first readable record, where the `--tools` specs' problems count, was decided."""
        self._external: tuple[dict[str, CompiledTool], list[tuple[str, str]]] | None = None
        """The `--tools` specs (the same dict for every record of a run) and (name, message) of their problems."""

    def observe(self, ctx: RecordContext) -> SchemaProblems | None:
        tools = ctx.tools
        if tools is None:
            return None
        own = [problem_message(name, problem) for name in tools.own
               for problem in tools.get(name).problems] if tools.own else []  # type: ignore[union-attr]
        if self._external is None or self._external[0] is not tools.external:  # the same dict all run long
            self._external = (tools.external, [(name, problem_message(name, problem))
                                               for name, tool in tools.external.items() for problem in tool.problems])
        problems = self._external[1]
        external = [message for name, message in problems if name not in tools.own] if problems else []
        return SchemaProblems(own, external) if own or external else None

    def decide(self, ctx: RecordContext, observed: SchemaProblems | None) -> list[Finding]:
        # The record's own tools every time; the --tools specs once per run (they never change).
        first, self.external_checked = not self.external_checked, True
        if observed is None:
            return []
        found = []
        for message in observed.own + observed.external if first else observed.own:
            if message not in self.reported:
                self.reported.add(message)
                found.append(ctx.finding(self, message))
        return found
