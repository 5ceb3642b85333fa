"""What to mutate, and which tests each mutant needs: from the impact data.

A block's tests are the tests whose recorded dependencies hold it: a function's, the tests
that ran it (in the test, or in a fixture's setup or teardown, since each test lists the
fixtures it used); module-level code's, the tests that import its file. A test that ran the
file in a subprocess depends on the file as a whole, so it is a test of every block there.

Each mutant is keyed by the block's checksum, its number and change, and each of its tests
with a digest of that test's dependencies as they are on disk now (its own body, its callers,
fixtures, data files): when a test or anything it runs changes, the mutants it covers are
tested again; otherwise the stored verdict stands.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hotlap.impact.blocks import (
    DATA,
    DIRTY,
    EFFECTS,
    LISTING,
    MISSING,
    MODULE,
    WHOLE,
    FileInfo,
    analyse_source,
    listing_digest,
)
from hotlap.impact.project import Project
from hotlap.impact.store import ImpactStore
from hotlap.mutate.operators import Mutation, mutations

#: Outcomes after which a test cannot judge a mutant (it fails without one).
_UNUSABLE = frozenset({"failed", "error", "crashed", "skipped", ""})
_TEST_DIRS = frozenset({"tests", "test", "testing"})


@dataclass
class Mutant:
    """One mutant to judge."""

    file: str  # relative to the project root, ``/`` separators
    block: str
    checksum: str  # the block's
    mutation: Mutation
    tests: list[str]
    key: str = ""
    #: The mutant alone (block checksum, number, change), without its tests.
    identity: str = ""
    #: Each test's dependency digest now (what its stored outcome is checked against).
    digests: dict[str, str] = field(default_factory=dict)
    #: Tests whose passing outcome was reused from an earlier run (not run again).
    reused: list[str] = field(default_factory=list)
    #: Needs a fresh process: its code runs at import (module-level code, or a function
    #: the imports call, such as a registering decorator).
    fresh: bool = False

    @property
    def id(self) -> str:
        return f"{self.file}::{self.block}#{self.mutation.index}"

    @property
    def line(self) -> int:
        return self.mutation.line


@dataclass
class Plan:
    """Every mutant in scope, with the tests each needs."""

    root: Path
    mutants: list[Mutant] = field(default_factory=list)
    #: Current checksums of the blocks in scope (recorded for ``--changed``).
    checksums: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Start line of each block (``(file, block) -> line``), for the import-time check.
    starts: dict[tuple[str, str], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def tests(self) -> list[str]:
        """Every test some mutant needs."""
        found: dict[str, None] = {}
        for mutant in self.mutants:
            found.update(dict.fromkeys(mutant.tests))
        return list(found)


def is_test_file(rel: str) -> bool:
    """A test module, a conftest or a file under a test directory: never mutated."""
    parts = rel.split("/")
    name = parts[-1]
    return (
        name == "conftest.py"
        or (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
        or any(p in _TEST_DIRS for p in parts[:-1])
    )


@dataclass(frozen=True)
class Scope:
    """What the user asked for: ``PATH[::FUNCTION]`` arguments (none: the whole project)."""

    paths: tuple[tuple[str, str], ...] = ()  # (root-relative path or glob, function or "")

    @classmethod
    def parse(cls, args: Iterable[str], root: Path, cwd: Path) -> Scope:
        found = []
        for arg in args:
            path, _, function = arg.partition("::")
            absolute = (cwd / path).resolve() if path else cwd.resolve()
            try:
                rel = absolute.relative_to(root.resolve()).as_posix()
            except ValueError:
                rel = path
            found.append(("" if rel == "." else rel, function))
        return cls(tuple(found))

    def files(self, rel: str) -> bool:
        if not self.paths:
            return True
        return any(self._path_matches(p, rel) for p, _ in self.paths)

    @staticmethod
    def _path_matches(pattern: str, rel: str) -> bool:
        return (
            not pattern
            or rel == pattern
            or rel.startswith(pattern.rstrip("/") + "/")
            or fnmatch.fnmatch(rel, pattern)
        )

    def blocks(self, rel: str, block: str) -> bool:
        if not self.paths:
            return True
        for pattern, function in self.paths:
            if not self._path_matches(pattern, rel):
                continue
            if not function or block == function or block.startswith(function + "."):
                return True
        return False

    def describe(self) -> str:
        return " ".join(f"{p}::{f}" if f else p or "." for p, f in self.paths) or "project"


class _Dependencies:
    """The impact data, inverted: which tests hold each (file, block), and a digest of
    each test's dependencies as they are now."""

    def __init__(self, store: ImpactStore, project: Project) -> None:
        self.project = project
        self.tests = store.tests()
        self.items = store.items()
        groups = store.groups()
        self.by_name: dict[tuple[str, str], set[int]] = defaultdict(set)
        for item_id, (file, name, _sum) in self.items.items():
            self.by_name[(file, name)].add(item_id)
        self.item_groups: dict[int, set[int]] = defaultdict(set)
        for group_id, members in groups.items():
            for item in members:
                self.item_groups[item].add(group_id)
        self.group_tests: dict[int, list[str]] = defaultdict(list)
        for nodeid, row in self.tests.items():
            for group in row.groups:
                self.group_tests[group].append(nodeid)
        self._groups = groups
        self._group_digests: dict[int, str] = {}
        self._test_digests: dict[str, str] = {}
        self._now: dict[int, str] = {}

    def tests_of(self, file: str, names: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for name in names:
            for item in self.by_name.get((file, name), ()):
                for group in self.item_groups.get(item, ()):
                    found.update(self.group_tests.get(group, ()))
        return found

    def module_names(self, file: str) -> set[str]:
        """The items of ``file``'s module-level code: the whole of it, the statements no
        name bounds and each top-level name (impact selection records which of them a test
        read): a module-level mutant runs in a fresh import, for every test of any of them."""
        found = {MODULE, EFFECTS}
        found.update(name for (f, name) in self.by_name if f == file and name[:1] == "=")
        return found

    def usable(self, nodeid: str) -> bool:
        row = self.tests[nodeid]
        return row.outcome not in _UNUSABLE and (self.project.root / row.file).is_file()

    def recorded_checksums(self, file: str) -> dict[str, str]:
        return {
            name: checksum
            for (f, name, checksum) in self.items.values()
            if f == file and not name.startswith("<")
        }

    def _current(self, item_id: int) -> str:
        found = self._now.get(item_id)
        if found is not None:
            return found
        file, name, _recorded = self.items[item_id]
        if name == LISTING:
            found = listing_digest(str(self.project.root / file))
        elif name == DIRTY:
            found = f"dirty:{os.urandom(6).hex()}"  # what it ran is unknown: never cached
        else:
            info = self.project.info(file)
            found = MISSING if info is None else info.checksum(name)
        self._now[item_id] = found
        return found

    def test_digest(self, nodeid: str) -> str:
        """A digest of everything ``nodeid`` depends on, as it is on disk now."""
        found = self._test_digests.get(nodeid)
        if found is not None:
            return found
        parts = []
        for group in sorted(self.tests[nodeid].groups):
            digest = self._group_digests.get(group)
            if digest is None:
                h = hashlib.blake2b(digest_size=10)
                for item in sorted(self._groups.get(group, ())):
                    if item in self.items:
                        file, name, _ = self.items[item]
                        h.update(f"{file}\0{name}\0{self._current(item)}\n".encode())
                digest = self._group_digests[group] = h.hexdigest()
            parts.append(digest)
        found = hashlib.blake2b("".join(parts).encode(), digest_size=10).hexdigest()
        self._test_digests[nodeid] = found
        return found


def _source_files(deps: _Dependencies, root: Path, scope: Scope) -> list[str]:
    files: set[str] = set()
    for file, _name, _sum in deps.items.values():
        if file.endswith(".py"):
            files.add(file)
    for pattern, _function in scope.paths:
        path = root / pattern
        if path.is_file() and pattern.endswith(".py"):
            files.add(pattern)
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
                for name in filenames:
                    if name.endswith(".py"):
                        files.add(Path(dirpath, name).relative_to(root).as_posix())
    test_files = {row.file for row in deps.tests.values()}
    return sorted(
        f
        for f in files
        if scope.files(f) and not is_test_file(f) and f not in test_files and (root / f).is_file()
    )


def mutant_identity(mutant: Mutant) -> str:
    """The mutant itself: its block's checksum, its number and change."""
    return mutant_key(mutant, [])


def mutant_key(mutant: Mutant, digests: list[str]) -> str:
    """The cache key of ``mutant`` tested against tests with these dependency digests."""
    h = hashlib.blake2b(digest_size=16)
    m = mutant.mutation
    h.update(f"{mutant.file}\0{mutant.block}\0{mutant.checksum}\0{m.index}\0{m.kind}\0".encode())
    h.update(f"{m.old}\0{m.new}\0".encode())
    for part in digests:
        h.update(part.encode() + b"\n")
    return h.hexdigest()


def build_plan(
    store: ImpactStore,
    project_dir: Path,
    scope: Scope,
    *,
    changed_since: dict[tuple[str, str], str] | None = None,
    killers: Callable[[str, str], list[str]] | None = None,
    durations: dict[str, float] | None = None,
    only: dict[str, set[str]] | None = None,
) -> Plan:
    """Every mutant in ``scope`` with its tests, fastest first (``killers(file, block)``:
    tests that killed this block's mutants before, which go first). ``changed_since``: only
    blocks whose checksum differs from it (``--changed``); ``only``: file -> the blocks to
    mutate there."""
    root = Path(store.get_meta("rootdir", str(project_dir)))
    project = Project(root, store, store.get_meta("search_roots", []))
    deps = _Dependencies(store, project)
    plan = Plan(root)
    durations = durations or {}
    stale: list[str] = []
    for rel in _source_files(deps, root, scope):
        try:
            source_bytes = (root / rel).read_bytes()
            source = source_bytes.decode("utf-8")
            tree = ast.parse(source_bytes)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            plan.notes.append(f"{rel}: cannot be parsed; not mutated")
            continue
        info: FileInfo = analyse_source(source_bytes)
        recorded = deps.recorded_checksums(rel)
        if any(recorded.get(n, b.checksum) != b.checksum for n, b in info.blocks.items()):
            stale.append(rel)
        whole = deps.tests_of(rel, (WHOLE, DIRTY, DATA))
        for block in [MODULE, *info.blocks]:
            if not scope.blocks(rel, block):
                continue
            if only is not None and block not in only.get(rel, ()):
                continue
            checksum = info.module if block == MODULE else info.blocks[block].checksum
            plan.checksums[(rel, block)] = checksum
            plan.starts[(rel, block)] = 0 if block == MODULE else info.blocks[block].start
            if changed_since is not None and changed_since.get((rel, block)) == checksum:
                continue
            found = deps.tests_of(rel, deps.module_names(rel) if block == MODULE else (block,))
            found |= whole
            tests = [t for t in found if deps.usable(t)]
            first = {n: i for i, n in enumerate(killers(rel, block) if killers and tests else [])}
            tests.sort(key=lambda n: (first.get(n, len(first)), durations.get(n, 0.0), n))
            for mutation in mutations(source, block, tree):
                mutant = Mutant(rel, block, checksum, mutation, list(tests))
                mutant.fresh = block == MODULE
                mutant.digests = {t: deps.test_digest(t) for t in tests}
                mutant.key = mutant_key(
                    mutant, [f"{t}\0{mutant.digests[t]}" for t in sorted(tests)]
                )
                mutant.identity = mutant_identity(mutant)
                plan.mutants.append(mutant)
    if stale:
        names = ", ".join(stale[:3]) + (f" and {len(stale) - 3} more" if len(stale) > 3 else "")
        plan.notes.append(
            f"the impact data predates changes to {names}: tests that now call changed code "
            "may be missing (run `hotlap` first to refresh it)"
        )
    return plan
