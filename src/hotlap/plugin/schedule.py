"""Duration-aware scheduling for ``pytest -n``: longest tests first, to the least loaded worker.

Activated by ``--hotlap-schedule=PATH`` or ``HOTLAP_SCHEDULE`` (set by ``hotlap run`` when
history exists); PATH is hotlap's schedule file or a pytest-split ``.test_durations``. It
replaces xdist's ``--dist load`` scheduler on the controller and changes nothing else: other
``--dist`` modes and runs without xdist are left alone.

xdist's own load scheduler hands each worker a quarter of the collection in collection order,
so a few long tests at the end of the suite finish long after the other worker went idle.
Here the queue is sorted longest first (LPT), the first tests go to whichever worker has the
least expected work, and later ones to the worker that asks first. A worker keeps just enough
queued to never wait for the controller: two tests (it needs the next one to run the current
one), plus short tests worth :data:`LOOKAHEAD` seconds.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from hotlap.plugin.role import Role

ENV_SCHEDULE = "HOTLAP_SCHEDULE"
#: Seconds of short tests a worker keeps queued beyond the one it runs (hides the round trip).
LOOKAHEAD = 0.15


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hotlap")
    group.addoption(
        "--hotlap-schedule",
        metavar="PATH",
        default=None,
        help="with -n: run longest tests first, balanced by the durations in PATH "
        "(hotlap schedule file or pytest-split .test_durations)",
    )


def schedule_path(config: pytest.Config) -> str:
    return str(config.getoption("hotlap_schedule", None) or os.environ.get(ENV_SCHEDULE, ""))


def configure(config: pytest.Config, role: Role) -> None:
    if role is not Role.CONTROLLER:
        return
    path = schedule_path(config)
    if not path or config.getvalue("dist") != "load":
        return
    from hotlap.history.plan import read_schedule

    durations, groups = read_schedule(path)
    if durations:
        config.pluginmanager.register(_SchedulerFactory(durations, groups), "hotlap-schedule")


class _SchedulerFactory:
    def __init__(self, durations: dict[str, float], groups: dict[str, str]) -> None:
        self.durations = durations
        self.groups = groups

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        from hotlap.plugin.lpt import make_scheduler

        return make_scheduler(config, log, self.durations, self.groups)
