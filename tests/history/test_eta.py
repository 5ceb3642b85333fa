"""The ETA: from expected durations of queued and running tests over the live workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotlap.history.eta import eta_seconds
from hotlap.model.run_state import RunState
from hotlap.protocol import CollectionFinish, SessionStart, TestStart, WorkerStart

DATA = Path(__file__).parent.parent / "data"


def running_state(workers: int, nodeids: list[str]) -> RunState:
    state = RunState()
    state.apply(
        SessionStart("controller", 1, 0.0, wall=0.0, role="controller", argv=[], rootdir="/",
                     hotlap_version="", pytest_version="", xdist_version="", python_version="",
                     numprocesses=workers)
    )  # fmt: skip
    for i in range(workers):
        state.apply(WorkerStart(f"gw{i}", 10 + i, 0.0, wall=0.0))
    state.apply(CollectionFinish("gw0", 10, 0.0, count=len(nodeids), nodeids=nodeids))
    return state


def test_unknown_before_collection_or_without_history() -> None:
    """No collection yet, or no expected durations: None (the view shows nothing)."""
    state = RunState()
    assert eta_seconds(state, {"a": 1.0}, 0.0) is None
    state = running_state(2, ["a", "b"])
    assert eta_seconds(state, {}, 0.0) is None


def test_work_spread_over_workers() -> None:
    """Four 1 s tests on two workers: 2 s left; the bound is the total over workers."""
    state = running_state(2, ["a", "b", "c", "d"])
    assert eta_seconds(state, dict.fromkeys("abcd", 1.0), 0.0) == pytest.approx(2.0)


def test_longest_test_bounds_the_eta() -> None:
    """One 10 s test cannot finish sooner than 10 s however many workers there are."""
    state = running_state(4, ["a", "b"])
    assert eta_seconds(state, {"a": 10.0, "b": 1.0}, 0.0) == pytest.approx(10.0)


def test_running_tests_count_what_is_left() -> None:
    """A 4 s test running for 3 s has 1 s left; an overrun counts as nothing left."""
    state = running_state(1, ["a", "b"])
    state.apply(TestStart("gw0", 10, 1.0, nodeid="a", path="", line=1, domain=""))
    assert eta_seconds(state, {"a": 4.0, "b": 2.0}, 4.0) == pytest.approx(3.0)
    assert eta_seconds(state, {"a": 4.0, "b": 2.0}, 99.0) == pytest.approx(2.0)


def test_too_many_unknown_tests_give_no_eta() -> None:
    """If under 80 % of the queued tests are known, the ETA is not shown; a few are filled."""
    state = running_state(1, ["a", "b", "c", "d", "e"])
    assert eta_seconds(state, {"a": 1.0, "b": 1.0}, 0.0) is None
    known = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 3.0}
    assert eta_seconds(state, known, 0.0) == pytest.approx(1 + 1 + 1 + 3 + 1)


def test_recorded_run_counts_down_to_zero() -> None:
    """Replaying a recorded -n 2 run with its own durations: the ETA only shrinks, ends at 0."""
    from hotlap.export.durations import durations_from_state
    from hotlap.export.record import read_record

    events = list(read_record(DATA / "engine_n2.jsonl"))
    full = RunState()
    for e in events:
        full.apply(e)
    expected = durations_from_state(full)
    state = RunState()
    seen = []
    for e in sorted(events, key=lambda e: e.t):
        state.apply(e)
        eta = eta_seconds(state, expected, e.t)
        if eta is not None:
            seen.append(eta)
    assert seen, "the ETA was never known"
    assert seen[-1] == 0.0
    assert max(seen) <= sum(expected.values()) + 1e-9


@pytest.mark.parametrize("record", ["engine_n2.jsonl", "ui_demo_n2.jsonl"])
def test_live_eta_matches_a_full_walk_while_the_run_streams(record: str) -> None:
    """The incremental ETA a progress line asks for gives, event after event, what walking
    every test gives (its per-test gap and the ETA); a new state starts afresh."""
    from hotlap.export.durations import durations_from_state
    from hotlap.export.record import read_record
    from hotlap.history.eta import LiveEta, per_test_gap

    events = sorted(read_record(DATA / record), key=lambda e: e.t)
    full = RunState()
    for e in events:
        full.apply(e)
    expected = durations_from_state(full)
    live = LiveEta()
    for _ in range(2):
        state = RunState()
        gaps = 0
        for e in events:
            state.apply(e)
            now = e.t + 0.5
            want = per_test_gap(state, now, 2)
            assert live.gap(state, now, 2) == pytest.approx(want, abs=1e-9)
            gaps += want > 0
            assert live(state, expected, now) == pytest.approx(eta_seconds(state, expected, now))
        assert gaps, "the gap was never measured"
