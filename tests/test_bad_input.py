"""The bad-input contract: malformed data is a finding with its line number, never a crash.

Every malformed line yields a finding at its line and the run goes on (a later record is still
linted); nothing ends in a traceback; exit codes are 0/1 for data problems and 2 for a missing
file or a bad configuration. Inputs are hostile on purpose: invalid UTF-8, 10 MB lines, 100,000-deep
nesting, 20,000-digit integers, 50,000 unclosed tags, code in tool-call arguments.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import curate.readers as readers
from curate.lint import Linter
from curate.readers import RecordReader, iter_raw
from curate.records import Finding

REPO = Path(__file__).resolve().parents[1]
TOOLS = [{"name": "get_weather", "description": "Weather in a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def record(content: str, rid: str = "r", **extra: Any) -> dict[str, Any]:
    return {"id": rid, "messages": [{"role": "user", "content": "Weather in Oslo?"},
                                    {"role": "assistant", "content": content}], "tools": TOOLS, **extra}


GOOD = record('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', "good")
# A record that reads fine and has one known defect, to show that linting went on after bad lines.
CANARY = record('<tool_call>\n{"name": "nosuch_tool", "arguments": {}}\n</tool_call>', "canary")


def line(data: Any) -> bytes:
    return json.dumps(data).encode() + b"\n"


def run_cli(path: Path | str, *args: str, cwd: Path, timeout: float = 60) -> tuple[int, list[dict[str, Any]], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "curate", "lint", str(path), *args],
        capture_output=True, cwd=cwd, env=env, timeout=timeout,
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    findings = json.loads(proc.stdout) if proc.returncode in (0, 1) and proc.stdout.strip() else []
    return proc.returncode, findings, stderr


def lint_cli(path: Path, cwd: Path) -> list[dict[str, Any]]:
    code, findings, _ = run_cli(path, "--isolated", "--format", "json", cwd=cwd)
    assert code in (0, 1)
    assert code == (1 if any(f["severity"] == "error" for f in findings) else 0)
    return findings


def lint_in_process(path: Path) -> list[Finding]:
    return list(Linter().lint_path(path))


def at(findings: list[Any], lineno: int) -> list[tuple[str, str]]:
    """(code, message) of the findings at one line, from CLI dicts or Finding objects."""
    out = []
    for f in findings:
        f = f if isinstance(f, dict) else f.model_dump()
        if f["line"] == lineno:
            out.append((f["code"], f["message"]))
    return out


def check_file(tmp_path: Path, bad: bytes, expect_code: str, expect_text: str, name: str = "data.jsonl") -> None:
    """GOOD, then `bad` (one line), then CANARY: a finding at line 2, and the canary linted at line 3."""
    p = tmp_path / name
    p.write_bytes(line(GOOD) + bad.rstrip(b"\n") + b"\n" + line(CANARY))
    for findings in (lint_cli(p, tmp_path), lint_in_process(p)):
        assert at(findings, 1) == []
        codes = at(findings, 2)
        assert any(code == expect_code and expect_text in msg for code, msg in codes), codes
        assert [c for c, _ in at(findings, 3)] == ["TC002"]


# --- the bad lines, one at a time ----------------------------------------------------------------

DEEP = 100_000
BIG_INT = "9" * 20_000


@pytest.mark.parametrize(
    ("bad", "code", "text"),
    [
        pytest.param(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}', "RS001", "invalid UTF-8",
                     id="invalid-utf8"),
        pytest.param(b"\xff\xfe\x00{", "RS001", "invalid UTF-8", id="utf16-garbage"),
        pytest.param(b'{"messages": [', "RS001", "invalid JSON", id="truncated"),
        pytest.param(b'{"messages": ' + b"[" * DEEP + b"]" * DEEP + b"}", "RS001", "too deep", id="deep-record"),
        pytest.param(b'{"messages": [], "meta": {"n": ' + BIG_INT.encode() + b"}}", "RS001", "4300 digits",
                     id="bigint-record"),
        pytest.param(b'{"messages": [], "meta": {"x": NaN}}', "RS001", "NaN", id="nan"),
        pytest.param(b'{"id": "\\ud800", "messages": []}', "RS001", "surrogate", id="unpaired-surrogate"),
        pytest.param(line(record(f"<tool_call>\nget_weather(city={'[' * DEEP}{']' * DEEP})\n</tool_call>")),
                     "TC001", "nests deeper", id="deep-python-call"),
        pytest.param(line(record('<tool_call>{"name": "get_weather", "arguments": {"city": '
                                 + "[" * DEEP + "]" * DEEP + "}}</tool_call>")),
                     "TC001", "too deep", id="deep-json-call"),
        pytest.param(line(record(f"<tool_call>\nget_weather(city={BIG_INT})\n</tool_call>")),
                     "TC001", "20000 digits", id="bigint-python-call"),
        pytest.param(line(record('<tool_call>{"name": "get_weather", "arguments": {"city": ' + BIG_INT
                                 + "}}</tool_call>")), "TC001", "4300 digits", id="bigint-json-call"),
        pytest.param(line({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city": ' + BIG_INT + "}"}}]},
        ], "tools": TOOLS}), "TC001", "4300 digits", id="bigint-structured-call"),
        pytest.param(line(record("<tool_call>" * 50_000 + "<think>" * 50_000)), "FM006", "50000 unclosed <tool_call>",
                     id="unclosed-tool-call-tags"),
        pytest.param(line(record("<think>" * 50_000 + "<tool_call>" * 50_000)), "FM001", "50000 unclosed <think>",
                     id="unclosed-think-tags"),
        pytest.param(line(record("</tool_call><tool-call>" * 25_000)), "FM005", "near-miss", id="near-miss-tags"),
        pytest.param(line({"messages": [{"role": "robot", "content": 42}]}), "RS002", "role", id="bad-role"),
        pytest.param(line({"prompt": "x", "completion": "y"}), "RS002", "`prompt`, `completion`", id="unknown-shape"),
        pytest.param(line([1, 2, 3]), "RS002", "got array", id="not-an-object"),
    ],
)
def test_bad_line_is_a_finding_and_the_run_goes_on(tmp_path: Path, bad: bytes, code: str, text: str) -> None:
    check_file(tmp_path, bad, code, text)


def test_code_in_a_call_is_never_run(tmp_path: Path) -> None:
    bad = line(record('<tool_call>\nget_weather(city=__import__("os").system("touch SENTINEL"))\n</tool_call>'))
    also = line(record("<tool_call>\nget_weather(city=open('SENTINEL', 'w').write('x'))\n</tool_call>"))
    p = tmp_path / "inject.jsonl"
    p.write_bytes(line(GOOD) + bad + also + line(CANARY))
    for findings in (lint_cli(p, tmp_path), lint_in_process(p)):
        assert ("TC001" in [c for c, _ in at(findings, 2)]) and ("TC001" in [c for c, _ in at(findings, 3)])
        assert [c for c, _ in at(findings, 4)] == ["TC002"]
    assert not (tmp_path / "SENTINEL").exists()
    assert not (REPO / "SENTINEL").exists()


ENUM_TOOLS = [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"enum": ["x"]}}}}]


@pytest.mark.parametrize("content", [
    "<tool_call>f(a='\\ud800')</tool_call>",  # a Python string escape
    '<tool_call>{"name": "f", "arguments": "{\\"a\\": \\"\\\\ud800\\"}"}</tool_call>',  # JSON arguments in a string
])
def test_unpaired_surrogate_inside_call_arguments(tmp_path: Path, content: str) -> None:
    p = tmp_path / "s.jsonl"
    p.write_bytes(line({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}],
                        "tools": ENUM_TOOLS}) + line(CANARY))
    findings = lint_cli(p, tmp_path)
    assert [c for c, _ in at(findings, 1)] == ["TC006"]
    assert [c for c, _ in at(findings, 2)] == ["TC002"]


@pytest.mark.parametrize("valid", [True, False])
def test_ten_megabyte_lines(tmp_path: Path, valid: bool) -> None:
    big = "x" * 10_000_000
    if valid:
        check_file(tmp_path, line(record(big + "<tool-call>")), "FM005", "near-miss")
    else:
        check_file(tmp_path, b'{"messages": "' + big.encode() + b"\n", "RS001", "invalid JSON")


def test_bom_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "crlf.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + line(GOOD).replace(b"\n", b"\r\n") + b"\r\n" + line(CANARY).replace(b"\n", b"\r\n"))
    for findings in (lint_cli(p, tmp_path), lint_in_process(p)):
        assert [(f["line"] if isinstance(f, dict) else f.line) for f in findings] == [3]


def test_invalid_utf8_inside_an_array_file(tmp_path: Path) -> None:
    p = tmp_path / "arr.json"
    p.write_bytes(b"[\n" + json.dumps(GOOD).encode() + b",\n" + b'{"messages": "\xc3\x28"},\n'
                  + json.dumps(CANARY).encode() + b"\n]\n")
    for findings in (lint_cli(p, tmp_path), lint_in_process(p)):
        assert [c for c, _ in at(findings, 3)] == ["RS001"]
        assert [c for c, _ in at(findings, 4)] == ["TC002"]


def test_malformed_array_element_stops_that_file_only(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[\n" + json.dumps(GOOD) + ",\n{oops},\n" + json.dumps(GOOD) + "\n]\n")
    (tmp_path / "b.jsonl").write_bytes(line(CANARY))
    findings = lint_cli(tmp_path, tmp_path)
    assert [(Path(f["path"]).name, f["line"], f["code"]) for f in findings] == [("a.json", 3, "RS001"),
                                                                                ("b.jsonl", 1, "TC002")]


# --- usage and I/O errors: exit 2, one line on stderr ---------------------------------------------


def test_missing_file_exits_2(tmp_path: Path) -> None:
    code, findings, stderr = run_cli(tmp_path / "nope.jsonl", "--isolated", "--format", "json", cwd=tmp_path)
    assert code == 2 and "no such file" in stderr and findings == []


def test_missing_file_json_output_is_empty_or_valid(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "curate", "lint", "nope.jsonl", "--isolated", "--format", "json"],
                          capture_output=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 2
    assert not proc.stdout.strip() or isinstance(json.loads(proc.stdout), list)


def test_bad_config_exits_2(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(line(GOOD))
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[tool.curate.lint\nselect = [")
    code, _, stderr = run_cli(data, "--config", str(bad_toml), cwd=tmp_path)
    assert code == 2 and "curate: error:" in stderr


@pytest.mark.parametrize("content", [None, b"[{", b'[{"description": "no name"}]', b"\xff"])
def test_bad_tools_file_exits_2(tmp_path: Path, content: bytes | None) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(line(GOOD))
    tools = tmp_path / "tools.json"
    if content is not None:
        tools.write_bytes(content)
    code, _, stderr = run_cli(data, "--isolated", "--tools", str(tools), cwd=tmp_path)
    assert code == 2 and "curate: error:" in stderr


def test_stdin_with_bad_lines(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "curate", "lint", "-", "--isolated", "--format", "json"],
                          input=b"\xef\xbb\xbf" + line(GOOD) + b"\xff\n\n" + line(CANARY), capture_output=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert b"Traceback" not in proc.stderr and proc.returncode == 1
    assert [(f["path"], f["line"], f["code"]) for f in json.loads(proc.stdout)] == [("<stdin>", 2, "RS001"),
                                                                                    ("<stdin>", 4, "TC002")]


# --- property-based: whatever the input, a record or a finding per line --------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False,
                                                                                  allow_infinity=False) | st.text(
    max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)

FRAGMENTS = [
    "<think>", "</think>", "<tool_call>", "</tool_call>", "<tool-call>", "<toolcall>", "</tool-call>", "< /think>",
    "<Think>", "<thinking>", "<tool_response>", "</tool_response>", '{"name": "get_weather", "arguments": {',
    '"city": "Oslo"}}', '{"name": "f", "parameters": "{}"}', "get_weather(city='Oslo')", "f(1, a=2)",
    "g(x=[1, {2: 3}])", "os.system('x')", "x=__import__('os')", "{", "}", "(", ")", "[", "]", '"', "'", "\\", "\n",
    "=", ",", ":", ";",
    "True", "None", "null", "1e999", "0x1F", "9" * 40, "[[[[", "]]]", "'''", '"""', " ", "é", "🙂", "\x00",
    "\ud800",  # an unpaired surrogate: escaped by json.dumps, or written as bytes that are not UTF-8
]
content_st = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=10).map("".join)
roles = st.sampled_from(["user", "assistant", "tool", "system", "human", "gpt", "function", "observation",
                         "function_call", "ASSISTANT", "robot", ""]) | st.text(max_size=4)
