"""``.hotlap/mutate.sqlite3``: each mutant's verdict, keyed by what it was tested against.

A result's key digests the block's checksum, the mutant's number and change, and every test
it ran with that test's dependencies as they were (:mod:`hotlap.mutate.plan`): while none of
that changes, the verdict stands and the mutant is not run again. When some of it changes,
each test's own outcome against the mutant (``outcomes``, keyed by the mutant alone and the
test's digest) still stands: a mutant stays killed while its killer is unchanged, and a
survivor runs only the tests that changed or are new. One writer (the ``hotlap
mutate`` process); WAL mode; ``PRAGMA user_version`` is the schema version; a file that is
unreadable or of another version is moved aside with a warning (results are a cache).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from hotlap.sqlite import open_versioned

DB_NAME = "mutate.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, file TEXT NOT NULL, block TEXT NOT NULL, idx INTEGER NOT NULL,
    status TEXT NOT NULL, killed_by TEXT NOT NULL, tests_run INTEGER NOT NULL,
    seconds REAL NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (
    mutant TEXT NOT NULL, test TEXT NOT NULL, digest TEXT NOT NULL, outcome TEXT NOT NULL,
    PRIMARY KEY (mutant, test)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
    file TEXT NOT NULL, block TEXT NOT NULL, checksum TEXT NOT NULL,
    PRIMARY KEY (file, block)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, wall REAL NOT NULL,
    score REAL, counts TEXT NOT NULL, scope TEXT NOT NULL);
"""


@dataclass
class Verdict:
    """What testing one mutant found."""

    status: str  # killed | survived | timeout | no_tests | error
    killed_by: list[str] = field(default_factory=list)
    tests_run: int = 0
    seconds: float = 0.0
    cached: bool = False
    #: Each test's outcome against the mutant (passed, failed, timeout), as this run saw it.
    outcomes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSummary:
    """One ``hotlap mutate`` run as ``hotlap report`` shows it."""

    started: float
    wall: float
    score: float | None
    counts: dict[str, int]
    scope: str


class MutateStore:
    """The results database of one project."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self.conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn, why, aside = open_versioned(self.path, _SCHEMA, SCHEMA_VERSION, "results")
        if aside is not None:
            self.warnings.append(
                f"mutation results {self.path} were {why}; moved them to {aside.name} (every "
                "mutant is tested again)"
            )
        return conn

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    # -- verdicts ---------------------------------------------------------------------------
    def verdicts(self, keys: list[str]) -> dict[str, Verdict]:
        """The stored verdicts among ``keys``."""
        found: dict[str, Verdict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                "SELECT key, status, killed_by, tests_run, seconds FROM results "
                f"WHERE key IN ({marks})",
                chunk,
            ):
                found[row[0]] = Verdict(row[1], json.loads(row[2]), int(row[3]), float(row[4]))
        return found

    def put(self, key: str, file: str, block: str, index: int, verdict: Verdict) -> None:
        """Store one verdict (committed at once: a killed run keeps what it finished)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?)",
            (
                key,
                file,
                block,
                index,
                verdict.status,
                json.dumps(verdict.killed_by),
                verdict.tests_run,
                verdict.seconds,
                time.time(),
            ),
        )

    def outcomes(self, mutants: list[str]) -> dict[str, dict[str, tuple[str, str]]]:
        """Stored outcomes of tests against ``mutants`` (mutant identities, see
        :func:`hotlap.mutate.plan.mutant_identity`): mutant -> test -> (digest, outcome)."""
        found: dict[str, dict[str, tuple[str, str]]] = {}
        for start in range(0, len(mutants), 500):
            chunk = mutants[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for mutant, test, digest, outcome in self.conn.execute(
                f"SELECT mutant, test, digest, outcome FROM outcomes WHERE mutant IN ({marks})",
                chunk,
            ):
                found.setdefault(mutant, {})[test] = (digest, outcome)
        return found

    def put_outcomes(self, mutant: str, rows: list[tuple[str, str, str]]) -> None:
        """Store ``(test, digest, outcome)`` rows of one mutant."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO outcomes VALUES (?,?,?,?)",
            [(mutant, test, digest, outcome) for test, digest, outcome in rows],
        )

    def killers(self, file: str, block: str) -> list[str]:
        """Tests that killed mutants of ``block`` before, most recent first."""
        found: dict[str, None] = {}
        for (killed_by,) in self.conn.execute(
            "SELECT killed_by FROM results WHERE file=? AND block=? AND status='killed' "
            "ORDER BY at DESC LIMIT 200",
            (file, block),
        ):
            found.update(dict.fromkeys(json.loads(killed_by)))
        return list(found)

    # -- blocks seen (for --changed) --------------------------------------------------------
    def block_checksums(self) -> dict[tuple[str, str], str]:
        return {(r[0], r[1]): r[2] for r in self.conn.execute("SELECT * FROM blocks")}

    def set_block_checksums(self, checksums: dict[tuple[str, str], str]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO blocks VALUES (?,?,?)",
            [(f, b, c) for (f, b), c in checksums.items()],
        )

    # -- runs -------------------------------------------------------------------------------
    def record_run(
        self, started: float, wall: float, score: float | None, counts: dict[str, int], scope: str
    ) -> None:
        self.conn.execute(
            "INSERT INTO runs (started, wall, score, counts, scope) VALUES (?,?,?,?,?)",
            (started, wall, score, json.dumps(counts), scope),
        )
        self.conn.execute(
            "DELETE FROM runs WHERE id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT 50)"
        )

    def last_run(self) -> RunSummary | None:
        row = self.conn.execute(
            "SELECT started, wall, score, counts, scope FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return RunSummary(row[0], row[1], row[2], json.loads(row[3]), row[4])


def score_of(counts: dict[str, int]) -> float | None:
    """The mutation score in percent: mutants detected (killed, or killed by timeout) among
    those that could be judged, untested code included ("no tests" counts as undetected);
    None when there is none."""
    detected = counts.get("killed", 0) + counts.get("timeout", 0)
    judged = detected + counts.get("survived", 0) + counts.get("no_tests", 0)
    return round(100.0 * detected / judged, 1) if judged else None


def store_path(project: Path) -> Path:
    """Where the project's results live (``.hotlap/`` created)."""
    directory = project / ".hotlap"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / DB_NAME


def open_store(project: Path) -> MutateStore:
    """The store under ``project/.hotlap`` (created); raises OSError when it cannot be."""
    directory = project / ".hotlap"
    directory.mkdir(parents=True, exist_ok=True)
    return MutateStore(directory / DB_NAME)


def read_last_run(project: Path) -> RunSummary | None:
    """The last run's summary, without creating anything (None when there is none)."""
    path = project / ".hotlap" / DB_NAME
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(
            "SELECT started, wall, score, counts, scope FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if row is None:
        return None
    return RunSummary(row[0], row[1], row[2], json.loads(row[3]), row[4])
