"""Estimated seconds left in a run, from recorded durations. Pure: the clock is passed in."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hotlap.history.analysis import FollowedTests, median
from hotlap.model.run_state import RunPhase, RunState

#: ``(state, now, workers) -> seconds``: :func:`per_test_gap` or :meth:`LiveEta.gap`.
GapFn = Callable[[RunState, float, int], float]

#: Below this share of queued tests with a known duration the estimate is a guess: say nothing.
MIN_KNOWN = 0.8


def per_test_gap(state: RunState, now: float, workers: int) -> float:
    """Seconds each test costs beyond its own setup+call+teardown (pytest's and xdist's
    bookkeeping between tests), seen so far in this run.

    The lanes have been open ``workers * (now - first start)`` seconds; what the finished
    tests' durations and the running tests' time so far do not account for, shared by the
    finished tests, is the gap. It dominates suites of many tiny tests, whose recorded
    durations alone would promise an end far too early.
    """
    first: float | None = None
    busy = 0.0
    done = 0
    for rec in state.tests.values():
        if rec.started is None:
            continue
        if first is None or rec.started < first:
            first = rec.started
        if rec.finished is not None:
            busy += rec.duration
            done += 1
        else:
            busy += max(0.0, now - rec.started)
    if first is None or done < 10:
        return 0.0
    return max(0.0, (workers * (now - first) - busy) / done)


def eta_seconds(
    state: RunState, expected: Mapping[str, float], now: float, *, gap_fn: GapFn = per_test_gap
) -> float | None:
    """Seconds until the run ends, or None when history cannot tell.

    The remaining work is the expected time of every queued test plus what is left of each
    running one (at least nothing, however much it overran). Spread over the workers that
    are up, the run cannot end before ``work / workers`` nor before its longest remaining
    test, whichever is later. Unknown tests count at the median known duration, as long as
    they are few (:data:`MIN_KNOWN`).
    """
    if state.phase is RunPhase.DONE or state.phase is RunPhase.CANCELLED:
        return 0.0
    if not expected or not state.collected:
        return None
    queued = state.queued()
    running = state.running
    known = [expected[n] for n in queued if n in expected]
    if queued and len(known) < MIN_KNOWN * len(queued):
        return None
    fill = median(known) if known else median(list(expected.values()))
    queued_times = [expected.get(n, fill) for n in queued]
    left = []
    for rec in running:
        if rec.started is None:
            continue
        guess = expected.get(rec.nodeid, fill)
        left.append(max(0.0, guess - (now - rec.started)))
    lanes = [w for w in state.workers.values() if not w.crashed and not w.finished]
    workers = max(1, len(lanes) or state.session.numprocesses or 1)
    gap = gap_fn(state, now, workers)
    work = sum(queued_times) + gap * len(queued) + sum(left)
    longest = max([*queued_times, *left], default=0.0)
    return max(work / workers, longest)


class LiveEta:
    """:func:`eta_seconds` for a view that asks again and again about one growing run: the
    per-test gap is kept up to date from the tests that started or finished since the last
    call instead of walking every test (at 64,000 tests a walk took tens of milliseconds
    per progress line). A new state starts afresh.
    """

    def __init__(self) -> None:
        self._tests = FollowedTests()
        self._first: float | None = None
        self._busy = 0.0  # seconds of the finished tests
        self._done = 0

    def __call__(self, state: RunState, expected: Mapping[str, float], now: float) -> float | None:
        return eta_seconds(state, expected, now, gap_fn=self.gap)

    def gap(self, state: RunState, now: float, workers: int) -> float:
        """What :func:`per_test_gap` returns."""
        if self._tests.update(state):
            self._first, self._busy, self._done = None, 0.0, 0
        running = 0.0
        finished: list[str] = []
        for nodeid, rec in self._tests.open.items():
            if rec.started is None:
                continue
            if self._first is None or rec.started < self._first:
                self._first = rec.started
            if rec.finished is not None:
                self._busy += rec.duration
                self._done += 1
                finished.append(nodeid)
            else:
                running += max(0.0, now - rec.started)
        self._tests.close(finished)
        if self._first is None or self._done < 10:
            return 0.0
        return max(0.0, (workers * (now - self._first) - self._busy - running) / self._done)
