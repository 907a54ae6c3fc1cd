from curate.rules.base import CallRule


class TC008(CallRule):
    """An argument breaks another JSON Schema constraint of its parameter.

    Everything the schema says beyond types, required, unknown keys and enums: `pattern`,
    `minimum`/`maximum`, `minLength`, `minItems`, `const`, `anyOf`/`oneOf`/`allOf`, ... checked
    with `jsonschema`, each distinct schema compiled once.

    Patterns (`pattern`, `patternProperties`) are searched with the `regex` module under a time
    limit: 0.05 s a search, 0.25 s for all of one record's searches. A search that does not finish
    (catastrophic backtracking, as `^(a|aa)+$` on `"aaaa…a!"`) is reported here, naming the tool and
    the pattern, and the value is left unchecked: such values almost never match, and the linter must
    not hang on one record. Once a record's time is spent, its further patterns are reported as not
    evaluated.

    **Anti-pattern**::

        tools: [{"name": "get_forecast", "parameters": {"type": "object",
                 "properties": {"days": {"type": "integer", "minimum": 1}}}}]
        user: "The forecast, please."
        assistant: <tool_call>{"name": "get_forecast", "arguments": {"days": 0}}</tool_call>

    **Best practice**::

        user: "The forecast, please."
        assistant: <tool_call>{"name": "get_forecast", "arguments": {"days": 1}}</tool_call>
    """

    code = "TC008"
    name = "schema-constraint-violation"
    argument_errors = frozenset({"constraint"})
