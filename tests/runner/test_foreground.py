"""``ForegroundSession``: pytest on the terminal (for pdb), its events still on the socket."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from hotlap.model.run_state import RunState
from hotlap.runner.foreground import ForegroundSession

SUITE = {
    "test_fg.py": """
        import os
        import time


        def test_waits():
            print("printed by the test")
            time.sleep(1.5)
            assert os.environ.get("HOTLAP_HANG_AFTER", "") == ""
    """
}


def test_pytest_writes_to_the_terminal_and_reports_events(
    h: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest writes to this process's own stdout (no pipe: a debugger could talk there),
    its events arrive as a live run's, the hang watchdog is off even when the environment
    asks for it (a test in pdb is not hung), and Ctrl-C's handler is back afterwards."""
    project = h.write_project(tmp_path / "p", SUITE)
    for key, value in h.clean_env({"HOTLAP_HANG_AFTER": "0.5", **h.FAST_ENV}).items():
        monkeypatch.setenv(key, value)
    args = ["-p", "no:cacheprovider", "-s", "test_fg.py::test_waits"]
    session = ForegroundSession(
        args, project, command=[sys.executable, "-m", "pytest", "-p", "hotlap", *args]
    )
    handler = signal.getsignal(signal.SIGINT)
    try:
        assert session.run_in_foreground() == 0
        assert signal.getsignal(signal.SIGINT) is handler
        code = session.wait(timeout=30)
        state = RunState()
        for event in session.drain():
            state.apply(event)
    finally:
        session.close()
    assert code == 0
    rec = state.tests["test_fg.py::test_waits"]
    assert rec.outcome == "passed" and not rec.hang_stack
    out = capfd.readouterr().out
    assert "printed by the test" in out and "1 passed" in out
    assert session.output == ""  # nothing was read from a pipe


FAILING = {
    "test_hint.py": """
        def test_passes():
            pass


        def test_fails():
            value = 1
            assert value == 2
    """
}


def test_headless_prints_the_command_that_debugs_the_first_failure(h: Any, tmp_path: Path) -> None:
    """Without a dashboard, the log names the one command that does what `d` does, just
    before pytest's summary line (still the last); that command runs the failing test
    alone, in one process, into pdb."""
    project = h.write_project(tmp_path / "p", FAILING)
    hot = h.run_hotlap(project, "run", "--headless", "--", "-n", "2", "-p", "no:cacheprovider")
    assert hot.code == 1, hot.describe()
    lines = [line for line in hot.stdout.splitlines() if line.strip()]
    assert h.summary_line(lines[-1]), hot.describe()
    prefix = "hotlap: debug test_hint.py::test_fails with: "
    assert lines[-2].startswith(prefix), hot.describe()
    argv = shlex.split(lines[-2][len(prefix) :])
    assert argv[argv.index("--pdb") + 1 :] == ["test_hint.py::test_fails"]
    assert "-n" in argv and argv[argv.index("-n") + 1] == "0" and argv.count("-n") == 1
    # pdb reads EOF from /dev/null and quits: the failure, the prompt, one test collected.
    ran = h.run([sys.executable if argv[0] == "python" else argv[0], *argv[1:]], project,
                h.FAST_ENV)  # fmt: skip
    assert "collected 1 item" in ran.stdout and "(Pdb)" in ran.stdout, ran.describe()
    assert "assert 1 == 2" in ran.stdout
