"""Hooks of a process that runs tests (an xdist worker, or a run without xdist).

They turn pytest's hooks into protocol events and hand them to a :class:`Sink`. Everything
here is on the test's hot path, so each hook does a few attribute reads and one send.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading
from collections.abc import Generator, Mapping
from functools import partial
from typing import Any

import pytest

from hotlap import __version__
from hotlap.plugin.role import Role, origin
from hotlap.plugin.sink import Sink
from hotlap.plugin.text import bounded, clean, clean_tree
from hotlap.protocol import (
    CollectError,
    CollectionFinish,
    CollectSkip,
    FixtureSetup,
    FixtureTeardown,
    SessionFinish,
    SessionStart,
    TestDone,
    TestReport,
    TestStart,
    WorkerStart,
)
from hotlap.real import real

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_getrusage = resource.getrusage
_RUSAGE_SELF = resource.RUSAGE_SELF
# ru_maxrss is in KiB on Linux, bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024


#: Seconds a test runs before the sink's flusher thread sends its start and its held phases
#: on their own; a quicker test goes out as one TestDone. Its own value, not the sink's
#: ``LINGER`` (how long a batch waits, which the dashboard's lag pays): with both at 20 ms a
#: 30 ms test cost 2.79 events instead of 1.03 (bench/linger_cost.py --coupled), and a quick
#: test on a loaded machine stops being one event.
ANNOUNCE_AFTER = 0.1

#: How many quiet phases of a test are held when its phase of that name arrives.
_PHASE_INDEX = {"setup": 0, "call": 1, "teardown": 2}

#: Plugins whose ``pytest_report_teststatus`` leaves a passed call report that is neither an
#: xfail nor a subclass (a subtest) to pytest's own word, "passed". When these are the only
#: implementations, that word is known without the hook call (20-40 us per test here).
_PLAIN_STATUS_PLUGINS = frozenset(
    {
        "_pytest.terminal",
        "_pytest.runner",
        "_pytest.skipping",
        "_pytest.subtests",
        "pytest_rerunfailures",
        "hotlap.plugin.reruns",
    }
)


def _subtests(config: pytest.Config) -> tuple[type | None, bool, Mapping[Any, int] | None]:
    """pytest 9's subtests (None, False, None before): their report class; whether its
    ``pytest_report_teststatus`` gives a passed subtest no word (default verbosity); and its
    count of failed subtests per test (it turns a passed call report of such a test into a
    failure)."""
    try:
        from _pytest.subtests import (  # type: ignore[import-not-found,unused-ignore]
            SubtestReport,
            failed_subtests_key,
        )
    except ImportError:
        return None, False, None
    found = config.stash.get(failed_subtests_key, None)
    failed = found if isinstance(found, Mapping) else None
    try:
        quiet = config.get_verbosity(config.VERBOSITY_SUBTESTS) == 0  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, KeyError, ValueError):
        quiet = False
    return SubtestReport, quiet, failed


def _plugin_module(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)  # a module
    return name if isinstance(name, str) else type(plugin).__module__


class _RssReader:
    """This process's resident set size in bytes: one ``pread`` of /proc/self/statm on an fd
    kept open (a few microseconds), or 0 where there is no procfs."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, AttributeError):
            self._fd = None

    def __call__(self) -> int:
        if self._fd is None:
            return 0
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _versions() -> tuple[str, str]:
    try:
        import xdist

        xdist_version = str(getattr(xdist, "__version__", ""))
    except ImportError:
        xdist_version = ""
    return pytest.__version__, xdist_version


