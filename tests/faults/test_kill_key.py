"""The dashboard's kill key: RunSession.kill_worker on a hung test under ``-n 2``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hotlap.model.run_state import RunState
from hotlap.runner.command import WorkerChoice, pytest_command
from hotlap.runner.session import RunSession


def test_kill_worker_fails_the_hung_test_with_the_reason(tmp_path: Path) -> None:
    """Killing the worker of a hanging test: the test fails with the given reason and its
    stack, xdist replaces the worker, the other test still passes, exit code 1."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_k.py").write_text(
        "import time\n\ndef test_hang():\n    time.sleep(60)\n\ndef test_ok():\n    pass\n"
    )
    args = ["-p", "no:randomly", "-p", "no:cacheprovider"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}
    env["HOTLAP_HANG_AFTER"] = "60"
    session = RunSession(
        args, tmp_path, env, command=pytest_command(args, WorkerChoice(["-n", "2"], 2, ""))
    )
    state = RunState()
    session.start()
    deadline = time.monotonic() + 60
    killed = False
    try:
        while time.monotonic() < deadline:
            for event in session.drain():
                state.apply(event)
            rec = state.tests.get("test_k.py::test_hang")
            if not killed and rec is not None and rec.started is not None:
                assert session.kill_worker(rec.worker, "hung: killed after 1s (test)")
                killed = True
            if session.poll() is not None:
                for event in session.drain():
                    state.apply(event)
                break
            time.sleep(0.05)
    finally:
        session.close()
    assert killed, "the hanging test never started"
    assert session.returncode == 1
    assert state.summary_counts() == {"failed": 1, "passed": 1}
    hung = state.tests["test_k.py::test_hang"]
    assert hung.outcome == "failed" and hung.crashed
    assert any("hung: killed after 1s (test)" in c.reason for c in state.crashes)
    assert len(state.workers) == 3, sorted(state.workers)  # gw0, gw1 and the replacement
