"""The tools a record may call: its own `tools` by name first, then the run's `--tools` specs.

A record's own tools include those read from its system prompt when it carries no `tools` (`tools_source:
"system prompt"`, see `curate.readers.prompt_tools`); renderers do not declare again the tools a system prompt
already shows (`tools_to_declare`).

One decision for every stage. The linter validates a call against the tool this set resolves; the build,
`curate mask`, the built-in tokenizer's corpus and the tiny model's pretraining render and export a record
with `ToolSet.attach`, so an exported record carries every tool it calls. (Before, export attached
`--tools` only to records with no tools at all: a record defining `translate` and calling `get_weather`,
defined only in `--tools`, linted clean and was trained on a call to a tool it was never shown.)

>>> from curate.records import Trajectory
>>> tools = ToolSet.from_dicts([{"function": {"name": "get_weather"}}, {"function": {"name": "search"}}])
>>> rec = Trajectory.model_validate({"tools": [{"function": {"name": "translate"}}], "messages": [
...     {"role": "user", "content": "Weather in Oslo?"},
...     {"role": "assistant", "content": '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'}]})
>>> [t.function.name for t in tools.attach(rec).tools]
['translate', 'get_weather']
"""

from __future__ import annotations

from collections.abc import Iterable

from curate.records import ToolSpec, Trajectory


class ToolSet:
    """The run's `--tools` specs and the rule that combines them with a record's own tools."""

    def __init__(self, external: Iterable[ToolSpec] = ()) -> None:
        self.external: list[ToolSpec] = list(external)
        """The `--tools` specs, in the order given (exported in that order)."""
        self.by_name: dict[str, ToolSpec] = {}
        for spec in self.external:  # a name given twice: the later spec wins, as in the linter
            self.by_name[spec.function.name] = spec

    @classmethod
    def from_dicts(cls, specs: Iterable[dict]) -> ToolSet:
        """From tool specs as `curate.readers.load_tool_specs` gives them."""
        return cls(ToolSpec.model_validate(s) for s in specs)

    def resolve(self, record: Trajectory, name: str) -> ToolSpec | None:
        """The spec a call to `name` in `record` is checked against: the record's own, else `--tools`'."""
        for spec in record.tools or ():
            if spec.function.name == name:
                return spec
        return self.by_name.get(name)

    def attach(self, record: Trajectory) -> Trajectory:
        """`record` as every stage renders and exports it: with no tools of its own, all the `--tools` specs
        (it is shown the run's tools, as it will be at inference); with tools of its own, those plus the
        `--tools` spec of every tool it calls and does not define."""
        if not self.external:
            return record
        if not record.tools:
            return record.model_copy(update={"tools": self.external})
        own = {spec.function.name for spec in record.tools}
        missing: list[ToolSpec] = []
        for name in called_names(record):
            spec = self.by_name.get(name)
            if name not in own and spec is not None and spec not in missing:
                missing.append(spec)
        return record.model_copy(update={"tools": [*record.tools, *missing]}) if missing else record


def declared_in_prompt(system_prompt: str | None) -> frozenset[str]:
    """The names of the tools a system prompt already declares (`curate.readers.prompt_tools`): a renderer shows
    the prompt as written and declares only the record's other tools, so that no tool is shown twice.

    Tools read from a record's system prompt (`tools_source: "system prompt"`) are the record's own tools
    everywhere else: lint checks calls against them, `ToolSet.attach` completes them with `--tools`, and the
    build exports them."""
    if not system_prompt:
        return frozenset()
    from curate.readers.prompt_tools import declared_tools  # here: the renderer imports this module

    declared = declared_tools(system_prompt)
    return frozenset(declared.names) if declared is not None else frozenset()


def tools_to_declare(record: Trajectory) -> list[ToolSpec]:
    """The record's tools a renderer declares in its system turn: those its system prompt does not already
    declare (`declared_in_prompt`), in their order."""
    tools = record.tools or []
    if not tools or not record.messages or record.messages[0].role != "system":
        return list(tools)
    shown = declared_in_prompt(record.messages[0].content)
    return [t for t in tools if t.function.name not in shown] if shown else list(tools)


def called_names(record: Trajectory) -> list[str]:
    """The names of the tools `record`'s assistant turns call, first call first, each once (parsed by the one
    tool-call parser, `curate.toolcalls`)."""
    from curate.toolcalls import may_hold_calls, parse_message_calls

    names: dict[str, None] = {}
    for i, message in enumerate(record.messages):
        if message.role != "assistant" or not may_hold_calls(message):
            continue
        for call in parse_message_calls(message, i):
            if call.name:
                names.setdefault(call.name, None)
    return list(names)

