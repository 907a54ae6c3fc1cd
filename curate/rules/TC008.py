from curate.rules.base import CallIssueRule


class TC008(CallIssueRule):
    """An argument breaks another JSON Schema constraint of its parameter.

    Everything the schema says beyond types, required, unknown keys and enums: `pattern`,
    `minimum`/`maximum`, `minLength`, `minItems`, `const`, `anyOf`/`oneOf`/`allOf`, ... checked
    with `jsonschema`, each distinct schema compiled once.

    **Anti-pattern**::

        schema: {"days": {"type": "integer", "minimum": 1}}   call: {"arguments": {"days": 0}}

    **Best practice**::

        {"arguments": {"days": 1}}
    """

    code = "TC008"
    name = "schema-constraint-violation"
