"""The work after a run (history, impact) starts when pytest's session ends, while pytest is
still shutting down, and what it recorded is corrected when pytest then exits otherwise."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

# pytest_unconfigure runs after the session's last event. It waits for hotlap's record of
# the run to appear and writes down whether it did: only an app that finishes early lets it.
WAITS_FOR_RECORD = """
import os, pathlib, time

def pytest_unconfigure(config):
    if hasattr(config, "workerinput"):
        return
    report = pathlib.Path(".hotlap/last-report.json")
    deadline = time.monotonic() + 20
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    pathlib.Path(os.environ["SEEN_FILE"]).write_text(str(report.exists()))
"""

EXITS_OTHERWISE = """
def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        raise SystemExit(3)
"""

TESTS = """
def test_one():
    pass

def test_two():
    pass
"""


def _last_run(proj: Path) -> tuple[int, str]:
    conn = sqlite3.connect(proj / ".hotlap" / "history.sqlite3")
    try:
        code, run_json = conn.execute(
            "SELECT exit_code, run_json FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return code, run_json


@pytest.mark.parametrize("workers", ["0", "2"])
def test_history_is_recorded_before_pytest_exits(tmp_path: Path, hh, workers: str) -> None:
    proj = hh.project(tmp_path / "proj", {"conftest.py": WAITS_FOR_RECORD, "test_a.py": TESTS})
    seen = tmp_path / "seen"
    run = hh.hotlap(proj, "run", "--headless", "--", "-n", workers, env={"SEEN_FILE": str(seen)})
    assert run.code == 0, run.describe()
    assert seen.read_text() == "True", run.describe()
    code, run_json = _last_run(proj)
    assert code == 0 and json.loads(run_json)["counts"] == {"passed": 2}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_exit_code_after_the_session_is_what_history_keeps(
    tmp_path: Path, hh, workers: str
) -> None:
    """The session ended with 0, then pytest exited 3: history and the saved report say 3."""
    proj = hh.project(tmp_path / "proj", {"conftest.py": EXITS_OTHERWISE, "test_a.py": TESTS})
    run = hh.hotlap(proj, "run", "--headless", "--", "-n", workers)
    assert run.code == 3, run.describe()
    code, run_json = _last_run(proj)
    assert code == 3 and json.loads(run_json)["exit_code"] == 3
    report = json.loads((proj / ".hotlap" / "last-report.json").read_text())
    assert report["run"]["exit_code"] == 3 and report["run"]["counts"] == {"passed": 2}
