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

        schema: {"days": {"type": "integer", "minimum": 1}}   call: {"arguments": {"days": 0}}

    **Best practice**::

        {"arguments": {"days": 1}}
    """

    code = "TC008"
    name = "schema-constraint-violation"
    argument_errors = frozenset({"constraint"})