names = st.sampled_from(["get_weather", "f", "", "a.b", "nosuch"]) | json_scalars
param_types = st.sampled_from(["string", "integer", "number", "boolean", "array", "object", "null", "dict", "float",
                               "tuple", "any", "list", "str", "nonsense", ""]) | json_scalars
schema_st = st.recursive(
    st.fixed_dictionaries({"type": param_types}, optional={
        "enum": st.lists(json_scalars, max_size=3), "minimum": st.integers(-5, 5), "maxLength": st.integers(-1, 5),
        "pattern": st.sampled_from(["^a", "(", "[", "a{2}", "\\d+"]), "default": json_scalars,
        "format": st.sampled_from(["date", "email", "nonsense"]), "description": st.text(max_size=5)}),
    lambda inner: st.fixed_dictionaries({"type": param_types}, optional={
        "properties": st.dictionaries(st.sampled_from(["city", "a", "b"]), inner, max_size=3),
        "required": st.lists(st.sampled_from(["city", "a", "b", "c"]) | json_scalars, max_size=3),
        "items": inner | st.lists(inner, max_size=2), "additionalProperties": st.booleans() | inner,
        "anyOf": st.lists(inner, max_size=2)}),
    max_leaves=6,
)
tool_spec = (st.fixed_dictionaries({"name": names}, optional={"parameters": schema_st | json_values,
                                                               "description": st.text(max_size=5)})
             .flatmap(lambda f: st.sampled_from([f, {"type": "function", "function": f}])))
