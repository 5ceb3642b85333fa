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
from hotlap.protocol import TestReport, WorkerCrash


def _node_id(node: Any) -> str:
    gateway = getattr(node, "gateway", None)
    return str(getattr(gateway, "id", "")) or "gw?"


class ControllerEmitter:
    """Controller-side hooks (xdist only)."""

    def __init__(self, config: pytest.Config, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.pid = os.getpid()
        self._crashed_in: dict[str, str] = {}
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
            return
        worker = _node_id(getattr(report, "node", None))
        self._crashed_in[worker] = report.nodeid
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
        # Set by hotlap.plugin.crash (signal or exit code, output tail, hang kill).
        reason = getattr(node, "hotlap_crash_reason", "") or str(error)
        relay = self._relays.pop(worker, None)
        if relay is not None:
            reason = relay.crash_reason(node, reason)
        self.sink.send(
            WorkerCrash(
                "controller",
                self.pid,
                time.monotonic(),
                crashed_worker=worker,
                nodeid=clean(self._crashed_in.pop(worker, "")),
                reason=clean(reason),
            )
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # Sent after every other implementation (a wrapper's tail runs last): the app treats
        # this event as the run's end, and a plugin may still change ``session.exitstatus``.
        try:
            return (yield)
        finally:
            self.sink.send(session_finish(session, "controller"))
