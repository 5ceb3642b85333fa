"""Hooks of the xdist controller: session start and end, and worker crashes.

Tests and fixtures are reported by the workers themselves; the controller only says what a
worker cannot: that the session began and ended, and that a worker died.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from typing import Any

import pytest

from hotlap.plugin.crash import INTERRUPTED
from hotlap.plugin.relay import Relay, offer_channel
from hotlap.plugin.role import Role
from hotlap.plugin.sink import Sink
from hotlap.plugin.text import bounded, clean
from hotlap.plugin.worker import session_finish, session_start
from hotlap.protocol import RecoveredReports, TestReport, WorkerCrash


def _node_id(node: Any) -> str:
    gateway = getattr(node, "gateway", None)
    return str(getattr(gateway, "id", "")) or "gw?"


class ControllerEmitter:
    """Controller-side hooks (xdist only)."""

    def __init__(self, config: pytest.Config, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.pid = os.getpid()
        #: Dead workers whose crash is not sent yet: xdist names the test a worker died in
        #: (its when="???" report) right after announcing the worker down.
        self._down: dict[str, tuple[float, str]] = {}
        self._relays: dict[str, Relay] = {}

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # A worker that cannot reach the app's socket (another host) sends through this.
        relay = offer_channel(node)
        if relay is not None:
            self._relays[relay.worker] = relay

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.sink.send(session_start(self.config, "controller", Role.CONTROLLER))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A report with when="???" is xdist's stand-in for the test a worker died in.
        if str(report.when) != "???":
            if self._down:
                self._send_crashes()
            return
        worker = _node_id(getattr(report, "node", None))
        self._send_crashes(worker, report.nodeid)  # the crash first, as the view expects
        status = self.config.hook.pytest_report_teststatus(report=report, config=self.config)
        self.sink.send(
            TestReport(
                worker,
                self.pid,
                time.monotonic(),
                nodeid=clean(report.nodeid),
                when="???",
                outcome=report.outcome,
                category=str(status[0]) if status else "failed",
                counts=True,
                duration=float(report.duration),
                start=0.0,
                stop=0.0,
                cpu=0.0,
                rss=0,
                maxrss=0,
                longrepr=bounded(str(report.longrepr or "")),
            )
        )

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        if not error or error == INTERRUPTED:  # an interrupted session, not a dead worker
            return
        worker = _node_id(node)
        recovered = self._reports_of(node)
        if recovered:
            self.sink.send(
                RecoveredReports(
                    "controller", self.pid, time.monotonic(), worker, reports=recovered
                )
            )
        # Set by hotlap.plugin.crash (signal or exit code, output tail, hang kill).
        reason = getattr(node, "hotlap_crash_reason", "") or str(error)
        relay = self._relays.pop(worker, None)
        if relay is not None:
            reason = relay.crash_reason(node, reason)
        self._down[worker] = (time.monotonic(), clean(reason))

    def _send_crashes(self, worker: str = "", nodeid: str = "") -> None:
        """The crashes of dead workers, ``worker``'s naming ``nodeid``, the test it ran."""
        for name, (t, reason) in list(self._down.items()):
            del self._down[name]
            self.sink.send(
                WorkerCrash(
                    "controller",
                    self.pid,
                    t,
                    crashed_worker=name,
                    nodeid=clean(nodeid) if name == worker else "",
                    reason=reason,
                )
            )

    def _reports_of(self, node: Any) -> list[list[Any]]:
        """Every report xdist relayed from ``node``, as :class:`RecoveredReports` rows: the
        worker's own events of its last tests may have died with it."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        stats: dict[str, list[Any]] = getattr(reporter, "stats", None) or {}
        status = self.config.hook.pytest_report_teststatus
        rows: list[list[Any]] = []
        for category, reports in stats.items():
            for report in reports:
                if getattr(report, "node", None) is not node or not hasattr(report, "when"):
                    continue
                if report.when == "???":
                    continue
                if category and report.outcome != "passed":
                    word = category
                else:
                    found = status(report=report, config=self.config)
                    word = str(found[0]) if found else ""
                rows.append(
                    [
                        clean(report.nodeid),
                        str(report.when),
                        str(report.outcome),
                        clean(word),
                        bool(getattr(report, "count_towards_summary", True)),
                        float(report.duration),
                    ]
                )
        return rows

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # Sent after every other implementation (a wrapper's tail runs last): the app treats
        # this event as the run's end, and a plugin may still change ``session.exitstatus``.
        try:
            return (yield)
        finally:
            self._send_crashes()
            self.sink.send(session_finish(session, "controller"))
