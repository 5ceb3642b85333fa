"""Per-test dependency recording (impacted-test selection), a plugin extension.

Inert unless ``HOTLAP_IMPACT_DIR`` (set by ``hotlap run``/``watch``) or
``--hotlap-impact-dir`` names a directory. Each process that runs tests (a worker, or pytest
alone) writes its own JSON file there at the end; the hotlap app merges them into
``.hotlap/impact.sqlite3``, so workers never share a database.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hotlap import jsonref
from hotlap.channel import ENV_IMPACT_DIR as ENV_DIR
from hotlap.impact import PROCESS_FILE_VERSION, WRITES_SUFFIX
from hotlap.plugin import gate
from hotlap.plugin.role import Role, worker_id

if TYPE_CHECKING:
    from hotlap.impact.collect import CodeKey, Collector

# hotlap.impact.collect (the tracer, the import hook) is imported only when recording: an
# installed hotlap must cost a plain pytest run nothing.

__all__ = ["ENV_DIR", "ImpactRecorder", "addoption", "configure"]


#: Started at plugin load when the app asked for recording, so code that runs at import and
#: collection time (decorators, parametrize helpers, conftests) is seen as well.
_early: tuple[Collector, int] | None = None
COLLECT = "c:collect"


def _start_early() -> None:
    global _early
    # A session started inside a test (pytester) records nothing: see gate.owns.
    if _early is not None or gate.session_running() or not os.environ.get(ENV_DIR):
        return
    from hotlap.impact.collect import Collector, settings_from_env

    collector = Collector(os.getcwd(), *settings_from_env())
    try:
        collector.start()
    except Exception:  # the recorder reports it when the run starts
        return
    collector.push(COLLECT)
    _early = (collector, time.time_ns())


def addoption(parser: pytest.Parser) -> None:
    _start_early()
    group = parser.getgroup("hotlap")
    group.addoption(
        "--hotlap-impact-dir",
        metavar="DIR",
        default=None,
        help="record what each test depends on into DIR (one file per process)",
    )


def configure(config: pytest.Config, role: Role) -> None:
    global _early
    early, _early = _early, None
    out = config.getoption("hotlap_impact_dir", None) or os.environ.get(ENV_DIR)
    if not out or role is Role.CONTROLLER:
        if early is not None:
            early[0].stop()
        return
    # With the app, a test's outcome comes from its own state (merge prefers it); the plugin
    # records outcomes (three more hook calls per test) only when it runs without one.
    from hotlap.channel import ENV_SOCKET

    cls = ImpactRecorder if os.environ.get(ENV_SOCKET) else OutcomeRecorder
    config.pluginmanager.register(cls(config, Path(out), early), "hotlap-impact")


def _fixture_key(fixturedef: Any) -> str:
    return f"f:{getattr(fixturedef, 'baseid', '')}::{getattr(fixturedef, 'argname', '?')}"


class ImpactRecorder:
    """Attributes what runs to the test or fixture running it, and writes it out."""

    def __init__(
        self, config: pytest.Config, out_dir: Path, early: tuple[Collector, int] | None = None
    ) -> None:
        self.config = config
        self.out_dir = out_dir
        self.root = str(config.rootpath)
        if early is not None:
            self.collector, self.started_ns = early
            self.collector.root = self.root.rstrip(os.sep) + os.sep
        else:
            from hotlap.impact.collect import Collector, settings_from_env

            self.collector = Collector(self.root, *settings_from_env())
            self.started_ns = time.time_ns()
            try:
                self.collector.start()
                self.collector.push(COLLECT)
            except Exception:
                pass  # pytest_runtestloop reports it
        # Per test, only what must be seen while it runs; its file and its fixtures' contexts
        # are read from the item when the file is written (off every test's path).
        self.items: dict[str, pytest.Item] = {}
        self.dynamic: dict[str, list[str]] = {}  # fixtures requested at run time
        self.outcomes: dict[str, str] = {}
        self.collected: list[str] = []
        self.complete = True  # False: what ran is unknown, select every test next time

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, object, object]:
        # What a test module's collection reads (parametrize data, globbed case dirs) can
        # create or change its tests: attribute it to that module.
        if not isinstance(collector, pytest.Module):
            return (yield)
        key = "m:" + collector.nodeid
        self.collector.push(key)
        try:
            return (yield)
        finally:
            self.collector.pop(key)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = [item.nodeid for item in session.items]

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        # Collection is over: what runs from now on belongs to a test or a fixture.
        self.collector.pop(COLLECT)
        if not self.collector.active:
            try:
                self.collector.start()
            except Exception as exc:  # never break the run for impact data
                self.complete = False
                sys.stderr.write(f"hotlap: impact recording unavailable ({exc})\n")
        try:
            return (yield)
        finally:
            self.collector.stop()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        key = "t:" + item.nodeid
        self.items[item.nodeid] = item
        if self.outcomes:  # a rerun: its outcome is the last run's
            self.outcomes.pop(item.nodeid, None)
        self.collector.push(key)
        try:
            return (yield)
        finally:
            self.collector.pop(key)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        # Fixtures requested at run time (request.getfixturevalue) are not in the static
        # closure of fixture names: add every fixture the test's request used (pytest
        # clears the request after teardown, so look now).
        request = getattr(item, "_request", None)
        defs = getattr(request, "_fixture_defs", None) if request else None
        if defs:
            self.dynamic.setdefault(item.nodeid, []).extend(map(_fixture_key, defs.values()))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: Any, request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        if not self._project_fixture(fixturedef):
            # A plugin's fixture (tmp_path, monkeypatch, …): its code is not the project's,
            # and a context of its own would only cost re-arming the tracer.
            return (yield)
        key = _fixture_key(fixturedef)
        self.collector.push(key)
        try:
            return (yield)
        finally:
            self.collector.pop(key)
            # Finalizers run last-in first-out: this one runs before the fixture's own
            # teardown, and pytest_fixture_post_finalizer ends the context after it.
            fixturedef.addfinalizer(lambda: self.collector.push(key))

    def _project_fixture(self, fixturedef: Any) -> bool:
        code = getattr(getattr(fixturedef, "func", None), "__code__", None)
        name = getattr(code, "co_filename", "")
        return not name or self.collector.in_project(name)

    def pytest_fixture_post_finalizer(self, fixturedef: Any) -> None:
        self.collector.pop(_fixture_key(fixturedef))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.collector.stop()
        try:
            self._write()
        except OSError as exc:  # never break the run for impact data
            sys.stderr.write(f"hotlap: could not write impact data: {exc}\n")

    def tests(self) -> dict[str, dict[str, Any]]:
        """Each test that ran: its contexts (its own, then its fixtures', static and
        requested at run time), its outcome when this recorder saw one, and its file."""
        tests = {}
        for nodeid, item in self.items.items():
            contexts = ["t:" + nodeid]
            info = getattr(item, "_fixtureinfo", None)
            for defs in getattr(info, "name2fixturedefs", {}).values():
                contexts.extend(_fixture_key(d) for d in defs)
            for extra in self.dynamic.get(nodeid, ()):
                if extra not in contexts:
                    contexts.append(extra)
            tests[nodeid] = {
                "contexts": contexts,
                "outcome": self.outcomes.get(nodeid, ""),
                "path": str(item.path),
            }
        return tests

    def _write(self) -> None:
        # Tests share most of the code they run: each location is written once, in the
        # table, and a context lists indexes into it (a tenth of the file on click's suite).
        table: dict[CodeKey, int] = {}
        contexts = {}
        for key, ctx in self.collector.contexts.items():
            contexts[key] = {
                "codes": self.collector.code_indexes(ctx, table),
                "opened": sorted(ctx.opened),
                "listed": sorted(ctx.listed),
                "spawned": ctx.spawned,
            }
        root = self.root.rstrip(os.sep) + os.sep
        data = {
            "version": PROCESS_FILE_VERSION,
            "root": self.root,
            "started_ns": self.started_ns,
            "python": sys.version,
            "sys_path": [p for p in sys.path if p and os.path.abspath(p).startswith(root)],
            "collected": self.collected,
            "complete": self.complete,
            "unseen": self.collector.unseen_files(),
            "written": sorted(self.collector.written),
            "tests": self.tests(),
            "contexts": contexts,
            "code_table": list(table),
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        name = f"{worker_id(self.config)}-{os.getpid()}"
        # What this process left in the project's files it wrote, as it ends, in a small
        # file of its own: a merge done later must not take a hand edit since for the run's,
        # and the next start reads it before pytest starts (without the large file).
        writes = {
            "ended_ns": time.time_ns(),
            "digests": written_digests(self.collector.written, root),
        }
        for final, content in ((f"{name}{WRITES_SUFFIX}", writes), (f"{name}.json", data)):
            tmp = self.out_dir / f".{name}.tmp"
            tmp.write_text(jsonref.dumps(content), encoding="utf-8")
            os.replace(tmp, self.out_dir / final)


class OutcomeRecorder(ImpactRecorder):
    """The recorder of a run without the app: each test's outcome goes into its file too."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        if nodeid not in self.items:
            return
        outcome = self.outcomes.get(nodeid, "")
        if report.failed:
            self.outcomes[nodeid] = "failed"
        elif outcome == "" and (report.skipped or report.when in ("call", "teardown")):
            self.outcomes[nodeid] = "skipped" if report.skipped else "passed"


def written_digests(paths: set[str], root: str) -> dict[str, str]:
    """``{path: checksum of its content now}`` for the written files under ``root``."""
    from hotlap.impact.blocks import file_digest

    return {path: file_digest(path) for path in sorted(paths) if path.startswith(root)}
