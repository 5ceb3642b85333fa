"""Slow-regression and flaky-test logic on recorded histories (no pytest runs)."""

from __future__ import annotations

import pytest

from hotlap.history.analysis import (
    Limits,
    LiveRegressions,
    Regression,
    check,
    find_flaky,
    find_regressions,
    flaky_test,
    median,
    regressions,
    spread,
    threshold,
)
from hotlap.history.store import TestRow
from hotlap.protocol import TestReport


def row(run: int, outcome: str, seconds: float = 0.1, deps: str = "fp", reruns: int = 0) -> TestRow:
    return TestRow(run, "t.py::x", outcome, 0.0, seconds, 0.0, 0.0, 0, 0, "gw0", reruns, deps)


def test_median_and_spread() -> None:
    """Median and MAD-based spread ignore one wild outlier."""
    assert median([1.0, 3.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert median([]) == 0.0
    assert spread([1.0, 1.0, 1.0, 100.0]) == 0.0
    assert spread([1.0, 2.0, 3.0]) == pytest.approx(1.4826)


def _twice(new: float, samples: list[float]) -> Regression | None:
    """:func:`check` when the last earlier run took ``new`` seconds too."""
    return check("t", new, [*samples, new])


def test_needs_enough_earlier_runs() -> None:
    """With fewer than three runs before the last one nothing is called a regression."""
    assert threshold([0.1, 0.1, 10.0]) is None
    assert check("t", 10.0, [0.1, 0.1, 10.0]) is None
    assert check("t", 10.0, [0.1, 0.1, 0.1, 10.0]) is not None


def test_one_slow_run_is_noise_until_the_next_one() -> None:
    """A test over its limit once (a loaded machine: 2 cores, one run in five flagged
    '0.11s -> 0.21s') is not flagged; slow again in the next run, it is."""
    steady = [0.11, 0.11, 0.12, 0.11, 0.11]
    assert check("t", 0.25, steady) is None
    assert check("t", 0.25, [*steady, 0.12]) is None
    found = check("t", 0.25, [*steady, 0.26])
    assert found is not None and found.old == pytest.approx(0.11) and found.runs == 5
    assert check("t", 0.12, [*steady, 0.26]) is None  # slow once, back to normal


def test_regression_beyond_noise_is_flagged_with_old_and_new() -> None:
    """A test 5x slower than its steady history is flagged, with median old and new seconds."""
    found = check("t.py::x", 0.52, [0.10, 0.11, 0.09, 0.10, 0.5])
    assert found is not None
    assert found.old == pytest.approx(0.10) and found.new == 0.52
    assert found.message == "slower: t.py::x 0.10s -> 0.52s"


def test_noise_is_not_a_regression() -> None:
    """Within the test's own spread, within 1.5x, or under 100 ms more, nothing is flagged: a
    10 ms test at 60 ms is what a loaded machine does (click 8.5.1's test_path_option under
    load: 'slower … 0.01s -> 0.06s')."""
    noisy = [1.0, 1.6, 0.7, 1.3, 0.9]
    assert _twice(1.9, noisy) is None  # inside 4 spreads of a noisy test
    assert _twice(1.4, [1.0, 1.0, 1.0]) is None  # 1.4x of a steady test
    assert _twice(0.045, [0.001, 0.001, 0.001]) is None  # 45x, but only 44 ms
    assert _twice(0.075, [0.01, 0.01, 0.01]) is None  # 7.5x, but only 65 ms
    assert _twice(0.115, [0.01, 0.01, 0.01]) is not None  # 105 ms more
    assert _twice(2.0, [1.0, 1.0, 1.0]) is not None


def test_find_regressions_orders_worst_first() -> None:
    """Regressions are listed by seconds lost, worst first; unknown tests are skipped."""
    base = {"a": [0.1, 0.1, 0.1, 0.5], "b": [1.0, 1.0, 1.0, 3.0]}
    found = find_regressions({"a": 0.5, "b": 3.0, "new": 9.0}, base)
    assert [r.nodeid for r in found] == ["b", "a"]


def test_limits_give_what_check_gives() -> None:
    """A baseline's cached limits flag exactly what :func:`check` flags, on every call (the
    second call reads the cache), including tests the baseline does not know."""

    base = {"a": [0.1, 0.1, 0.1, 0.3], "b": [1.0, 1.2, 0.9, 1.1], "few": [1.0],
            "c": [0.1, 0.1, 0.1, 0.1]}  # fmt: skip
    limits = Limits(base)
    for _ in range(2):
        for nodeid in ("a", "b", "c", "few", "unknown"):
            for new in (0.0, 0.12, 0.3, 1.3, 2.5, 9.0):
                assert limits.check(nodeid, new) == check(nodeid, new, base.get(nodeid, ()))
    assert find_regressions({"a": 0.5, "b": 3.0}, limits) == find_regressions(
        {"a": 0.5, "b": 3.0}, base
    )


def _report(nodeid: str, t: float, when: str, outcome: str, seconds: float) -> TestReport:
    return TestReport(
        "gw0", 2, t, nodeid=nodeid, when=when, outcome=outcome, category=outcome, counts=True,
        duration=seconds, start=t - seconds, stop=t, cpu=0.0, rss=0, maxrss=0,
    )  # fmt: skip


def test_live_regressions_flag_an_overrunning_test(hh) -> None:
    """A still-running test already past its limit is flagged when ``now`` is given, once
    its setup is over (a setup may be paying for a session fixture)."""
    from hotlap.protocol import TestStart

    state = hh.make_state({"t.py::a": ("passed", 0.1)})
    state.apply(TestStart("gw0", 2, 200.0, nodeid="t.py::slow", path="", line=1, domain=""))
    base = {"t.py::a": [0.1, 0.1, 0.1, 0.1], "t.py::slow": [0.2, 0.2, 0.2, 1.0]}
    assert regressions(state, base) == []
    assert regressions(state, base, now=201.0) == []  # still in its setup
    state.apply(_report("t.py::slow", 200.01, "setup", "passed", 0.01))
    live = regressions(state, base, now=201.0)
    assert [r.nodeid for r in live] == ["t.py::slow"]
    assert [r.nodeid for r in LiveRegressions(Limits(base))(state, 201.0)] == ["t.py::slow"]


def test_wider_fixtures_a_test_paid_for_are_not_a_regression() -> None:
    """A session fixture's setup and teardown land on whichever test comes first (last) on
    a worker: those seconds do not make that test slower than its history; its own do."""
    from hotlap.model.run_state import RunState
    from hotlap.protocol import FixtureSetup, FixtureTeardown, TestDone, TestStart

    base = {f"t.py::{n}": [2.0, 2.0, 2.0, 3.5] for n in ("first", "last", "slower")}
    state = RunState()
    t = 10.0
    # Limit: 2.0 s + half of it. "first" and "last" are past it only by what they paid.
    for name, seconds in (("first", 3.5), ("slower", 3.5), ("last", 3.2)):
        nodeid = f"t.py::{name}"
        state.apply(TestStart("gw0", 2, t, nodeid=nodeid, path="t.py", line=1, domain=name))
        if name == "first":
            state.apply(
                FixtureSetup("gw0", 2, t + 1, name="db", scope="session", location="c.py:1",
                             nodeid=nodeid, duration=1.5, own=1.5, failed=False)
            )  # fmt: skip
        if name == "last":
            state.apply(
                FixtureTeardown("gw0", 2, t + 3.2, name="db", scope="session",
                                location="c.py:1", nodeid=nodeid, duration=1.2)
            )  # fmt: skip
        state.apply(
            TestDone("gw0", 2, t + seconds, nodeid=nodeid, setup=0.0, call=seconds, teardown=0.0,
                     start=t, stop=t + seconds, cpu=0.0, rss=0, maxrss=0)
        )  # fmt: skip
        t += seconds
    assert [r.nodeid for r in regressions(state, base)] == ["t.py::slower"]
    assert [r.nodeid for r in LiveRegressions(Limits(base))(state, t)] == ["t.py::slower"]


def test_flaky_when_outcome_changes_without_code_change() -> None:
    """pass/fail/pass on the same dependencies is flaky with its pass rate."""
    found = flaky_test("t.py::x", [row(1, "passed"), row(2, "failed"), row(3, "passed")])
    assert found is not None
    assert (found.runs, found.passes) == (3, 2)
    assert found.pass_rate == pytest.approx(2 / 3)
    assert "no code change" in found.reason


def test_not_flaky_when_code_changed() -> None:
    """A failure that came with a dependency change, and its fix, are not flakiness."""
    rows = [row(1, "passed", deps="a"), row(2, "failed", deps="b"), row(3, "passed", deps="c")]
    assert flaky_test("t.py::x", rows) is None


def test_unknown_dependencies_never_make_flaky() -> None:
    """Without any fingerprint ("") a change of outcome is not blamed on flakiness."""
    rows = [row(1, "passed", deps=""), row(2, "failed", deps="")]
    assert flaky_test("t.py::x", rows) is None


def test_skips_are_not_verdicts() -> None:
    """Skipped runs in between do not count as outcome changes or runs."""
    rows = [row(1, "passed"), row(2, "skipped"), row(3, "passed")]
    assert flaky_test("t.py::x", rows) is None


def test_flaky_when_passed_on_rerun() -> None:
    """A pass that needed a rerun is flaky even in a single run."""
    found = flaky_test("t.py::x", [row(1, "passed", reruns=1)])
    assert found is not None and found.reason == "passed on rerun"


def test_find_flaky_orders_by_pass_rate() -> None:
    """The least reliable tests come first."""
    history = {
        "a": [row(1, "passed"), row(2, "failed"), row(3, "passed"), row(4, "passed")],
        "b": [row(1, "failed"), row(2, "passed"), row(3, "failed")],
        "c": [row(1, "passed"), row(2, "passed")],
    }
    assert [f.nodeid for f in find_flaky(history)] == ["b", "a"]


def test_live_regressions_match_a_full_walk_as_the_run_grows() -> None:
    """The incremental check a view calls on every refresh finds, at every step, what
    walking every test finds: finished tests (checked once), running ones past their limit,
    skipped ones never; a new state starts afresh."""
    import random

    from hotlap.model.run_state import RunState
    from hotlap.protocol import TestDone, TestStart

    rng = random.Random(5)
    ids = [f"t.py::test_{i}" for i in range(60)]
    # The last ten are new tests; every other known one was slow in its last run.
    base = {n: [0.1, 0.11, 0.09, 0.6 if i % 2 else 0.1] for i, n in enumerate(ids[:50])}
    limits = Limits(base)

    def run(live: LiveRegressions) -> None:
        state = RunState()
        t = 100.0
        started: list[str] = []
        for nodeid in ids:
            t += 0.05
            state.apply(TestStart("gw0", 1, t, nodeid=nodeid, path="t.py", line=1, domain=""))
            started.append(nodeid)
            if rng.random() < 0.7:  # finish some of the started ones
                done = started.pop(rng.randrange(len(started)))
                if rng.random() < 0.15:  # skipped in setup: never a regression
                    state.apply(_report(done, t, "setup", "skipped", 9.0))
                    state.apply(_report(done, t, "teardown", "passed", 0.0))
                else:
                    seconds = rng.choice([0.1, 0.12, 0.6, 2.0])
                    state.apply(
                        TestDone(
                            "gw0",
                            1,
                            t,
                            nodeid=done,
                            setup=0.0,
                            call=seconds,
                            teardown=0.0,
                            start=t,
                            stop=t + seconds,
                            cpu=0.0,
                            rss=0,
                            maxrss=0,
                        )
                    )
            now = t + rng.choice([0.0, 0.05, 1.0, 3.0])
            assert sorted(r.nodeid for r in live(state, now)) == sorted(
                r.nodeid for r in regressions(state, limits, now=now)
            )
        final = live(state, 0.0)
        assert sorted(final, key=lambda r: r.nodeid) == sorted(
            regressions(state, limits), key=lambda r: r.nodeid
        )
        lost = [r.new - r.old for r in final]
        assert final and lost == sorted(lost, reverse=True)  # worst first

    live = LiveRegressions(limits)
    run(live)
    run(live)  # a second run's state: nothing carried over


def test_a_baseline_s_limits_are_computed_once_for_the_live_view_and_the_end() -> None:
    """The live checks and the run's final check share one baseline's limits (each test's
    limit is computed once per run); another baseline gets its own."""
    from hotlap.history.analysis import limits_of

    baseline = {"t.py::a": [1.0, 1.0, 1.0, 1.0, 3.0]}
    shared = limits_of(baseline)
    assert limits_of(baseline) is shared
    assert limits_of(dict(baseline)) is not shared
