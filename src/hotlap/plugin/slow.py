"""The slow-test policy: ``--hotlap-slow-threshold SECONDS`` and ``--hotlap-fail-unmarked-slow``.

Inert unless a threshold is given (option, or ``HOTLAP_SLOW_THRESHOLD`` set by ``hotlap run``).
Where tests run, a test whose setup + call took longer than the threshold is marked (a
``hotlap_slow`` user property on its call report); with the fail option, such a test that
lacks ``@pytest.mark.slow`` fails, naming itself and its time. Teardown is not counted: the
verdict has to be on the call report, before teardown runs. The process that prints the
summary lists every test over the threshold at the end.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from hotlap.plugin.role import Role

ENV_THRESHOLD = "HOTLAP_SLOW_THRESHOLD"
ENV_FAIL_UNMARKED = "HOTLAP_FAIL_UNMARKED_SLOW"
PROPERTY = "hotlap_slow"
FAILED_PROPERTY = "hotlap_slow_failed"


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hotlap")
    group.addoption(
        "--hotlap-slow-threshold",
        type=float,
        metavar="SECONDS",
        default=None,
        help="mark tests whose setup + call takes longer than SECONDS",
    )
    group.addoption(
        "--hotlap-fail-unmarked-slow",
        action="store_true",
        default=False,
        help="fail tests over the slow threshold that lack @pytest.mark.slow",
    )


def settings(config: pytest.Config) -> tuple[float | None, bool]:
    """(threshold, fail unmarked) from the options, else the environment."""
    threshold = config.getoption("hotlap_slow_threshold", None)
    if threshold is None:
        try:
            threshold = float(os.environ.get(ENV_THRESHOLD, ""))
        except ValueError:
            threshold = None
    fail = bool(config.getoption("hotlap_fail_unmarked_slow", False)) or os.environ.get(
        ENV_FAIL_UNMARKED, ""
    ) not in ("", "0")
    return threshold, fail


def configure(config: pytest.Config, role: Role) -> None:
    threshold, fail = settings(config)
    if threshold is None or threshold < 0:
        return
    if role is not Role.CONTROLLER:
        config.pluginmanager.register(SlowPolicy(threshold, fail), "hotlap-slow-policy")
    if role is not Role.WORKER:
        config.pluginmanager.register(SlowSummary(threshold), "hotlap-slow-summary")


def message(nodeid: str, seconds: float, threshold: float) -> str:
    return (
        f"{nodeid} took {seconds:.2f}s, over the slow threshold of {threshold:.2f}s, and is not"
        " marked @pytest.mark.slow: mark it or make it faster"
    )


class SlowPolicy:
    """Where tests run: mark slow tests and fail unmarked ones if asked."""

    def __init__(self, threshold: float, fail_unmarked: bool) -> None:
        self.threshold = threshold
        self.fail_unmarked = fail_unmarked
        self._setup: dict[str, float] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, Any]:
        report: pytest.TestReport = yield
        if report.when == "setup":
            self._setup[item.nodeid] = report.duration
        elif report.when == "call":
            seconds = self._setup.pop(item.nodeid, 0.0) + report.duration
            if seconds > self.threshold:
                marked = item.get_closest_marker("slow") is not None
                report.user_properties.append((PROPERTY, {"seconds": seconds, "marked": marked}))
                if self.fail_unmarked and not marked and report.passed:
                    report.outcome = "failed"
                    report.longrepr = message(item.nodeid, seconds, self.threshold)
                    # Rerunning would only take as long again (see hotlap.plugin.reruns).
                    report.user_properties.append((FAILED_PROPERTY, True))
        return report


class SlowSummary:
    """Where the summary is printed: list the tests over the threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.slow: dict[str, tuple[float, bool]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == PROPERTY and isinstance(value, dict):
                self.slow[report.nodeid] = (float(value["seconds"]), bool(value["marked"]))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.slow:
            return
        terminalreporter.section(f"tests over the slow threshold ({self.threshold:.2f}s)")
        for nodeid, (seconds, marked) in sorted(self.slow.items(), key=lambda kv: -kv[1][0]):
            note = "" if marked else "  (not marked slow)"
            terminalreporter.write_line(f"{seconds:8.2f}s {nodeid}{note}")