def pytest_stats(config: pytest.Config) -> dict[str, int]:
    """pytest's own summary counts, read from its terminal reporter."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats: dict[str, list[Any]] = getattr(reporter, "stats", {}) or {}
    out: dict[str, int] = {}
    for key, reports in stats.items():
        if not key:
            continue
        n = sum(1 for r in reports if getattr(r, "count_towards_summary", True))
        if n:
            out[key] = n
    return out


def session_start(config: pytest.Config, worker: str, role: Role) -> SessionStart:
    """The event that opens a session, for a controller or a single process."""
    from hotlap.plugin.workers import reason

    pytest_version, xdist_version = _versions()
    numprocesses = getattr(config.option, "numprocesses", 0)
    option = config.option
    dry_run = any(
        getattr(option, name, False) for name in ("collectonly", "setuponly", "setupplan")
    )
    return SessionStart(
        worker,
        os.getpid(),
        real.monotonic(),
        wall=real.wall(),
        role=role.value,
        argv=[clean(a) for a in config.invocation_params.args],
        rootdir=str(config.rootpath),
        hotlap_version=__version__,
        pytest_version=pytest_version,
        xdist_version=xdist_version,
        python_version=".".join(map(str, sys.version_info[:3])),
        numprocesses=numprocesses if isinstance(numprocesses, int) else 0,
        dry_run=dry_run,
        host=origin()[0],
        workers_reason=reason(config),
        capture=str(getattr(option, "capture", "") or ""),
    )


def session_finish(session: pytest.Session, worker: str) -> SessionFinish:
    """The event that ends a session (the controller's or a single process's): pytest's
    final exit status and counts."""
    return SessionFinish(
        worker,
        os.getpid(),
        real.monotonic(),
        exitstatus=int(session.exitstatus),
        stats=pytest_stats(session.config),
    )


def _phase_section(report: pytest.TestReport, stream: str) -> str:
    """What ``stream`` (stdout, stderr, log) captured in this phase only, bounded.

    ``report.capstdout`` and friends hold every phase so far (teardown's repeats setup's and
    call's), so each phase ships just its own ``Captured <stream> <when>`` section.
    """
    title = f"Captured {stream} {report.when}"
    text = "".join(content for prefix, content in report.sections if prefix == title)
    return bounded(text) if text else ""


class TestEmitter:
    """Worker-side hooks: tests, phases and fixtures as they happen."""

    __test__ = False

    def __init__(self, config: pytest.Config, sink: Sink, worker: str, role: Role) -> None:
        self.config = config
        self.sink = sink
        self.worker = worker
        self.role = role
        #: A single process whose events outlive it announces each test as it starts; an xdist
        #: worker's controller says which test it died in, and in-process exports die with it.
        self.announce_each = role is Role.SINGLE and sink.outlives_process
        self.pid = os.getpid()
        self.rootpath = config.rootpath
        self.current = ""  # nodeid of the test running now
        # The running test's logstart: (nodeid, location, monotonic start, RSS before). Its
        # TestStart is sent only when it is needed (see _announce).
        self._start: tuple[str, tuple[str, int | None, str], float, int] | None = None
        self._announced = True
        self._last_rss = 0  # after the last teardown: the next test's RSS before
        self._cpu_mark = 0.0
        self._deselected = 0
        self._fixture_stack: list[float] = []
        self._teardown_started: dict[int, float] = {}
        self._locations: dict[int, str] = {}
        # Quiet passing phases of the running test (report, CPU, category, nodeid), sent as one
        # TestDone; the sink's flusher thread sends them as they are once the test has run
        # on for a while (see release_stale), so a view shows its phase.
        self._held: list[tuple[pytest.TestReport, float, str, str]] = []
        self._held_at = 0.0
        self._held_lock = threading.Lock()
        self._teststatus = config.hook.pytest_report_teststatus
        self._status_impls: list[Any] | None = None  # as last checked
        self._status_plain = False
        self._subtest_type, self._subtests_quiet, self._failed_subtests = _subtests(config)
        self._rss = _RssReader()
        config.add_cleanup(self._rss.close)
        sink.set_linger(self.release_stale)

    # -- session ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.role is Role.SINGLE:
            self.sink.send(session_start(self.config, self.worker, self.role))
        host, python = origin()
        self.sink.send(
            WorkerStart(
                self.worker, self.pid, real.monotonic(), wall=real.wall(), host=host, python=python
            )
        )

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self._deselected += len(items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.sink.send(
                CollectError(
                    self.worker,
                    self.pid,
                    real.monotonic(),
                    nodeid=clean(report.nodeid),
                    longrepr=bounded(str(report.longrepr)),
                )
            )
        elif report.skipped:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.sink.send(
                CollectSkip(
                    self.worker,
                    self.pid,
                    real.monotonic(),
                    nodeid=clean(report.nodeid),
                    reason=bounded(str(reason), 500),
                )
            )

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        nodeids = [clean(item.nodeid) for item in session.items]
        self.sink.send(
            CollectionFinish(
                self.worker,
                self.pid,
                real.monotonic(),
                count=len(nodeids),
                nodeids=nodeids,
                deselected=self._deselected,
            )
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # The end of the run as the app sees it, so sent after every other implementation:
        # session-scoped teardowns and the impact plugin's file come before it, and a plugin
        # may still change ``session.exitstatus`` (which pytest then exits with).
        try:
            return (yield)
        finally:
            with self._held_lock:
                if session.exitstatus == pytest.ExitCode.INTERRUPTED:
                    # The running test was interrupted: its held phases would arrive after
                    # xdist's report of it (a failure) and reopen it as running.
                    self._held.clear()
                self._release_held()
            if self.role is Role.SINGLE:
                self.sink.send(session_finish(session, self.worker))

    # -- tests -----------------------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        # Nothing is sent here: a quick test goes out as one TestDone that says where and when
        # it started, and the sink's flusher thread announces a test that runs on (release_stale).
        with self._held_lock:
            self._release_held()  # a test whose teardown was never reported
            self.current = nodeid
            self._start = (nodeid, location, real.monotonic(), self._last_rss or self._rss())
            self._announced = False
            if self.announce_each:
                # No xdist controller will say which test this process died in, nor relay
                # the tests it finished: announce each test (one send per test).
                self._announce()
        self._cpu_mark = real.process_time()

    def announced_current(self) -> str:
        """The running test's nodeid, its TestStart sent first (for events about it that
        other parts of the plugin send, which the app files under the test)."""
        with self._held_lock:
            self._announce()
            return self.current

    def _announce(self) -> None:
        """Send the running test's TestStart if it was not sent yet (the caller holds
        ``_held_lock``): before any per-phase report of it, or once it has run a while."""
        start = self._start
        if self._announced or start is None:
            return
        self._announced = True
        nodeid, (path, line, domain), began, rss = start
        self.sink.send(
            TestStart(
                self.worker,
                self.pid,
                began,
                nodeid=clean(nodeid),
                path=clean(str(path)),
                line=(line + 1) if line is not None else 0,
                domain=clean(domain),
                rss=rss,
            )
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The hot path: each report property (pytest 9's ``nodeid`` is one) is read once.
        when = report.when
        quiet_pass = report.outcome == "passed" and not report.sections
        if (
            quiet_pass
            and when == "call"
            and type(report) is not pytest.TestReport
            and self._unseen(report)
        ):
            # A passed subtest pytest neither counts nor shows (its word is empty, as with
            # default verbosity): nothing for the app, and not a phase of its test (its time
            # and CPU are in the test's own call). A unittest suite may run thousands.
            return
        cpu = real.process_time()
        phase_cpu = cpu - self._cpu_mark
        self._cpu_mark = cpu
        if phase_cpu < 0.0:
            phase_cpu = 0.0
        maxrss = 0
        if when == "teardown":
            maxrss = _getrusage(_RUSAGE_SELF).ru_maxrss * _MAXRSS_UNIT
        category: str | None = None  # the teststatus hook's word, once asked
        with self._held_lock:
            if quiet_pass:
                # The common case: hold quiet passing phases and send the test as one TestDone
                # (one event instead of three is most of what streaming a trivial test costs).
                held = self._held
                if when == "call":
                    category = "passed" if self._plainly_passed(report) else self._category(report)
                    quiet = category == "passed" and getattr(report, "count_towards_summary", True)
                else:
                    quiet = True
                if quiet and len(held) == _PHASE_INDEX.get(when or "", -1):
                    nodeid = report.nodeid
                    if not held or held[0][3] == nodeid:
                        if when == "teardown":
                            self._send_done(report, nodeid, phase_cpu, maxrss)
                        else:
                            if not held:
                                self._held_at = real.monotonic()
                            held.append((report, phase_cpu, category or "", nodeid))
                        return
            self._release_held()
            self._send_report(report, phase_cpu, maxrss, category)

    def _send_done(self, teardown: pytest.TestReport, nodeid: str, cpu: float, maxrss: int) -> None:
        (setup, setup_cpu, _, _), (call, call_cpu, _, _) = self._held
        self._held.clear()
        rss = self._last_rss = self._rss()
        start = self._start
        if self._announced or start is None or start[0] != nodeid:
            began, path, line, domain, rss_before = 0.0, "", 0, "", 0
        else:
            _, (path, lineno, domain), began, rss_before = start
            line = (lineno + 1) if lineno is not None else 0
            self._announced = True
        self.sink.send(
            TestDone(
                self.worker,
                self.pid,
                real.monotonic(),
                nodeid=clean(nodeid),
                setup=setup.duration,
                call=call.duration,
                teardown=teardown.duration,
                start=getattr(setup, "start", 0.0),
                stop=getattr(teardown, "stop", 0.0),
                cpu=setup_cpu + call_cpu + cpu,
                rss=rss,
                maxrss=maxrss,
                began=began,
                path=clean(str(path)),
                line=line,
                domain=clean(domain),
                rss_before=rss_before,
            )
        )

    def _release_held(self) -> None:
        """Send held phases as the reports they are: their test turned out not quiet (the
        caller holds ``_held_lock``)."""
        while self._held:
            report, cpu, category, _ = self._held.pop(0)
            self._send_report(report, cpu, 0, category)

    def release_stale(self) -> None:
        """From the sink's flusher thread: the running test's held phases, once it has run on
        past them for :data:`ANNOUNCE_AFTER`, go out as reports, so a view shows it in its
        call (or teardown) instead of its setup. A quick test is still sent as one TestDone."""
        with self._held_lock:
            start = self._start
            now = real.monotonic()
            if not self._announced and start is not None and now - start[2] >= ANNOUNCE_AFTER:
                self._announce()
            if self._held and now - self._held_at >= ANNOUNCE_AFTER:
                self._release_held()

    def _plainly_passed(self, report: pytest.TestReport) -> bool:
        """Whether ``pytest_report_teststatus`` would call this passed report "passed":
        only pytest's and known plugins' implementations, and nothing they treat apart."""
        if type(report) is not pytest.TestReport or hasattr(report, "wasxfail"):
            return False
        plain = self._status_is_plain()
        failed = self._failed_subtests
        if failed and failed.get(getattr(report, "id", None), 0):
            return False  # pytest 9 fails a passed test that has failed subtests
        return plain

    def _unseen(self, report: pytest.TestReport) -> bool:
        """Whether ``pytest_report_teststatus`` gives this passed subtest (or other report
        subclass) no word: pytest's own subtests at default verbosity need no hook call."""
        if hasattr(report, "wasxfail") or report.nodeid != self.current:
            return False
        if (
            self._subtest_type is not None
            and isinstance(report, self._subtest_type)
            and self._subtests_quiet
            and self._status_is_plain()
        ):
            return True
        return self._category(report) == ""

    def _status_is_plain(self) -> bool:
        """Whether only pytest's and known plugins' ``pytest_report_teststatus`` run."""
        impls = self._teststatus.get_hookimpls()  # a conftest may add one at any time
        if impls != self._status_impls:
            self._status_impls = impls
            self._status_plain = all(
                _plugin_module(impl.plugin) in _PLAIN_STATUS_PLUGINS for impl in impls
            )
        return self._status_plain

    def _category(self, report: pytest.TestReport) -> str:
        """What ``pytest_report_teststatus`` calls this report ("" for an uncounted phase)."""
        status = self._teststatus(report=report, config=self.config)
        return str(status[0]) if status else ""

    def _send_report(
        self,
        report: pytest.TestReport,
        phase_cpu: float,
        maxrss: int,
        category: str | None = None,
    ) -> None:
        if category is None:
            # pytest counts no passed setup or teardown; skipping the hook call here saves two
            # of the three per test.
            passed_aside = report.passed and report.when != "call"
            category = "" if passed_aside else self._category(report)
        longrepr = crash_path = message = ""
        crash_line = 0
        if report.longrepr is not None and not report.passed:
            if report.skipped and isinstance(report.longrepr, tuple):
                longrepr = str(report.longrepr[2])
            else:
                longrepr = str(report.longrepr)
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is not None:
                crash_path, crash_line = str(crash.path), int(crash.lineno or 0)
                message = str(getattr(crash, "message", "") or "").strip().split("\n", 1)[0]
        sections = bool(report.sections)
        if report.nodeid == self.current:
            self._announce()
        rss = 0
        if report.when == "teardown":
            rss = self._last_rss = self._rss()
        self.sink.send(
            TestReport(
                self.worker,
                self.pid,
                real.monotonic(),
                nodeid=clean(report.nodeid),
                when=report.when or "",
                outcome=report.outcome,
                category=clean(category),
                counts=bool(getattr(report, "count_towards_summary", True)),
                duration=float(report.duration),
                start=float(getattr(report, "start", 0.0)),
                stop=float(getattr(report, "stop", 0.0)),
                cpu=phase_cpu,
                rss=rss,
                maxrss=maxrss,
                longrepr=bounded(longrepr) if longrepr else "",
                stdout=_phase_section(report, "stdout") if sections else "",
                stderr=_phase_section(report, "stderr") if sections else "",
                log=_phase_section(report, "log") if sections else "",
                crash_path=clean(crash_path),
                crash_line=crash_line,
                wasxfail=clean(str(getattr(report, "wasxfail", ""))),
                message=bounded(message, 500) if message else "",
            )
        )

    # -- fixtures --------------------------------------------------------------------------
    def _location(self, fixturedef: Any) -> str:
        key = id(fixturedef.func)
        loc = self._locations.get(key)
        if loc is None:
            code = getattr(fixturedef.func, "__code__", None)
            if code is None:
                loc = str(getattr(fixturedef, "baseid", ""))
            else:
                path = code.co_filename
                try:
                    path = os.path.relpath(path, self.rootpath)
                    if path.startswith(".."):
                        path = code.co_filename
                except ValueError:
                    pass
                loc = f"{path}:{code.co_firstlineno}"
            loc = self._locations[key] = clean(loc)
        return loc

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Generator[None, Any, Any]:
        if getattr(fixturedef.func, "__name__", "") == "get_direct_param_fixture_func":
            return (yield)  # a parametrize argument, not a fixture anyone wrote
        start = real.perf_counter()
        self._fixture_stack.append(0.0)
        failed = True
        try:
            result = yield
            failed = False
            return result
        finally:
            duration = real.perf_counter() - start
            nested = self._fixture_stack.pop()
            if self._fixture_stack:
                self._fixture_stack[-1] += duration
            self.sink.send(
                FixtureSetup(
                    self.worker,
                    self.pid,
                    real.monotonic(),
                    name=fixturedef.argname,
                    scope=str(fixturedef.scope),
                    location=self._location(fixturedef),
                    nodeid=clean(self.current),
                    duration=duration,
                    own=max(0.0, duration - nested),
                    failed=failed,
                )
            )
            if not failed:
                # Finalizers run last-in first-out, so this one runs before the fixture's own
                # teardown code: it marks when the teardown starts.
                fixturedef.addfinalizer(partial(self._teardown_starts, fixturedef))

    def _teardown_starts(self, fixturedef: Any) -> None:
        self._teardown_started[id(fixturedef)] = real.perf_counter()

    def pytest_fixture_post_finalizer(self, fixturedef: Any, request: Any) -> None:
        # Before pytest 9.1 this hook can fire more than once per teardown: only the first
        # after our start mark counts.
        start = self._teardown_started.pop(id(fixturedef), None)
        if start is None:
            return
        self.sink.send(
            FixtureTeardown(
                self.worker,
                self.pid,
                real.monotonic(),
                name=fixturedef.argname,
                scope=str(fixturedef.scope),
                location=self._location(fixturedef),
                nodeid=clean(self.current),
                duration=real.perf_counter() - start,
            )
        )

    # -- serialization (xdist workers only) ------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(self, report: Any) -> Generator[None, Any, Any]:
        # execnet cannot send a string with a lone surrogate: xdist would drop the report
        # with an INTERNALERROR. Escape such strings so the failure reaches the controller.
        data = yield
        if data is not None and (
            getattr(report, "outcome", "passed") != "passed"
            or getattr(report, "sections", None)
            or getattr(report, "user_properties", None)  # record_property("k", "\udcff")
        ):
            return clean_tree(data)
        return data
