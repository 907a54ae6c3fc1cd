from collections.abc import Iterator

from curate.records import Finding
from curate.rules.base import RecordContext, Rule


class RS001(Rule):
    """A line or element of the file cannot be read as a JSON object.

    Invalid JSON, invalid UTF-8, nesting too deep to read or an integer too long to convert:
    the record is lost to every later stage, so the linter reports it with its line and goes on.

    **Anti-pattern**::

        {"messages": [{"role": "user", "content": "hi"}

    **Best practice**::

        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]}
    """

    code = "RS001"
    name = "unparseable-record"
    group = "record"
    needs_record = False

    def check(self, ctx: RecordContext) -> Iterator[Finding]:
        if ctx.read_error is not None:
            yield ctx.finding(self, ctx.read_error)
