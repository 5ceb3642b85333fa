"""SQLite shared by hotlap's stores (history, impact): WAL connections, and retries while
another process holds the lock. Several hotlap processes may open the same ``.hotlap/``
database at once (a run, ``hotlap watch``, a CI job's exports)."""

from __future__ import annotations

import contextlib
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


def move_aside(path: Path) -> Path:
    """Move database ``path`` (and its ``-wal`` and ``-shm`` files) to
    ``<name>.bad-<seconds>``, kept for a look; returns the new name."""
    aside = path.with_name(f"{path.name}.bad-{int(time.time())}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            with contextlib.suppress(OSError):
                src.replace(Path(f"{aside}{suffix}"))
    return aside


def open_versioned(
    path: Path, schema: str, version: int, probe: str, timeout: float = 10.0
) -> tuple[sqlite3.Connection, str, Path | None]:
    """A WAL connection to a cache database of schema ``version``: ``(conn, why, aside)``.

    A database of another schema version, or one SQLite cannot read (``probe``, a table of
    ``schema``, is read once), is moved aside (``why`` says why, ``aside`` where to) and
    created afresh: what it held can be computed again. A database locked by another
    process past ``timeout`` is an error, not a reason to discard it.
    """

    def fresh() -> sqlite3.Connection:
        conn = connect_wal(path, timeout)
        conn.executescript(schema)
        conn.execute(f"PRAGMA user_version={version}")
        return conn

    conn: sqlite3.Connection | None = None
    try:
        conn = connect_wal(path, timeout)
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables and found != version:
            conn.close()
            aside = move_aside(path)
            return fresh(), f"schema version {found}, expected {version}", aside
        conn.executescript(schema)
        conn.execute(f"PRAGMA user_version={version}")
        conn.execute(f"SELECT count(*) FROM {probe}").fetchone()
        return conn, "", None
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        if isinstance(exc, sqlite3.OperationalError) and is_busy(exc):
            raise
        aside = move_aside(path)
        return fresh(), f"unreadable ({exc})", aside
