"""The rows of hotlap's history and its store's names, without the store (sqlite3).

What a run's preparation reads from its cache (:func:`hotlap.history.hooks.load_prepared`)
before pytest is started: importing :mod:`hotlap.history.store` (and sqlite3) took ~9 ms of
the way from ``hotlap`` to pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DB_NAME = "history.sqlite3"
#: The last run's compact JSON report in ``.hotlap/`` (``hotlap export`` reads it).
LAST_REPORT = "last-report.json"
SCHEMA_VERSION = 1
#: Runs kept by default (``--history-keep``).
DEFAULT_KEEP = 50


class HistoryError(Exception):
    """The store cannot be used (e.g. it was written by a newer hotlap)."""


@dataclass(frozen=True)
class RunRow:
    """One recorded run."""

    id: int
    started: float
    wall_time: float
    exit_code: int | None
    workers: int
    cancelled: bool
    fingerprint: str
    run: dict[str, Any]


@dataclass(frozen=True)
class TestRow:
    """One test in one recorded run."""

    __test__ = False

    run_id: int
    nodeid: str
    outcome: str
    setup: float
    call: float
    teardown: float
    cpu: float
    rss_peak: int
    rss_delta: int
    worker: str
    reruns: int
    deps: str

    @property
    def duration(self) -> float:
        return self.setup + self.call + self.teardown


@dataclass(frozen=True)
class FixtureRow:
    """One fixture definition's cost in one recorded run."""

    run_id: int
    name: str
    scope: str
    location: str
    count: int
    setup: float
    teardown: float
    modules: list[str]
