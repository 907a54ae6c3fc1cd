from curate.rules.base import CallIssueRule


class TC002(CallIssueRule):
    """A call names a tool the record does not define.

    Calls must name one of the tools in the record's `tools` or in the file given with
    `--tools`. An unknown name is a hallucinated tool the model learns to invent. The message
    suggests the closest known name.

    **Anti-pattern**::

        tools: [get_weather]   call: {"name": "get_wether", ...}

    **Best practice**::

        tools: [get_weather]   call: {"name": "get_weather", ...}
    """

    code = "TC002"
    name = "unknown-tool"
