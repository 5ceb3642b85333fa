"""SQLite shared by hotlap's stores (history, impact): WAL connections, and retries while
another process holds the lock. Several hotlap processes may open the same ``.hotlap/``
database at once (a run, ``hotlap watch``, a CI job's exports)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` says another connection holds the lock."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def retry(action: Callable[[], T], attempts: int = 5) -> T:
    """Run ``action``, retrying while another process holds the lock (0.05 s, doubling)."""
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def connect_wal(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode with ``synchronous=NORMAL``, in autocommit.

    Switching to WAL can fail with "database is locked" although ``timeout`` is set, while
    another process creates or writes the file (seen with four concurrent writers), so the
    switch is retried.
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn
