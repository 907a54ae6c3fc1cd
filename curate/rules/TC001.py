from collections.abc import Iterator

from curate.rules.base import CallRule, CheckedCall


class TC001(CallRule):
    """A tool call cannot be parsed.

    Each `<tool_call>` block must hold one call, as JSON (`{"name": ..., "arguments": {...}}`,
    arguments possibly a JSON string) or as a Python-style call `name(key=value, ...)` whose values
    are literals. Invalid JSON, non-literal expressions (names, calls, operators, f-strings),
    several calls in one block, arguments too deep or numbers too long are reported here, and
    nothing is ever evaluated. Structured `tool_calls` whose `arguments` string is not a JSON
    object are reported too, and so is a Python-style call giving one argument both by position
    and by name (which value was meant cannot be told). Calls written in another syntax that can
    be read (ReAct text, a Python-style call list, a Python dict literal in the block) are TC010;
    what cannot be read in them (an `Action Input` that is neither JSON nor a Python literal, a
    broken call list) is reported here. A call written with nothing in it is TC011.

    **Anti-pattern**::

        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo",}}</tool_call>
        <tool_call>run(cmd=__import__("os").system("ls"))</tool_call>

    **Best practice**::

        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
        <tool_call>run(cmd="ls")</tool_call>
    """

    code = "TC001"
    name = "unparseable-tool-call"
    skip_plain_calls = True  # a plain call parsed and passes nothing positionally

    def check_call(self, call: CheckedCall) -> Iterator[str]:
        if call.parsed.error is not None:
            if not call.parsed.empty:  # a call written with nothing in it is TC011
                yield call.parsed.error
            return
        named = call.parsed.arguments or {}
        for key, _ in call.mapped:
            if key in named:
                yield f"argument `{key}` given both by position and by name"
