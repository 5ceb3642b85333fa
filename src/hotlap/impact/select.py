"""What to run now: the tests whose recorded dependencies no longer hold, failed ones first."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from hotlap.impact.blocks import (
    COLLECT_DATA,
    DATA,
    DIRTY,
    LISTING,
    MISSING,
    MODULE,
    WHOLE,
    listing_digest,
)
from hotlap.impact.fingerprint import changed
from hotlap.impact.project import Project
from hotlap.impact.selection import Selection
from hotlap.impact.store import ImpactStore
from hotlap.paths import SKIP_DIRS

_BAD = ("failed", "error", "crashed")


#: How a change to a file-level item reads, after the file's name.
_FILE_CHANGES = {
    DATA: " changed (data)",
    COLLECT_DATA: " changed (data read at collection)",
    LISTING: "/ entries changed (listed at collection)",
    MODULE: " changed (module-level code)",
    WHOLE: " changed (run in a subprocess)",
    DIRTY: " changed during the last run",
}


def _describe(file: str, name: str, now: str) -> str:
    if now == MISSING and name in (MODULE, DATA, WHOLE):
        return f"{file} deleted"
    if name in _FILE_CHANGES:
        return file + _FILE_CHANGES[name]
    if now == MISSING:
        return f"{file}::{name} removed"
    return f"{file}::{name} changed"


def _test_files(root: Path, testpaths: list[str]) -> set[str]:
    found: set[str] = set()
    for base in [root / t for t in testpaths] or [root]:
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
            for name in filenames:
                if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                    found.add(Path(dirpath, name).relative_to(root).as_posix())
    return found


def select_tests(
    store: ImpactStore,
    project_dir: Path,
    fingerprint: dict[str, str],
    fresh: list[str] | None = None,
    testpaths: list[str] | None = None,
) -> Selection:
    """The selection for the project as it is on disk now.

    ``fresh`` are paths known to have changed (from the watcher): re-read whatever the cache
    says. A full run is asked for when an invalidator fired or nothing was recorded yet.
    """
    tests = store.tests()
    root = Path(store.get_meta("rootdir", str(project_dir)))
    if not tests:
        return Selection(True, "no impact data recorded yet")
    why_full = changed(store.get_meta("fingerprint"), fingerprint)
    if why_full:
        return Selection(True, why_full)
    project = Project(root, store, store.get_meta("search_roots", []))
    for path in fresh or []:
        rel = project.rel(path)
        if rel is not None:
            project.info(rel, fresh=True)

    # Which recorded items no longer hold, and why.
    bad_items: dict[int, str] = {}
    module_changed: set[str] = set()
    collection_items: set[int] = set()  # their tests' files are selected whole
    for item_id, (file, name, checksum) in store.items().items():
        if name == LISTING:
            now = listing_digest(str(root / file))
        else:
            info = project.info(file)
            now = MISSING if info is None else (info.checksum(name) if name != DIRTY else "")
        if name == DIRTY or now != checksum:
            bad_items[item_id] = _describe(file, name, now)
            if name in (MODULE, DIRTY):
                module_changed.add(file)
            if name in (COLLECT_DATA, LISTING):
                collection_items.add(item_id)
    bad_groups: dict[int, list[str]] = defaultdict(list)
    recollect_groups: set[int] = set()
    if bad_items:
        for group_id, items in store.groups().items():
            for item in items:
                if item in bad_items:
                    bad_groups[group_id].append(bad_items[item])
                    if item in collection_items:
                        recollect_groups.add(group_id)

    selected: dict[str, list[str]] = {}
    affected: dict[str, list[str]] = {}

    def exists(file: str) -> bool:
        return (root / file).is_file()

    # Failed and never-completed tests first, then the affected ones.
    for nodeid, row in tests.items():
        if not exists(row.file):
            continue
        if row.outcome in _BAD:
            selected.setdefault(nodeid, []).append(f"{row.outcome} last run")
        elif row.stale:
            selected.setdefault(nodeid, []).append("not run to the end last time")
    for nodeid, row in tests.items():
        reasons = [r for g in row.groups for r in bad_groups.get(g, [])]
        if reasons and exists(row.file):
            affected.setdefault(nodeid, []).extend(dict.fromkeys(reasons))
    for nodeid, reasons in affected.items():
        selected.setdefault(nodeid, []).extend(r for r in reasons if r not in selected[nodeid])

    # Whole files and directories: where collection itself may differ now.
    paths: dict[str, list[str]] = {}
    test_files = {row.file for row in tests.values()}
    for file in sorted(module_changed):
        name = file.rsplit("/", 1)[-1]
        if not exists(file):
            continue
        if name == "conftest.py":
            directory = file.rsplit("/", 1)[0] if "/" in file else "."
            paths.setdefault(directory, []).append(f"{file} changed (conftest)")
        elif file in test_files:
            paths.setdefault(file, []).append(f"{file} changed (test module)")
    for row in tests.values():
        if recollect_groups.intersection(row.groups) and exists(row.file):
            reasons = [r for g in row.groups for r in bad_groups.get(g, [])]
            known_reasons = paths.setdefault(row.file, [])
            known_reasons.extend(r for r in dict.fromkeys(reasons) if r not in known_reasons)
    for error in store.get_meta("collect_errors", []):
        if (root / error).exists():
            paths.setdefault(error, []).append("collection error last run")
    known = set(store.get_meta("test_files", []))
    for file in sorted(_test_files(root, testpaths or []) - known):
        paths.setdefault(file, []).append("new test file")

    if "." in paths:
        return Selection(True, "; ".join(paths["."]))
    result: dict[str, list[str]] = {}
    covered = sorted(paths)
    for nodeid, reasons in selected.items():
        file = nodeid.split("::", 1)[0]
        owner = next((p for p in covered if file == p or file.startswith(p + "/")), None)
        if owner is None:
            result[nodeid] = reasons
        else:
            paths[owner].extend(r for r in reasons if r not in paths[owner])
    for path, reasons in paths.items():
        result[path] = reasons
    if not result:
        return Selection(False, "nothing changed since the last run")
    counts: dict[str, int] = defaultdict(int)
    for reasons in result.values():
        for r in dict.fromkeys(reasons):
            counts[r] += 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    reason = "; ".join(r for r, _ in top) + ("; …" if len(counts) > 3 else "")
    return Selection(False, reason, result)
