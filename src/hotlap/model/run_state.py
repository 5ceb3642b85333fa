"""``RunState``: everything known about a run, built only from events.

``RunState.apply(event)`` is a reducer: it reads nothing but the event (no clock, no I/O), so
a recorded stream replays to the same state. Views (the headless reporter, the dashboard, the
exports) read the state and pass ``now`` in when they need a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from msgspec.structs import replace

from hotlap.model.records import (
    LANE_HISTORY,
    FixtureCost,
    FixtureUse,
    ResourcePoint,
    SessionInfo,
    TestRecord,
    WorkerLane,
)
from hotlap.protocol.events import (
    AssertDiff,
    CollectError,
    CollectionFinish,
    CollectSkip,
    Event,
    FixtureSetup,
    FixtureTeardown,
    HangStack,
    Hazard,
    RecoveredReports,
    ResourceSample,
    SessionFinish,
    SessionStart,
    TestDone,
    TestReport,
    TestStart,
    WorkerCrash,
    WorkerStart,
)

# The records are defined in ``records`` and used through this module by the views.
__all__ = [
    "LANE_HISTORY",
    "OUTCOMES",
    "Change",
    "FixtureCost",
    "FixtureUse",
    "ResourcePoint",
    "RunPhase",
    "RunState",
    "SessionInfo",
    "TestRecord",
    "WorkerLane",
]

#: Outcomes in the order a view lists and colours them.
OUTCOMES = ("failed", "error", "passed", "skipped", "xfailed", "xpassed", "rerun")

# Which phase-level category wins when a test has several (call failed + teardown error → failed).
_PRECEDENCE = {
    "failed": 0,
    "error": 1,
    "xpassed": 2,
    "xfailed": 3,
    "passed": 4,
    "skipped": 5,
    "rerun": 6,
}


class Change(enum.IntFlag):
    """What an applied event changed, so a view can refresh only that."""

    NONE = 0
    SESSION = enum.auto()
    TESTS = enum.auto()
    WORKERS = enum.auto()
    FIXTURES = enum.auto()
    RESOURCES = enum.auto()
    COUNTS = enum.auto()


# Combinations precomputed: ``Change.A | Change.B`` goes through the enum machinery (~1 us),
# on every event the reducer applies.
_FLAGS = tuple(Change(i) for i in range(1 << len(Change.__members__)))
_SESSION, _TESTS, _WORKERS, _COUNTS = (
    int(Change.SESSION),
    int(Change.TESTS),
    int(Change.WORKERS),
    int(Change.COUNTS),
)
_SESSION_WORKERS = _FLAGS[_SESSION | _WORKERS]
_SESSION_TESTS = _FLAGS[_SESSION | _TESTS]
_COUNTS_TESTS = _FLAGS[_COUNTS | _TESTS]
_TESTS_WORKERS = _FLAGS[_TESTS | _WORKERS]
#: Hazards kept per test (the rest are in hotlap safety).
_MAX_HAZARDS = 20
_TESTS_COUNTS_WORKERS = _FLAGS[_TESTS | _COUNTS | _WORKERS]
_RESOURCES_WORKERS = Change.RESOURCES | Change.WORKERS


class RunPhase(str, enum.Enum):
    """Where the run as a whole is."""

    STARTING = "starting"
    COLLECTING = "collecting"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class RunState:
    """The state of one run, built by :meth:`apply`."""

    def __init__(self) -> None:
        self.session = SessionInfo()
        self.phase = RunPhase.STARTING
        self.tests: dict[str, TestRecord] = {}
        self.collected: list[str] = []
        self.deselected = 0
        self.collect_errors: dict[str, str] = {}
        self.collect_skips: dict[str, str] = {}  # skipped collectors: nodeid -> reason
        self.workers: dict[str, WorkerLane] = {}
        self.fixtures: dict[tuple[str, str, str], FixtureCost] = {}
        self.counts: dict[str, int] = {}
        self.failures: list[str] = []  # nodeids in the order they failed
        self.resources: list[ResourcePoint] = []
        self.last_sample: ResourceSample | None = None
        self.crashes: list[WorkerCrash] = []
        self.first_t: float | None = None
        self.last_t: float = 0.0
        self.events = 0
        self._done = 0
        # The open setup of each (worker, fixture) so its teardown finds it.
        self._open_uses: dict[tuple[str, str, str, str], list[FixtureUse]] = {}

    # -- derived values -------------------------------------------------------------------
    @property
    def total(self) -> int:
        """Tests collected (pytest's "collected N items"), or tests seen if larger."""
        return max(len(self.collected), len(self.tests))

    @property
    def done_count(self) -> int:
        """Tests finished so far (kept as a counter: views read it many times a second)."""
        return self._done

    @property
    def running(self) -> list[TestRecord]:
        return [t for t in self.tests.values() if t.started is not None and t.finished is None]

    def queued(self) -> list[str]:
        """Collected tests that have not started yet."""
        tests = self.tests
        return [n for n in self.collected if n not in tests]

    def elapsed(self, now: float) -> float:
        start = self.session.start or self.first_t
        if start is None:
            return 0.0
        end = self.session.finished if self.session.finished is not None else now
        return max(0.0, end - start)

    def summary_counts(self) -> dict[str, int]:
        """Counts by category in pytest's order (failed, passed, …, error), zeroes dropped."""
        order = ("failed", "passed", "skipped", "deselected", "xfailed", "xpassed", "error")
        counts = dict(self.counts)
        if self.deselected:
            counts["deselected"] = self.deselected
        out = {k: counts[k] for k in order if counts.get(k)}
        out.update({k: v for k, v in counts.items() if v and k not in out})
        return out

    # -- the reducer ----------------------------------------------------------------------
    def apply(self, event: Event) -> Change:
        """Fold one event into the state; return what changed."""
        self.events += 1
        if not isinstance(event, ResourceSample):
            if self.first_t is None:
                self.first_t = event.t
            self.last_t = max(self.last_t, event.t)
        handler = _HANDLERS.get(type(event))
        return handler(self, event) if handler else Change.NONE

    def _session_start(self, e: SessionStart) -> Change:
        s = self.session
        s.wall, s.start, s.argv, s.rootdir = e.wall, e.t, list(e.argv), e.rootdir
        s.pid = e.pid
        s.hotlap_version, s.pytest_version = e.hotlap_version, e.pytest_version
        s.xdist_version, s.python_version = e.xdist_version, e.python_version
        s.numprocesses, s.dry_run, s.host = e.numprocesses, e.dry_run, e.host
        s.workers_reason, s.capture = e.workers_reason, e.capture
        if self.phase is RunPhase.STARTING:
            self.phase = RunPhase.COLLECTING
        return Change.SESSION

    def _worker_start(self, e: WorkerStart) -> Change:
        lane = self.workers.get(e.worker)
        if lane is None:
            lane = self.workers[e.worker] = WorkerLane(e.worker)
        lane.pid, lane.started = e.pid, e.t
        lane.host, lane.python = e.host, e.python
        if self.phase is RunPhase.STARTING:
            self.phase = RunPhase.COLLECTING
        return _SESSION_WORKERS

    def _collection_finish(self, e: CollectionFinish) -> Change:
        # Every xdist worker collects the same items; the first list is the run's.
        if not self.collected and e.nodeids:
            self.collected = list(e.nodeids)
        if e.worker in ("main", "controller"):
            self.deselected = e.deselected
        if self.phase in (RunPhase.STARTING, RunPhase.COLLECTING):
            self.phase = RunPhase.RUNNING
        return _SESSION_TESTS

    def _collect_error(self, e: CollectError) -> Change:
        # xdist workers each report the same collection error; count it once, as pytest does.
        if e.nodeid in self.collect_errors:
            return Change.NONE
        self.collect_errors[e.nodeid] = e.longrepr
        self.counts["error"] = self.counts.get("error", 0) + 1
        return _COUNTS_TESTS

    def _collect_skip(self, e: CollectSkip) -> Change:
        # Each xdist worker skips the same module; pytest counts it once.
        if e.nodeid in self.collect_skips:
            return Change.NONE
        self.collect_skips[e.nodeid] = e.reason
        self.counts["skipped"] = self.counts.get("skipped", 0) + 1
        return Change.COUNTS

    def _test(self, nodeid: str) -> TestRecord:
        rec = self.tests.get(nodeid)
        if rec is None:
            rec = self.tests[nodeid] = TestRecord(nodeid)
        return rec

    def _lane(self, worker: str) -> WorkerLane:
        lane = self.workers.get(worker)
        if lane is None:
            lane = self.workers[worker] = WorkerLane(worker)
        return lane

    def _test_start(self, e: TestStart) -> Change:
        rec = self._test(e.nodeid)
        if rec.finished is not None:
            # The same nodeid again (--count, a second session): time this run afresh.
            self._reopen(rec)
            rec.setup = rec.call = rec.teardown = rec.cpu = 0.0
        rec.worker, rec.path, rec.line = e.worker, e.path, e.line
        rec.started, rec.phase = e.t, "setup"
        rec.rss_before = e.rss
        lane = self._lane(e.worker)
        lane.pid = lane.pid or e.pid
        lane.current, lane.phase, lane.since = e.nodeid, "setup", e.t
        if self.phase in (RunPhase.STARTING, RunPhase.COLLECTING):
            self.phase = RunPhase.RUNNING
        return _TESTS_WORKERS

    def _test_report(self, e: TestReport) -> Change:
        rec = self._test(e.nodeid)
        rec.worker = rec.worker or e.worker
        if e.when == "setup" and rec.finished is not None:
            # pytest-rerunfailures reruns inside one logstart: the attempts' times add up.
            self._reopen(rec)
            rec.phase = "setup"
        if rec.started is None:
            rec.started = e.start
        rec.phases += e.when[:1]
        if e.when == "setup":
            rec.setup += e.duration
        elif e.when == "call":
            rec.call += e.duration
        else:
            rec.teardown += e.duration
        rec.cpu += e.cpu
        if e.rss:
            rec.rss_after = e.rss
        rec.rss_peak = max(rec.rss_peak, e.maxrss)
        if e.longrepr:
            rec.longrepr = f"{rec.longrepr}\n{e.longrepr}" if rec.longrepr else e.longrepr
            if e.crash_path:
                rec.crash_path, rec.crash_line = e.crash_path, e.crash_line
            if e.message and not rec.message:
                rec.message = e.message
        for name in ("stdout", "stderr", "log"):
            text = getattr(e, name)
            if text:
                setattr(rec, name, getattr(rec, name) + text)
        if e.wasxfail:
            rec.wasxfail = e.wasxfail
        change = _TESTS
        if e.category:
            if e.counts:
                self.counts[e.category] = self.counts.get(e.category, 0) + 1
                change |= _COUNTS
            rec.categories.append(e.category)
            if e.category in ("failed", "error") and e.nodeid not in self.failures:
                self.failures.append(e.nodeid)
        next_phase = {"setup": "call", "call": "teardown"}.get(e.when, "")
        if e.when == "teardown" or e.when == "???" or (e.when == "setup" and e.outcome != "passed"):
            # After a failed or skipped setup pytest goes straight to teardown.
            next_phase = "teardown" if e.when == "setup" else ""
        lane = self._lane(e.worker)
        if e.when in ("teardown", "???"):
            self._end_on(lane, rec, e.stop if e.stop else e.t)
            change |= _WORKERS
        else:
            rec.phase = next_phase
            if lane.current == e.nodeid:
                lane.phase = next_phase
                change |= _WORKERS
        return _FLAGS[change]

    def _test_done(self, e: TestDone) -> Change:
        """Three passing phases at once: what their three reports would have done."""
        rec = self._test(e.nodeid)
        lane = self._lane(e.worker)
        if e.began and (rec.started is None or rec.finished is not None):
            # No TestStart was sent (a quick test): this event says what it would have.
            if rec.finished is not None:
                self._reopen(rec)
                rec.setup = rec.call = rec.teardown = rec.cpu = 0.0
            rec.worker, rec.path, rec.line = e.worker, e.path, e.line
            rec.started, rec.rss_before = e.began, e.rss_before
            lane.pid = lane.pid or e.pid
            lane.tests_done += 1
            if self.phase in (RunPhase.STARTING, RunPhase.COLLECTING):
                self.phase = RunPhase.RUNNING
        rec.worker = rec.worker or e.worker
        if rec.finished is not None:
            self._reopen(rec)
        if rec.started is None:
            rec.started = e.start
        rec.phases += "sct"
        rec.setup += e.setup
        rec.call += e.call
        rec.teardown += e.teardown
        rec.cpu += e.cpu
        if e.rss:
            rec.rss_after = e.rss
        rec.rss_peak = max(rec.rss_peak, e.maxrss)
        self.counts["passed"] = self.counts.get("passed", 0) + 1
        rec.categories.append("passed")
        self._end_on(lane, rec, e.stop if e.stop else e.t)
        return _TESTS_COUNTS_WORKERS

    def _end_on(self, lane: WorkerLane, rec: TestRecord, t: float) -> None:
        """``rec`` finished at ``t``; the lane that was running it is free."""
        self._finish(rec, t)
        if lane.current == rec.nodeid:
            lane.current, lane.phase = "", ""
            lane.tests_done += 1

    def _reopen(self, rec: TestRecord) -> None:
        """A finished test runs again (pytest-rerunfailures, ``--count``): it is running."""
        rec.finished, rec.outcome, rec.diff = None, "", ""
        self._done -= 1

    def _finish(self, rec: TestRecord, t: float) -> None:
        if rec.finished is None:
            self._done += 1
        rec.finished = t
        rec.phase = ""
        cats = [c for c in rec.categories if c in _PRECEDENCE]
        if rec.crashed:
            rec.outcome = "failed"
        elif cats:
            rec.outcome = min(cats, key=_PRECEDENCE.__getitem__)
        else:
            rec.outcome = rec.categories[-1] if rec.categories else "passed"

    def _fixture_key(self, name: str, scope: str, location: str) -> FixtureCost:
        key = (name, scope, location)
        cost = self.fixtures.get(key)
        if cost is None:
            cost = self.fixtures[key] = FixtureCost(name, scope, location)
        return cost

    def _fixture_setup(self, e: FixtureSetup) -> Change:
        cost = self._fixture_key(e.name, e.scope, e.location)
        use = FixtureUse(e.worker, e.nodeid, e.own)
        cost.uses.append(use)
        cost.setup_total += e.own
        cost.failed += e.failed
        self._open_uses.setdefault((e.worker, e.name, e.scope, e.location), []).append(use)
        self._charge_shared(e.nodeid, e.scope, e.own)
        return Change.FIXTURES

    def _fixture_teardown(self, e: FixtureTeardown) -> Change:
        cost = self._fixture_key(e.name, e.scope, e.location)
        cost.teardown_total += e.duration
        stack = self._open_uses.get((e.worker, e.name, e.scope, e.location))
        if stack:
            use = stack.pop()
            use.teardown, use.teardown_nodeid = e.duration, e.nodeid
        self._charge_shared(e.nodeid, e.scope, e.duration)
        return Change.FIXTURES

    def _charge_shared(self, nodeid: str, scope: str, seconds: float) -> None:
        """A wider fixture's setup or teardown ran during ``nodeid``: it paid for it."""
        if scope != "function" and nodeid:
            # A quick test's record may not exist yet: its one event comes after its fixtures'.
            self._test(nodeid).shared += seconds

    def _recovered_reports(self, e: RecoveredReports) -> Change:
        """A dead worker's reports as the controller relayed them: the ones whose events
        died with the worker count now (setups before calls before teardowns)."""
        order = {"setup": 0, "call": 1, "teardown": 2}
        rows = [
            r
            for r in e.reports
            if len(r) == 6
            and all(isinstance(r[i], str) for i in range(4))
            and isinstance(r[5], (int, float))
        ]
        rows.sort(key=lambda r: order.get(r[1], 3))
        change = Change.NONE
        for nodeid, when, outcome, category, counts, duration in rows:
            rec = self.tests.get(nodeid)
            if when not in order or (
                rec is not None and (rec.finished is not None or when[:1] in rec.phases)
            ):
                continue
            report = TestReport(
                e.crashed_worker,
                e.pid,
                e.t,
                nodeid=nodeid,
                when=when,
                outcome=outcome,
                category=category,
                counts=bool(counts),
                duration=float(duration),
                start=0.0,
                stop=0.0,
                cpu=0.0,
                rss=0,
                maxrss=0,
            )
            change |= self._test_report(report)
        return change

    def _worker_crash(self, e: WorkerCrash) -> Change:
        lane = self._lane(e.crashed_worker)
        # xdist tells the controller that a worker is down before it names the test the worker
        # died in, so the event often has no nodeid: the lane knows which test was running.
        if not e.nodeid and lane.current:
            e = replace(e, nodeid=lane.current)
        self.crashes.append(e)
        lane.crashed, lane.crash_reason = True, e.reason
        lane.crashed_in = e.nodeid or lane.current
        lane.current, lane.phase = "", ""
        nodeid = e.nodeid or lane.crashed_in
        change = _WORKERS
        if nodeid:
            rec = self._test(nodeid)
            rec.crashed = True
            rec.worker = rec.worker or e.crashed_worker
            if not rec.longrepr:
                rec.longrepr = e.reason
            if rec.finished is None and e.worker == "controller":
                # xdist's when="???" report for this test follows and is counted then.
                self._finish(rec, e.t)
            elif rec.finished is None:
                # pytest itself died (the app says so): no report will come, count it here.
                rec.categories.append("failed")
                self.counts["failed"] = self.counts.get("failed", 0) + 1
                if nodeid not in self.failures:
                    self.failures.append(nodeid)
                self._finish(rec, e.t)
                change |= _COUNTS
            else:
                rec.outcome = "failed"
            change |= _TESTS
        return _FLAGS[change]

    def _hang_stack(self, e: HangStack) -> Change:
        rec = self._test(e.nodeid)
        rec.hang_stack, rec.hang_elapsed = e.stack, e.elapsed
        return _TESTS_WORKERS

    def _assert_diff(self, e: AssertDiff) -> Change:
        rec = self.tests.get(e.nodeid)  # an assertion outside a test is nobody's
        if rec is None:
            return Change.NONE
        rec.diff = e.explanation
        return _FLAGS[_TESTS]

    def _hazard(self, e: Hazard) -> Change:
        rec = self.tests.get(e.nodeid)
        label = f"{e.hazard} {e.name}".strip()
        if rec is None or label in rec.hazards or len(rec.hazards) >= _MAX_HAZARDS:
            return Change.NONE
        rec.hazards.append(label)
        return _FLAGS[_TESTS]

    def _session_finish(self, e: SessionFinish) -> Change:
        s = self.session
        s.exitstatus, s.finished, s.pytest_stats = e.exitstatus, e.t, dict(e.stats)
        for lane in self.workers.values():
            lane.finished = True
            lane.current, lane.phase = "", ""
        if self.phase is not RunPhase.CANCELLED:
            self.phase = RunPhase.DONE
        return _SESSION_WORKERS

    def _resource_sample(self, e: ResourceSample) -> Change:
        self.last_sample = e
        self.resources.append(ResourcePoint(e.t, e.total_cpu, e.total_rss, e.mem_available))
        by_worker: dict[str, tuple[float, int]] = {}
        for row in e.processes:
            if len(row) < 4 or not isinstance(row[1], str) or not row[1]:
                continue
            cpu, rss = by_worker.get(row[1], (0.0, 0))
            by_worker[row[1]] = (cpu + float(row[2]), rss + int(row[3]))
        for worker, (cpu, rss) in by_worker.items():
            lane = self.workers.get(worker)
            if lane is None:
                continue
            lane.cpu_percent, lane.rss = cpu, rss
            lane.cpu_history.append(cpu)
            lane.rss_history.append(rss)
        return _RESOURCES_WORKERS

    # -- things the app (not the event stream) knows ---------------------------------------
    def mark_cancelled(self) -> None:
        """The app cancelled the run; it is not an event because no process sent it."""
        self.phase = RunPhase.CANCELLED


_HANDLERS: dict[type[Event], Callable[[RunState, Any], Change]] = {
    SessionStart: RunState._session_start,
    WorkerStart: RunState._worker_start,
    CollectionFinish: RunState._collection_finish,
    CollectError: RunState._collect_error,
    CollectSkip: RunState._collect_skip,
    TestStart: RunState._test_start,
    TestReport: RunState._test_report,
    TestDone: RunState._test_done,
    FixtureSetup: RunState._fixture_setup,
    FixtureTeardown: RunState._fixture_teardown,
    WorkerCrash: RunState._worker_crash,
    RecoveredReports: RunState._recovered_reports,
    HangStack: RunState._hang_stack,
    AssertDiff: RunState._assert_diff,
    Hazard: RunState._hazard,
    SessionFinish: RunState._session_finish,
    ResourceSample: RunState._resource_sample,
}
