from collections.abc import Iterable, Iterator
from typing import Any

from curate.readers.prompt_tools import SYSTEM_PROMPT, may_declare_tools, prompt_tools_of
from curate.records import Finding
from curate.rules.base import RecordContext, Rule
from curate.validate import normalise_schema


class TS002(Rule):
    """The tools the system prompt declares cannot be read, or disagree with the record's `tools`.

    Many datasets show the model its tools in the system prompt (Hermes and Qwen `<tools>` blocks, ToolACE's
    JSON list, ToolLLaMA's Python list, glaive's objects). A record without `tools` takes those as its tools
    (`tools_source: "system prompt"`), so a prompt whose tools cannot be read leaves its calls unchecked. A
    record with both is trained on the prompt's tools but checked against `tools`: when they name different
    tools, or give one tool different parameters (names, required ones, types), one of the two is wrong, and
    calls are checked against `tools`. Descriptions may differ.

    **Anti-pattern**::

        tools: [{"name": "get_weather", "parameters": {"type": "object",
                 "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
        system: You have access to these tools: <tools>
        {"name": "get_weather", "parameters": {"type": "object", "properties": {"town": {"type": "string"}}}}
        </tools>
        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>

    **Best practice**: declare the same tools in both, or keep them in one place::

        system: You have access to these tools: <tools>
        {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
         "required": ["city"]}}
        </tools>
        user: "Weather in Oslo?"
        assistant: <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "TS002"
    name = "prompt-tools-mismatch"
    group = "tool-calls"
    severity = "warning"

    def check(self, ctx: RecordContext) -> Iterable[Finding]:
        assert ctx.record is not None
        messages = ctx.record.messages
        if not messages or messages[0].role != "system" or not may_declare_tools(messages[0].content):
            return ()  # the common case, on every record: no system prompt that may declare tools
        return list(self._findings(ctx))

    def _findings(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        record = ctx.record
        found = prompt_tools_of(record)
        if found is None:
            return
        for problem in found.problems:
            unchecked = "" if record.tools else "; calls to them are not checked"
            yield ctx.finding(self, f"tools declared in the system prompt cannot be read: {problem}{unchecked}", 0)
        if not record.tools or record.tools_source == SYSTEM_PROMPT or not found.specs:
            return
        own = {spec.function.name: spec.function.parameters for spec in record.tools}
        declared = {spec["function"]["name"]: spec["function"].get("parameters") for spec in found.specs}
        only_prompt = [name for name in declared if name not in own]
        only_tools = [name for name in own if name not in declared]
        if only_prompt:
            yield ctx.finding(self, f"the system prompt declares {_names(only_prompt)}, which `tools` does not "
                                    "define (calls are checked against `tools`)", 0)
        if only_tools:
            yield ctx.finding(self, f"`tools` defines {_names(only_tools)}, which the system prompt does not "
                                    "declare (the model is not shown it)", 0)
        for name, parameters in declared.items():
            if name in own and parameters != own[name]:  # equal schemas (the common case) agree at once
                difference = _difference(_signature(parameters), _signature(own[name]))
                if difference:
                    yield ctx.finding(self, f"`{name}` differs between the system prompt and `tools`: {difference} "
                                            "(calls are checked against `tools`)", 0)


Signature = tuple[list[str], set[str], dict[str, Any]]


def _signature(parameters: dict[str, Any] | None) -> Signature:
    """What a tool's callers depend on: its parameter names, the required ones and each one's type."""
    schema = normalise_schema(parameters or {})
    props = schema.get("properties") if isinstance(schema, dict) else None
    props = props if isinstance(props, dict) else {}
    required = schema.get("required") if isinstance(schema, dict) else None
    required = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
    types = {k: v.get("type") for k, v in props.items() if isinstance(v, dict)}
    return list(props), required, types


def _difference(prompt: Signature, tools: Signature) -> str | None:
    """How the prompt's signature of a tool differs from `tools`' (the first difference), or None."""
    (p_names, p_required, p_types), (t_names, t_required, t_types) = prompt, tools
    if set(p_names) != set(t_names):
        return f"parameters {_params(p_names)} in the prompt, {_params(t_names)} in `tools`"
    if p_required != t_required:
        return (f"required {_params(sorted(p_required))} in the prompt, {_params(sorted(t_required))} "
                "in `tools`")
    for key in p_names:
        if p_types.get(key) != t_types.get(key):
            return f"`{key}` is {_type(p_types.get(key))} in the prompt, {_type(t_types.get(key))} in `tools`"
    return None


def _names(names: list[str]) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def _params(names: list[str]) -> str:
    return "(" + ", ".join(names[:12]) + (", …" if len(names) > 12 else "") + ")" if names else "(none)"


def _type(value: Any) -> str:
    if value is None:
        return "of any type"
    if isinstance(value, list):
        return " or ".join(str(v) for v in value)
    return str(value)
