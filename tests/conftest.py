"""Helpers shared by the history and export tests: RunStates from events, real pytest runs.

The outer run may itself be driven by hotlap (``HOTLAP_*`` in the environment), so child
processes get an environment without those variables and a temp project of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotlap.export.record import read_record
from hotlap.model.run_state import RunState
from hotlap.protocol import (
    CollectionFinish,
    FixtureSetup,
    FixtureTeardown,
    SessionFinish,
    SessionStart,
    TestReport,
    TestStart,
    WorkerStart,
)

TIMEOUT = 60
PYTEST_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nmarkers =\n    slow\n"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "PYTEST_CURRENT"))
    }
    env.update(extra or {})
    return env


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"exit {self.code}\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def run(args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> Result:
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    return Result(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def make_state(
    tests: Mapping[str, tuple[str, float]],
    *,
    worker: str = "gw0",
    fixtures: Mapping[str, tuple[str, float]] | None = None,
) -> RunState:
    """A finished run in which each nodeid had ``(outcome, seconds)`` (seconds in its call)."""
    state = RunState()
    t = 100.0
    state.apply(
        SessionStart(
            "controller", 1, t, wall=1.7e9, role="controller", argv=[], rootdir="/p",
            hotlap_version="0", pytest_version="9", xdist_version="3", python_version="3.11.0",
            numprocesses=1,
        )
    )  # fmt: skip
    state.apply(WorkerStart(worker, 2, t, wall=1.7e9))
    state.apply(CollectionFinish(worker, 2, t, count=len(tests), nodeids=list(tests)))
    for nodeid, (outcome, seconds) in tests.items():
        state.apply(TestStart(worker, 2, t, nodeid=nodeid, path="", line=1, domain=""))
        for name, (scope, cost) in (fixtures or {}).items():
            state.apply(
                FixtureSetup(worker, 2, t, name=name, scope=scope, location="conftest.py:1",
                             nodeid=nodeid, duration=cost, own=cost)
            )  # fmt: skip
        for when, result, took in (("setup", "passed", 0.0), ("call", outcome, seconds),
                                   ("teardown", "passed", 0.0)):  # fmt: skip
            t += took
            category = result if when == "call" else ""
            state.apply(
                TestReport(worker, 2, t, nodeid=nodeid, when=when, outcome=result,
                           category=category, counts=True, duration=took, start=0.0, stop=0.0,
                           cpu=took / 2, rss=1000, maxrss=2000)
            )  # fmt: skip
        for name, (scope, _cost) in (fixtures or {}).items():
            state.apply(
                FixtureTeardown(worker, 2, t, name=name, scope=scope, location="conftest.py:1",
                                nodeid=nodeid, duration=0.0)
            )  # fmt: skip
    state.apply(SessionFinish("controller", 1, t, exitstatus=0, stats={}))
    return state


def state_from_record(path: Path) -> RunState:
    state = RunState()
    for event in read_record(path):
        state.apply(event)
    return state


class Harness:
    """The helpers above as one fixture (conftest modules are not importable)."""

    clean_env = staticmethod(clean_env)
    run = staticmethod(run)
    make_state = staticmethod(make_state)
    state_from_record = staticmethod(state_from_record)

    @staticmethod
    def project(root: Path, files: Mapping[str, str]) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        (root / "pytest.ini").write_text(PYTEST_INI)
        for name, text in files.items():
            (root / name).write_text(textwrap.dedent(text))
        return root

    @staticmethod
    def pytest(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
        return run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd, env)

    @staticmethod
    def hotlap(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
        return run([sys.executable, "-m", "hotlap", *args], cwd, env)


@pytest.fixture(scope="session")
def hh() -> type[Harness]:
    """The history test harness."""
    return Harness
