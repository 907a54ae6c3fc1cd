"""`-o` never destroys what curate did not write; faults leave nothing half-written (issue #13, parts 1 and 5).

Every case runs against a scratch project tree and checks that each file the user had is still there, byte
for byte.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curate.cli import main
from curate.outputs import output_lock
from tests.conftest import REPO

SAMPLE = REPO / "sample_data" / "raw.jsonl"
TOOLS = REPO / "sample_data" / "tools.json"


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file and link under `root` (links not followed): path → bytes, or the link's target."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = f"-> {os.readlink(p)}"
            elif p.is_file():
                out[rel] = p.read_bytes()
    return out


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project: data, tools, notes, a web app's own manifest.json, an unrelated folder and a link."""
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    lines = SAMPLE.read_bytes().splitlines(keepends=True)[:300]  # the sample is dirty: bytes, as they are
    (root / "data" / "raw.jsonl").write_bytes(b"".join(lines))
    (root / "tools.json").write_bytes(TOOLS.read_bytes())
    (root / "notes.txt").write_text("my notes\n")
    (root / "manifest.json").write_text('{"name": "my web app", "version": "1.0"}\n')
    (root / "other").mkdir()
    (root / "other" / "a.txt").write_text("precious\n")
    (root / "link").symlink_to(root / "other")
    monkeypatch.chdir(root)
    return root


def build(*args: str) -> int:
    return main(["build", "data/raw.jsonl", "--tools", "tools.json", *args])


