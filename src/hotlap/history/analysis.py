"""What history says about tests: slow regressions and flaky tests. Pure functions.

A *slow regression* is a duration beyond a test's own noise, in this run and in the last
run before it: its median over the recent runs plus the largest of four robust spreads (MAD
scaled to a standard deviation), half the median, and 100 ms. Timing noise on a loaded CI
machine easily reaches ±30 %, so anything tighter than 1.5x flags noise; the absolute floor
keeps millisecond tests from flagging at all; and one slow run on a loaded machine is noise
until the next run is slow too.

A *flaky* test changed outcome between two runs whose dependencies were the same (its impact
fingerprint, else the project's source fingerprint), or passed only on a rerun.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice, pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hotlap.history.store import HistoryStore, TestRow
    from hotlap.model.records import TestRecord
    from hotlap.model.run_state import RunState

#: Fewest earlier runs a test needs, before the last one, to be called slower.
MIN_RUNS = 3
#: Spreads (MAD-based standard deviations) a duration must exceed the median by.
SIGMAS = 4.0
#: … and at least this fraction of the median …
RELATIVE = 0.5
#: … and at least this many seconds.
ABSOLUTE = 0.1

#: Outcomes that say whether a test works (skips and xfails say nothing about flakiness).
VERDICTS = {"passed": True, "failed": False, "error": False}


def median(values: Sequence[float]) -> float:
    """The median (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def spread(values: Sequence[float]) -> float:
    """Median absolute deviation scaled to a normal standard deviation (robust to outliers)."""
    if len(values) < 2:
        return 0.0
    mid = median(values)
    return 1.4826 * median([abs(v - mid) for v in values])


@dataclass(frozen=True)
class Regression:
    """A test that got slower than its history allows."""

    nodeid: str
    old: float  # median of the earlier runs
    new: float
    spread: float
    runs: int  # earlier runs compared with

    @property
    def message(self) -> str:
        return f"slower: {self.nodeid} {self.old:.2f}s -> {self.new:.2f}s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "old": self.old,
            "new": self.new,
            "spread": self.spread,
            "runs": self.runs,
        }


def noise_limit(samples: Sequence[float]) -> float:
    """The longest duration within the noise of ``samples``."""
    mid = median(samples)
    return mid + max(SIGMAS * spread(samples), RELATIVE * mid, ABSOLUTE)


def threshold(samples: Sequence[float]) -> float | None:
    """Duration above which a new run of a test with these earlier durations (oldest first)
    is a regression; None when it cannot be one.

    A regression must repeat: the last earlier run must be beyond the noise of the runs
    before it too, and the new one beyond the same limit. A loaded machine makes one run in
    a few slow (2 loaded cores: one run in five flagged ``0.11s -> 0.21s``); a real slowdown
    is there again the next time. So a test needs :data:`MIN_RUNS` runs before the last.
    """
    if len(samples) < MIN_RUNS + 1:
        return None
    limit = noise_limit(samples[:-1])
    return limit if samples[-1] > limit else None


def _regression(nodeid: str, new: float, samples: Sequence[float]) -> Regression:
    # Compared with the runs before the slowdown began (the last earlier run was slow too).
    before = samples[:-1]
    return Regression(nodeid, median(before), new, spread(before), len(before))


def check(nodeid: str, new: float, samples: Sequence[float]) -> Regression | None:
    """A :class:`Regression` if ``new`` and the last of ``samples`` are both beyond the
    noise of the samples before that."""
    limit = threshold(samples)
    if limit is None or new <= limit:
        return None
    return _regression(nodeid, new, samples)


class Limits:
    """A baseline's regression limits, each computed once: a live view checks every test
    against its limit on every refresh, and the baseline does not change during a run."""

    def __init__(self, baseline: Mapping[str, Sequence[float]]) -> None:
        self.baseline = baseline
        self._limits: dict[str, float | None] = {}

    def check(self, nodeid: str, new: float) -> Regression | None:
        """As :func:`check` against this baseline's samples of ``nodeid``."""
        try:
            limit = self._limits[nodeid]
        except KeyError:
            limit = self._limits[nodeid] = threshold(self.baseline.get(nodeid, ()))
        if limit is None or new <= limit:
            return None
        return _regression(nodeid, new, self.baseline[nodeid])


_shared: list[tuple[Mapping[str, Sequence[float]], Limits]] = []


def limits_of(baseline: Mapping[str, Sequence[float]]) -> Limits:
    """The :class:`Limits` of ``baseline``, shared by everyone who asks for the same
    baseline object: the live view's checks and the run's final ones compute each test's
    limit once (a baseline is never changed once a run has it)."""
    if _shared and _shared[0][0] is baseline:
        return _shared[0][1]
    limits = Limits(baseline)
    _shared[:] = [(baseline, limits)]
    return limits


def find_regressions(
    current: Mapping[str, float], baseline: Mapping[str, Sequence[float]] | Limits
) -> list[Regression]:
    """Regressions among ``current`` durations against earlier samples, worst first."""
    limits = baseline if isinstance(baseline, Limits) else limits_of(baseline)
    found = [r for nodeid, new in current.items() if (r := limits.check(nodeid, new)) is not None]
    return sorted(found, key=lambda r: r.new - r.old, reverse=True)


