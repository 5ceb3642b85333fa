"""``--hotlap-reruns N``: rerun a failing test up to N times; a later pass makes it flaky.

Inert unless N > 0 (option, or ``HOTLAP_RERUNS`` set by ``hotlap run``). Like
pytest-rerunfailures, every failed attempt but the last is reported with outcome ``rerun``
(category ``rerun``, letter ``R``), so pytest counts the test once, by its final attempt: a
test that passes on a rerun does not fail the run, and hotlap's history records it as flaky.
The status hook is registered in every process, since the xdist controller prints the
workers' reports.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from hotlap.plugin.role import Role

ENV_RERUNS = "HOTLAP_RERUNS"


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hotlap")
    group.addoption(
        "--hotlap-reruns",
        type=int,
        metavar="N",
        default=None,
        help="rerun failing tests up to N times; report those that then pass as flaky",
    )


def reruns(config: pytest.Config) -> int:
    value = config.getoption("hotlap_reruns", None)
    if value is None:
        try:
            value = int(os.environ.get(ENV_RERUNS, "0"))
        except ValueError:
            value = 0
    return max(0, int(value))


def configure(config: pytest.Config, role: Role) -> None:
    n = reruns(config)
    if n <= 0:
        return
    config.pluginmanager.register(RerunStatus(), "hotlap-rerun-status")
    if role is not Role.CONTROLLER:
        config.pluginmanager.register(Reruns(n), "hotlap-reruns")


class RerunStatus:
    """How pytest shows and counts an attempt that will be retried."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, Any] | None:
        if str(report.outcome) == "rerun":
            return "rerun", "R", ("RERUN", {"yellow": True})
        return None


def _forget_failed_setup(item: pytest.Item) -> None:
    """Drop what pytest cached about a failed setup, so the next attempt sets up afresh."""
    state = item.session._setupstate
    if any(exc is not None for _, exc in state.stack.values()):
        # A module/class/session setup failed: tear everything down and start over.
        state.teardown_exact(None)
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fixturedef in defs:
            cached = getattr(fixturedef, "cached_result", None)
            if cached is not None and cached[2] is not None:
                fixturedef.cached_result = None


def _slow_policy(report: pytest.TestReport) -> bool:
    """The failure is the slow policy's verdict, which a rerun would only repeat."""
    return any(name == "hotlap_slow_failed" for name, _ in report.user_properties)


class Reruns:
    """Where tests run: the run protocol with retries."""

    def __init__(self, n: int) -> None:
        self.n = n

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        from _pytest.runner import runtestprotocol

        ihook = item.ihook
        for attempt in range(self.n + 1):
            ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
            failed = [r for r in reports if r.failed and not _slow_policy(r)]
            final = attempt == self.n or not failed
            for report in reports:
                if not final and report.failed:
                    report.outcome = "rerun"  # type: ignore[assignment]
                ihook.pytest_runtest_logreport(report=report)
            ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
            if final:
                break
            _forget_failed_setup(item)
        return True
