"""Cancelling a run leaves no process behind: not pytest, not a worker, not a test's child.

The suite's tests hang (a 60 s sleep, and a test waiting on a child process that sleeps 60 s).
Every process of the run carries a unique ``HOTLAP_TEST_MARK`` in its environment, so after the
cancel a scan of all processes finds anything left over, whoever its parent is now.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from hotlap.runner.session import RunSession

MARK = "HOTLAP_TEST_MARK"

SUITE = {
    "test_hang.py": """
        import subprocess
        import sys
        import time
        from pathlib import Path

        HERE = Path(__file__).parent


        def test_sleeps():
            (HERE / "started-sleep").write_text("")
            time.sleep(60)


        def test_child_sleeps():
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            (HERE / "started-child").write_text(str(child.pid))
            child.wait()
    """,
}


def _marked(mark: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``mark``."""
    found = []
    for proc in psutil.process_iter(["environ", "status"]):
        env = proc.info.get("environ") or {}
        if env.get(MARK) == mark and proc.info.get("status") != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _leftovers(mark: str, timeout: float = 3.0) -> list[psutil.Process]:
    """What is still running after ``timeout`` (bounded retries: exits take a moment)."""
    _wait_for(lambda: not _marked(mark), timeout)
    return _marked(mark)


def _kill_marked(mark: str) -> None:
    """Clean up after a failed assertion: only processes this test started carry the mark."""
    for proc in _marked(mark):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _group_members(pgid: int) -> list[psutil.Process]:
    """Running processes of process group ``pgid``.

    Zombies are left out: orphaned workers wait for init to reap them, which on this kind of
    machine takes seconds (and in a container without an init, forever), yet they run nothing.
    """
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def _tests_running(project: Path) -> bool:
    return (project / "started-sleep").exists() and (project / "started-child").exists()


def _python_workers(pid: int) -> int:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0
    count = 0
    for child in children:
        try:
            if "python" in child.name() and "exec(eval(" in " ".join(child.cmdline()):
                count += 1  # an execnet worker: python -c "import sys;exec(eval(...))"
        except psutil.Error:
            continue
    return count


def test_sigint_to_hotlap_stops_the_whole_run(h: Any, tmp_path: Path) -> None:
    """SIGINT to ``hotlap run -n 2`` (Ctrl-C): exit code 2 within a few seconds, and no process
    of the run (pytest, workers, the test's own child) is left."""
    project = h.write_project(tmp_path / "proj", SUITE)
    mark = uuid.uuid4().hex
    env = h.clean_env({**h.FAST_ENV, MARK: mark})
    argv = [sys.executable, "-m", "hotlap", "run", "--headless", "--", *h.FAST_ARGS, "-n", "2"]
    hotlap = subprocess.Popen(
        argv,
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # As from a terminal: a run started from a background shell job inherits SIGINT
        # ignored, and Python then keeps it ignored (Ctrl-C would do nothing).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        running = _wait_for(
            lambda: _tests_running(project) and _python_workers(hotlap.pid) >= 2, timeout=30
        )
        assert running, "the hanging tests never started"
        assert len(_marked(mark)) >= 5  # hotlap, pytest, 2 workers, the test's child
        hotlap.send_signal(signal.SIGINT)
        started = time.monotonic()
        try:
            out, _ = hotlap.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("hotlap did not exit within 10 s of SIGINT")
        took = time.monotonic() - started
        assert hotlap.returncode == 2, out.decode(errors="replace")
        assert took < 5, f"hotlap took {took:.1f}s to stop"
        assert _leftovers(mark) == []
    finally:
        if hotlap.poll() is None:
            hotlap.kill()
            hotlap.wait(timeout=5)
        _kill_marked(mark)


def test_run_session_cancel_stops_the_group(
    h: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``RunSession.cancel()`` (the Python API the dashboard uses) returns within ~1.5 s and
    leaves neither pytest's process group nor any process of the run."""
    project = h.write_project(tmp_path / "proj", SUITE)
    mark = uuid.uuid4().hex
    # RunSession passes this process's environment on: drop the outer run's variables.
    for name in list(os.environ):
        if name.startswith(("HOTLAP_", "PYTEST_XDIST_")) or name == "PYTEST_ADDOPTS":
            monkeypatch.delenv(name)
    command = [sys.executable, "-m", "pytest", "-p", "hotlap", *h.FAST_ARGS, "-n", "2"]
    session = RunSession(["-n", "2"], project, {**h.FAST_ENV, MARK: mark}, command=command)
    session.start()
    try:
        assert session.pid is not None
        assert _wait_for(lambda: _tests_running(project), timeout=30), session.output
        assert _wait_for(lambda: _python_workers(session.pid) >= 2, timeout=10)
        started = time.monotonic()
        session.cancel()
        took = time.monotonic() - started
        assert took < 1.5, f"cancel took {took:.2f}s"
        assert session.cancelled
        assert _group_members(session.pid) == []
        assert _leftovers(mark) == []
        assert session.wait(timeout=10) == 2
    finally:
        session.close()
        _kill_marked(mark)
