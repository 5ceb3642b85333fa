"""The history store: ``.hotlap/history.sqlite3``, one row per run, test and fixture.

SQLite in WAL mode so readers never block the one writer; every write is one
``BEGIN IMMEDIATE`` transaction, retried while another hotlap process holds the lock. The
schema is versioned with ``PRAGMA user_version``. A file SQLite cannot read (truncated,
garbage) is moved aside with a warning and a fresh store is started: history is a cache of
what runs taught us, never a reason to fail a run.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotlap.history.rows import DB_NAME as DB_NAME
from hotlap.history.rows import DEFAULT_KEEP as DEFAULT_KEEP
from hotlap.history.rows import LAST_REPORT as LAST_REPORT
from hotlap.history.rows import SCHEMA_VERSION as SCHEMA_VERSION
from hotlap.history.rows import FixtureRow as FixtureRow
from hotlap.history.rows import HistoryError as HistoryError
from hotlap.history.rows import RunRow as RunRow
from hotlap.history.rows import TestRow as TestRow
from hotlap.paths import make_dirs
from hotlap.sqlite import connect_wal, is_busy, retry

if TYPE_CHECKING:
    from hotlap.export.report import RunMeta
    from hotlap.model.run_state import RunState

#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT = 10.0

_SCHEMA_V1 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    wall_time REAL NOT NULL,
    exit_code INTEGER,
    workers INTEGER NOT NULL,
    cancelled INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    run_json TEXT NOT NULL
);
CREATE TABLE tests (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    nodeid TEXT NOT NULL,
    outcome TEXT NOT NULL,
    setup REAL NOT NULL,
    call REAL NOT NULL,
    teardown REAL NOT NULL,
    cpu REAL NOT NULL,
    rss_peak INTEGER NOT NULL,
    rss_delta INTEGER NOT NULL,
    worker TEXT NOT NULL,
    reruns INTEGER NOT NULL,
    deps TEXT NOT NULL,
    PRIMARY KEY (run_id, nodeid)
) WITHOUT ROWID;
CREATE INDEX tests_by_nodeid ON tests (nodeid, run_id);
CREATE TABLE fixtures (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    location TEXT NOT NULL,
    count INTEGER NOT NULL,
    setup REAL NOT NULL,
    teardown REAL NOT NULL,
    modules TEXT NOT NULL,
    PRIMARY KEY (run_id, name, scope, location)
) WITHOUT ROWID;
"""

#: Migrations: ``_MIGRATIONS[n]`` takes a store from ``user_version`` n to n + 1.
_MIGRATIONS = {0: _SCHEMA_V1}


