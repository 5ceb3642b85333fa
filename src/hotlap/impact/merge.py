"""Merging the per-process files the plugin wrote into the impact database."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from itertools import chain
from pathlib import Path
from typing import Any

from hotlap.impact import PROCESS_FILE_VERSION, memo
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
    analyse_source,
    listing_digest,
)
from hotlap.impact.collect import FORK
from hotlap.impact.project import ANALYSIS, Project
from hotlap.impact.resolve import Resolver
from hotlap.impact.store import ImpactStore, TestRow

#: The plugin's context for what runs before the first test (see hotlap.plugin.impact).
COLLECT = "c:collect"

_BAD = frozenset({"failed", "error", "crashed"})


#: pytest's own configuration files (read at start-up; a full-run invalidator already).
_CONFIG_FILES = frozenset({"pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"})


def _owner_file(context_key: str) -> str | None:
    """The file a test (``t:nodeid``) or fixture (``f:baseid::name``) context belongs to."""
    if context_key.startswith("t:"):
        return context_key[2:].split("::", 1)[0]
    if context_key.startswith("f:"):
        base = context_key[2:].rsplit("::", 1)[0]
        if base.endswith(".py"):
            return base.split("::", 1)[0]
        return f"{base}/conftest.py" if base else "conftest.py"
    return None


def test_function(nodeid: str) -> tuple[str, str]:
    """(file, qualified name) of a test's function: ``a.py::C::test_x[1]`` ->
    (``a.py``, ``C.test_x``)."""
    file, _, rest = nodeid.partition("::")
    parts = [p for p in rest.split("[", 1)[0].split("::") if p]  # ids may hold "::"
    return file, ".".join(parts)


def _import_time(
    maker: _ItemMaker,
    project: Project,
    table: list[list[Any]],
    key: str,
    ctx: dict[str, Any],
    out: dict[str, set[int]],
) -> None:
    """Functions run while modules were imported (decorators, module-level calls) count for
    the tests that import a module which can have called them: one executed in the same
    context whose static closure holds the function's file (or, for a test module's own
    collection, that module)."""
    executed: list[str] = []
    functions: list[tuple[str, int]] = []
    for index in ctx["codes"]:
        filename, line, is_module = table[index]
        rel = project.rel(filename)
        if rel is None:
            continue
        if is_module:
            executed.append(rel)
        else:
            functions.append((filename, line))
    if not functions:
        return
    own = key[2:].split("::", 1)[0] if key.startswith("m:") else None
    for filename, line in functions:
        rel = project.rel(filename)
        assert rel is not None
        info = project.info(rel)
        if info is not None and info.block_at(line).startswith("pytest_"):
            continue  # a hook: what pytest reads by name (<pytest>, <generate>) covers it
        ids = maker.import_ids(filename, line)
        owners = {m for m in executed if rel in project.closure(m)}
        if own is not None:
            owners.add(own)
        if not owners:
            owners.add(rel)
        for owner in owners:
            out.setdefault(owner, set()).update(ids)


def read_process_files(directory: Path) -> list[dict[str, Any]]:
    """Every complete per-process file in ``directory`` (a partial one is skipped)."""
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("version") == PROCESS_FILE_VERSION:
            found.append(data)
    return found


class _ItemMaker:
    """Turns what a context ran into item ids of the store."""

    def __init__(
        self,
        project: Project,
        store: ImpactStore,
        started_ns: int,
        written: frozenset[str] = frozenset(),
    ) -> None:
        self.project = project
        self.store = store
        self.started_ns = started_ns
        #: Files the run's own processes wrote: what they hold now is what the run left,
        #: not an edit made while it ran.
        self.written = written
        self.resolver = Resolver(project, store)
        self.import_resolver = Resolver(project, store, links=False)
        self._import_ids: dict[tuple[str, int], tuple[int, ...]] = {}
        self._changed: dict[str, bool] = {}
        self._code_ids: dict[tuple[str, int, bool], tuple[int, ...]] = {}
        #: DIRTY items made, and the groups holding one: a row with such a group is built
        #: again by the next merge whatever the test ran (see hotlap.impact.memo).
        self.dirty_ids: set[int] = set()
        self.dirty_groups: set[int] = set()

    def _changed_during_run(self, rel: str) -> bool:
        # One stat per file per merge, not one per recorded call.
        changed = self._changed.get(rel)
        if changed is None and rel in self.written:
            changed = self._changed[rel] = False
        if changed is None:
            mtime = self.project.mtime_ns(rel)
            changed = self._changed[rel] = mtime is not None and mtime > self.started_ns
        return changed

    def changed_files(self) -> set[str]:
        """The files it resolved that were changed during the run (their items are DIRTY)."""
        return {rel for rel, changed in self._changed.items() if changed}

    def _dirty(self, rel: str) -> int:
        found = self.store.item_id(rel, DIRTY, "")
        self.dirty_ids.add(found)
        return found

    def group(self, items: set[int]) -> int:
        """The store's group of ``items``, noted as dirty when one of them is."""
        found = self.store.group_id(items)
        if not self.dirty_ids.isdisjoint(items):
            self.dirty_groups.add(found)
        return found

    def code_ids(self, filename: str, line: int, is_module: bool) -> tuple[int, ...]:
        # Many processes ran the same functions: resolve each (file, line) once per merge.
        key = (filename, line, is_module)
        ids = self._code_ids.get(key)
        if ids is None:
            ids = self._code_ids[key] = self._code(filename, line, is_module)
        return ids

    def _code(self, filename: str, line: int, is_module: bool) -> tuple[int, ...]:
        rel = self.project.rel(filename)
        if rel is None:
            return ()
        info = self.project.info(rel)
        if info is None or self._changed_during_run(rel):
            # What ran is not what is on disk now: select the test next time, whatever.
            return (self._dirty(rel),)
        resolver = self.resolver
        if is_module:
            # Module-level code run inside a test (an import there, runpy): all of it.
            found = {resolver.item(rel, MODULE), resolver.item(rel, EFFECTS)}
            return tuple(found | resolver.imported_names(rel) | resolver.star_items(rel))
        if not rel.endswith(".py"):
            return (resolver.item(rel, MODULE),)
        return tuple(resolver.block_items(rel, info.block_at(line)))

    def import_ids(self, filename: str, line: int) -> tuple[int, ...]:
        """A function run at import: its body, definition and reads (no registry links)."""
        key = (filename, line)
        ids = self._import_ids.get(key)
        if ids is None:
            rel = self.project.rel(filename)
            info = self.project.info(rel) if rel is not None else None
            if rel is None or info is None or self._changed_during_run(rel):
                ids = self.code_ids(filename, line, False)
            else:
                ids = tuple(self.import_resolver.block_items(rel, info.block_at(line)))
            self._import_ids[key] = ids
        return ids

    def test_items(self, nodeid: str) -> tuple[set[int], set[int]]:
        """(items every test of its file depends on statically — the import-time effects,
        what pytest reads by name, the test list — , items that can change its ids: its
        own definition, its fixtures' definitions by argument name, a pytest_generate_tests
        that names one of its arguments)."""
        file, qual = test_function(nodeid)
        resolver = self.resolver
        static: set[int] = set()
        ids: set[int] = set()
        info = resolver.info(file)
        if info is None:
            return static, ids
        files = [file, *self.project.conftests(file)]
        for rel in files:
            static.add(resolver.item(rel, PYTEST))
        static.add(resolver.item(file, TESTS))
        if qual:
            ids |= resolver.block_items(file, qual)
            if "." in qual:
                cls = qual.rsplit(".", 1)[0]
                ids |= resolver.name_items(file, f"{cls}.pytestmark")
        # Its argument names, through the fixtures that provide them (static: what pytest's
        # fixture closure would hold), autouse fixtures included.
        infos = [(rel, i) for rel in files if (i := resolver.info(rel)) is not None]
        names = set(info.ns.get("args", {}).get(qual, []))
        for _rel, i in infos:
            names.update(a for a, fx in i.ns.get("fixtures", {}).items() if fx[1])
        todo = list(names)
        while todo:
            arg = todo.pop()
            for _rel, i in infos:
                fx = i.ns.get("fixtures", {}).get(arg)
                if fx is not None:
                    for more in fx[3]:
                        if more not in names:
                            names.add(more)
                            todo.append(more)
                    break
        for rel, i in infos:
            for arg in names:
                ids.add(resolver.item(rel, f"{FIXTURE}{arg}>"))
                fx = i.ns.get("fixtures", {}).get(arg)
                if fx is not None:  # what its definition reads (params=CASES)
                    ids |= resolver.name_items(rel, fx[0].split(".", 1)[0])
            gen = i.ns.get("generate")
            if gen and (not gen[2] or names & set(gen[1])):
                ids.add(resolver.item(rel, GENERATE))
        return static, ids

    def data(self, filename: str, out: set[int], name: str = DATA) -> None:
        rel = self.project.rel(filename)
        if rel is None or os.path.isdir(filename):
            return
        if self._changed_during_run(rel):
            out.add(self._dirty(rel))
            return
        info = self.project.info(rel)
        out.add(self.store.item_id(rel, name, info.sha if info is not None else MISSING))

    def listing(self, dirname: str, out: set[int]) -> None:
        rel = self.project.rel(os.path.join(dirname, "_"))
        if rel is None:
            return
        rel_dir = rel.rsplit("/", 1)[0] if "/" in rel else "."
        out.add(self.store.item_id(rel_dir, LISTING, listing_digest(dirname)))

    def closure_items(self, files: frozenset[str] | set[str], name: str, out: set[int]) -> None:
        for rel in files:
            info = self.project.info(rel)
            if info is None:
                continue
            if self._changed_during_run(rel):
                # Saved while the run was going on: what was imported may not be what is on
                # disk, so the next selection must include these tests whatever it finds.
                out.add(self._dirty(rel))
            else:
                out.add(self.store.item_id(rel, name, info.checksum(name)))

    def spawned(
        self, argv: list[str], cwd_rel_base: Path, out: set[int], owner: str | None = None
    ) -> None:
        """A child process: when it runs Python, its code's static closure is a dependency.
        A fork runs the parent's code: the static closure of ``owner`` (the test's file)."""
        if argv == [FORK]:
            if owner is not None:
                self.closure_items(self.project.closure(owner), WHOLE, out)
            return
        if argv and argv[0] in ("sh", "/bin/sh") and len(argv) == 3:
            try:
                argv = shlex.split(argv[2])
            except ValueError:
                return
        if not argv:
            return
        exe = os.path.basename(argv[0])
        files: set[str] = set()
        if exe.startswith("python") or argv[0] == sys.executable:
            args = argv[1:]
            while args and args[0].startswith("-") and args[0] not in ("-m", "-c"):
                args = args[1:]
            if len(args) >= 2 and args[0] == "-m":
                files |= self.project.module_closure(args[1])
            elif len(args) >= 2 and args[0] == "-c":
                info = analyse_source(args[1].encode())
                for module, _level in info.imports:
                    files |= self.project.module_closure(module)
            elif args:
                rel = self.project.rel(cwd_rel_base / args[0])
                if rel:
                    files |= self.project.closure(rel)
        else:
            rel = self.project.rel(cwd_rel_base / argv[0])
            if rel and rel.endswith(".py"):
                files |= self.project.closure(rel)
            else:
                files |= self._console_script(argv[0])
        self.closure_items(files, WHOLE, out)

    def _console_script(self, name: str) -> set[str]:
        """A console script (``mycli``): the modules its Python launcher imports."""
        path = name if os.sep in name else shutil.which(name)
        if not path:
            return set()
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError:
            return set()
        if not head.startswith(b"#!") or b"python" not in head.split(b"\n", 1)[0]:
            return set()
        files: set[str] = set()
        for module, _level in analyse_source(head.split(b"\n", 1)[-1]).imports:
            files |= self.project.module_closure(module)
        return files


