"""The tally line `curate build`, `mask` and the stage commands end with, and when a result is refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from curate.readers import RecordReader
from curate.tally import Tally, reason_unreadable, unreadable_reason


def test_the_line_names_the_top_reasons_with_counts() -> None:
    t = Tally(2458, Counter({"RS002 unrecognised record shape": 12, "RS001 invalid JSON": 3}),
              Counter({"lint_error": 300, "near_duplicate": 152}))
    assert t.kept == 1991
    assert t.line() == ("kept 1,991 of 2,458 records; 15 unreadable (RS002 unrecognised record shape ×12, "
                        "RS001 invalid JSON ×3), 452 dropped (lint errors ×300, near duplicates ×152)")
    many = Tally(100, dropped=Counter({"lint_error": 9, "near_duplicate": 5, "exact_duplicate": 5, "balancing": 2,
                                       "contaminated": 1, "a_new_reason": 1}))
    assert many.line() == ("kept 77 of 100 records; 23 dropped (lint errors ×9, exact duplicates ×5, "
                           "near duplicates ×5, left out by the mix ×2, 2 others ×2)")  # ties by name; rest summed
    many.dropped["a_new_reason"] = 0
    assert many.line().endswith("left out by the mix ×2, contaminated ×1)")  # one more: named
    assert Tally(1).line() == "kept 1 of 1 record; none unreadable or dropped"
    masked = Tally(40, Counter({"RS001 invalid JSON": 2}), Counter({"too_long": 3}), examples=35)
    assert masked.line() == ("masked 35 examples from 40 records; 2 unreadable (RS001 invalid JSON ×2), "
                             "3 dropped (over --max-length ×3)")


@pytest.mark.parametrize(("code", "message", "reason"), [
    ("RS001", "invalid JSON: unexpected end of data at line 1 column 12", "RS001 invalid JSON"),
    ("RS001", "invalid UTF-8 in the array element: re-encode the file as UTF-8", "RS001 invalid UTF-8"),
    ("RS001", "the record is 20,000,000 bytes long, over max_record_bytes (16,777,216), and is not read; …",
     "RS001 over max_record_bytes"),
    ("RS001", "invalid record: nesting is too deep to read", "RS001 unparseable record"),
    ("RS002", "unrecognised record shape (keys: `query`, `answers`); expected …", "RS002 unrecognised record shape"),
    ("RS002", "a record must be a JSON object, got array", "RS002 not a JSON object"),
    ("RS002", "messages.0.role: input should be 'system', 'user', 'assistant' or 'tool' (got \"robot\")",
     "RS002 schema violation"),
])
def test_unreadable_records_are_told_apart(code: str, message: str, reason: str) -> None:
    """A file in another format (an unrecognised shape) is not a damaged file (invalid JSON), nor a big one."""
    assert unreadable_reason(code, message) == reason


def test_reason_of_a_read_result_is_its_findings(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{bad\n[1, 2]\n{"text": "a review"}\n{"messages": [{"role": "robot", "content": "x"}]}\n',
                    encoding="utf-8")
    reasons = [reason_unreadable(r) for r in RecordReader().read(data)]
    assert reasons == ["RS001 invalid JSON", "RS002 not a JSON object", "RS002 unrecognised record shape",
                       "RS002 schema violation"]


def test_refused_when_most_records_are_unreadable_or_nothing_is_kept() -> None:
    half = Tally(10, Counter({"RS002 unrecognised record shape": 5}))
    assert half.refusal(["a.jsonl"]) is None  # half is not more than half
    most = Tally(10, Counter({"RS002 unrecognised record shape": 6}))
    todo = most.refusal(["my data.jsonl"], allow_empty=True)  # --allow-empty accepts 0, not a lost input
    assert todo is not None and todo.startswith("More than half of the records are unreadable")
    assert "`curate lint 'my data.jsonl'`" in todo  # a command to paste, quoted
    assert Tally(0).refusal([], allow_empty=True) is None
    assert "holds no record" in (Tally(0).refusal([]) or "")
    linted = Tally(4, dropped=Counter({"lint_error": 4})).refusal(["a.jsonl"])
    assert linted is not None and "--tools" in linted and "--keep-invalid" in linted and "--allow-empty" in linted
    assert Tally(3, examples=0).refusal(["a.jsonl"]) is not None  # mask: records read, no example
    assert Tally(3, examples=2).refusal(["a.jsonl"]) is None
