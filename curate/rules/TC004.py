from curate.rules.base import CallIssueRule


class TC004(CallIssueRule):
    """A call passes an argument its tool does not declare.

    Tool parameters are closed by default: an object schema that lists `properties` accepts no
    other keys unless it sets `additionalProperties` (true or a schema). Objects that declare no
    properties at all stay open. Also reported: more positional arguments than parameters.

    **Anti-pattern**::

        schema: {"properties": {"city": ...}}   call: {"arguments": {"city": "Oslo", "units": "C"}}

    **Best practice**: pass only declared parameters, or declare the new one in the schema.
    """

    code = "TC004"
    name = "unexpected-argument"