def regressions(
    state: RunState,
    store: HistoryStore | Mapping[str, Sequence[float]] | Limits,
    *,
    now: float = 0.0,
) -> list[Regression]:
    """Live slow regressions of a run: finished tests, and running ones already past the limit.

    ``store`` is an open :class:`HistoryStore`, the baseline it gives
    (``store.duration_samples()``) or that baseline's :class:`Limits`; load the baseline once
    before the run and pass its limits on every refresh. ``now`` (``time.monotonic()``) lets
    a still-running test be flagged as soon as it has overrun; 0 checks finished tests only.
    """
    baseline = store if isinstance(store, (Mapping, Limits)) else store.duration_samples()
    current = {}
    for rec in state.tests.values():
        seconds = own_seconds(rec, now)
        if seconds is not None:
            current[rec.nodeid] = seconds
    return find_regressions(current, baseline)


def own_seconds(rec: TestRecord, now: float = 0.0) -> float | None:
    """The seconds a test is judged on: its duration, or for a running test (when ``now``
    is given and its setup is over) its time so far; None for a test not to judge (skipped,
    not started, or still in its setup).

    Without the wider fixtures it happened to pay for: a session fixture's setup lands on
    whichever test comes first on a worker, and that changes from run to run (the demo's
    first database test went from 2 s to 3 s: not a regression)."""
    if rec.outcome == "skipped":
        return None
    if rec.finished is not None:
        return max(0.0, rec.duration - rec.shared)
    if now and rec.started is not None and rec.phase != "setup":
        return max(0.0, now - rec.started - rec.shared)
    return None


class FollowedTests:
    """The tests of one growing run that are not finished yet, taken in as they appear, so
    that a view asking again and again walks only those (a new state starts afresh)."""

    def __init__(self) -> None:
        self._tests: object = None  # the state's dict of tests being followed
        self._seen = 0  # how many of its records have been taken in
        #: Taken in and not yet closed.
        self.open: dict[str, TestRecord] = {}

    def update(self, state: RunState) -> bool:
        """Take in the tests ``state`` gained; True when it is another run's state (the
        caller then drops what it kept about the previous one)."""
        tests = state.tests
        fresh = tests is not self._tests or len(tests) < self._seen
        if fresh:
            self._tests, self._seen = tests, 0
            self.open.clear()
        if len(tests) > self._seen:
            for rec in islice(tests.values(), self._seen, None):
                self.open[rec.nodeid] = rec
            self._seen = len(tests)
        return fresh

    def close(self, nodeids: list[str]) -> None:
        """Stop following these (finished) tests."""
        for nodeid in nodeids:
            del self.open[nodeid]


class LiveRegressions:
    """:func:`regressions` for a view that asks on every refresh, at a cost that does not
    grow with the run: a finished test is checked once, when it is first seen finished, and
    only the tests still running are checked again (walking every test each time cost a
    headless run of 64,000 tests seconds of CPU, beside the tests).

    Call it with the same state as it grows; a new state starts afresh.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._tests = FollowedTests()
        self._found: dict[str, Regression] = {}  # finished tests found slower

    def __call__(self, state: RunState, now: float = 0.0) -> list[Regression]:
        if self._tests.update(state):
            self._found.clear()
        running: list[Regression] = []
        done: list[str] = []
        for nodeid, rec in self._tests.open.items():
            if rec.finished is not None:
                done.append(nodeid)
            seconds = own_seconds(rec, now)
            found = self.limits.check(nodeid, seconds) if seconds is not None else None
            if found is None:
                continue
            if rec.finished is None:
                running.append(found)
            else:
                self._found[nodeid] = found
        self._tests.close(done)
        found_all = [*self._found.values(), *running]
        return sorted(found_all, key=lambda r: r.new - r.old, reverse=True)


@dataclass(frozen=True)
class Flaky:
    """A test whose outcome is not a function of its code."""

    nodeid: str
    runs: int  # runs with a pass/fail verdict
    passes: int
    reason: str

    @property
    def pass_rate(self) -> float:
        return self.passes / self.runs if self.runs else 0.0

    @property
    def message(self) -> str:
        return (
            f"flaky: {self.nodeid} (passed {self.passes}/{self.runs} runs,"
            f" {self.pass_rate:.0%}; {self.reason})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "runs": self.runs,
            "passes": self.passes,
            "pass_rate": self.pass_rate,
            "reason": self.reason,
        }


def flaky_test(nodeid: str, rows: Sequence[TestRow]) -> Flaky | None:
    """Whether the test with these rows (oldest first) is flaky."""
    judged = [r for r in rows if r.outcome in VERDICTS]
    passes = sum(1 for r in judged if VERDICTS[r.outcome])
    if any(r.reruns and r.outcome == "passed" for r in judged):
        return Flaky(nodeid, len(judged), passes, "passed on rerun")
    for before, after in pairwise(judged):
        if (
            VERDICTS[before.outcome] != VERDICTS[after.outcome]
            and before.deps
            and before.deps == after.deps
        ):
            return Flaky(nodeid, len(judged), passes, "outcome changed with no code change")
    return None


def find_flaky(history: Mapping[str, Sequence[TestRow]]) -> list[Flaky]:
    """Flaky tests in ``history`` (``store.tests()``), lowest pass rate first."""
    found = [f for nodeid, rows in history.items() if (f := flaky_test(nodeid, rows))]
    return sorted(found, key=lambda f: (f.pass_rate, f.nodeid))
