"""RunState.apply: the reducer every view renders, driven by synthetic and recorded events."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotlap.export.record import read_record
from hotlap.model.run_state import Change, RunPhase, RunState
from hotlap.protocol import (
    CollectError,
    CollectionFinish,
    FixtureSetup,
    FixtureTeardown,
    ResourceSample,
    SessionFinish,
    TestDone,
    TestReport,
    TestStart,
    WorkerCrash,
    WorkerStart,
)

DATA = Path(__file__).parent.parent / "data"


def start(nodeid: str, worker: str = "gw0", t: float = 1.0) -> TestStart:
    return TestStart(worker, 10, t, nodeid=nodeid, path="t.py", line=1, domain=nodeid)


def report(
    nodeid: str,
    when: str,
    category: str,
    *,
    outcome: str = "passed",
    worker: str = "gw0",
    duration: float = 0.1,
    t: float = 2.0,
    longrepr: str = "",
) -> TestReport:
    return TestReport(
        worker,
        10,
        t,
        nodeid=nodeid,
        when=when,
        outcome=outcome,
        category=category,
        counts=True,
        duration=duration,
        start=t - duration,
        stop=t,
        cpu=duration / 2,
        rss=1000,
        maxrss=5000,
        longrepr=longrepr,
    )


def run_test(state: RunState, nodeid: str, call: str = "passed", *, worker: str = "gw0") -> None:
    state.apply(start(nodeid, worker))
    state.apply(report(nodeid, "setup", "", worker=worker))
    outcome = "failed" if call == "failed" else "passed"
    state.apply(report(nodeid, "call", call, outcome=outcome, worker=worker, longrepr="E  x"))
    state.apply(report(nodeid, "teardown", "", worker=worker))


def test_counts_follow_pytest_categories() -> None:
    """Counts are the categories pytest_report_teststatus gave, one per counted report."""
    state = RunState()
    run_test(state, "t.py::a")
    run_test(state, "t.py::b", "failed")
    run_test(state, "t.py::c", "xfailed")
    assert state.summary_counts() == {"failed": 1, "passed": 1, "xfailed": 1}
    assert state.failures == ["t.py::b"]
    assert state.tests["t.py::b"].outcome == "failed"
    assert state.tests["t.py::a"].duration == pytest.approx(0.3)


def test_teardown_error_counts_as_passed_and_error() -> None:
    """A passing call with a failing teardown is "1 passed, 1 error", like pytest."""
    state = RunState()
    state.apply(start("t.py::a"))
    state.apply(report("t.py::a", "setup", ""))
    state.apply(report("t.py::a", "call", "passed"))
    state.apply(report("t.py::a", "teardown", "error", outcome="failed", longrepr="E  boom"))
    assert state.summary_counts() == {"passed": 1, "error": 1}
    assert state.tests["t.py::a"].outcome == "error"
    assert "boom" in state.tests["t.py::a"].longrepr


def test_lane_follows_the_phases() -> None:
    """A worker lane shows the running test and its phase, then goes idle and counts it."""
    state = RunState()
    state.apply(WorkerStart("gw1", 11, 0.5, wall=0.0))
    assert state.apply(start("t.py::a", "gw1")) & Change.WORKERS
    lane = state.workers["gw1"]
    assert (lane.current, lane.phase) == ("t.py::a", "setup")
    state.apply(report("t.py::a", "setup", "", worker="gw1"))
    assert lane.phase == "call"
    state.apply(report("t.py::a", "call", "passed", worker="gw1"))
    assert lane.phase == "teardown"
    state.apply(report("t.py::a", "teardown", "", worker="gw1"))
    assert (lane.current, lane.tests_done, lane.state) == ("", 1, "idle")


def test_skipped_setup_goes_to_teardown() -> None:
    """After a skip in setup the next phase is teardown, not call."""
    state = RunState()
    state.apply(start("t.py::s"))
    state.apply(report("t.py::s", "setup", "skipped", outcome="skipped"))
    assert state.workers["gw0"].phase == "teardown"


def test_worker_crash_fails_the_test_and_marks_the_lane() -> None:
    """xdist's when='???' report plus the node-down event: one failed test, a crashed lane."""
    state = RunState()
    state.apply(start("t.py::boom"))
    state.apply(report("t.py::boom", "setup", ""))
    state.apply(report("t.py::boom", "???", "failed", outcome="failed", longrepr="crashed"))
    state.apply(
        WorkerCrash(
            "controller",
            1,
            3.0,
            crashed_worker="gw0",
            nodeid="t.py::boom",
            reason="Not properly terminated",
        )
    )
    state.apply(WorkerStart("gw2", 12, 3.1, wall=0.0))
    assert state.summary_counts() == {"failed": 1}
    assert state.tests["t.py::boom"].crashed and state.tests["t.py::boom"].outcome == "failed"
    lane = state.workers["gw0"]
    assert lane.state == "crashed" and lane.crashed_in == "t.py::boom"
    assert "gw2" in state.workers


