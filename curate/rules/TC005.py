from curate.rules.base import CallRule


class TC005(CallRule):
    """An argument has the wrong JSON type.

    Types are checked recursively (array items, nested properties). Integers are accepted where a
    number is expected, and integral floats where an integer is (as JSON Schema does); booleans are
    never accepted as integers or numbers. The Python-type dialect (`dict`, `float`, `tuple`,
    `any`, `list`) is read as its JSON Schema equivalent.

    **Anti-pattern**::

        tools: [{"name": "get_forecast", "parameters": {"type": "object",
                 "properties": {"days": {"type": "integer"}}}}]
        user: "Three days of forecast, please."
        assistant: <tool_call>{"name": "get_forecast", "arguments": {"days": "3"}}</tool_call>

    **Best practice**::

        user: "Three days of forecast, please."
        assistant: <tool_call>{"name": "get_forecast", "arguments": {"days": 3}}</tool_call>
    """

    code = "TC005"
    name = "argument-type-mismatch"
    argument_errors = frozenset({"type"})
