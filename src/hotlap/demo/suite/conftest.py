"""Fixtures of the hotlap demo suite, each with a real (slept) setup and teardown cost.

The costs are chosen so the dashboard has something to show: a session fixture every worker
pays once, module fixtures, and a function-scoped fixture used by many tests whose cost
hotlap suggests cutting by widening its scope.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

log = logging.getLogger("demo")


@dataclass
class Database:
    """A pretend database: a dict that takes a while to open and close."""

    rows: dict[str, int] = field(default_factory=dict)
    connected: bool = True


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    """Session scope: ~1 s to "start the server", ~0.5 s to shut it down (once per worker)."""
    log.info("starting the demo database")
    time.sleep(1.0)
    db = Database(rows={"apples": 3, "pears": 5})
    yield db
    time.sleep(0.5)
    db.connected = False


@pytest.fixture
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Function scope and used by many tests: ~0.1 s per test adds up (module scope would do)."""
    time.sleep(0.08)
    workdir = tmp_path_factory.mktemp("sandbox")
    yield {"workdir": workdir, "cart": []}
    time.sleep(0.02)


@pytest.fixture
def payment_gateway() -> object:
    """A fixture whose setup fails, so its test is an error rather than a failure."""
    time.sleep(0.05)
    raise ConnectionError("payment sandbox unreachable at https://pay.example.invalid (timeout)")
