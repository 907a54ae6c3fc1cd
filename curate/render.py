"""ChatML rendering with tools (Hermes / Qwen2.5 convention), with the span of every part.

    <|im_start|>system
    {system prompt}

    # Tools
    ...
    <tools>
    {"type": "function", "function": {...}}
    </tools>
    ...<|im_end|>
    <|im_start|>user
    {content}<|im_end|>
    <|im_start|>assistant
    <think>...</think>
    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Oslo"}}
    </tool_call><|im_end|>
    <|im_start|>user
    <tool_response>
    {result}
    </tool_response><|im_end|>

Consecutive tool results share one user turn, each in its own `<tool_response>` block. Structured
`tool_calls` are written as `<tool_call>` blocks after the content; calls already in the content
stay as written (calls in another syntax are rewritten before rendering, when asked, by
`curate.toolcalls.canonical_calls`; kept as written, a ReAct thought is the turn's think segment,
its action a tool call, a `Finish` final answer the answer, and a Python-style call list a tool call).
Arguments given as a JSON string are decoded first, so they are never encoded
twice. Assistant content is stripped of surrounding whitespace (as the inference template does),
so a turn's text starts and ends on the model's own characters.

`render_chatml` returns the text and, for every message, its character span, the span of its
content and, for assistant turns, the spans of its segments (think, tool call, answer) and of its
end-of-turn token: everything the masks need, with no token involved. `CHATML_TEMPLATE` is the
same rendering as a Jinja chat template with `{% generation %}` tags, for Hugging Face tokenizers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from curate.records import Message, Trajectory
from curate.toolcalls import find_blocks, find_written_calls, format_call_block, load_json
from curate.toolset import tools_to_declare

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (IM_START, IM_END, "<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>",
                  "</tool_response>")

TOOLS_PREAMBLE = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_POSTAMBLE = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call>"
)

ThinkPolicy = Literal["keep", "drop", "mask"]
SegmentKind = Literal["think", "tool_call", "answer"]
_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


@dataclass(slots=True)
class Segment:
    """A part of an assistant turn: its reasoning, a tool call, or answer text."""

    kind: SegmentKind
    start: int
    end: int


@dataclass(slots=True)
class MessageSpan:
    """Where one message landed in the rendered text."""

    index: int
    role: str
    start: int
    """Start of the turn (its `<|im_start|>` header), or of its `<tool_response>` block for tool results."""
    end: int
    content_start: int
    content_end: int
    segments: list[Segment] = field(default_factory=list)
    eot: tuple[int, int] | None = None
    """The end-of-turn token `<|im_end|>` closing an assistant turn."""


@dataclass(slots=True)
class Rendered:
    text: str
    messages: list[MessageSpan]


def normalise_arguments(arguments: Any) -> Any:
    """Arguments as a JSON value: a JSON string is decoded (never encoded twice); bad JSON stays a string."""
    if isinstance(arguments, str):
        value, err = load_json(arguments)
        return arguments if err is not None else value
    return arguments


def format_tool_call(name: str, arguments: Any) -> str:
    return format_call_block(name, normalise_arguments(arguments))


def assistant_body(message: Message, drop_think: bool = False) -> str:
    """The text of an assistant turn: stripped content, then structured calls as `<tool_call>` blocks."""
    content = (message.content or "").strip()
    if drop_think and "<think>" in content:
        content = _THINK_RE.sub("", content).strip()
    parts = [content] if content else []
    for tc in message.tool_calls or ():
        parts.append(format_tool_call(tc.function.name, tc.function.arguments))
    return "\n".join(parts)


_SPEC_JSON: dict[int, tuple[Any, str]] = {}


def tool_spec_json(tool: Any) -> str:
    """A tool spec as one line of JSON; memoised per spec object (records often share their specs)."""
    hit = _SPEC_JSON.get(id(tool))
    if hit is not None and hit[0] is tool:
        return hit[1]
    data = tool.model_dump(exclude_none=True) if hasattr(tool, "model_dump") else tool
    text = json.dumps(data, ensure_ascii=False)
    if len(_SPEC_JSON) > 4096:
        _SPEC_JSON.clear()
    _SPEC_JSON[id(tool)] = (tool, text)
    return text


def earlier_turns(messages: list[Message]) -> set[int]:
    """Assistant turns followed by a later user turn: those whose reasoning inference templates drop."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    return {i for i, m in enumerate(messages) if m.role == "assistant" and i < last_user}


