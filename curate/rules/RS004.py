from curate.records import Finding
from curate.rules.base import CrossRecordRule, RecordContext


class RS004(CrossRecordRule):
    """Two records share an `id`.

    Ids are how findings, dedup clusters and eval splits point at records; a repeated id makes
    those references ambiguous and usually means a file was concatenated twice. Checked across
    every file of one run.

    **Anti-pattern**::

        {"id": "t-17", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hi!"}]}
        {"id": "t-17", "messages": [{"role": "user", "content": "bye"}, {"role": "assistant", "content": "Bye!"}]}

    **Best practice**: give every record a unique id (for example a hash of its content)::

        {"id": "t-17", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hi!"}]}
        {"id": "t-18", "messages": [{"role": "user", "content": "bye"}, {"role": "assistant", "content": "Bye!"}]}
    """

    code = "RS004"
    name = "duplicate-id"
    group = "record"
    severity = "warning"

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, int]] = {}
        """Where each id was first used."""

    def decide(self, ctx: RecordContext, observed: None) -> list[Finding]:
        if ctx.record_id is None:
            return []
        here = (ctx.path, ctx.line)
        first = self.seen.setdefault(ctx.record_id, here)
        if first == here:
            return []
        return [ctx.finding(self, f"id `{ctx.record_id}` was already used at {first[0]}:{first[1]}")]
