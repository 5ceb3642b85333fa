"""``d`` inside ``hotlap run``'s dashboard, on a real run: what the run command keeps."""

from __future__ import annotations

import asyncio
import contextlib
import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hotlap.commands.run as run_module
import hotlap.ui.app as app_module
from hotlap.commands.run import run_command
from hotlap.runner.foreground import ForegroundSession
from hotlap.ui.app import HotlapApp

SUITE = """
def test_passes():
    pass


def test_fails():
    assert 1 == 2
"""


async def _until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_a_debug_run_is_shown_but_exports_describe_the_run_before_it(
    tmp_path: Path, clean_environ: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`d` on the passing test of a real run: the dashboard shows the debug run (one test,
    in one process) and hotlap exits with its code (0), but the JSON report describes the
    run before it (both tests): a run under pdb measures the time spent in pdb."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_x.py").write_text(textwrap.dedent(SUITE))
    monkeypatch.chdir(project)
    monkeypatch.setattr(run_module, "_is_headless", lambda ns: False)
    seen: dict[str, Any] = {}

    @contextlib.contextmanager
    def no_terminal() -> Iterator[None]:
        yield  # run_test's driver cannot suspend; the run needs no terminal (no failure)

    def headless(app: HotlapApp) -> None:
        async def auto(pilot: Any) -> None:
            await _until(lambda: not app.active and app.exit_status is not None)
            tests = app.tests
            tests.move_cursor(list(tests.keys).index("test_x.py::test_passes"))
            app.suspend = no_terminal  # type: ignore[method-assign]
            await pilot.press("d")
            await _until(lambda: isinstance(app.source, ForegroundSession))
            await _until(lambda: not app.active and app.exit_status is not None)
            seen["tests"] = sorted(app.state.tests)
            seen["command"] = app.source.command  # type: ignore[attr-defined]
            await pilot.press("q")

        app.run(headless=True, size=(120, 30), auto_pilot=auto)

    monkeypatch.setattr(app_module, "_run_app", headless)
    report = tmp_path / "report.json"
    code = run_command(
        ["--json", str(report), "--no-history", "--no-impact", "--",
         "-p", "xdist.plugin", "-n", "2", "-p", "no:cacheprovider"]
    )  # fmt: skip
    assert code == 0
    assert seen["tests"] == ["test_x.py::test_passes"]
    command = seen["command"]
    assert command[-3:] == ["0", "--pdb", str(project / "test_x.py") + "::test_passes"]
    assert command.count("-n") == 1
    data = json.loads(report.read_text())
    assert sorted(t["nodeid"] for t in data["tests"]) == [
        "test_x.py::test_fails",
        "test_x.py::test_passes",
    ]
    assert data["run"]["exit_code"] == 1 and data["run"]["workers"] == 2
