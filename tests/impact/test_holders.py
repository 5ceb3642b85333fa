"""The holders index (each item's groups), which ``hotlap affected`` reads for the items that
changed instead of scanning every group: after each recorded run it is the exact inversion of
the groups, so a selection through it is the selection through the groups. Real hotlap runs
on a temp project."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path

from impact_helpers import Project

from hotlap.impact.store import ImpactStore


def _inverted(db: Path) -> tuple[dict[int, list[int]], dict[int, list[int]], int, int]:
    """(holders as stored, holders computed from the groups, meta's up-to, max group id)."""
    conn = sqlite3.connect(db)
    try:
        stored = {int(i): sorted(json.loads(g)) for i, g in conn.execute("SELECT * FROM holders")}
        computed: dict[int, list[int]] = defaultdict(list)
        for group, items in conn.execute("SELECT id, items FROM groups"):
            for item in json.loads(items):
                computed[item].append(int(group))
        row = conn.execute("SELECT value FROM meta WHERE key='holders_upto'").fetchone()
        top = conn.execute("SELECT max(id) FROM groups").fetchone()[0]
    finally:
        conn.close()
    return stored, {i: sorted(g) for i, g in computed.items()}, json.loads(row[0]), top


def test_holders_follow_the_groups_across_runs_and_a_prune(project: Project) -> None:
    """After the first run, after a run that adds groups (a test newly calls a function), and
    after a prune, holders is the inversion of the groups and up to date; a changed function
    then selects the test that started calling it in the second run."""
    db = project.root / ".hotlap" / "impact.sqlite3"
    assert project.run().returncode == 0
    assert not project.affected()["full_run"]  # merges what the run left, if anything
    stored, computed, upto, top = _inverted(db)
    assert stored == computed and computed
    assert upto == top

    project.edit("tests/test_add.py", "add(1, 2) == 3", "add(1, 2) == 3 and mul(1, 1) == 1")
    project.edit("tests/test_add.py", "import add", "import add, mul")
    assert project.run().returncode == 0
    assert project.selected() == set()
    stored, computed, upto, top = _inverted(db)
    assert stored == computed
    assert upto == top

    project.edit("src/pkg/mathx.py", "return a * b", "return b * a")
    assert project.selected() == {"tests/test_add.py::test_add", "tests/test_mul.py::test_mul"}

    store = ImpactStore(db)
    try:
        store.begin()
        store.conn.execute("INSERT INTO groups (digest, items) VALUES ('unused', '[1, 2]')")
        store.prune(force=True)  # drops the unused group: the index starts again
        store.index_holders()
        store.commit()
    finally:
        store.close()
    stored, computed, upto, top = _inverted(db)
    assert stored == computed
    assert upto == top


def test_a_store_whose_holders_are_behind_selects_the_same(project: Project) -> None:
    """A store written by a hotlap without the index (holders empty, no up-to mark) selects
    what one with it selects: the groups are scanned instead."""
    db = project.root / ".hotlap" / "impact.sqlite3"
    assert project.run().returncode == 0
    project.edit("src/pkg/mathx.py", "return a + b", "return b + a")
    with_index = project.selected()
    assert with_index == {"tests/test_add.py::test_add"}
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM holders")
        conn.execute("DELETE FROM meta WHERE key='holders_upto'")
    conn.close()
    assert project.selected() == with_index