arguments = (st.dictionaries(st.sampled_from(["city", "a", "b"]) | st.text(max_size=3), json_values, max_size=3)
             | content_st | json_values)
tool_call = st.fixed_dictionaries(
    {"function": st.fixed_dictionaries({"name": names}, optional={"arguments": arguments})},
    optional={"id": st.text(max_size=3) | json_scalars, "type": st.just("function")},
)
message = st.fixed_dictionaries({"role": roles}, optional={
    "content": content_st | st.none() | json_values | st.lists(
        st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"]), "text": content_st | json_scalars})),
    "tool_calls": st.lists(tool_call, max_size=2) | json_values, "name": names, "tool_call_id": names,
    "function_call": st.fixed_dictionaries({"name": names, "arguments": arguments}), "train": json_scalars})
sharegpt_turn = st.fixed_dictionaries({"from": roles, "value": content_st | json_values})
record_st = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(message, max_size=5)}, optional={
        "id": json_scalars, "tools": st.lists(tool_spec, max_size=2) | json_values, "meta": json_values}),
    st.fixed_dictionaries({"conversations": st.lists(sharegpt_turn | message, max_size=5)}, optional={
        "system": content_st | json_scalars, "tools": st.lists(tool_spec, max_size=2).map(json.dumps) | json_values}),
    st.fixed_dictionaries({"instruction": content_st | json_values, "output": content_st | json_values},
                          optional={"input": content_st | json_scalars}),
    st.fixed_dictionaries({"question": json_values | st.lists(st.lists(message, max_size=2), max_size=2),
                           "function": st.lists(tool_spec, max_size=2) | json_values},
                          optional={"id": json_scalars, "involved_classes": json_values}),
    json_values,
)


