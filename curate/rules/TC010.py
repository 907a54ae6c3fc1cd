from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule
from curate.toolcalls import NON_CANONICAL, ParsedCall


class TC010(Rule):
    """A call is written in another syntax than a `<tool_call>` block holding JSON.

    Published datasets write calls in several ways, and each is read and checked like any call: ReAct text
    (`Thought:` / `Action:` / `Action Input:`, as ToolLLaMA and ToolBench do; ToolBench's `Finish` action is
    the final answer unless the record declares a `Finish` tool), a Python-style list of calls as the whole
    answer (`[get_weather(city="Oslo")]`, as raw ToolACE, BFCL and xLAM answers do) and a Python dict literal
    inside `<tool_call>` (`{'name': 'get_weather', 'arguments': {...}}`, what Python's `str(dict)` writes).

    A model trained on several syntaxes learns several ways to call a tool, and a runtime expecting
    `<tool_call>` JSON reads none of the others. `curate build` and `curate mask` therefore write these calls as
    `<tool_call>` JSON (the ReAct thought as `<think>`, a `Finish` final answer as the answer text); `calls =
    "as-written"` in the build config's `[export]` and `curate mask --calls as-written` keep them as written.

    Reported once per assistant turn (a turn is written in one syntax, and rewritten as a whole). What cannot
    be read in such a turn is TC001; an empty call list is TC011.

    **Anti-pattern**::

        user: "Weather in Oslo?"
        assistant: [get_weather(city="Oslo")]

    **Best practice**::

        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "TC010"
    name = "non-canonical-call-syntax"
    group = "tool-calls"
    severity = "warning"
    skip_when = "calls_canonical"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        for i, calls in enumerate(ctx.calls):
            if not calls:
                continue
            written = [c for c in calls if c.syntax in NON_CANONICAL]
            if written:
                yield ctx.finding(self, describe(written), i, written[0].raw)


def describe(calls: list[ParsedCall]) -> str:
    """What is non-canonical about one turn's calls, and what build and mask do with them."""
    syntax, n = calls[0].syntax, len(calls)
    if syntax == "react":
        action = f"`Action: {calls[0].name}`" if calls[0].name else "`Action:`"
        what = f"a ReAct step ({action} / `Action Input:`), not a <tool_call> JSON block"
    elif syntax == "python_list":
        what = f"{n} call{'s' * (n != 1)} written as a Python-style list `[name(...)]`, not as <tool_call> JSON blocks"
    else:
        what = (f"{n} <tool_call> block{'s' * (n != 1)} holding a Python dict literal (`{{'name': ...}}`), "
                "not JSON")
    return f"{what}: read and checked; build and mask write {'it' if n == 1 else 'them'} as <tool_call> JSON " \
           "unless calls = \"as-written\""
