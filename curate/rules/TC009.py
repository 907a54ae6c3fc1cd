from collections.abc import Iterator

from curate.rules.base import CallRule, CheckedCall


class TC009(CallRule):
    """A Python-style call passes arguments by position.

    Positional arguments depend on the order of the parameters in the schema, which JSON objects do
    not promise. They are mapped onto the parameters in their declared order (so the rest of the
    call is still checked) and reported so they can be written by name.

    **Anti-pattern**::

        tools: [{"name": "sort", "parameters": {"type": "object",
                 "properties": {"file_name": {"type": "string"}}}}]
        user: "Sort the final report."
        assistant: <tool_call>sort("final_report.pdf")</tool_call>

    **Best practice**::

        user: "Sort the final report."
        assistant: <tool_call>sort(file_name="final_report.pdf")</tool_call>
    """

    code = "TC009"
    name = "positional-argument"
    severity = "warning"
    skip_plain_calls = True  # a plain call passes nothing positionally

    def check_call(self, call: CheckedCall) -> Iterator[str]:
        if call.tool is not None and call.parsed.positional:
            names = ", ".join(f"{key}=…" for key, _ in call.mapped)
            yield f"positional arguments in the call to `{call.name}`: write them by name ({names})"
