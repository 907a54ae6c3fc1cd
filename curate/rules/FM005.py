from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class FM005(Rule):
    """An assistant turn has a near-miss of a protocol tag (`<tool-call>`, `<toolcall>`, `<Think>`).

    Parsers look for the exact tags; a near miss is a call nobody executes and a format the model
    learns to emit. Also catches `<thinking>` and stray spaces such as `< /think>`.

    **Anti-pattern**::

        <tool-call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool-call>

    **Best practice**::

        <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>
    """

    code = "FM005"
    name = "near-miss-tag"
    group = "format"
    skip_when = "tags_clean"

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        assert ctx.record is not None
        for i, m, tags in ctx.tagged_assistant:
            misses = [t for t in tags if not t.canonical]
            if misses:
                shown = ", ".join(dict.fromkeys(t.text for t in misses[:5]))
                more = f" and {len(misses) - 5} more" if len(misses) > 5 else ""
                yield ctx.finding(self, f"near-miss tag {shown}{more}: use the exact protocol tags", i,
                                  (m.content or "")[misses[0].start : misses[0].start + 100])
