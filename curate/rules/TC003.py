from curate.rules.base import CallIssueRule


class TC003(CallIssueRule):
    """A call leaves out a required argument.

    Checked against the tool's parameter schema (`required`), recursively for nested objects.
    Such a call fails at run time and teaches the model to skip what the tool needs.

    **Anti-pattern**::

        schema: {"required": ["city"], ...}   call: {"name": "get_weather", "arguments": {}}

    **Best practice**::

        {"name": "get_weather", "arguments": {"city": "Oslo"}}
    """

    code = "TC003"
    name = "missing-required-argument"
