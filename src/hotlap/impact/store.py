"""``.hotlap/impact.sqlite3``: what each test depended on when it last ran.

One writer (the hotlap app, after a run); WAL mode; ``PRAGMA user_version`` is the schema
version. A corrupt file, or one of another schema version, is moved aside with a warning and
rebuilt: impact data is a cache, losing it only means the next run is a full one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from hotlap.impact.digest import blake2b
from hotlap.paths import STATE_DIR, make_dirs
from hotlap.sqlite import open_versioned

#: 2: name-level items (``=name``, ``<effects>``…) and a test's ``idgroup``; the files cache
#: holds each file's name-level analysis.
SCHEMA_VERSION = 2
DB_NAME = "impact.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, file TEXT NOT NULL, name TEXT NOT NULL, checksum TEXT NOT NULL,
    UNIQUE (file, name, checksum));
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, items TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tests (
    nodeid TEXT PRIMARY KEY, file TEXT NOT NULL, outcome TEXT NOT NULL,
    stale INTEGER NOT NULL, groups TEXT NOT NULL, idgroup INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS holders (item INTEGER PRIMARY KEY, groups TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (nodeid TEXT PRIMARY KEY, digest TEXT NOT NULL);
"""
#: meta key: the groups up to this id are in ``holders`` (each item's groups, for selection).
_HOLDERS = "holders_upto"


class TestRow:
    """One test's record."""

    __test__ = False
    __slots__ = ("file", "groups", "idgroup", "nodeid", "outcome", "stale")

    def __init__(
        self,
        nodeid: str,
        file: str,
        outcome: str,
        stale: bool,
        groups: list[int],
        idgroup: int = 0,
    ) -> None:
        self.nodeid = nodeid
        self.file = file
        self.outcome = outcome
        self.stale = stale
        self.groups = groups
        #: The group of items whose change can change this test's ids (its decorators, its
        #: fixtures' parameters, a pytest_generate_tests that names its arguments): a change
        #: there selects the test function as a whole (``file::test``), new ids included.
        self.idgroup = idgroup

    def __repr__(self) -> str:
        return f"TestRow({self.nodeid!r}, {self.outcome!r}, groups={self.groups!r})"


