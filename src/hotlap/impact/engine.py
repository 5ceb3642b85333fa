"""Impact selection as the run hooks, ``hotlap affected`` and ``hotlap watch`` use it."""

from __future__ import annotations

import os
from pathlib import Path

from hotlap.impact.fingerprint import fingerprint, split_args
from hotlap.impact.pending import merge_pending
from hotlap.impact.select import select_tests
from hotlap.impact.selection import Selection
from hotlap.impact.store import ImpactStore, open_store


def _root(store: ImpactStore, project: Path) -> Path:
    return Path(store.get_meta("rootdir", str(project)))


def compute_selection(
    project: Path, pytest_args: list[str], fresh: list[str] | None = None, why: bool = False
) -> tuple[Selection, list[str]]:
    """(selection, warnings) for ``project`` now; a full run when anything is unreadable."""
    merged = merge_pending(project)  # runs recorded but not merged yet
    try:
        store = open_store(project)
    except OSError as exc:
        return Selection(True, f"no impact data ({exc.strerror or exc})"), []
    try:
        root = _root(store, project)
        known = store.get_meta("test_files", [])
        testpaths = sorted({f.split("/", 1)[0] for f in known if "/" in f})
        if any("/" not in f for f in known):
            testpaths = []
        selection = select_tests(
            store, project, fingerprint(root, pytest_args, project), fresh, testpaths, why
        )
        return selection, [*store.warnings, *(m for m in merged if "could not" in m)]
    finally:
        store.close()


def root_of(project: Path) -> Path:
    """pytest's rootdir as last recorded (the project when nothing was recorded)."""
    try:
        store = open_store(project)
    except OSError:
        return project
    try:
        return _root(store, project)
    finally:
        store.close()


def _under(entry: str, user: str) -> str | None:
    """The narrower of a selected ``entry`` and a user's test path, if they overlap."""

    def norm(s: str) -> str:
        path, sep, rest = s.partition("::")
        return os.path.abspath(path) + sep + rest

    e, u = norm(entry), norm(user)
    if e == u or e.startswith(u + "/") or e.startswith(u + "::"):
        return entry
    if u.startswith(e + "/") or u.startswith(e + "::"):
        return user
    return None


def apply_selection(
    args: list[str], selection: Selection, root: Path, cwd: Path
) -> tuple[list[str], int]:
    """(``args`` with their test paths replaced by the selected ones (options kept); the
    selection is narrowed to the paths the user named, if any; how many were kept)."""
    options, user_paths = split_args(args, cwd)
    chosen: list[str] = []
    for entry in selection.tests:
        file, sep, rest = entry.partition("::")
        local = os.path.relpath(root / file, cwd) + sep + rest
        if not user_paths:
            chosen.append(local)
            continue
        for user in user_paths:
            narrowed = _under(local, user)
            if narrowed is not None and narrowed not in chosen:
                chosen.append(narrowed)
    return [*options, *chosen], len(chosen)


def tracked_files(project: Path) -> set[str]:
    """Root-relative paths any recorded test depends on (for the watcher's filter)."""
    try:
        store = open_store(project)
    except OSError:
        return set()
    try:
        return {file for file, _name, _sum in store.items().values()}
    finally:
        store.close()


def run_writes(project: Path) -> dict[str, str]:
    """Root-relative files the last recorded run's processes wrote, with the checksum of
    what they held when it ended ({} when nothing is recorded). Read-only: asking changes
    nothing in ``.hotlap`` (a run that records nothing leaves it byte-identical)."""
    import json
    import sqlite3

    from hotlap.impact.store import DB_NAME

    path = project / ".hotlap" / DB_NAME
    if not path.is_file():
        return {}
    merge_pending(project)  # the last run may not be merged yet (it merges in background)
    # Without a write-ahead log (no writer open) the file is all there is: read it as it is,
    # which creates no -shm file; with one, a plain read-only connection sees it.
    wal = path.with_name(DB_NAME + "-wal").exists()
    mode = "mode=ro" if wal else "immutable=1"
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?{mode}", uri=True, timeout=5.0)
    except sqlite3.Error:
        return {}
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='run_writes'").fetchone()
        found = json.loads(row[0]) if row else {}
        return dict(found) if isinstance(found, dict) else {}
    except (sqlite3.Error, ValueError):
        return {}
    finally:
        conn.close()


def own_writes(root: Path, writes: dict[str, str], rels: list[str]) -> set[str]:
    """Those of ``rels`` that still hold what the last run wrote there (by content: an edit
    by anyone since, even one that kept the mtime, is not the run's)."""
    from hotlap.impact.blocks import file_digest

    found = set()
    for rel in rels:
        left = writes.get(rel)
        if left is None:
            continue
        if file_digest(root / rel) == left:
            found.add(rel)
    return found