def nonblank_lines(data: bytes) -> list[int]:
    """The 1-based numbers of the lines the reader must account for (blank ones are skipped)."""
    out = []
    for i, raw in enumerate(data.split(b"\n"), 1):
        if i == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw.rstrip(b"\r\n").strip():
            out.append(i)
    return out


def check_every_line_accounted_for(path: Path) -> None:
    """Every non-blank line gives one result; every unreadable one a RS001/RS002 finding at its line."""
    data = path.read_bytes()
    linter = Linter(tools=[{"type": "function", "function": TOOLS[0]}])
    lines = []
    for result in linter.reader.read(path):
        lines.append(result.raw.line)
        findings = list(linter.lint_result(result))
        assert all(f.line == result.raw.line for f in findings)
        for f in findings:  # the JSON reporter's output is always encodable
            f.model_dump_json()
        if result.record is None:
            assert findings and findings[0].code in ("RS001", "RS002"), findings
    expected = nonblank_lines(data)
    first = data.split(b"\n")[expected[0] - 1] if expected else b""
    if first.removeprefix(b"\xef\xbb\xbf").strip() == b"[":  # read as a pretty-printed JSON array instead
        assert lines == sorted(lines) and all(1 <= n <= data.count(b"\n") + 1 for n in lines)
    else:
        assert lines == expected


