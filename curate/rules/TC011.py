from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import CallRule, CheckedCall, RecordContext
from curate.toolcalls import asks_for_call_lists, is_empty_call_list


class TC011(CallRule):
    """A call was written with nothing in it: an empty call list.

    `<tool_call>[]</tool_call>`, an empty `<tool_call>` block, a ReAct `Action:` naming no tool, or `[]` as the
    whole answer of a record that writes its calls as Python-style lists (its other turns do, or its prompt
    asks for `[func1(params_name=params_value...)]`): the turn calls nothing and says nothing, and a model
    trained on it learns to answer with an empty call. Write the calls, or answer in text (say why no tool
    fits). `tool_calls: []` beside a text answer is not reported: many exports write it for "no calls".

    **Anti-pattern**::

        <tool_call>[]</tool_call>

    **Best practice**::

        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "TC011"
    name = "empty-call-list"
    skip_when = "calls_canonical"  # not `no_call_issues`: an answer `[]` is no call issue
    skip_plain_calls = True  # a plain call parsed: it is not empty

    def check_call(self, call: CheckedCall) -> Iterator[str]:
        if call.parsed.empty and call.parsed.error is not None:
            yield call.parsed.error

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        if ctx.call_issues:
            yield from super().check(ctx)
        assert ctx.record is not None
        messages = ctx.record.messages
        empty = [i for i, m in enumerate(messages)
                 if m.role == "assistant" and not m.tool_calls and is_empty_call_list(m.content)]
        if not empty:
            return
        if not (any(c.syntax == "python_list" for calls in ctx.calls for c in calls)
                or any(m.role in ("system", "user") and asks_for_call_lists(m.content) for m in messages)):
            return  # `[]` is an answer here (an empty JSON list), not a call
        for i in empty:
            yield ctx.finding(self, "an empty call list `[]` as the whole answer, in a record that writes its calls as "
                              "Python-style lists: write the calls, or answer in text (say why no tool fits)",
                              i, messages[i].content)