class _Statics:
    """What every test of a file depends on besides what it ran (its file's and conftests'
    static closure, what their imports ran, the files read at collection), computed on
    first need: a merge that keeps every row needs none of it."""

    def __init__(self, maker: _ItemMaker, project: Project, processes: list[dict[str, Any]]):
        self.maker = maker
        self.project = project
        self.processes = processes
        self._import_time: dict[str, set[int]] | None = None
        self.import_data: set[int] = set()
        self.module_items: dict[str, set[int]] = {}

    @property
    def import_time(self) -> dict[str, set[int]]:
        if self._import_time is None:
            self._import_time = self._collect()
        return self._import_time

    def _collect(self) -> dict[str, set[int]]:
        maker, project = self.maker, self.project
        # Functions run at import/collection time (decorators, parametrize helpers) count
        # for every test whose static import closure holds their file.
        import_time: dict[str, set[int]] = {}
        for proc in self.processes:
            for key, collect in proc["contexts"].items():
                if key.startswith("m:"):
                    # What a test module's collection read or listed: its tests, selected
                    # as the whole file (the change may create test ids).
                    found_m = self.module_items.setdefault(key[2:].split("::", 1)[0], set())
                    for filename in collect["opened"]:
                        maker.data(filename, found_m, COLLECT_DATA)
                    for dirname in collect.get("listed", []):
                        maker.listing(dirname, found_m)
                elif key == COLLECT:
                    # Data files read at import/collection time: which import read it is
                    # unknown, so it counts for every test.
                    for filename in collect["opened"]:
                        if os.path.basename(filename) not in _CONFIG_FILES:
                            maker.data(filename, self.import_data)
                else:
                    continue
                _import_time(maker, project, proc["code_table"], key, collect, import_time)
        return import_time

    def group(self, file: str) -> int:
        project, maker = self.project, self.maker
        import_time = self.import_time
        files: set[str] = set(project.closure(file))
        for conftest in project.conftests(file):
            files |= project.closure(conftest)
        items: set[int] = set()
        # Import-time code no name bounds: every importer depends on it.
        maker.closure_items({f for f in files if f.endswith(".py")}, EFFECTS, items)
        for f in files:  # a name they import that is gone fails them all
            items |= maker.resolver.imported_names(f)
            items |= maker.resolver.star_items(f)
        for f in files:
            items |= import_time.get(f, set())
        items |= self.import_data
        items |= self.module_items.get(file, set())
        return maker.group(items)


