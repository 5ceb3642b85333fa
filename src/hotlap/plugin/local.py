"""Exports from a plain ``pytest -p hotlap --hotlap-json=…`` run, with no app.

Without xdist the events go straight into a :class:`RunState` in this process. With xdist
this (controller) process opens the same socket the app would, before the workers start, and
the workers find it in the environment they inherit.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from hotlap.channel import ENV_SOCKET, ENV_TOKEN
from hotlap.model.run_state import RunState
from hotlap.plugin import offline
from hotlap.plugin.gate import ENV_PARENT_PID
from hotlap.plugin.role import Role
from hotlap.plugin.sink import CallbackSink, Sink
from hotlap.protocol import Event
from hotlap.real import real
from hotlap.runner.server import EventServer


class LocalExports:
    """Collects the run's events in-process and writes the requested exports at the end."""

    def __init__(self, config: pytest.Config, role: Role) -> None:
        self.config = config
        self.state = RunState()
        self.events: list[Event] = []
        self.record = bool(config.getoption("hotlap_record", None))
        self.server: EventServer | None = None
        self._pending: list[Event] = []
        self.sink: Sink = CallbackSink(self._apply)
        self._started = real.wall()
        self._pid = os.getpid()
        if role is Role.CONTROLLER:
            offline.leave_out_for_workers(config)
            self.server = EventServer().start()
            os.environ.update(
                {
                    ENV_SOCKET: self.server.path,
                    ENV_TOKEN: self.server.token,
                    ENV_PARENT_PID: str(os.getpid()),  # the workers are this process's children
                }
            )

    def _apply(self, event: Event) -> None:
        if self.server is not None:
            # The controller's own events wait for the workers' so all apply in time order.
            self._pending.append(event)
            return
        self.state.apply(event)
        if self.record:
            self.events.append(event)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.server is not None:
            offline.offer(node)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        # The workers started at the session's start (xdist's pytest_sessionstart).
        offline.restore_addopts()

    def _drain_server(self) -> None:
        offline.restore_addopts()
        if self.server is None:
            return
        self.server.wait_quiet(timeout=5.0)
        events = sorted([*self._pending, *self.server.drain()], key=lambda e: e.t)
        self.server.close()
        self.server = None
        for event in events:
            self._apply(event)
        for name in (ENV_SOCKET, ENV_TOKEN, ENV_PARENT_PID):
            os.environ.pop(name, None)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if os.getpid() != self._pid:
            return  # a test forked this process and its child ran on: the exports are the parent's
        self._drain_server()
        from hotlap.export.files import write_exports
        from hotlap.export.report import RunMeta

        meta = RunMeta.from_state(self.state, argv=list(config.invocation_params.args))
        try:
            write_exports(
                self.state,
                meta,
                json_path=config.getoption("hotlap_json", None),
                durations_path=config.getoption("hotlap_durations", None),
                record_path=config.getoption("hotlap_record", None),
                events=self.events,
                durations_merge=not config.getoption("hotlap_durations_clean", False),
            )
        except OSError as exc:
            # pytest's run is done and its exit code stands; say what was not written.
            sys.stderr.write(f"hotlap: could not write an export: {exc}\n")