class HistoryStore:
    """An open history database. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, path: Path, conn: sqlite3.Connection, warnings: list[str]) -> None:
        self.path = path
        self.conn = conn
        #: Things the user should hear about (a corrupt file moved aside, …).
        self.warnings = warnings
        #: The id :meth:`record_run` gave the last run it stored (0: none yet).
        self.last_run_id = 0

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | Path) -> HistoryStore:
        """Open (creating if needed) the store in ``directory``.

        Raises ``OSError`` when the directory cannot be created and :class:`HistoryError` when
        the file is from a newer hotlap; a corrupt file is moved aside instead.
        """
        directory = Path(directory)
        make_dirs(directory)
        path = directory / DB_NAME
        warnings: list[str] = []
        try:
            conn = cls._connect(path)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and is_busy(exc):
                raise
            aside = cls._move_aside(path)
            warnings.append(f"history: {path} was unreadable ({exc}); moved to {aside.name}")
            conn = cls._connect(path)
        return cls(path, conn, warnings)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = connect_wal(path, BUSY_TIMEOUT)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    f"{path} has schema {version}, newer than this hotlap's {SCHEMA_VERSION}"
                )
            if version < SCHEMA_VERSION:
                retry(lambda: _migrate(conn))
            # Reading every table once finds most corruption now rather than mid-run.
            conn.execute("SELECT count(*) FROM runs").fetchone()
            conn.execute("SELECT nodeid FROM tests ORDER BY nodeid LIMIT 1").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _move_aside(path: Path) -> Path:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        n = 0
        while aside.exists():
            n += 1
            aside = aside.with_name(f"{aside.name.split('~')[0]}~{n}")
        path.replace(aside)
        for suffix in ("-wal", "-shm"):
            extra = path.with_name(path.name + suffix)
            with suppress(OSError):
                extra.unlink()
        return aside

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------
    def record_run(
        self,
        state: RunState,
        meta: RunMeta,
        *,
        fingerprint: str = "",
        deps: dict[str, str] | None = None,
        keep: int = DEFAULT_KEEP,
    ) -> int:
        """Store one finished run and prune to the newest ``keep`` runs; return its id.

        ``deps`` maps a nodeid to a fingerprint of what it depends on (impact data); tests not
        in it get the run's ``fingerprint``.
        """
        return self.record_rows(run_rows(state, meta, fingerprint=fingerprint, deps=deps), keep)

    def record_rows(self, rows: RunRows, keep: int = DEFAULT_KEEP) -> int:
        """Store a run's rows (:func:`run_rows`) and prune to the newest ``keep`` runs; return
        its id."""
        run, meta, fingerprint = rows.run, rows.meta, rows.fingerprint
        test_rows, fixture_rows = rows.tests, rows.fixtures

        def write() -> int:
            with self._write() as conn:
                cur = conn.execute(
                    "INSERT INTO runs (started, wall_time, exit_code, workers, cancelled,"
                    " fingerprint, run_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        float(run["start"] or time.time()),
                        float(meta.wall_time),
                        meta.exit_code,
                        int(run["workers"]),
                        int(meta.cancelled),
                        fingerprint,
                        json.dumps(run),
                    ),
                )
                run_id = int(cur.lastrowid or 0)
                conn.executemany(
                    "INSERT OR REPLACE INTO tests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, *row) for row in test_rows],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO fixtures VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, *row) for row in fixture_rows],
                )
                self._prune(conn, keep)
                return run_id

        self.last_run_id = retry(write)
        return self.last_run_id

    def amend_run(self, run_id: int, state: RunState, meta: RunMeta) -> None:
        """Correct a recorded run's exit code, wall time and cancellation: it was recorded
        when pytest's session ended, and pytest exited otherwise (see ``runner.hooks``)."""
        from hotlap.export.report import run_section

        run = run_section(state, meta)

        def write() -> None:
            with self._write() as conn:
                conn.execute(
                    "UPDATE runs SET wall_time = ?, exit_code = ?, cancelled = ?, run_json = ?"
                    " WHERE id = ?",
                    (
                        float(meta.wall_time),
                        meta.exit_code,
                        int(meta.cancelled),
                        json.dumps(run),
                        run_id,
                    ),
                )

        retry(write)

    @staticmethod
    def _prune(conn: sqlite3.Connection, keep: int) -> None:
        keep = max(1, keep)
        old = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM runs ORDER BY id DESC LIMIT -1 OFFSET ?", (keep,)
            ).fetchall()
        ]
        if old:
            marks = ",".join("?" * len(old))
            conn.execute(f"DELETE FROM tests WHERE run_id IN ({marks})", old)
            conn.execute(f"DELETE FROM fixtures WHERE run_id IN ({marks})", old)
            conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", old)

    # -- reading ----------------------------------------------------------------------------
    def run_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM runs").fetchone()[0])

    def runs(self, last: int = DEFAULT_KEEP) -> list[RunRow]:
        """The newest ``last`` runs, oldest first."""
        rows = self.conn.execute(
            "SELECT id, started, wall_time, exit_code, workers, cancelled, fingerprint, run_json"
            " FROM runs ORDER BY id DESC LIMIT ?",
            (max(0, last),),
        ).fetchall()
        out = []
        for r in reversed(rows):
            try:
                run = json.loads(r[7])
            except ValueError:
                run = {}
            out.append(RunRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], run))
        return out

    def first_run_id(self, last: int) -> int | None:
        """The oldest id among the newest ``last`` runs (None without runs)."""
        row = self.conn.execute(
            "SELECT min(id) FROM (SELECT id FROM runs ORDER BY id DESC LIMIT ?)", (max(0, last),)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def tests(
        self, last: int = DEFAULT_KEEP, only: Collection[str] | None = None
    ) -> dict[str, list[TestRow]]:
        """Per nodeid, its rows in the newest ``last`` runs, oldest first (only the nodeids in
        ``only`` when given)."""
        first = self.first_run_id(last)
        if first is None or (only is not None and not only):
            return {}
        out: dict[str, list[TestRow]] = {}
        if only is None:
            rows: Iterable[Any] = self.conn.execute(
                "SELECT * FROM tests WHERE run_id >= ? ORDER BY run_id", (first,)
            )
        else:
            rows = [
                row
                for nodeid in sorted(only)
                for row in self.conn.execute(
                    "SELECT * FROM tests WHERE nodeid = ? AND run_id >= ? ORDER BY run_id",
                    (nodeid, first),
                )
            ]
        for row in rows:
            out.setdefault(row[1], []).append(TestRow(*row))
        return out

    def recent(self, last: int) -> dict[str, list[tuple[int, float, str]]]:
        """Per nodeid, ``(run id, seconds, outcome)`` in the newest ``last`` runs, oldest first.

        What expected durations and the regression baseline are computed from, read before
        every run: three columns and no :class:`TestRow` per row keep it cheap.
        """
        first = self.first_run_id(last)
        if first is None:
            return {}
        out: dict[str, list[tuple[int, float, str]]] = {}
        for nodeid, run_id, seconds, outcome in self.conn.execute(
            "SELECT nodeid, run_id, setup + call + teardown, outcome FROM tests"
            " WHERE run_id >= ? ORDER BY run_id",
            (first,),
        ):
            entry = (run_id, seconds, outcome)
            rows = out.get(nodeid)
            if rows is None:
                out[nodeid] = [entry]
            else:
                rows.append(entry)
        return out

    def changing(self, last: int, verdicts: Mapping[str, bool]) -> set[str]:
        """Nodeids with a failing verdict (``verdicts[outcome]`` false) or a rerun in the
        newest ``last`` runs: a test that always passed there cannot be flaky, so flaky
        detection reads only these. A plain range scan of the primary key: grouping by nodeid
        made SQLite walk the whole table through the nodeid index (60-76 ms at 50 runs of
        2,000 tests, against ~11 ms)."""
        first = self.first_run_id(last)
        failing = [outcome for outcome, ok in verdicts.items() if not ok]
        if first is None:
            return set()
        marks = ",".join("?" * len(failing)) or "NULL"
        query = (
            f"SELECT nodeid FROM tests WHERE run_id >= ? AND (outcome IN ({marks}) OR reruns > 0)"
        )
        return {row[0] for row in self.conn.execute(query, (first, *failing))}

    def fixtures(self, last: int = DEFAULT_KEEP) -> list[FixtureRow]:
        """Fixture rows of the newest ``last`` runs, oldest run first."""
        first = self.first_run_id(last)
        if first is None:
            return []
        return [
            FixtureRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))
            for row in self.conn.execute(
                "SELECT * FROM fixtures WHERE run_id >= ? ORDER BY run_id", (first,)
            )
        ]

    def duration_samples(self, last: int = 10) -> dict[str, list[float]]:
        """Per nodeid, its durations in the newest ``last`` runs where it ran (not skipped)."""
        return duration_samples(self.recent(last))

    def peak_rss(self, last: int = 5) -> int:
        """The largest peak RSS (bytes) any test process reached in the newest ``last`` runs."""
        first = self.first_run_id(last)
        if first is None:
            return 0
        row = self.conn.execute(
            "SELECT max(rss_peak) FROM tests WHERE run_id >= ?", (first,)
        ).fetchone()
        return int(row[0] or 0)

    def expected(self, last: int = 5) -> dict[str, float]:
        """Expected seconds per nodeid: the median of its recent durations."""
        return expected_seconds(self.recent(last))