class ImpactStore:
    """The impact database of one project (``<project>/.hotlap/impact.sqlite3``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self.conn = self._open()
        self._item_ids: dict[tuple[str, str, str], int] = {}
        self._group_ids: dict[frozenset[int], int] = {}

    # -- opening ----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn, why, aside = open_versioned(self.path, _SCHEMA, SCHEMA_VERSION, "tests")
        if aside is not None:
            self.warnings.append(
                f"impact data {self.path} was {why}; moved it to {aside.name} and started afresh "
                "(the next run is a full one)"
            )
        return conn

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    # -- writing ----------------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def item_id(self, file: str, name: str, checksum: str) -> int:
        key = (file, name, checksum)
        found = self._item_ids.get(key)
        if found is not None:
            return found
        row = self.conn.execute(
            "SELECT id FROM items WHERE file=? AND name=? AND checksum=?", key
        ).fetchone()
        if row is None:
            cur = self.conn.execute("INSERT INTO items (file, name, checksum) VALUES (?,?,?)", key)
            found = int(cur.lastrowid or 0)
        else:
            found = int(row[0])
        self._item_ids[key] = found
        return found

    def group_id(self, items: set[int]) -> int:
        key = frozenset(items)
        found = self._group_ids.get(key)
        if found is not None:
            return found
        text = json.dumps(sorted(items))
        digest = blake2b(text.encode(), digest_size=12).hexdigest()
        row = self.conn.execute("SELECT id FROM groups WHERE digest=?", (digest,)).fetchone()
        if row is not None:
            found = int(row[0])
        else:
            cur = self.conn.execute(
                "INSERT INTO groups (digest, items) VALUES (?, ?)", (digest, text)
            )
            found = int(cur.lastrowid or 0)
        self._group_ids[key] = found
        return found

    def put_test(self, row: TestRow) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO tests (nodeid, file, outcome, stale, groups, idgroup) "
            "VALUES (?,?,?,?,?,?)",
            (
                row.nodeid,
                row.file,
                row.outcome,
                int(row.stale),
                json.dumps(row.groups),
                row.idgroup,
            ),
        )

    def record_digests(self) -> dict[str, str]:
        """The digest of what each test ran when its row was last built (see
        :mod:`hotlap.impact.memo`)."""
        return dict(self.conn.execute("SELECT nodeid, digest FROM records"))

    def set_record_digests(self, digests: dict[str, str]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO records (nodeid, digest) VALUES (?, ?)", digests.items()
        )

    def forget_record_digests(self, nodeids: list[str] | None = None) -> None:
        """Drop the digests of ``nodeids`` (all when None)."""
        if nodeids is None:
            self.conn.execute("DELETE FROM records")
        else:
            self.conn.executemany("DELETE FROM records WHERE nodeid=?", [(n,) for n in nodeids])

    def index_holders(self) -> None:
        """Bring ``holders`` (the groups holding each item) up to date with ``groups``.

        Groups are never changed once written, only added or pruned, so only the groups
        added since the last call are read (click's first run: all 1,447, ~50 ms; later runs:
        the few new ones). A selection then reads the rows of its changed items instead of
        scanning every group's list (6 ms per changed item on click, all groups past 40).
        """
        upto = self.get_meta(_HOLDERS, 0)
        added: dict[int, list[int]] = defaultdict(list)
        top = upto
        for group_id, items in self.conn.execute(
            "SELECT id, items FROM groups WHERE id > ? ORDER BY id", (upto,)
        ):
            top = group_id
            for item in json.loads(items):
                added[item].append(group_id)
        if not added and top == upto:
            return
        if upto:
            marks = ",".join("?" * len(added))
            for item, groups in self.conn.execute(
                f"SELECT item, groups FROM holders WHERE item IN ({marks})", list(added)
            ):
                added[item][:0] = json.loads(groups)
        self.conn.executemany(
            "INSERT OR REPLACE INTO holders (item, groups) VALUES (?, ?)",
            [(item, json.dumps(groups)) for item, groups in added.items()],
        )
        self.set_meta(_HOLDERS, top)

    def prune(self, force: bool = False) -> None:
        """Drop groups and items no test refers to any more.

        Finding them reads every test's and every group's list, so unless ``force``d this
        waits until the groups outnumber twice the tests: dead rows cost only space, and
        that bounds it.
        """
        if not force:
            groups = self.conn.execute("SELECT count(*) FROM groups").fetchone()[0]
            tests = self.conn.execute("SELECT count(*) FROM tests").fetchone()[0]
            if groups <= 2 * tests + 64:
                return
        used: set[int] = set()
        for groups, idgroup in self.conn.execute("SELECT groups, idgroup FROM tests"):
            used.update(json.loads(groups))
            used.add(int(idgroup))
        all_groups = {int(r[0]) for r in self.conn.execute("SELECT id FROM groups")}
        dead = all_groups - used
        if dead:
            self.conn.executemany("DELETE FROM groups WHERE id=?", [(g,) for g in dead])
            self._group_ids.clear()
            # A new group may take a deleted one's id: the index starts again.
            self.conn.execute("DELETE FROM holders")
            self.set_meta(_HOLDERS, 0)
        if len(dead) * 4 < len(all_groups) and dead:
            return
        live: set[int] = set()
        for (items,) in self.conn.execute("SELECT items FROM groups"):
            live.update(json.loads(items))
        dead_items = {int(r[0]) for r in self.conn.execute("SELECT id FROM items")} - live
        self.conn.executemany("DELETE FROM items WHERE id=?", [(i,) for i in dead_items])
        self._item_ids.clear()

    # -- reading ----------------------------------------------------------------------------
    def tests(self) -> dict[str, TestRow]:
        rows = self.conn.execute(
            "SELECT nodeid, file, outcome, stale, groups, idgroup FROM tests"
        ).fetchall()
        # One parse for all the lists: a json.loads per test took 3 of click's 5 ms.
        lists = json.loads("[" + ",".join(r[4] for r in rows) + "]")
        return {
            r[0]: TestRow(r[0], r[1], r[2], bool(r[3]), groups, int(r[5]))
            for r, groups in zip(rows, lists, strict=True)
        }

    def test(self, nodeid: str) -> TestRow | None:
        r = self.conn.execute(
            "SELECT nodeid, file, outcome, stale, groups, idgroup FROM tests WHERE nodeid=?",
            (nodeid,),
        ).fetchone()
        return TestRow(r[0], r[1], r[2], bool(r[3]), json.loads(r[4]), int(r[5])) if r else None

    def items(
        self, files: set[str] | None = None, names: tuple[str, ...] = ()
    ) -> dict[int, tuple[str, str, str]]:
        """Every item, or those of ``files`` and those named one of ``names``."""
        query = "SELECT id, file, name, checksum FROM items"
        args: list[str] = []
        if files is not None:
            args = [*sorted(files), *names]
            marks = ",".join("?" * len(files)) or "NULL"
            query += f" WHERE file IN ({marks}) OR name IN ({','.join('?' * len(names)) or 'NULL'})"
        return {int(r[0]): (r[1], r[2], r[3]) for r in self.conn.execute(query, args)}

    def groups_with(self, items: set[int]) -> dict[int, list[int]]:
        """The groups holding any of ``items``, each with those of ``items`` it holds (or
        with all it holds, when ``holders`` is behind: then all groups are read when there
        are many items)."""
        top = self.conn.execute("SELECT max(id) FROM groups").fetchone()[0]
        if items and self.get_meta(_HOLDERS, 0) == top:
            found: dict[int, list[int]] = defaultdict(list)
            asked = sorted(items)
            for start in range(0, len(asked), 500):  # SQLite's limit on parameters
                part = asked[start : start + 500]
                query = (
                    f"SELECT item, groups FROM holders WHERE item IN ({','.join('?' * len(part))})"
                )
                for item, groups in self.conn.execute(query, part):
                    for group in json.loads(groups):
                        found[group].append(item)
            return dict(found)
        if not items or len(items) > 40:
            return {g: i for g, i in self.groups().items() if not items or items.intersection(i)}
        clauses = []
        args: list[str] = []
        for item in sorted(items):
            clauses.append("items LIKE ? OR items LIKE ? OR items LIKE ? OR items = ?")
            args += [f"% {item},%", f"% {item}]", f"[{item},%", f"[{item}]"]
        query = f"SELECT id, items FROM groups WHERE {' OR '.join(clauses)}"
        return {int(r[0]): json.loads(r[1]) for r in self.conn.execute(query, args)}

    def groups(self) -> dict[int, list[int]]:
        return {
            int(r[0]): json.loads(r[1]) for r in self.conn.execute("SELECT id, items FROM groups")
        }

    # -- file analysis cache --------------------------------------------------------------
    def cached_file(self, path: str, mtime_ns: int, size: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT info FROM files WHERE path=? AND mtime_ns=? AND size=?", (path, mtime_ns, size)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def last_file(self, path: str) -> dict[str, Any] | None:
        """The last analysis cached for ``path``, whatever the file holds now."""
        row = self.conn.execute("SELECT info FROM files WHERE path=?", (path,)).fetchone()
        return json.loads(row[0]) if row else None

    def cache_file(self, path: str, mtime_ns: int, size: int, info: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO files (path, mtime_ns, size, info) VALUES (?,?,?,?)",
            (path, mtime_ns, size, json.dumps(info)),
        )


def open_store(project: Path) -> ImpactStore:
    """The store under ``project/.hotlap`` (created); raises OSError when it cannot be."""
    directory = project / STATE_DIR
    make_dirs(directory)
    return ImpactStore(directory / DB_NAME)