class _ProcessGroups:
    """The groups of one process's test contexts, resolved on first need."""

    def __init__(self, maker: _ItemMaker, proc: dict[str, Any], unseen: list[str]) -> None:
        self.maker = maker
        self.proc = proc
        self._unseen = unseen
        self._resolved: list[tuple[int, ...]] | None = None
        self._groups: dict[str, int] = {}
        self._unseen_done = False
        self._unseen_group: int | None = None

    @staticmethod
    def is_test_context(key: str) -> bool:
        return key != COLLECT and not key.startswith("m:")

    @property
    def unseen_group(self) -> int | None:
        if not self._unseen_done:
            self._unseen_done = True
            # Project code this process ran without entry markers: any part of it may have
            # run in any test.
            unseen: set[int] = set()
            self.maker.closure_items(set(self._unseen), UNSEEN, unseen)
            self._unseen_group = self.maker.group(unseen) if unseen else None
        return self._unseen_group

    def context_group(self, key: str) -> int:
        found = self._groups.get(key)
        if found is not None:
            return found
        maker = self.maker
        if self._resolved is None:
            # A context's codes index the process's table: each entry resolved once.
            self._resolved = [maker.code_ids(f, line, m) for f, line, m in self.proc["code_table"]]
        ctx = self.proc["contexts"][key]
        items: set[int] = set(chain.from_iterable(map(self._resolved.__getitem__, ctx["codes"])))
        for filename in ctx["opened"]:
            maker.data(filename, items)
        for argv in ctx["spawned"]:
            maker.spawned(argv, maker.project.root, items, _owner_file(key))
        found = self._groups[key] = maker.group(items)
        return found