@pytest.mark.parametrize("out", [".", "data", "..", "/", "data/.."])
@pytest.mark.parametrize("force", [False, True])
def test_build_never_replaces_cwd_inputs_their_parents_or_root(project: Path, out: str, force: bool,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(project.parent)
    assert build("-o", out, *(["--force"] if force else [])) == 2
    err = capsys.readouterr().err
    assert "cannot be replaced, even with --force" in err and err.count("\n") == 1
    assert snapshot(project.parent) == before


def test_build_refuses_a_folder_it_did_not_write_unless_forced(project: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(project)
    assert build("-o", "other") == 2
    assert "not a build output written by curate" in capsys.readouterr().err
    assert snapshot(project) == before
    assert build("-o", "other", "--force") == 0
    assert (project / "other" / "manifest.json").is_file() and not (project / "other" / "a.txt").exists()
    assert {k: v for k, v in snapshot(project).items() if not k.startswith(("other", "link"))} == \
        {k: v for k, v in before.items() if not k.startswith(("other", "link"))}


def test_a_foreign_manifest_json_is_not_a_build(project: Path) -> None:
    (project / "site").mkdir()
    (project / "site" / "manifest.json").write_text('{"name": "pwa", "icons": []}')
    (project / "site" / "index.html").write_text("<html></html>")
    before = snapshot(project)
    assert build("-o", "site") == 2
    assert snapshot(project) == before


@pytest.mark.parametrize("force", [False, True])
def test_build_never_writes_through_a_symlink(project: Path, force: bool, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(project)
    assert build("-o", "link", *(["--force"] if force else [])) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert snapshot(project) == before


def test_build_replaces_its_own_earlier_output(project: Path) -> None:
    assert build("-o", "out") == 0
    first = json.loads((project / "out" / "manifest.json").read_text())
    assert build("-o", "out", "--seed", "1") == 0
    second = json.loads((project / "out" / "manifest.json").read_text())
    assert first["config"]["seed"] == 0 and second["config"]["seed"] == 1
    assert not [p for p in project.iterdir() if p.name.startswith(".out.")]  # no work, tmp, old or lock left


def test_a_folder_input_never_reads_its_own_output_back(project: Path) -> None:
    """`build DIR -o DIR/out`, run twice: the second run reads the same records, not the first run's output."""
    assert main(["build", "data", "--tools", "tools.json", "-o", "data/out"]) == 0
    first = json.loads((project / "data" / "out" / "manifest.json").read_text())
    assert main(["build", "data", "--tools", "tools.json", "-o", "data/out"]) == 0
    second = json.loads((project / "data" / "out" / "manifest.json").read_text())
    assert second["records_in"] == first["records_in"] == 300
    assert second["inputs"] == first["inputs"]  # the folder's hash leaves the output out too


def test_a_second_build_into_the_same_output_stops(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with output_lock(project / "out", "build"):
        assert build("-o", "out") == 2
    err = capsys.readouterr().err
    assert f"another `curate build` (pid {os.getpid()}) is writing this output" in err
    assert not (project / "out").exists()
    assert build("-o", "out") == 0  # the lock is released with the run that held it


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_work_folders_of_dead_runs_are_removed_and_live_ones_kept(project: Path) -> None:
    dead = dead_pid()
    for name in (f".out.work-{dead}", f".out.tmp-{dead}", f".out.old-{dead}", ".out.work-1"):
        (project / name).mkdir()
        (project / name / "big.arrow").write_bytes(b"x" * 1000)
    (project / f".out.tmp-{dead}.keep").write_text("not ours: the name does not end with the pid")
    assert build("-o", "out") == 0
    left = sorted(p.name for p in project.iterdir() if p.name.startswith(".out"))
    assert left == [f".out.tmp-{dead}.keep", ".out.work-1"]  # pid 1 is alive: not ours to remove


def _fail_on_finish(monkeypatch: pytest.MonkeyPatch, err: int) -> None:
    from curate import jsonl

    def finish(self: jsonl.JsonlWriter) -> None:
        raise OSError(err, os.strerror(err), str(self.tmp))

    monkeypatch.setattr(jsonl.JsonlWriter, "finish", finish)


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_build_disk_full_is_one_line_and_keeps_the_previous_output(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   err: int) -> None:
    assert build("-o", "out") == 0
    before = snapshot(project)
    capsys.readouterr()
    _fail_on_finish(monkeypatch, err)
    assert build("-o", "out", "--seed", "3") == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("curate: error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"curate: error: out: cannot write ({os.strerror(err)})")
    assert errors[0].endswith("nothing was written")
    assert snapshot(project) == before  # the earlier build intact, no work or tmp folder left


def test_mask_disk_full_writes_neither_file(project: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(project)
    _fail_on_finish(monkeypatch, errno.ENOSPC)
    assert main(["mask", "data/raw.jsonl", "--tools", "tools.json", "-o", "m.jsonl"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert snapshot(project) == before


@pytest.mark.parametrize("command", [["mask", "--tools", "tools.json"], ["dedup"], ["bucket", "--tools", "tools.json"]])
def test_file_outputs_refuse_inputs_and_foreign_files(project: Path, command: list[str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    name, *opts = command
    before = snapshot(project)
    tools_is_input = "--tools" in opts  # an input even with --force; else a foreign file, refused without it
    for out, force in (("data/raw.jsonl", True), ("tools.json", tools_is_input), ("notes.txt", False),
                       ("other", True)):
        assert main([name, "data/raw.jsonl", *opts, "-o", out, *(["--force"] if force else [])]) == 2, out
        err = capsys.readouterr().err
        assert err.startswith("curate: error: ") and err.count("\n") == 1
    assert snapshot(project) == before
    # its own earlier output is replaced without --force; a foreign file only with it
    assert main([name, "data/raw.jsonl", *opts, "-o", "mine.jsonl"]) == 0
    assert main([name, "data/raw.jsonl", *opts, "-o", "mine.jsonl"]) == 0
    assert main([name, "data/raw.jsonl", *opts, "-o", "notes.txt", "--force"]) == 0
    assert (project / "notes.txt").read_bytes() != before["notes.txt"]


def start_long_build(tmp_path: Path, *options: str, **popen: object) -> tuple[subprocess.Popen[str], Path]:
    """A `curate build` subprocess on four copies of the sample (it runs for seconds, not a fraction of one),
    writing into an empty folder it returns."""
    corpus = tmp_path / "in" / "raw.jsonl"
    corpus.parent.mkdir()
    corpus.write_bytes(SAMPLE.read_bytes() * 4)
    out = tmp_path / "o"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "curate", "build", str(corpus), "--tools", str(TOOLS), *options,
                             "-o", str(out / "out")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env, **popen)  # type: ignore[call-overload]
    return proc, out


def test_sigterm_during_a_build_leaves_no_work_folder(tmp_path: Path) -> None:
    """SIGTERM unwinds like Ctrl-C: exit 143, no `.OUT.work-PID` (hundreds of MB on a real corpus) left."""
    proc, out = start_long_build(tmp_path)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".out.work-") for p in out.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the build ended before its work folder appeared"
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, proc.stderr.read() if proc.stderr else ""
    assert list(out.iterdir()) == []  # neither OUT, nor its work, tmp or lock files


def test_ctrl_c_during_a_parallel_build_unwinds_without_hanging(tmp_path: Path) -> None:
    """Ctrl-C reaches every process of the terminal's group. A worker killed by it used to be replaced by the
    pool while the main process terminated it, and the replacement hung the run with its work folder in place;
    `datasets` then reported the interrupt as a TimeoutError traceback, exit 1."""
    psutil = pytest.importorskip("psutil")
    # with Ctrl-C at its default action, as a shell's foreground command has it: a process started with SIGINT
    # ignored (a background job of a non-interactive shell, as CI may run this suite) keeps it ignored, by design
    proc, out = start_long_build(tmp_path, "--num-proc", "2", start_new_session=True,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while len(psutil.Process(proc.pid).children()) < 2:  # the map's worker processes are at work
        assert proc.poll() is None and time.monotonic() < deadline, "the build ended before its workers started"
        time.sleep(0.02)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []  # no OUT, no work folder, no lock


def test_a_sigterm_whose_exception_was_swallowed_still_stops_the_run(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Raised while Python runs a `__del__` (regex's, during a build), the handler's exception is printed as
    "Exception ignored" and dropped; the run must still stop: no output put in place, exit 143."""
    import curate.cli as cli
    from curate.build.export import replace_dir
    from curate.outputs import Terminated, note_terminated

    staged, out = tmp_path / "staged", tmp_path / "out"
    staged.mkdir()
    note_terminated()
    try:
        with pytest.raises(Terminated):
            replace_dir(staged, out)
        assert not out.exists() and staged.is_dir()

        def swallowed(args: object) -> int:
            return 0  # the command finished: its SIGTERM exception never reached it

        monkeypatch.setattr(cli, "cmd_lint", swallowed)
        parser = cli.build_parser()
        assert cli._run(parser, parser.parse_args(["lint", str(tmp_path)])) == 143
    finally:
        note_terminated(False)
    assert cli._run(parser, parser.parse_args(["lint", str(tmp_path)])) == 0
