"""What to run now: the tests whose recorded dependencies no longer hold, failed ones first."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from hotlap.impact.blocks import (
    COLLECT_DATA,
    DATA,
    DIRTY,
    EFFECTS,
    FIXTURE,
    GENERATE,
    LISTING,
    MISSING,
    MODULE,
    PYTEST,
    TESTS,
    UNSEEN,
    WHOLE,
    FileInfo,
    listing_digest,
)
from hotlap.impact.fingerprint import changed
from hotlap.impact.project import Project
from hotlap.impact.selection import Selection
from hotlap.impact.store import ImpactStore, TestRow
from hotlap.paths import SKIP_DIRS

_BAD = ("failed", "error", "crashed")


#: How a change to a file-level item reads, after the file's name.
_FILE_CHANGES = {
    DATA: " changed (data)",
    COLLECT_DATA: " changed (data read at collection)",
    LISTING: "/ entries changed (listed at collection)",
    MODULE: " changed (module-level code)",
    WHOLE: " changed (run in a subprocess)",
    UNSEEN: " changed (its code ran without markers: the whole file)",
    DIRTY: " changed during the last run",
    PYTEST: " changed what pytest reads by name (pytestmark, pytest_plugins, collection hooks)",
    TESTS: " changed its list of tests",
}


def _effect_kinds(old: str, now: str) -> list[str]:
    """Which kinds of import-time effects differ between two ``<effects>`` checksums."""

    def parse(text: str) -> dict[str, str]:
        return dict(p.split("=", 1) for p in text.split(";") if "=" in p)

    a, b = parse(old), parse(now)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _rule(name: str) -> str:
    """Which selection rule an item belongs to (``hotlap affected --why``)."""
    if name == EFFECTS or name[:1] == "?":
        return "import-time effects (every importer)"
    if name in (WHOLE, UNSEEN, MODULE):
        return "whole files (run without markers, in a subprocess, or imported in a test)"
    if name in (PYTEST, TESTS, COLLECT_DATA, LISTING, GENERATE) or name.startswith(FIXTURE):
        return "collection (pytest's names, fixtures, parametrization, data read then)"
    if name in (DATA,):
        return "data files read"
    if name == DIRTY:
        return "changed during the last run"
    return "by name (functions that ran, names their code read)"


def _describe(file: str, name: str, old: str, now: str) -> str:
    if now == MISSING and name in (MODULE, DATA, WHOLE, UNSEEN, EFFECTS):
        return f"{file} deleted"
    if name == EFFECTS:
        kinds = ", ".join(_effect_kinds(old, now)) or "import-time code"
        return f"{file} changed at import ({kinds}): every importer"
    if name == GENERATE:
        return f"{file}::pytest_generate_tests changed"
    if name.startswith(FIXTURE):
        fixture = name[len(FIXTURE) : -1]
        return f"{file}: fixture {fixture} {'removed' if now == MISSING else 'changed'}"
    if name in _FILE_CHANGES:
        return file + _FILE_CHANGES[name]
    if name[:1] == "?":
        return f"{file}::{name[1:]} removed: importing it fails"
    shown = name[1:] if name[:1] == "=" else name
    if now == MISSING:
        return f"{file}::{shown} removed"
    return f"{file}::{shown} changed"


def _generate_bounded(old: str, now: str) -> bool:
    """Whether a changed pytest_generate_tests still names only the arguments it named (and
    decides from argument names only): then the tests it can touch are those recorded."""
    if old == MISSING or now == MISSING:
        return False
    _o, old_names, old_known = old.split("|")
    _n, new_names, new_known = now.split("|")
    return old_known == new_known == "1" and set(new_names.split(",")) <= set(old_names.split(","))


def _autouse(checksum: str) -> bool:
    return checksum.endswith("|1")


def _directory(file: str) -> str:
    return file.rsplit("/", 1)[0] if "/" in file else "."


def _test_entry(nodeid: str, info: FileInfo | None, whole: bool) -> str:
    """``nodeid``, its test function (``file::C::test``, every parametrization) when
    ``whole``, or its file when that function is gone."""
    file, _, rest = nodeid.partition("::")
    if not rest or not file.endswith(".py"):
        return nodeid
    parts = rest.split("[", 1)[0].split("::")  # a parametrization id may hold "::"
    names = info.ns.get("names", {}) if info is not None else {}
    if len(parts) == 1:
        ok = parts[0] in names
    elif len(parts) == 2 and info is not None:
        cls = info.ns.get("classes", {}).get(parts[0])
        ok = cls is not None and parts[1] in cls["methods"]
    else:
        ok = not whole  # nested classes: keep the recorded id
    if not ok:
        return file
    return "::".join([file, *parts]) if whole else nodeid


def _test_files(root: Path, testpaths: list[str]) -> set[str]:
    found: set[str] = set()
    for base in [root / t for t in testpaths] or [root]:
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
            for name in filenames:
                if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                    found.add(Path(dirpath, name).relative_to(root).as_posix())
    return found


def _candidates(
    store: ImpactStore, root: Path, fresh: list[str], why: bool
) -> dict[int, tuple[str, str, str]]:
    """The items that may have changed: those of files whose stat differs from when their
    checksums were computed (or that the watcher saw change), and the ones always checked."""
    stats = store.get_meta("file_stats")
    if not isinstance(stats, dict) or why:
        return store.items()
    changed: set[str] = set()
    for rel, (mtime, size) in stats.items():
        try:
            st = os.stat(root / rel)
        except OSError:
            changed.add(rel)
            continue
        if st.st_mtime_ns != mtime or st.st_size != size:
            changed.add(rel)
    for path in fresh:
        try:
            changed.add(Path(os.path.abspath(path)).relative_to(root).as_posix())
        except ValueError:
            continue
    return store.items(changed, (DIRTY, LISTING))


def select_tests(
    store: ImpactStore,
    project_dir: Path,
    fingerprint: dict[str, str],
    fresh: list[str] | None = None,
    testpaths: list[str] | None = None,
    why: bool = False,
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
    path_reasons: dict[str, list[str]] = {}  # paths to collect again as a whole
    collection_items: set[int] = set()  # their tests' files are selected whole
    test_files = {row.file for row in tests.values()}
    rules: dict[int, str] = {}
    whole_items: dict[int, str] = {}
    for item_id, (file, name, checksum) in _candidates(store, root, fresh or [], why).items():
        if why and name in (WHOLE, UNSEEN):
            whole_items[item_id] = f"{file} ({'no markers' if name == UNSEEN else 'subprocess'})"
        if name == LISTING:
            now = listing_digest(str(root / file))
        else:
            info = project.info(file)
            now = MISSING if info is None else (info.checksum(name) if name != DIRTY else "")
        if name != DIRTY and now == checksum:
            continue
        why_text = bad_items[item_id] = _describe(file, name, checksum, now)
        rules[item_id] = _rule(name)
        if name == DIRTY:
            module_changed.add(file)
        elif name in (COLLECT_DATA, LISTING):
            collection_items.add(item_id)
        conftest = file.rsplit("/", 1)[-1] == "conftest.py"
        whole = (
            name in (EFFECTS, PYTEST, TESTS)
            or (name == GENERATE and not _generate_bounded(checksum, now))
            or (name.startswith(FIXTURE) and (_autouse(checksum) or _autouse(now)))
        )
        if whole and (conftest or file in test_files) and (root / file).is_file():
            path_reasons.setdefault(_directory(file) if conftest else file, []).append(why_text)
    bad_groups: dict[int, list[str]] = defaultdict(list)
    recollect_groups: set[int] = set()
    group_rules: dict[int, set[str]] = defaultdict(set)
    whole_groups: dict[int, set[str]] = defaultdict(set)
    if bad_items or whole_items:
        found = store.groups() if whole_items else store.groups_with(set(bad_items))
        for group_id, items in found.items():
            for item in items:
                if item in bad_items:
                    bad_groups[group_id].append(bad_items[item])
                    group_rules[group_id].add(rules[item])
                    if item in collection_items:
                        recollect_groups.add(group_id)
                if item in whole_items:
                    whole_groups[group_id].add(whole_items[item])

    selected: dict[str, list[str]] = {}
    affected: dict[str, list[str]] = {}

    existing: dict[str, bool] = {}

    def exists(file: str) -> bool:
        found = existing.get(file)
        if found is None:
            found = existing[file] = (root / file).is_file()
        return found

    def entry(nodeid: str, whole: bool = False) -> str:
        file = nodeid.split("::", 1)[0]
        info = project.info(file) if file.endswith(".py") else None
        return _test_entry(nodeid, info, whole)

    # Failed and never-completed tests first, then the affected ones.
    # The loops over every test skip, in C, the tests nothing concerns (click: 2,459 tests,
    # 8 of the 19 ms a one-line edit took in select_tests).
    for nodeid, row in tests.items():
        if row.outcome in _BAD:
            again = f"{row.outcome} last run"
        elif row.stale:
            again = "not run to the end last time"
        else:
            continue
        if exists(row.file):
            selected.setdefault(entry(nodeid), []).append(again)
    changed_groups = set(bad_groups)
    for nodeid, row in tests.items():
        ids = bad_groups.get(row.idgroup, [])
        if not ids and changed_groups.isdisjoint(row.groups):
            continue
        reasons = [r for g in row.groups for r in bad_groups.get(g, [])]
        if (reasons or ids) and exists(row.file):
            key = entry(nodeid, whole=bool(ids))
            affected.setdefault(key, []).extend(dict.fromkeys([*ids, *reasons]))
    for nodeid, reasons in affected.items():
        known_reasons = selected.setdefault(nodeid, [])
        known_reasons.extend(r for r in reasons if r not in known_reasons)

    # Whole files and directories: where collection itself may differ now.
    paths: dict[str, list[str]] = {p: list(dict.fromkeys(r)) for p, r in path_reasons.items()}
    for file in sorted(module_changed):
        name = file.rsplit("/", 1)[-1]
        if not exists(file):
            continue
        if name == "conftest.py":
            directory = file.rsplit("/", 1)[0] if "/" in file else "."
            paths.setdefault(directory, []).append(f"{file} changed (conftest)")
        elif file in test_files:
            paths.setdefault(file, []).append(f"{file} changed (test module)")
    for row in tests.values() if recollect_groups else ():
        if not recollect_groups.isdisjoint(row.groups) and exists(row.file):
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
    # A test function selected whole covers its parametrizations selected one by one.
    functions = {n for n in selected if "[" not in n and n.count("::")}
    for nodeid in [n for n in selected if "[" in n and n.split("[", 1)[0] in functions]:
        known_reasons = selected[nodeid.split("[", 1)[0]]
        known_reasons.extend(r for r in selected.pop(nodeid) if r not in known_reasons)
    for nodeid, reasons in selected.items():
        file = nodeid.split("::", 1)[0]
        owner = next((p for p in covered if file == p or file.startswith(p + "/")), None)
        if owner is None:
            result[nodeid] = reasons
        else:
            paths[owner].extend(r for r in reasons if r not in paths[owner])
    for path, reasons in paths.items():
        result[path] = reasons
    notes = _notes(tests, group_rules, whole_groups) if why else []
    if not result:
        return Selection(False, "nothing changed since the last run", notes=notes)
    counts: dict[str, int] = defaultdict(int)
    for reasons in result.values():
        for r in dict.fromkeys(reasons):
            counts[r] += 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    reason = "; ".join(r for r, _ in top) + ("; …" if len(counts) > 3 else "")
    return Selection(False, reason, result, notes)


def _notes(
    tests: dict[str, TestRow],
    group_rules: dict[int, set[str]],
    whole_groups: dict[int, set[str]],
) -> list[str]:
    """For ``--why``: tests per rule that fired, and the whole-file fallbacks."""
    per_rule: dict[str, int] = defaultdict(int)
    fallback = 0
    files: dict[str, int] = defaultdict(int)
    for row in tests.values():
        fired: set[str] = set()
        wholes: set[str] = set()
        for group in [*row.groups, row.idgroup]:
            fired |= group_rules.get(group, set())
            wholes |= whole_groups.get(group, set())
        for rule in fired:
            per_rule[rule] += 1
        if wholes:
            fallback += 1
            for file in wholes:
                files[file] += 1
    notes = [f"rule fired: {rule}: {n} tests" for rule, n in sorted(per_rule.items())]
    shown = ", ".join(f for f, _ in sorted(files.items(), key=lambda kv: -kv[1])[:5])
    notes.append(
        f"whole-file fallbacks: {fallback} of {len(tests)} recorded tests depend on whole files"
        + (f" ({shown}{', …' if len(files) > 5 else ''})" if files else "")
    )
    return notes