HYPOTHESIS = settings(
    max_examples=int(os.environ.get("CURATE_FUZZ_EXAMPLES", "150")),  # raise it for a longer fuzzing session
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(records=st.lists(record_st, min_size=1, max_size=4), ascii_only=st.booleans(),
       blank=st.sampled_from(["", "\n", "\r\n", "  \n"]))
def test_random_records_never_crash(tmp_path: Path, records: list[Any], ascii_only: bool, blank: str) -> None:
    p = tmp_path / "random.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" + blank for r in records)
    p.write_bytes(text.encode("utf-8", "surrogatepass"))
    check_every_line_accounted_for(p)


SEED_LINES = [line(GOOD), line(CANARY),
              line(record("<think>plan</think><tool_call>get_weather(city='Oslo')</tool_call>")),
              line({"conversations": [{"from": "human", "value": "q"}, {"from": "function_call", "value": "{}"}]})]
mutation = st.tuples(st.sampled_from(["insert", "delete", "flip"]), st.integers(0, 10**6), st.integers(0, 255))


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, byte in ops:
        i = pos % (len(buf) + 1)
        if op == "insert":
            buf[i:i] = bytes([byte])
        elif op == "delete" and buf:
            del buf[min(i, len(buf) - 1)]
        elif buf:
            buf[min(i, len(buf) - 1)] ^= 1 << (byte % 8)
    return bytes(buf)


@HYPOTHESIS
@given(seeds=st.lists(st.sampled_from(SEED_LINES), min_size=1, max_size=3),
       ops=st.lists(mutation, min_size=1, max_size=8))
def test_mutated_jsonl_never_crashes(tmp_path: Path, seeds: list[bytes], ops: list[tuple[str, int, int]]) -> None:
    p = tmp_path / "mutated.jsonl"
    p.write_bytes(mutate(b"".join(seeds), ops))
    check_every_line_accounted_for(p)


@HYPOTHESIS
@given(seeds=st.lists(st.sampled_from(SEED_LINES), min_size=1, max_size=3),
       ops=st.lists(mutation, min_size=1, max_size=8), chunk=st.integers(1, 50))
def test_mutated_json_array_never_crashes(tmp_path: Path, seeds: list[bytes], ops: list[tuple[str, int, int]],
                                          chunk: int) -> None:
    """Mutated arrays, read in tiny chunks: never raises, lines in range and in order, a fatal error last."""
    p = tmp_path / "mutated.json"
    data = mutate(b"[\n" + b",\n".join(s.rstrip(b"\n") for s in seeds) + b"\n]\n", ops)
    p.write_bytes(data)
    readers.JSON_ARRAY_CHUNK = chunk
    try:
        got = list(iter_raw(p))
        for result in RecordReader().read(p):
            for f in Linter().lint_result(result):
                f.model_dump_json()
    finally:
        readers.JSON_ARRAY_CHUNK = 1 << 20
    n_lines = data.count(b"\n") + 1
    lines = [r.line for r in got]
    assert lines == sorted(lines) and all(1 <= n <= n_lines for n in lines)
    fatal = [i for i, r in enumerate(got) if r.error and r.error.endswith("stops here")]
    assert fatal in ([], [len(got) - 1])
    if not fatal and data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):  # read to the end: same as json.loads
        try:
            expected = json.loads(data.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            return
        readable = [v for v in expected if readers.unpaired_surrogate(v) is None]
        assert [r.data for r in got if r.error is None] == readable


def test_random_bytes_files(tmp_path: Path) -> None:
    """Plain random bytes, in each format the sniffer can pick, never crash."""
    rng = random.Random(1234)
    for i in range(60):
        size = rng.choice([1, 10, 100, 5000])
        body = bytes(rng.randrange(256) for _ in range(size))
        prefix = rng.choice([b"", b"[", b"{", b"\xef\xbb\xbf[", b"[{"])
        p = tmp_path / f"r{i}{rng.choice(['.jsonl', '.json'])}"
        p.write_bytes(prefix + body)
        results = list(RecordReader().read(p))
        linter = Linter()
        for r in results:
            for f in linter.lint_result(r):
                f.model_dump_json()
