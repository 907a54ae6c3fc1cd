from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class TC012(Rule):
    """A tool result names another tool than the call it answers.

    Tool results that say which tool answered (OpenAI tool messages and legacy `function` messages with a
    `name`, ToolACE and LLaMA-Factory results listed as `[{"name": …, "results": …}]`) must name the tool of the
    call they answer. Results pair with calls as TC007 pairs them: by `tool_call_id` when both sides carry ids,
    else in order. A mismatch is a result filed under the wrong call (results swapped, or copied from another
    conversation): the model learns to read one tool's output as another's. Results without a name are not
    checked.

    **Anti-pattern**::

        {"messages": [
          {"role": "user", "content": "Weather in Oslo?"},
          {"role": "assistant", "content": null,
           "function_call": {"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}},
          {"role": "function", "name": "get_time", "content": "{\\"time\\": \\"14:05\\"}"},
          {"role": "assistant", "content": "It is 14:05 in Oslo."}],
         "functions": [{"name": "get_weather", "parameters": {"type": "object",
                        "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}

    **Best practice**::

        {"messages": [
          {"role": "user", "content": "Weather in Oslo?"},
          {"role": "assistant", "content": null,
           "function_call": {"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}},
          {"role": "function", "name": "get_weather", "content": "{\\"temp\\": 3}"},
          {"role": "assistant", "content": "It is 3 °C in Oslo."}],
         "functions": [{"name": "get_weather", "parameters": {"type": "object",
                        "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}
    """

    code = "TC012"
    name = "result-names-another-tool"
    group = "tool-calls"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        messages = ctx.record.messages
        if not any(m.name for m in messages if m.role == "tool"):
            return  # the common case: no result names a tool
        for turn in ctx.call_turns:
            for call, k in turn.pairs:
                named = messages[k].name
                if not named or call.name is None or named.strip() == call.name.strip():
                    continue
                if turn.by_id:
                    which = f"the call `{call.id}` to `{call.name}` in message {turn.index}"
                else:
                    which = (f"call {k - turn.index} of message {turn.index}, to `{call.name}` (results answer "
                             "calls in their order)")
                yield ctx.finding(self, f"tool result names `{named}`, but it answers {which}", k,
                                  messages[k].content)
