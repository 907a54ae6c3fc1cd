from curate.rules.base import CallRule


class TC006(CallRule):
    """An argument takes a value outside its parameter's `enum`.

    Enumerations are exact: case and type matter (`"Celsius"` is not `"celsius"`, `1` is not
    `true`).

    **Anti-pattern**::

        tools: [{"name": "set_unit", "parameters": {"type": "object",
                 "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}}}}]
        user: "Use Celsius."
        assistant: <tool_call>{"name": "set_unit", "arguments": {"unit": "Celsius"}}</tool_call>

    **Best practice**::

        user: "Use Celsius."
        assistant: <tool_call>{"name": "set_unit", "arguments": {"unit": "celsius"}}</tool_call>
    """

    code = "TC006"
    name = "value-not-in-enum"
    argument_errors = frozenset({"enum"})
