from curate.rules.base import CallRule, CheckedCall
from curate.validate import ArgumentError


class TC003(CallRule):
    """A call leaves out a required argument.

    Checked against the tool's parameter schema (`required`), recursively for nested objects.
    Such a call fails at run time and teaches the model to skip what the tool needs.

    Required-ness is read as each dialect means it: JSON Schema's `required` list (and draft 3's
    `"required": true` on a property); a `required` list beside `parameters`; for bare parameters
    (xLAM / APIGen: `{"city": {"type": "str"}}`), every parameter without a `default` and whose type is
    not optional (`"int, optional"`, `"Optional[str]"`), as a Python parameter without a default.
    A nested object given empty, or missing while its keys are given beside it, is one finding.

    **Anti-pattern**::

        tools: [{"name": "get_weather", "parameters": {"type": "object",
                 "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {}}</tool_call>

    **Best practice**::

        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "TC003"
    name = "missing-required-argument"
    argument_errors = frozenset({"missing"})

    def argument_message(self, call: CheckedCall, err: ArgumentError) -> str:
        return f"{err.message} in the call to `{call.name}`"