def _forget_gone(
    store: ImpactStore, processes: list[dict[str, Any]], ran_paths: list[str] | None
) -> None:
    """Tests the run would have collected but did not (a parametrization removed, a test
    renamed) no longer exist: their records go, so they are not selected for ever."""
    if ran_paths is None or not all(p.get("complete", True) for p in processes):
        return
    collected = {n for p in processes for n in p.get("collected", [])}
    if not collected:
        return

    def covered(nodeid: str) -> bool:
        if not ran_paths:
            return True
        for path in ran_paths:
            if nodeid == path or nodeid.startswith((path + "::", path + "[")):
                return True
            if "::" not in path and nodeid.startswith(path.rstrip("/") + "/"):
                return True
        return False

    gone = [n for n in store.tests() if n not in collected and covered(n)]
    store.conn.executemany("DELETE FROM tests WHERE nodeid=?", [(n,) for n in gone])
    store.forget_record_digests(gone)


def merge_run(
    store: ImpactStore,
    directory: Path,
    outcomes: dict[str, str],
    fingerprint: dict[str, str],
    collect_errors: list[str],
    processes: list[dict[str, Any]] | None = None,
    ran_paths: list[str] | None = None,
) -> list[str]:
    """Fold one run's per-process files into the store (``processes``: those files, when the
    caller has read them already; ``ran_paths``: the root-relative test paths the run was
    given, [] for all, None when unknown); returns messages for the user."""
    if processes is None:
        processes = read_process_files(directory)
    if not processes:
        return []
    root = Path(processes[0]["root"])
    search_roots = sorted({p for proc in processes for p in proc.get("sys_path", [])})
    project = Project(root, store, search_roots)
    started = min(int(p.get("started_ns", 0)) for p in processes)
    written = frozenset(
        rel for p in processes for f in p.get("written", []) if (rel := project.rel(f))
    )
    maker = _ItemMaker(project, store, started, written)
    merge_started = time.time_ns()
    # Each process's code table is turned into text once, for the shared digest and the
    # tests' contexts alike.
    digesters = [memo.ContextDigester(p["code_table"], project.rel) for p in processes]
    shared = memo.shared_digest(processes, digesters, fingerprint, ANALYSIS, written, project.rel)
    store.begin()
    try:
        # Rows of tests that ran what they ran when their row was built, in a project
        # unchanged since, are kept (see hotlap.impact.memo).
        kept = memo.kept_digests(store, root, shared)
        old_rows = store.tests() if kept else {}
        digests: dict[str, str] = {}
        kept_rows = 0
        statics = _Statics(maker, project, processes)
        static_groups: dict[str, int] = {}
        for proc, context_digest in zip(processes, digesters, strict=True):
            complete = proc.get("complete", True)
            ctx_digests: dict[str, str] = {}
            unseen_files = sorted({rel for f in proc.get("unseen", []) if (rel := project.rel(f))})
            lazy = _ProcessGroups(maker, proc, unseen_files)
            # By its group: which unseen files count (a module in a zip does not) is the
            # group's business, and a group's id stands for its content.
            unseen_key = str(lazy.unseen_group)
            for nodeid, test in proc["tests"].items():
                outcome = outcomes.get(nodeid) or test.get("outcome") or ""
                stale = not outcome or not complete
                keys = [c for c in test["contexts"] if c in proc["contexts"]]
                for c in keys:
                    if c not in ctx_digests:
                        ctx = proc["contexts"][c]
                        ctx_digests[c] = f"{c}\0{context_digest(ctx)}"
                digest = memo.test_digest(nodeid, (ctx_digests[c] for c in keys), unseen_key)
                old = old_rows.get(nodeid)
                if (
                    kept is not None
                    and old is not None
                    and not old.stale
                    and not stale
                    and kept.get(nodeid) == digest
                ):
                    if old.outcome != outcome:
                        old.outcome = outcome
                        store.put_test(old)
                    kept_rows += 1
                    continue
                file = nodeid.split("::", 1)[0]
                if file not in static_groups:
                    static_groups[file] = statics.group(file)
                own_static, own_ids = maker.test_items(nodeid)
                # Functions its module's own collection ran (case generators, decorators):
                # they can change its ids too.
                own_ids |= statics.import_time.get(file, set())
                groups = [lazy.context_group(c) for c in keys if lazy.is_test_context(c)]
                groups.append(static_groups[file])
                groups.append(maker.group(own_static))
                if lazy.unseen_group is not None:
                    groups.append(lazy.unseen_group)
                idgroup = maker.group(own_ids)
                store.put_test(TestRow(nodeid, file, outcome, stale, sorted(set(groups)), idgroup))
                if not stale and maker.dirty_groups.isdisjoint((*groups, idgroup)):
                    digests[nodeid] = digest
        store.set_record_digests(digests)
        built = sum(1 for p in processes for _ in p["tests"]) - kept_rows
        store.set_meta(memo.LAST, {"kept": kept_rows, "built": built})
        # Collected but never run (-x, a crash, an interrupt): select them next time.
        recorded = {n for p in processes for n in p["tests"]}
        for proc in processes:
            for nodeid in proc.get("collected", []):
                if nodeid in recorded:
                    continue
                old = store.test(nodeid)
                file = nodeid.split("::", 1)[0]
                store.put_test(
                    TestRow(
                        nodeid,
                        file,
                        outcomes.get(nodeid, ""),
                        True,
                        old.groups if old else [],
                        old.idgroup if old else 0,
                    )
                )
        _forget_gone(store, processes, ran_paths)
        for nodeid, outcome in outcomes.items():
            if outcome in _BAD and nodeid not in recorded:
                old = store.test(nodeid)
                if old is not None:
                    old.outcome = outcome
                    store.put_test(old)
        known = set(store.get_meta("test_files", []))
        known |= {n.split("::", 1)[0] for p in processes for n in p.get("collected", [])}
        known |= {n.split("::", 1)[0] for p in processes for n in p["tests"]}
        store.set_meta("test_files", sorted(known))
        store.set_meta("rootdir", str(root))
        store.set_meta("search_roots", search_roots)
        store.set_meta("fingerprint", fingerprint)
        # What the run's own processes left in the files they wrote (content, not mtime):
        # watch and history's flaky rule tell the run's writes from later edits by it.
        from hotlap.impact.pending import left_by

        writes: dict[str, str] = {}
        for path, digest in (left_by(directory, processes) or {}).items():
            rel = project.rel(path)
            if rel is not None:
                writes[rel] = digest
        store.set_meta("run_writes", dict(sorted(writes.items())))
        # The (mtime, size) each item's checksum was computed at: a selection re-reads only
        # the files whose stat differs.
        stats = dict(store.get_meta("file_stats", {}))
        stats.update({rel: list(st) for rel, st in project.stats.items()})
        store.set_meta("file_stats", stats)
        # An old collection error stands until its file collects again.
        collected_files = {n.split("::", 1)[0] for p in processes for n in p.get("collected", [])}
        errors = {e for e in store.get_meta("collect_errors", []) if e not in collected_files}
        store.set_meta("collect_errors", sorted(errors | set(collect_errors)))
        memo.keep_note(
            store,
            root,
            project.search_roots,
            shared,
            project.stats,
            carried=kept is not None,
            since_ns=merge_started,
            changed=maker.changed_files(),
        )
        store.prune()
        store.index_holders()
        store.commit()
    except BaseException:
        store.conn.execute("ROLLBACK")
        raise
    n = sum(len(p["tests"]) for p in processes)
    # A run that ran no test (a usage error, an empty selection, a collection error) may still
    # have recorded collection errors, but has nothing to say after pytest's own error.
    return [f"impact: recorded dependencies of {n} tests"] if n else []