def render_chatml(traj: Trajectory, think: ThinkPolicy = "keep") -> Rendered:
    """Render a trajectory as ChatML text with the span of every message and segment."""
    out: list[str] = []
    pos = 0
    spans: list[MessageSpan] = []
    messages = traj.messages
    dropped = earlier_turns(messages) if think == "drop" else set()

    def emit(s: str) -> None:
        nonlocal pos
        out.append(s)
        pos += len(s)

    start_index = 0
    tools = tools_to_declare(traj)  # a system prompt that lists its tools is shown as written, not twice
    if tools:
        tools_block = TOOLS_PREAMBLE + "".join("\n" + tool_spec_json(t) for t in tools) + TOOLS_POSTAMBLE
        has_system = bool(messages) and messages[0].role == "system"
        sys_text = (messages[0].content or "").strip() if has_system else ""
        start = pos
        emit(f"{IM_START}system\n")
        cstart = pos
        if sys_text:
            emit(sys_text + "\n\n")
        emit(tools_block)
        cend = pos
        emit(f"{IM_END}\n")
        if has_system:
            spans.append(MessageSpan(0, "system", start, pos, cstart, cend))
            start_index = 1
    for i in range(start_index, len(messages)):
        m = messages[i]
        if m.role == "tool":
            first = i == 0 or messages[i - 1].role != "tool"
            last = i == len(messages) - 1 or messages[i + 1].role != "tool"
            start = pos
            emit(f"{IM_START}user" if first else "")
            emit("\n<tool_response>\n")
            cstart = pos
            emit(m.content or "")
            cend = pos
            emit("\n</tool_response>")
            if last:
                emit(f"{IM_END}\n")
            spans.append(MessageSpan(i, "tool", start, pos, cstart, cend))
            continue
        start = pos
        emit(f"{IM_START}{m.role}\n")
        cstart = pos
        if m.role == "assistant":
            body = assistant_body(m, drop_think=i in dropped)
            emit(body)
            cend = pos
            segments = segment_assistant(body, cstart)
            emit(IM_END)
            eot = (cend, pos)
            emit("\n")
            spans.append(MessageSpan(i, "assistant", start, pos, cstart, cend, segments, eot))
        else:
            emit(m.content or "")
            cend = pos
            emit(f"{IM_END}\n")
            spans.append(MessageSpan(i, m.role, start, pos, cstart, cend))
    return Rendered("".join(out), spans)


def segment_assistant(body: str, offset: int = 0) -> list[Segment]:
    """Split an assistant turn's text into think / tool_call / answer segments (whitespace between
    segments goes with the segment after it, so segments tile the whole body).

    Calls written without `<tool_call>` blocks (`curate.toolcalls.find_written_calls`): a ReAct step's
    thought is think and its action a tool call (a `Finish` action giving the final answer is the answer);
    a Python-style call list is a tool call."""
    marks: list[tuple[int, int, SegmentKind]] = []
    m = _THINK_RE.search(body) if "<think>" in body else None
    if m:
        marks.append((m.start(), m.end(), "think"))
    for start, end, _ in find_blocks(body).spans:
        if not (m and m.start() <= start < m.end()):
            marks.append((start, end, "tool_call"))
    if len(marks) == (1 if m else 0):
        written = find_written_calls(body)
        if written is not None:
            if written.thought_start >= 0:
                marks.append((written.thought_start, written.start, "think"))
            marks.append((written.start, written.end, "answer" if written.answer is not None else "tool_call"))
    marks.sort()
    segments: list[Segment] = []
    cursor = 0
    for start, end, kind in marks:
        if start < cursor:
            continue
        if body[cursor:start].strip():
            segments.append(Segment("answer", offset + cursor, offset + start))
            cursor = start
        segments.append(Segment(kind, offset + cursor, offset + end))
        cursor = end
    if cursor < len(body):
        if body[cursor:].strip() or not segments:
            segments.append(Segment("answer", offset + cursor, offset + len(body)))
        else:
            last = segments[-1]
            segments[-1] = Segment(last.kind, last.start, offset + len(body))
    return segments


# The same rendering as a Hugging Face chat template, with {% generation %} around what is trained. Arguments
# may be an object (the `transformers` convention, what `curate build` exports), written with `tojson`, or a
# JSON string (the OpenAI wire format), written as it is: never encoded twice.
CHATML_TEMPLATE = (
    "{%- set msgs = messages -%}"
    "{%- if tools -%}"
    "{{- '<|im_start|>system\\n' -}}"
    "{%- if msgs and msgs[0].role == 'system' -%}"
    "{%- if msgs[0].content and msgs[0].content | trim -%}{{- msgs[0].content | trim + '\\n\\n' -}}{%- endif -%}"
    "{%- set msgs = msgs[1:] -%}"
    "{%- endif -%}"
    "{{- '" + TOOLS_PREAMBLE.replace("\n", "\\n") + "' -}}"
    "{%- for tool in tools -%}{{- '\\n' + (tool | tojson) -}}{%- endfor -%}"
    "{{- '" + TOOLS_POSTAMBLE.replace("\n", "\\n").replace("'", "\\'") + "<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for m in msgs -%}"
    "{%- if m.role == 'tool' -%}"
    "{%- if loop.first or loop.previtem.role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}"
    "{{- '\\n<tool_response>\\n' + (m.content or '') + '\\n</tool_response>' -}}"
    "{%- if loop.last or loop.nextitem.role != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- elif m.role == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}"
    "{%- set ns = namespace(parts=[]) -%}"
    "{%- if m.content and m.content | trim -%}{%- set ns.parts = ns.parts + [m.content | trim] -%}{%- endif -%}"
    "{%- for tc in (m.tool_calls or []) -%}"
    "{%- set f = tc.function if tc.function is defined else tc -%}"
    "{%- set ns.parts = ns.parts + ['<tool_call>\\n{\"name\": ' + (f.name | tojson) + ', \"arguments\": '"
    " + (f.arguments if f.arguments is string else f.arguments | tojson) + '}\\n</tool_call>'] -%}"
    "{%- endfor -%}"
    "{{- ns.parts | join('\\n') + '<|im_end|>' -}}"
    "{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + (m.content or '') + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