def duration_samples(recent: Mapping[str, list[tuple[int, float, str]]]) -> dict[str, list[float]]:
    """Per nodeid of :meth:`HistoryStore.recent` rows, its durations where it ran."""
    return {
        nodeid: [s for _, s, outcome in rows if outcome not in ("skipped", "deselected")]
        for nodeid, rows in recent.items()
    }


def expected_seconds(
    recent: Mapping[str, list[tuple[int, float, str]]], since: int = 0
) -> dict[str, float]:
    """Expected seconds per nodeid of :meth:`HistoryStore.recent` rows from run ``since`` on:
    the median of its durations where it was not skipped (of all of them if it always was)."""
    from hotlap.history.analysis import median

    out = {}
    for nodeid, rows in recent.items():
        kept = [r for r in rows if r[0] >= since] if since else rows
        if not kept:
            continue
        samples = [s for _, s, outcome in kept if outcome != "skipped"] or [s for _, s, _ in kept]
        out[nodeid] = median(samples)
    return out


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        while version < SCHEMA_VERSION:
            for statement in _MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True)
class RunRows:
    """A finished run as the rows :meth:`HistoryStore.record_rows` stores (built from the
    state at once, so the state may move on while they are written)."""

    run: dict[str, Any]
    meta: RunMeta
    fingerprint: str
    #: ``tests`` rows without their run id, in the table's column order.
    tests: list[tuple[Any, ...]]
    fixtures: list[tuple[Any, ...]]

    def test_rows(self, run_id: int) -> list[TestRow]:
        return [TestRow(run_id, *row) for row in self.tests]


def run_rows(
    state: RunState, meta: RunMeta, *, fingerprint: str = "", deps: dict[str, str] | None = None
) -> RunRows:
    """The rows that record a finished run (see :meth:`HistoryStore.record_run`)."""
    from hotlap.export.report import run_section

    deps = deps or {}
    test_rows = [
        (
            rec.nodeid,
            rec.outcome or "passed",
            rec.setup,
            rec.call,
            rec.teardown,
            rec.cpu,
            rec.rss_peak,
            rec.rss_delta,
            rec.worker,
            rec.categories.count("rerun"),
            deps.get(rec.nodeid, fingerprint),
        )
        for rec in state.tests.values()
        if rec.finished is not None
    ]
    fixture_rows = [
        (
            cost.name,
            cost.scope,
            cost.location,
            cost.count,
            cost.setup_total,
            cost.teardown_total,
            json.dumps(sorted({u.nodeid.split("::", 1)[0] for u in cost.uses})),
        )
        for cost in state.fixtures.values()
    ]
    return RunRows(run_section(state, meta), meta, fingerprint, test_rows, fixture_rows)
