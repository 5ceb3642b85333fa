"""The dashboard and parallel safety: a marker on tests with hazards, their detail, and ``p``
on a failed test running the polluter search (real pytest runs of a planted suite)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ui_helpers import replay_app

from hotlap.commands.safety import polluter_line
from hotlap.export.record import read_record
from hotlap.model.run_state import RunState
from hotlap.runner.replay import ReplaySource
from hotlap.ui.app import HotlapApp
from hotlap.ui.screenshots import settle
from hotlap.ui.widgets.detail import TestDetail
from hotlap.ui.widgets.tables import TestsTable

SUITE = """
import os
from pathlib import Path

def test_polluter():
    os.environ["HL_P"] = "1"
    (Path(__file__).parent / "out.txt").write_text("x")
def test_f1(): pass
def test_f2(): pass
def test_victim(): assert "HL_P" not in os.environ
def test_f3(): pass
"""

_DROPPED = ("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "PYTEST_CURRENT")


def _recorded_run(project: Path) -> list:  # type: ignore[type-arg]
    """A real headless run of the planted suite, its events recorded."""
    (project / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (project / "test_s.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    proc = subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-impact", "--no-history",
         "--record", "rec.jsonl", "--", "-n", "0", "-p", "no:randomly"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (project / "out.txt").unlink()
    return sorted(read_record(project / "rec.jsonl"), key=lambda e: e.t)


async def test_marker_detail_and_p_finds_the_polluter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that left a variable set and wrote a project file has a ⚠ before its name and
    says so in its detail; p on the failed victim runs the polluter search (real reruns of
    pytest) on a thread and puts its line in the victim's detail, with what the polluter
    left behind; a clean test has no marker."""
    events = _recorded_run(tmp_path)
    for key in [k for k in os.environ if k.startswith(_DROPPED)]:
        monkeypatch.delenv(key)  # the reruns start from this process's environment
    calls: list[str] = []

    def search(state: RunState, nodeid: str) -> str:
        calls.append(nodeid)
        return polluter_line(state, nodeid, ["-n", "0", "-p", "no:randomly"], tmp_path)

    first = events[0].t
    app = HotlapApp(
        ReplaySource(events, speed=None, clock=lambda: first),
        RunState(),
        title="test",
        pytest_args=["-n", "0"],
        effective_cores=2.0,
        expected={},
        slow_threshold=1.0,
        start_run=None,
        clock=lambda: events[-1].t,
        find_polluters=search,
    )
    polluter, victim = "test_s.py::test_polluter", "test_s.py::test_victim"
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await settle(app, pilot)
        tests = app.query_one(TestsTable)
        assert tests.cells(polluter)[1].plain == f"⚠ {polluter}"
        assert tests.cells("test_s.py::test_f1")[1].plain == "test_s.py::test_f1"
        tests.user_moved = True
        tests.move_cursor(tests.keys.index(polluter))
        await pilot.pause()
        detail = app.query_one(TestDetail)
        assert f"⚠ left behind or shared: env HL_P, file {tmp_path / 'out.txt'}" in detail.text

        tests.move_cursor(tests.keys.index("test_s.py::test_f1"))
        await pilot.press("p")  # a passed test: nothing to search
        assert calls == []
        tests.move_cursor(tests.keys.index(victim))
        await pilot.press("p")
        deadline = time.monotonic() + 120
        while not app.state.tests[victim].polluters and time.monotonic() < deadline:
            await pilot.pause(0.2)
        line = app.state.tests[victim].polluters
        assert line == (
            f"polluted: {victim} fails after {polluter} (passes alone); left behind: "
            f"env HL_P, file {tmp_path / 'out.txt'}"
        )
        assert calls == [victim]
        await pilot.pause(0.3)
        assert line in app.query_one(TestDetail).text


async def test_p_without_a_search_says_so() -> None:
    """An app given no polluter search (a replay) answers p with a notification."""
    app = replay_app()
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await settle(app, pilot)
        tests = app.query_one(TestsTable)
        tests.user_moved = True
        tests.move_cursor(tests.keys.index(app.state.failures[0]))
        await pilot.press("p")
        await pilot.pause()
        assert app.is_running
        assert not app.state.tests[app.state.failures[0]].polluters
