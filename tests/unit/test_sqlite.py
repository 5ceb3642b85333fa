"""Opening hotlap's cache databases: another schema or an unreadable file is moved aside and
started afresh; a database another process holds locked is not."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hotlap.sqlite import open_versioned

SCHEMA = "CREATE TABLE IF NOT EXISTS items (key TEXT PRIMARY KEY, value TEXT);"


def test_a_database_of_this_schema_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    conn, why, aside = open_versioned(path, SCHEMA, 3, "items")
    conn.execute("INSERT INTO items VALUES ('a', '1')")
    conn.close()
    conn, why, aside = open_versioned(path, SCHEMA, 3, "items")
    assert (why, aside) == ("", None)
    assert conn.execute("SELECT value FROM items").fetchall() == [("1",)]


def test_another_schema_version_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    open_versioned(path, SCHEMA, 2, "items")[0].close()
    conn, why, aside = open_versioned(path, SCHEMA, 3, "items")
    assert why == "schema version 2, expected 3"
    assert aside is not None and aside.exists() and aside.name.startswith("c.sqlite3.bad-")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


def test_an_unreadable_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    path.write_bytes(b"not a database" * 100)
    conn, why, aside = open_versioned(path, SCHEMA, 3, "items")
    assert why.startswith("unreadable (") and aside is not None
    assert aside.read_bytes() == b"not a database" * 100  # kept, for a look
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)


def test_a_locked_database_is_an_error_not_discarded(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    conn, _, _ = open_versioned(path, SCHEMA, 3, "items")
    conn.execute("INSERT INTO items VALUES ('a', '1')")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError):
        open_versioned(path, SCHEMA, 3, "items", timeout=0.1)
    holder.execute("ROLLBACK")
    assert not list(tmp_path.glob("*.bad-*"))
    assert open_versioned(path, SCHEMA, 3, "items")[0].execute(
        "SELECT count(*) FROM items"
    ).fetchone() == (1,)
