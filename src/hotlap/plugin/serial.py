"""Tests marked ``serial`` never run while another test runs (``--hotlap-serial-marker``).

Under ``-n N --dist load`` (xdist's load scheduler, or hotlap's longest-first one) the
controller holds the marked tests back: the others are handed out as usual; once they are
all handed out, every worker but one is shut down, and when those have finished their last
test the held tests go to the one left, after whatever it still had queued. Without xdist a
run is serial anyway; other ``--dist`` modes are left alone (and say so).

The controller does not collect, so it cannot see markers: each worker, once collection
ends, writes the marked nodeids to a file the controller named in its ``workerinput``
(atomically; all workers collect the same tests), and the controller reads it when it
schedules, after every worker said its collection finished. Cost: one marker lookup per
collected test, once, on each worker; nothing per test run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any

import pytest

from hotlap.plugin.role import Role

DEFAULT_MARKER = "serial"
_INPUT_KEY = "hotlap_serial_file"
ENV_SERIAL_MARKER = "HOTLAP_SERIAL_MARKER"


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hotlap")
    group.addoption(
        "--hotlap-serial-marker",
        metavar="NAME",
        default=None,
        help=f"with -n: tests with this marker (default {DEFAULT_MARKER!r}) run after the "
        "others, alone, on one worker",
    )


def marker_name(config: pytest.Config) -> str:
    """The option's, else ``HOTLAP_SERIAL_MARKER`` (set by ``hotlap run --serial-marker``)."""
    name = config.getoption("hotlap_serial_marker", None) or os.environ.get(ENV_SERIAL_MARKER)
    return str(name or DEFAULT_MARKER)


def configure(config: pytest.Config, role: Role) -> None:
    from hotlap.plugin.sink import app_drives

    if not (app_drives() or config.getoption("hotlap_serial_marker", None)):
        return  # inert: plain pytest with hotlap installed
    marker = marker_name(config)
    declared = (
        str(line).split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")
    )
    if marker not in declared:  # the project's own line stays the only one a test sees
        config.addinivalue_line("markers", f"{marker}: never runs while another test runs (hotlap)")
    if role is Role.WORKER:
        path = config.workerinput.get(_INPUT_KEY)  # type: ignore[attr-defined]
        if path:
            config.pluginmanager.register(_SerialCollector(str(path), marker), "hotlap-serial")
    elif role is Role.CONTROLLER:
        directory = tempfile.mkdtemp(prefix="hotlap-serial-")
        config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
        plugin = _SerialController(config, os.path.join(directory, "serial.json"), marker)
        config.pluginmanager.register(plugin, "hotlap-serial")


class _SerialCollector:
    """Worker side: the marked tests, written once collection is done."""

    def __init__(self, path: str, marker: str) -> None:
        self.path = path
        self.marker = marker

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        marked = [item.nodeid for item in items if item.get_closest_marker(self.marker)]
        part = f"{self.path}.{os.getpid()}"
        with contextlib.suppress(OSError):
            with open(part, "w", encoding="utf-8") as f:
                json.dump(marked, f)
            os.replace(part, self.path)


class _SerialController:
    """Controller side: tells workers where to write, and wraps the load schedulers."""

    def __init__(self, config: pytest.Config, path: str, marker: str) -> None:
        self.config = config
        self.path = path
        self.marker = marker
        self.lines: list[str] = []

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_INPUT_KEY] = self.path

    @pytest.hookimpl(hookwrapper=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        outcome = yield
        sched = outcome.get_result()
        from xdist.scheduler import LoadScheduling

        if type(sched) is LoadScheduling or type(sched).__name__ == "LongestFirstScheduling":
            from hotlap.plugin.serial_sched import hold_serial

            hold_serial(sched, self.path, self._say)

    def _say(self, line: str) -> None:
        self.lines.append(line)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """A section of pytest's report (the headless log shows those after the run)."""
        if self.lines:
            terminalreporter.write_sep("-", "hotlap serial tests")
            for line in self.lines:
                terminalreporter.write_line(line)
