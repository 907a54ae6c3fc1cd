"""Every rule's test cases and documented examples, run through the linter as `curate lint` runs them.

- Cases: `curate/rules/CODE.yml` beside `CODE.py` (as sqlfluff keeps `AL02.yml`), read by people as
  documentation and here as tests. A file holds `rule: CODE`, optional `tools` (the `--tools` specs its
  cases are linted with) and `cases`, each with a `name`, the input (`records`: one JSON Lines file of
  these values; `lines`: one file of these lines as written; or `files`: several files, by name, linted in
  that order) and the `findings` every rule reports on it, in order: each a mapping holding `code` and any
  of `line`, `path`, `message_index`, `message`, `excerpt`, compared where given. One file per rule, with
  at least one case where the rule fires and one where it does not.
- Examples: each rule's docstring shows an **Anti-pattern** on which the rule must fire and a **Best
  practice** on which it must not, written as data (see `curate.rules.base.Rule`).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import curate.rules
from curate.lint import Linter
from curate.rules import all_rules
from curate.rules.base import Rule

RULES_DIR = Path(curate.rules.__file__).parent
FINDING_KEYS = ("path", "line", "message_index", "code", "message", "excerpt")


def case_file(code: str) -> Path:
    return RULES_DIR / f"{code}.yml"


def load_cases(code: str) -> dict[str, Any]:
    with open(case_file(code), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def all_cases() -> list[Any]:
    out = []
    for code in all_rules():
        if case_file(code).exists():
            doc = load_cases(code)
            out += [pytest.param(code, doc.get("tools") or [], case, id=f"{code}-{case['name']}")
                    for case in doc["cases"]]
    return out


def write_inputs(case: dict[str, Any], folder: Path) -> list[str]:
    """The case's input files written to `folder`; their paths relative to it, in linting order."""
    if "lines" in case:
        files = {"data.jsonl": case["lines"]}
    else:
        records = case["files"] if "files" in case else {"data.jsonl": case["records"]}
        files = {name: [json.dumps(r, ensure_ascii=False) for r in rs] for name, rs in records.items()}
    for name, lines in files.items():
        (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return list(files)


def lint(paths: list[str], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    linter = Linter(tools)
    return [f.model_dump() for path in paths for f in linter.lint_path(path)]


@pytest.mark.parametrize("code", list(all_rules()))
def test_every_rule_has_its_case_file(code: str) -> None:
    path = case_file(code)
    assert path.exists(), f"{code} has no test cases: write {path.relative_to(RULES_DIR.parent.parent)}"
    doc = load_cases(code)
    assert doc["rule"] == code and set(doc) <= {"rule", "tools", "cases"}
    fires = [any(f["code"] == code for f in case["findings"]) for case in doc["cases"]]
    assert any(fires) and not all(fires), f"{path.name}: cases where {code} fires and where it does not"
    for case in doc["cases"]:
        assert set(case) <= {"name", "records", "lines", "files", "tools", "findings"}, case["name"]
        assert sum(key in case for key in ("records", "lines", "files")) == 1, case["name"]
        assert all("code" in f and set(f) <= set(FINDING_KEYS) for f in case["findings"]), case["name"]


@pytest.mark.parametrize(("code", "tools", "case"), all_cases())
def test_case(code: str, tools: list[dict[str, Any]], case: dict[str, Any], tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # paths in findings are the case's own file names
    found = lint(write_inputs(case, tmp_path), case.get("tools", tools))
    expected = case["findings"]
    assert [{key: f[key] for key in want} for f, want in zip(found, expected, strict=False)] == expected
    assert len(found) == len(expected), found[len(expected):]


# --- the docstrings' examples ---------------------------------------------------------------------------

ROLES = ("system", "user", "assistant", "tool", "tools")
REQUEST = "What's the weather in Oslo?"
"""The user's turn before an example written as one assistant turn."""
TURN = re.compile(rf"^({'|'.join(ROLES)}):\s*(.*)$", re.DOTALL)


def example(rule: type[Rule], heading: str) -> str:
    """The literal block (`::`) under `heading` in the rule's docs, dedented; fails when there is none."""
    lines = rule.docs().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"**{heading}**")), None)
    assert start is not None, f"{rule.code}: no **{heading}** in the docs"
    at = next((i for i in range(start, len(lines)) if lines[i].rstrip().endswith("::")), None)
    assert at is not None, f"{rule.code}: **{heading}** needs an example (a `::` block) to run as a test"
    block = []
    for line in lines[at + 1:]:
        if line.strip() and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip("\n")


def records_of(text: str, tools: list[Any] | None = None) -> list[str]:
    """The JSON Lines lines an example stands for (the notation is `Rule`'s docstring's); `tools`: those of
    a conversation that gives none."""
    if text.startswith(("{", "[")):
        try:
            return [json.dumps(json.loads(text))]
        except ValueError:
            return text.splitlines()  # JSON Lines, written as they are (a broken line stays broken)
    pieces = [p.strip() for line in text.splitlines() for p in line.split("→")]
    if not TURN.match(pieces[0]):  # one assistant turn, answering a request
        return [json.dumps({"messages": [{"role": "user", "content": REQUEST},
                                         {"role": "assistant", "content": text}]})]
    turns: list[list[str]] = []
    for piece in pieces:
        m = TURN.match(piece)
        if m:
            turns.append([m.group(1), m.group(2)])
        elif piece:
            turns[-1][1] += "\n" + piece
    record: dict[str, Any] = {"messages": [], **({"tools": tools} if tools else {})}
    for role, content in turns:
        if role == "tools":
            record["tools"] = json.loads(content)
            continue
        if content.startswith('"'):
            content = json.loads(content)
        record["messages"].append({"role": role, "content": content})
    return [json.dumps(record)]


def tools_of(lines: list[str]) -> list[Any] | None:
    """The tools of an example that is one record with tools."""
    try:
        record = json.loads(lines[0]) if len(lines) == 1 else None
    except ValueError:
        return None
    return record.get("tools") if isinstance(record, dict) else None


@pytest.mark.parametrize("code", list(all_rules()))
def test_docstring_examples(code: str, tmp_path: Path) -> None:
    rule = all_rules()[code]
    tools = None
    for heading, fires in (("Anti-pattern", True), ("Best practice", False)):
        text = example(rule, heading)
        lines = records_of(text, tools)
        tools = tools_of(lines)
        path = tmp_path / f"{heading}.jsonl"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        codes = [f["code"] for f in lint([str(path)], [])]
        assert (code in codes) == fires, f"{code} {heading} example gives {codes}:\n{text}"
