"""The header's ETA, kept up to date instead of recomputed over every test (pure, no Textual).

:func:`~hotlap.ui.format.eta_seconds` walks every collected test: ~15 ms at 50,000 tests,
on every refresh of the header. :class:`LiveEta` gives the same value from the expected
seconds of the queued tests (a sum that only loses tests as they start) and of the tests
running now (a handful), updated from the tests each refresh's events touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice

from hotlap.model.run_state import RunState


class LiveEta:
    """``eta_seconds`` for one state and one ``expected``, fed with the touched tests."""

    def __init__(self) -> None:
        self._state: RunState | None = None
        self._expected: Mapping[str, float] | None = None
        self._nodeids: object = None
        self._pending: list[str] | None = None
        # How often each nodeid with an expected time appears in the run's list of tests.
        self._times: dict[str, int] = {}
        self._queued = 0.0
        self._running: dict[str, int] = {}
        self._seen_tests = 0

    def note(self, touched: Iterable[str] | None) -> None:
        """Tests that events changed since the last call (None: anything may have changed)."""
        if touched is None or self._pending is None:
            self._pending = None
        else:
            self._pending += touched

    def eta(
        self, state: RunState, expected: Mapping[str, float], workers: int, now: float
    ) -> float | None:
        """What ``eta_seconds(state, expected, workers, now)`` returns."""
        if not expected or state.session.finished is not None:
            return None
        nodeids = state.collected or expected.keys()
        if (
            self._pending is None
            or state is not self._state
            or expected is not self._expected
            or (nodeids if state.collected else None) is not self._nodeids
        ):
            self._rebuild(state, expected, nodeids)
        else:
            self._catch_up(state, expected)
        if not self._times:
            return None
        left = self._queued
        tests = state.tests
        for nodeid, times in self._running.items():
            rec = tests[nodeid]
            started = rec.started if rec.started is not None else now
            left += times * max(0.0, expected[nodeid] - (now - started))
        return left / max(1, workers)

    def _rebuild(
        self, state: RunState, expected: Mapping[str, float], nodeids: Iterable[str]
    ) -> None:
        self._state, self._expected, self._pending = state, expected, []
        self._nodeids = nodeids if state.collected else None
        times: dict[str, int] = {}
        for nodeid in nodeids:
            if nodeid in expected:
                times[nodeid] = times.get(nodeid, 0) + 1
        self._times = times
        tests = state.tests
        self._queued = sum(expected[n] * k for n, k in times.items() if n not in tests)
        self._running = {}
        for nodeid in times:
            self._track(state, nodeid)
        self._seen_tests = len(tests)

    def _catch_up(self, state: RunState, expected: Mapping[str, float]) -> None:
        tests, times = state.tests, self._times
        new = len(tests) - self._seen_tests
        fresh: list[str] = []
        if new > 0:
            # Tests only join the state's dict, at its end: these left the queue.
            fresh = list(islice(reversed(tests), new))
            for nodeid in fresh:
                k = times.get(nodeid)
                if k:
                    self._queued -= expected[nodeid] * k
            self._seen_tests = len(tests)
        pending, self._pending = self._pending or [], []
        for nodeid in (*fresh, *pending):
            if nodeid in times:
                self._track(state, nodeid)

    def _track(self, state: RunState, nodeid: str) -> None:
        rec = state.tests.get(nodeid)
        if rec is not None and rec.finished is None and rec.started is not None:
            self._running[nodeid] = self._times[nodeid]
        else:
            self._running.pop(nodeid, None)
