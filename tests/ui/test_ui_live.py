"""The dashboard on real pytest runs (``RunSession``, -n 2 and -n 0) and ``run_dashboard``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from ui_helpers import replay_app

import hotlap.ui.app as app_module
from hotlap.model.run_state import RunState
from hotlap.runner.replay import ReplaySource
from hotlap.runner.session import RunSession
from hotlap.ui.app import HotlapApp, run_dashboard
from hotlap.ui.screenshots import screen_text
from hotlap.ui.widgets.tables import TestsTable

SUITE = """
import time

def test_quick():
    pass

def test_fails():
    print("about to fail")
    assert 1 + 1 == 3, "math is broken"

def test_slow():
    time.sleep(2.5)
"""

HANGS = """
import time

def test_hangs():
    time.sleep(60)
"""


def project(root: Path, source: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "test_live.py").write_text(textwrap.dedent(source))
    return root


def live_app(root: Path, workers: str) -> tuple[HotlapApp, RunSession]:
    args = ["-p", "xdist.plugin", "-n", workers, "-p", "no:cacheprovider"]
    session = RunSession(args, root, sample_interval=0.2)
    app = HotlapApp(
        session,
        RunState(),
        title="live",
        pytest_args=args,
        effective_cores=2.0,
        expected={},
        slow_threshold=1.0,
        start_run=None,
    )
    return app, session


async def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the dashboard")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("workers", ["2", "0"])
async def test_real_run_shows_lanes_failure_and_exit_code(
    tmp_path: Path, clean_environ: Any, workers: str
) -> None:
    """A real pytest run: its lane shows the slow test while it runs, the failure's traceback
    is there once it failed, and quitting returns pytest's exit code."""
    app, session = live_app(project(tmp_path / "p", SUITE), workers)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(
                lambda: any(
                    lane.current.endswith("test_slow") for lane in app.state.workers.values()
                )
            )
            await pilot.pause(0.1)
            lane_ids = set(app.state.workers)
            assert lane_ids == ({"gw0", "gw1"} if workers == "2" else {"main"})
            lanes = [line.split() for line in screen_text(app).splitlines()]
            assert any(
                row[:1] and row[0] in lane_ids and "test_live.py::test_slow" in row for row in lanes
            )
            await wait_for(lambda: not app.active)
            await pilot.pause(0.1)
            tests = app.query_one(TestsTable)
            assert tests.keys[0] == "test_live.py::test_fails"  # failures first
            assert "math is broken" in screen_text(app)
            await pilot.press("q")
        assert app.return_value == 1
        assert "1 failed, 2 passed" in session.summary_line
    finally:
        session.close()


async def test_quit_during_a_real_run_leaves_no_processes(
    tmp_path: Path, clean_environ: Any
) -> None:
    """`q` while a -n 2 suite hangs cancels pytest and its workers before the app exits."""
    app, session = live_app(project(tmp_path / "p", HANGS), "2")
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(lambda: any(lane.current for lane in app.state.workers.values()))
            await pilot.press("q")
        assert app.return_value == 2
        assert session.proc is not None and session.proc.poll() is not None
        group = session.proc.pid  # pytest leads its own process group
        alive = []
        for proc in psutil.process_iter(["status"]):
            with contextlib.suppress(OSError):
                if os.getpgid(proc.pid) == group and proc.info["status"] != "zombie":
                    alive.append(proc.pid)
        assert alive == []  # no worker left running (a reaped-late zombie is dead already)
    finally:
        session.close()


def test_run_dashboard_prints_the_summary_and_returns_the_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """run_dashboard: the app runs, the user quits, pytest's summary line goes to stdout."""
    recorded = replay_app().source
    assert isinstance(recorded, ReplaySource)

    def headless(app: HotlapApp) -> None:
        async def auto(pilot: Any) -> None:
            await wait_for(lambda: not app.active, 10)
            await pilot.press("q")

        app.run(headless=True, size=(100, 30), auto_pilot=auto)

    monkeypatch.setattr(app_module, "_run_app", headless)
    source = ReplaySource(recorded.events, speed=None)
    code = run_dashboard(
        source,
        RunState(),
        title="t",
        pytest_args=[],
        effective_cores=2.0,
        expected={},
        slow_threshold=1.0,
        start_run=None,
    )
    assert code == 1
    out = capsys.readouterr().out
    assert out.strip().endswith(source.summary_line) and "2 failed" in out
