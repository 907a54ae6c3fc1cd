from collections.abc import Iterator

from curate.rules.base import CallRule, CheckedCall
from curate.validate import ArgumentError


class TC004(CallRule):
    """A call passes an argument its tool does not declare.

    Tool parameters are closed by default: an object schema that lists `properties` accepts no
    other keys unless it sets `additionalProperties` (true or a schema). Objects that declare no
    properties at all stay open. Also reported: more positional arguments than parameters.

    **Anti-pattern**::

        tools: [{"name": "get_weather", "parameters": {"type": "object",
                 "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "units": "C"}}</tool_call>

    **Best practice**: pass only declared parameters, or declare the new one in the schema::

        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "TC004"
    name = "unexpected-argument"
    argument_errors = frozenset({"unexpected"})
    skip_plain_calls = True  # only positional values can outnumber the parameters

    def check_call(self, call: CheckedCall) -> Iterator[str]:
        if call.tool is None:
            return
        given, most = len(call.parsed.positional), len(call.tool.param_order)
        if given > most:
            yield f"`{call.name}` takes at most {most} arguments, {given} given positionally"

    def argument_message(self, call: CheckedCall, err: ArgumentError) -> str:
        return f"{err.message} in the call to `{call.name}`"
