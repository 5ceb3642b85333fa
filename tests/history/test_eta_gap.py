"""The ETA counts the time between tests, not only the tests' own durations."""

from __future__ import annotations

import pytest

from hotlap.history.eta import eta_seconds, per_test_gap
from hotlap.model.run_state import RunState
from hotlap.protocol import CollectionFinish, TestReport, TestStart, WorkerStart


def _tiny_run(done: int, total: int) -> RunState:
    """One worker ran ``done`` tests of 0.01 s, one every 0.1 s (0.09 s of gap each)."""
    state = RunState()
    ids = [f"t.py::test_{i}" for i in range(total)]
    state.apply(WorkerStart("gw0", 1, 0.0, wall=0.0))
    state.apply(CollectionFinish("gw0", 1, 0.0, count=total, nodeids=ids))
    for i in range(done):
        t = i * 0.1
        state.apply(TestStart("gw0", 1, t, nodeid=ids[i], path="t.py", line=1, domain=ids[i]))
        state.apply(
            TestReport(
                "gw0",
                1,
                t + 0.01,
                nodeid=ids[i],
                when="teardown",
                outcome="passed",
                category="",
                counts=True,
                duration=0.01,
                start=t,
                stop=t + 0.01,
                cpu=0.0,
                rss=0,
                maxrss=0,
            )
        )
    return state


def test_gap_is_measured_from_the_lanes() -> None:
    """Idle lane time per finished test is the gap."""
    state = _tiny_run(20, 40)
    assert per_test_gap(state, now=2.0, workers=1) == pytest.approx((2.0 - 0.2) / 20)


def test_eta_includes_the_gap_for_queued_tests() -> None:
    """20 queued tests of 0.01 s with a 0.09 s gap each take ~2 s, not 0.2 s."""
    state = _tiny_run(20, 40)
    expected = {n: 0.01 for n in state.collected}
    eta = eta_seconds(state, expected, now=2.0)
    assert eta == pytest.approx(20 * (0.01 + 0.09))


def test_no_gap_before_enough_tests_finished() -> None:
    """With fewer than ten finished tests the gap is not guessed."""
    assert per_test_gap(_tiny_run(5, 40), now=1.0, workers=1) == 0.0
