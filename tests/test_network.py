"""Nothing is downloaded unless the user asks: every `curate` command runs with the Hugging Face libraries
offline, and a local listener standing in for the model hub proves that no request leaves (and that one
does with `--allow-downloads`, so the test can fail)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from curate.network import OFFLINE_VARIABLES, TELEMETRY_VARIABLE, apply_offline_default
from tests.conftest import REPO
from tests.test_train_core import write_build

ALL_VARIABLES = (*OFFLINE_VARIABLES, TELEMETRY_VARIABLE, "CURATE_ALLOW_DOWNLOADS")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_offline_by_default_with_telemetry_off(clean_env: pytest.MonkeyPatch) -> None:
    import os

    apply_offline_default(False)
    assert {name: os.environ.get(name) for name in (*OFFLINE_VARIABLES, TELEMETRY_VARIABLE)} == {
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1"}


@pytest.mark.parametrize("opt_in", ["flag", "CURATE_ALLOW_DOWNLOADS=1", "HF_HUB_OFFLINE=0", "TRANSFORMERS_OFFLINE=no"])
def test_an_opt_in_or_the_users_own_setting_leaves_the_hub_on(clean_env: pytest.MonkeyPatch, opt_in: str) -> None:
    import os

    if "=" in opt_in:
        name, value = opt_in.split("=")
        clean_env.setenv(name, value)
    apply_offline_default(opt_in == "flag")
    user = dict([opt_in.split("=")]) if "=" in opt_in else {}
    for name in OFFLINE_VARIABLES:
        assert os.environ.get(name) == user.get(name), name  # the user's value kept, nothing else set
    assert os.environ[TELEMETRY_VARIABLE] == "1"


def test_a_users_explicit_value_is_never_overwritten(clean_env: pytest.MonkeyPatch) -> None:
    import os

    clean_env.setenv("HF_HUB_OFFLINE", "1")
    clean_env.setenv(TELEMETRY_VARIABLE, "0")
    apply_offline_default(False)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ[TELEMETRY_VARIABLE] == "0"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_parsing_the_command_line_imports_no_hugging_face_library() -> None:
    """huggingface_hub reads the offline variables at import: `main` sets them after parsing, so parsing
    (the plugin commands included) must not import it."""
    code = ("import sys; from curate.cli import build_parser; build_parser().parse_args(['mask', 'x']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('huggingface_hub', 'transformers', 'datasets', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


# --- a listener in place of the hub -----------------------------------------------------------------


class Hub:
    """An HTTP server on 127.0.0.1 that answers 404 to everything and records every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                body = json.dumps({"error": "Repository not found"}).encode()
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Error-Code", "RepoNotFound")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def hub() -> Iterator[Hub]:
    h = Hub()
    h.thread.start()
    yield h
    h.server.shutdown()
    h.server.server_close()


def curate(hub: Hub, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`curate ARGS` with the hub at the listener and no offline variable set (as on a fresh machine)."""
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(REPO), "HF_ENDPOINT": hub.endpoint,
           "HF_HOME": str(tmp_path / "hf-home"), "CURATE_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "curate", *args], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=600)


def error_line(stderr: str) -> str:
    """The one `curate: error:` line of a failed command (progress lines may come before it, no traceback)."""
    errors = [line for line in stderr.splitlines() if line.startswith("curate: error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    assert stderr.rstrip("\n").endswith(errors[0])
    return errors[0]


@pytest.fixture
def records(tmp_path: Path) -> Path:
    rec = {"id": "r1", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path = tmp_path / "raw.jsonl"
    path.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    return path


def test_mask_with_a_hub_tokenizer_sends_no_request(hub: Hub, tmp_path: Path, records: Path) -> None:
    res = curate(hub, tmp_path, "mask", str(records), "--tokenizer", "some-org/some-name")
    assert res.returncode == 2, res.stderr
    assert hub.requests == []
    line = error_line(res.stderr)
    assert res.stderr.strip() == line and "some-org/some-name" in line
    assert "downloads from the model hub are off" in line and "--allow-downloads" in line

    res = curate(hub, tmp_path, "--allow-downloads", "mask", str(records), "--tokenizer", "some-org/some-name")
    assert res.returncode == 2
    assert hub.requests and all("some-org/some-name" in r for r in hub.requests)


def test_train_with_a_hub_model_sends_no_request(hub: Hub, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    build = write_build(tmp_path / "build")
    args = ["train", str(build), "--model", "some-org/name", "-o", str(tmp_path / "run")]
    res = curate(hub, tmp_path, *args)
    assert res.returncode == 2, res.stderr
    assert hub.requests == []
    line = error_line(res.stderr)
    assert "some-org/name" in line and "downloads from the model hub are off" in line and "--allow-downloads" in line
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()

    res = curate(hub, tmp_path, "--allow-downloads", *args)
    assert res.returncode == 2
    assert hub.requests