def test_crash_without_report_uses_the_running_test() -> None:
    """When only a crash is known (a run without xdist died), the lane's test is failed."""
    state = RunState()
    state.apply(start("t.py::segv", "main"))
    state.apply(
        WorkerCrash(
            "app", 1, 2.0, crashed_worker="main", nodeid="", reason="pytest was killed by SIGSEGV"
        )
    )
    rec = state.tests["t.py::segv"]
    assert rec.done and rec.outcome == "failed" and "SIGSEGV" in rec.longrepr


def test_collect_errors_are_counted_once() -> None:
    """Every xdist worker reports the same collection error; pytest counts it once."""
    state = RunState()
    for worker in ("gw0", "gw1"):
        state.apply(CollectError(worker, 1, 0.1, nodeid="bad.py", longrepr="SyntaxError"))
    assert state.summary_counts() == {"error": 1}
    assert state.collect_errors == {"bad.py": "SyntaxError"}


def test_fixture_costs_and_scope_hint() -> None:
    """Setups and teardowns add up per fixture; a costly function fixture gets a hint."""
    state = RunState()
    for i, module in enumerate(["a.py", "a.py", "a.py", "b.py"]):
        nodeid = f"{module}::t{i}"
        state.apply(
            FixtureSetup(
                "gw0",
                1,
                float(i),
                name="db",
                scope="function",
                location="conftest.py:3",
                nodeid=nodeid,
                duration=0.5,
                own=0.4,
            )
        )
        state.apply(
            FixtureTeardown(
                "gw0",
                1,
                i + 0.5,
                name="db",
                scope="function",
                location="conftest.py:3",
                nodeid=nodeid,
                duration=0.1,
            )
        )
    cost = state.fixtures[("db", "function", "conftest.py:3")]
    assert cost.count == 4 and cost.modules == 2
    assert cost.setup_total == pytest.approx(1.6) and cost.teardown_total == pytest.approx(0.4)
    assert [u.teardown for u in cost.uses] == [0.1] * 4
    scope, saving = cost.wider_scope_saving() or ("", 0.0)
    assert scope == "module" and saving == pytest.approx(1.0)  # 4 uses -> 2 (one per module)


def test_no_scope_hint_for_session_fixtures() -> None:
    """Only function-scoped fixtures get the wider-scope hint."""
    state = RunState()
    state.apply(
        FixtureSetup(
            "gw0",
            1,
            0.0,
            name="s",
            scope="session",
            location="c.py:1",
            nodeid="a.py::t",
            duration=2.0,
            own=2.0,
        )
    )
    assert state.fixtures[("s", "session", "c.py:1")].wider_scope_saving() is None


def test_resource_samples_reach_the_lanes() -> None:
    """A sample's per-process rows are summed into their lanes; unknown rows are ignored."""
    state = RunState()
    state.apply(WorkerStart("gw0", 11, 0.0, wall=0.0))
    sample = ResourceSample(
        "app",
        1,
        1.0,
        processes=[[11, "gw0", 50.0, 100], [12, "gw0", 25.0, 50], [13, "", 5.0, 10], ["bad"]],
        total_cpu=80.0,
        total_rss=160,
        per_core=[40.0, 40.0],
        mem_total=1000,
        mem_available=500,
        effective_cores=2.0,
    )
    assert state.apply(sample) & Change.RESOURCES
    lane = state.workers["gw0"]
    assert (lane.cpu_percent, lane.rss) == (75.0, 150)
    assert list(lane.cpu_history) == [75.0]
    assert state.resources[-1].total_cpu == 80.0


def test_session_finish_ends_the_run() -> None:
    """The end of the session marks the run done and records pytest's own stats."""
    state = RunState()
    state.apply(CollectionFinish("gw0", 1, 0.5, count=2, nodeids=["a", "b"]))
    assert state.phase is RunPhase.RUNNING and state.queued() == ["a", "b"]
    state.apply(SessionFinish("controller", 1, 5.0, exitstatus=0, stats={"passed": 2}))
    assert state.phase is RunPhase.DONE and state.session.exitstatus == 0


