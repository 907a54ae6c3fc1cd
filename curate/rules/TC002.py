import heapq
from collections.abc import Iterator

from curate.rules.base import CallRule, CheckedCall


class TC002(CallRule):
    """A call names a tool the record does not define.

    Calls must name one of the tools in the record's `tools` or in the file given with
    `--tools`. An unknown name is a hallucinated tool the model learns to invent. The message
    suggests the closest known name.

    **Anti-pattern**::

        tools: [{"name": "get_weather", "parameters": {"type": "object",
                 "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_wether", "arguments": {"city": "Oslo"}}</tool_call>

    **Best practice**::

        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "TC002"
    name = "unknown-tool"
    skip_plain_calls = True  # a plain call names a known tool

    def check_call(self, call: CheckedCall) -> Iterator[str]:
        if call.tool is not None or call.parsed.error is not None:
            return
        hint = call.tools.suggest(call.name or "")
        if hint:
            more = f"; did you mean `{hint}`?"
        else:
            known = ", ".join(heapq.nsmallest(8, call.tools.names))
            more = f" (known: {known or 'none: the record has no `tools` and none were given with --tools'})"
        yield f"unknown tool `{call.name}`{more}"
