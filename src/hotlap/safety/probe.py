"""A pytest plugin loaded (``-p hotlap.safety.probe``) into each rerun of a polluter search:
it writes the nodeids that ran (in their order), those whose call passed and those that
failed (any phase) to the JSON file named by ``HOTLAP_PROBE_OUT``. The victim's own outcome
is what counts, not the run's exit code (a polluter may fail too)."""

from __future__ import annotations

import json
import os

import pytest

ENV_PROBE_OUT = "HOTLAP_PROBE_OUT"

_ran: list[str] = []
_passed: list[str] = []
_failed: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _ran.append(report.nodeid)
    if report.when == "call" and report.passed:
        _passed.append(report.nodeid)
    if report.failed:
        _failed.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(ENV_PROBE_OUT)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"ran": _ran, "passed": _passed, "failed": _failed}, f)
