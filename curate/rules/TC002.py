import heapq
from collections.abc import Iterator

from curate.readers.prompt_tools import prompt_tools_of
from curate.records import Finding
from curate.rules.base import CallRule, CheckedCall, RecordContext, closest_name

NO_TOOLS = "none: the record has no `tools` and none were given with --tools"
UNREADABLE_PROMPT_TOOLS = (": the tools its system prompt declares cannot be read (TS002 says why), "
                           "so its calls are not checked")
NAME_LIKENESS = 0.6
"""How alike (rapidfuzz's `ratio`, 0 to 1) a known name must be to be suggested for its name alone."""
SHARED_ARGUMENTS = 0.5
"""The share of the call's argument names a tool must take to be suggested for its parameters alone."""


class TC002(CallRule):
    """A call names a tool the record does not define.

    Calls must name one of the tools in the record's `tools` (or those its system prompt declares, when it has
    no `tools`) or in the file given with `--tools`. An unknown name is a hallucinated tool the model learns to
    invent. The message suggests the known tool the call most likely meant: by the likeness of the names and by
    how many of the call's argument names the tool takes (a call to `Information` with a `zipcode` argument
    suggests `Get Zip Code Info`, which takes `zipcode`).

    **Anti-pattern**::

        tools: [{"name": "get_weather", "parameters": {"type": "object",
                 "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_wether", "arguments": {"city": "Oslo"}}</tool_call>

    **Best practice**::

        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "TC002"
    name = "unknown-tool"
    skip_plain_calls = True  # a plain call names a known tool

    def check_call(self, call: CheckedCall) -> Iterator[str]:
        if call.tool is not None or call.parsed.error is not None:
            return
        hint, shared = suggestion(call)
        if hint is not None:
            takes = f" (it takes {', '.join(f'`{a}`' for a in shared)})" if shared else ""
            more = f"; did you mean `{hint}`{takes}?"
        else:
            known = ", ".join(heapq.nsmallest(8, call.tools.names))
            more = f" (known: {known or NO_TOOLS})"
        yield f"unknown tool `{call.name}`{more}"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        for finding in super().check(ctx):
            if finding.message.endswith(f"{NO_TOOLS})") and ctx.record is not None:
                declared = prompt_tools_of(ctx.record)
                if declared is not None and declared.problems:
                    finding = finding.model_copy(
                        update={"message": finding.message.replace(f" (known: {NO_TOOLS})", UNREADABLE_PROMPT_TOOLS)})
            yield finding


def suggestion(call: CheckedCall) -> tuple[str | None, list[str]]:
    """The known tool `call` most likely meant, and the call's argument names it takes when those decided it.

    Each known tool scores the likeness of its name to the call's (0 to 1) plus the share of the call's argument
    names it takes (0 to 1); a tool is a candidate when its name is at least `NAME_LIKENESS` alike or it takes at
    least `SHARED_ARGUMENTS` of the arguments. The best score wins, the first of equals. Without named arguments
    this is `closest_name`."""
    name = call.name or ""
    arguments = [key for key in call.arguments]
    if not arguments:
        return closest_name(name, call.tools.names), []
    from rapidfuzz import fuzz  # here: most lint runs never ask, and the import costs 5 ms

    best: str | None = None
    best_score = 0.0
    best_shared: list[str] = []
    for known in call.tools.names:
        tool = call.tools.get(known)
        params = set(tool.param_order) if tool is not None else set()
        shared = [a for a in arguments if a in params]
        likeness = fuzz.ratio(name, known) / 100
        overlap = len(shared) / len(arguments)
        if likeness < NAME_LIKENESS and overlap < SHARED_ARGUMENTS:
            continue
        score = likeness + overlap
        if score > best_score:
            best, best_score, best_shared = known, score, shared
    if best is None:
        return None, []
    # The arguments are worth naming only when they, not the name, make the suggestion.
    return best, best_shared if fuzz.ratio(name, best) / 100 < NAME_LIKENESS else []