@pytest.mark.parametrize("name", ["engine_n0.jsonl", "engine_n2.jsonl"])
def test_recorded_runs_reproduce_pytest_counts(name: str) -> None:
    """Replaying a real recorded run gives exactly the counts pytest itself reported."""
    path = DATA / name
    state = RunState()
    for event in read_record(path):
        state.apply(event)
    assert state.phase is RunPhase.DONE
    assert state.summary_counts() == state.session.pytest_stats
    assert state.summary_counts()["error"] == 2  # setup error + teardown error
    assert all(rec.done for rec in state.tests.values())


def test_rerun_reopens_the_test_and_counts_each_report() -> None:
    """pytest-rerunfailures: a "rerun" report, then a passing attempt, in one logstart."""
    state = RunState()
    state.apply(start("t.py::flaky"))
    state.apply(report("t.py::flaky", "setup", ""))
    state.apply(report("t.py::flaky", "call", "rerun", outcome="rerun"))
    state.apply(report("t.py::flaky", "teardown", ""))
    assert state.done_count == 1
    state.apply(report("t.py::flaky", "setup", ""))
    assert state.done_count == 0 and not state.tests["t.py::flaky"].done
    state.apply(report("t.py::flaky", "call", "passed"))
    state.apply(report("t.py::flaky", "teardown", ""))
    assert state.done_count == 1
    assert state.summary_counts() == {"passed": 1, "rerun": 1}
    assert state.tests["t.py::flaky"].outcome == "passed"
    assert state.tests["t.py::flaky"].duration == pytest.approx(0.6)


def test_app_crash_counts_the_test_once() -> None:
    """When pytest itself died (the app says so) the running test is failed and counted;
    a controller's crash notice waits for xdist's own report instead of counting twice."""
    state = RunState()
    state.apply(start("t.py::exit", "main"))
    state.apply(
        WorkerCrash(
            "app",
            1,
            2.0,
            crashed_worker="main",
            nodeid="t.py::exit",
            reason="pytest exited with code 3 before the session finished",
        )
    )
    assert state.summary_counts() == {"failed": 1}
    xdist = RunState()
    xdist.apply(start("t.py::segv", "gw0"))
    xdist.apply(
        WorkerCrash(
            "controller", 1, 2.0, crashed_worker="gw0", nodeid="t.py::segv", reason="SIGSEGV"
        )
    )
    xdist.apply(report("t.py::segv", "???", "failed", outcome="failed", t=2.1))
    assert xdist.summary_counts() == {"failed": 1}
    assert xdist.tests["t.py::segv"].outcome == "failed"


def test_test_done_is_its_three_passing_reports() -> None:
    """One TestDone leaves the state exactly as the three passing phase reports it stands
    for: the record's times, CPU, RSS and outcome, the counts and the lane; also for a second
    attempt of a test that already finished (a rerun inside one logstart). Binary fractions
    keep the sums exact."""

    def three(state: RunState, nodeid: str) -> None:
        for when, took in (("setup", 0.125), ("call", 0.25), ("teardown", 0.5)):
            state.apply(
                TestReport(
                    "gw1", 10, 3.0, nodeid=nodeid, when=when, outcome="passed",
                    category="passed" if when == "call" else "", counts=True, duration=took,
                    start=1.0 if when == "setup" else 2.0, stop=2.5 if when == "teardown" else 2.0,
                    cpu=0.25, rss=2000 if when == "teardown" else 0, maxrss=7000,
                )
            )  # fmt: skip

    def one(state: RunState, nodeid: str) -> None:
        state.apply(
            TestDone(
                "gw1", 10, 3.0, nodeid=nodeid, setup=0.125, call=0.25, teardown=0.5, start=1.0,
                stop=2.5, cpu=0.75, rss=2000, maxrss=7000,
            )
        )  # fmt: skip

    states = []
    for send in (three, one):
        state = RunState()
        state.apply(start("t.py::a", "gw1"))
        send(state, "t.py::a")
        state.apply(start("t.py::b", "gw1"))
        send(state, "t.py::b")
        send(state, "t.py::b")  # a second attempt without a new start
        states.append(state)
    reports, done = states
    assert done.tests == reports.tests
    assert done.summary_counts() == reports.summary_counts() == {"passed": 3}
    assert done.done_count == reports.done_count == 2
    assert done.workers["gw1"] == reports.workers["gw1"]
    assert done.tests["t.py::b"].duration == pytest.approx(1.75)
