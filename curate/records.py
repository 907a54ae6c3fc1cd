"""The canonical trajectory record and the lint finding, as pydantic models.

These models are the one source of truth for the record format: the JSON Schema files in
`schemas/` are generated from them (`python -m curate.schemas`), and a test fails when they drift.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

Role = Literal["system", "user", "assistant", "tool"]
Severity = Literal["error", "warning"]


class FunctionCall(BaseModel):
    """The function part of a structured (OpenAI-style) tool call."""

    model_config = ConfigDict(extra="allow")

    name: str
    arguments: str | dict[str, Any] = Field(
        default_factory=dict,
        description="The arguments: a JSON object, or a string holding one (the OpenAI wire format).",
    )


class ToolCall(BaseModel):
    """A structured tool call attached to an assistant message."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | None = Field(
        default=None,
        description="The text of the turn. Assistant turns may carry <think>…</think> and "
        "<tool_call>…</tool_call> blocks; null when the turn only has structured tool_calls.",
    )
    tool_calls: list[ToolCall] | None = None
    name: str | None = Field(default=None, description="For tool turns: the tool that answered.")
    tool_call_id: str | None = Field(default=None, description="For tool turns: the call answered.")
    train: bool | None = Field(
        default=None, description="Per-message opt-out of the loss (false: never trained)."
    )


class FunctionSpec(BaseModel):
    """A tool's name, description and parameter schema (JSON Schema or the Python-type dialect)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(BaseModel):
    """A tool definition in the OpenAI shape; bare `{name, description, parameters}` is adapted to it."""

    model_config = ConfigDict(extra="allow")

    type: Literal["function"] = "function"
    function: FunctionSpec


class Trajectory(BaseModel):
    """A multi-turn conversation with the tools it may call: the canonical record."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    messages: list[Message]
    tools: list[ToolSpec] | None = None
    tools_source: Literal["system prompt"] | None = Field(
        default=None,
        description="Where `tools` came from when the record did not carry them: \"system prompt\" when they were "
        "read from the tools its system message declares (`<tools>` blocks, a JSON or Python tool list); "
        "absent when `tools` are the record's own.",
    )
    meta: dict[str, Any] | None = None


class Finding(BaseModel):
    """One lint finding, as written by `curate lint --format json`."""

    path: str = Field(description="The file the record came from.")
    line: int = Field(
        description="1-based line of the record in its file (for Parquet and datasets folders: the row)."
    )
    record_id: str | None = Field(description="The record's `id`, when it has one.")
    message_index: int | None = Field(description="0-based index of the message, when one is at fault.")
    code: str = Field(description="The rule's stable code, e.g. TC003.")
    severity: Severity
    message: str
    excerpt: str | None = Field(default=None, description="A short excerpt of the offending text.")


class FindingList(RootModel[list[Finding]]):
    """The output of `curate lint --format json`: a JSON array of findings."""
