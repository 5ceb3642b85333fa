"""The tests table's row order, kept up to date test by test (pure, no Textual).

:func:`~hotlap.ui.index.order_tests` rebuilds the order from scratch: ~20-60 ms at 50,000
tests, too slow to run on every refresh while a run streams. :class:`LiveTestIndex` gives
every row a key that sorts it where ``order_tests`` puts it, keeps the keys in a
:class:`SortedKeys`, and on each refresh moves only the rows whose tests changed. A full
rebuild happens only when the view changes (sort, filter, failures first) or when an event
reshapes the table (collection, a collection error, a worker crash).

A row's key is ``(group, value, section, seq, nodeid)``: ``group`` 0 for failing rows when
failures come first (else 1), ``value`` the sort column's value, and ``(section, seq)`` its
place in run order (collection errors, then tests in the order they appeared, then queued
tests in collection order), which breaks ties as ``order_tests``'s stable sort does.
A reversed sort reads each group backwards, which is what ``order_tests`` does (it reverses
the sorted rows, then moves the failing ones to the top keeping their order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import filterfalse, islice
from operator import attrgetter, itemgetter
from typing import Any, overload

from hotlap.model.run_state import RunState, TestRecord
from hotlap.protocol import (
    Event,
    HangStack,
    Hazard,
    TestDone,
    TestReport,
    TestStart,
    WorkerCrash,
)
from hotlap.ui.fuzzy import FuzzyFilter
from hotlap.ui.index import _FAILING, _RANK, TestView, outcome_of
from hotlap.ui.places import CollectionPlaces
from hotlap.ui.sorted_keys import SortedKeys

Key = tuple[Any, ...]

_NUMERIC = {"setup", "call", "teardown", "cpu"}


#: Events that change one test's row (named by their ``nodeid``).
_ROW_EVENTS = (TestStart, TestReport, TestDone, HangStack, Hazard)
#: Events that may change a test the event does not name: the index is rebuilt. (A new
#: collection or collection error is seen by :meth:`LiveTestIndex.update` itself.)
_RESHAPING_EVENTS = (WorkerCrash,)


def touched_rows(events: Iterable[Event]) -> list[str] | None:
    """The nodeids whose rows ``events`` changed, or None if the table must be rebuilt."""
    touched: list[str] = []
    for event in events:
        if isinstance(event, _ROW_EVENTS):
            touched.append(event.nodeid)
        elif isinstance(event, _RESHAPING_EVENTS):
            return None
    return touched


def _value_of(state: RunState, sort: str) -> Callable[[str, TestRecord | None], Any]:
    """The sort column's value of a row, as ``order_tests`` sorts it."""
    if sort == "name":
        return lambda n, rec: n
    if sort == "outcome":
        return lambda n, rec: _RANK.get(outcome_of(state, n), len(_RANK))
    if sort == "worker":
        return lambda n, rec: rec.worker if rec is not None else "~"
    if sort in _NUMERIC:
        get = attrgetter(sort)
        return lambda n, rec: -get(rec) if rec is not None else 0.0
    if sort == "rss":
        return lambda n, rec: -float(rec.rss_delta) if rec is not None else 0.0
    return lambda n, rec: 0


class LiveTestIndex(Sequence[str]):
    """The nodeids the tests table shows, in ``order_tests`` order, updated incrementally."""

    def __init__(self, state: RunState, view: TestView) -> None:
        self.rebuild(state, view)

    # -- building -----------------------------------------------------------------------------
    def rebuild(self, state: RunState, view: TestView) -> None:
        """Recompute every row (the view or the state's shape changed)."""
        self.state = state
        self.view = TestView(view.text, view.sort, view.reverse, view.failures_first)
        words, self._outcomes = view.parse()
        self._words = FuzzyFilter(words)
        self._value = _value_of(state, view.sort)
        self._failed: set[str] = set(state.failures)
        self._seen_failures = len(state.failures)
        errors, tests, collected = state.collect_errors, state.tests, state.collected
        # What the rows were built from: another collection or a collection error rebuilds.
        self._collected, self._errors = collected, len(errors)
        #: Every test's place in run order (the state's dict order), shown or not.
        self._seqs: dict[str, int] = dict(zip(tests, range(len(tests)), strict=True))
        # Each collected nodeid's first place in the collection, indexed as needed; a view
        # change keeps the places of the same collection.
        places = getattr(self, "_places", None)
        if places is None or places.collected is not collected:
            places = CollectionPlaces(collected)
        self._places: CollectionPlaces = places
        repeats = places.repeats
        failing: set[str] = set()
        if view.failures_first:
            failing = {n for n in self._failed if outcome_of(state, n) in _FAILING}
            failing.update(errors)
        value = self._value
        shown = self._shown if self._words or self._outcomes else None
        # Comprehensions, not a call per row: this runs on 50,000 rows. Rows come in run
        # order: collection errors, tests as they appeared, queued tests.
        keys = [
            (0 if n in failing else 1, value(n, None), 0, seq, n)
            for seq, n in enumerate(errors)
            if n not in tests and (shown is None or shown(n))
        ]
        keys += [
            (0 if n in failing else 1, value(n, rec), 1, seq, n)
            for seq, (n, rec) in enumerate(tests.items())
            if shown is None or shown(n)
        ]
        # Queued tests are the bulk of the rows when a collection arrives. Except by name,
        # they all sort alike (same group, same value): they form one block in collection
        # order, kept as their places in the collection, with no key per row to build.
        self._queue = SortedKeys()
        self._block = view.sort != "name"
        if self._block:
            self._queue_key: Key = (1, value("", None), 2)
            seqs = self._queued_seqs()
            self._queue = seqs if isinstance(seqs, SortedKeys) else SortedKeys(seqs, ordered=True)
        else:
            keys += [
                (0 if n in failing else 1, value(n, None), 2, seq, n)
                for seq, n in enumerate(collected)
                if n not in tests and seq not in repeats and (shown is None or shown(n))
            ]
        self._keys: dict[str, Key] = {k[-1]: k for k in keys}
        if len(self._keys) < len(keys):
            # A nodeid listed twice (a collection error and also a test): one row.
            self._keys = {}
            keys = [self._keys.setdefault(k[-1], k) for k in keys if k[-1] not in self._keys]
        # ``keys`` are in run order: a stable sort by the column's value (all of one type, so
        # Python compares them fast, unlike whole tuples), then a stable partition by group,
        # sorts by the whole key.
        if view.sort != "order":
            keys.sort(key=itemgetter(1))
        if failing:
            keys = [k for k in keys if not k[0]] + [k for k in keys if k[0]]
        self._sorted = SortedKeys(keys, ordered=True)
        self._recount()

    def _queued_seqs(self) -> Iterable[int] | SortedKeys:
        """Places in the collection of the queued rows: collected, not started, no collection
        error, shown by the filter, first of their nodeid."""
        state, places = self.state, self._places
        collected, tests, errors = state.collected, state.tests, state.collect_errors
        repeats = places.repeats
        if self._outcomes and "queued" not in self._outcomes:
            return ()
        if self._words:
            shown = self._shown
            return [
                seq
                for seq, n in enumerate(collected)
                if n not in tests and n not in errors and seq not in repeats and shown(n)
            ]
        # Take out the places of started tests, collection errors and repeated entries, and
        # keep the rest at C speed (a loop over 50,000 nodeids costs tens of ms).
        n = len(collected)
        taken: set[int | None] = {places.get(node) for node in (*tests, *errors)}
        taken.discard(None)
        taken |= repeats
        if not taken:
            return range(n)  # the common case, when a collection arrives
        if len(taken) * 64 < n:
            # A few tests started already (they arrive with the collection): take them out
            # of the whole range, ~1 ms at 50,000, not a filtered copy of it (~3 ms).
            queue = SortedKeys(range(n), ordered=True)
            for place in taken:
                queue.remove(place)
            return queue
        return list(filterfalse(taken.__contains__, range(n)))

    def _shown(self, nodeid: str) -> bool:
        """Whether the text and outcome filter keep this row."""
        if self._words and not self._words(nodeid):
            return False
        return not self._outcomes or outcome_of(self.state, nodeid) in self._outcomes

    def _key(self, nodeid: str, rec: TestRecord, seq: int) -> Key | None:
        """A test row's key, or None when the filter hides it."""
        if not self._shown(nodeid):
            return None
        group = 1
        if self.view.failures_first and (
            nodeid in self.state.collect_errors
            or (nodeid in self._failed and outcome_of(self.state, nodeid) in _FAILING)
        ):
            group = 0
        return (group, self._value(nodeid, rec), 1, seq, nodeid)

    def reshaped(self) -> bool:
        """Whether the state got another collection or collection error since the build."""
        state = self.state
        return state.collected is not self._collected or len(state.collect_errors) != self._errors

    def update(self, nodeids: Iterable[str]) -> None:
        """Move the rows of tests that changed (``nodeids``: every test an event touched).

        Tests new to the state are found here too: they are the last ones its dict got,
        in run order, and leave the queue for their run-order place.
        """
        state = self.state
        if self.reshaped():
            self.rebuild(state, self.view)
            return
        if not self._places.done:
            self._places.advance()  # a chunk a refresh: see hotlap.ui.places
        failures = state.failures
        if len(failures) > self._seen_failures:
            self._failed.update(failures[self._seen_failures :])
            self._seen_failures = len(failures)
        tests = state.tests
        seqs = self._seqs
        new = len(tests) - len(seqs)
        fresh: list[str] = []
        if new > 0:
            fresh = list(islice(reversed(tests), new))
            fresh.reverse()
            queue, places = self._queue, self._places
            for nodeid in fresh:
                seqs[nodeid] = len(seqs)
                place = places.get(nodeid)
                if place is not None and place in queue:
                    queue.remove(place)
        # An event names the same test 3-4 times a tick (start, setup, call, teardown).
        for nodeid in dict.fromkeys((*fresh, *nodeids)):
            rec = tests.get(nodeid)
            if rec is not None:
                self._move(nodeid, rec, seqs[nodeid])
        self._recount()

    def _move(self, nodeid: str, rec: TestRecord, seq: int) -> None:
        key = self._key(nodeid, rec, seq)
        old = self._keys.get(nodeid)
        if key == old:  # most changes do not move the row (a running test passed)
            return
        if old is not None:
            del self._keys[nodeid]
            self._sorted.remove(old)
        if key is not None:
            self._keys[nodeid] = key
            self._sorted.add(key)

    def _recount(self) -> None:
        keys = self._sorted
        # Failing rows (group 0) sort first: count them once per change, by position.
        self._n_failing = keys.position((1,)) if len(keys) else 0
        #: Keyed rows before the queued block.
        self._before = keys.count_below(self._queue_key) if self._block else len(keys)
        self._len = len(keys) + len(self._queue)

    # -- reading (what LineTable needs) ----------------------------------------------------------
    def __len__(self) -> int:
        return self._len

    def _raw(self, pos: int) -> int:
        """The position in run-and-sort order (keys, queue) of the row shown at ``pos``."""
        if not self.view.reverse:
            return pos
        failing = self._n_failing
        if pos < failing:
            return failing - 1 - pos
        return self._len + failing - 1 - pos

    def _between(self, start: int, stop: int) -> list[str]:
        """Nodeids at raw positions ``start`` to ``stop - 1``: the keyed rows before the
        queue, the queued block, the keyed rows after it."""
        before, queued = self._before, len(self._queue)
        keys = self._sorted
        out = [k[-1] for k in keys.between(start, min(stop, before))]
        if stop > before and start < before + queued:
            collected = self.state.collected
            lo, hi = max(start, before) - before, min(stop, before + queued) - before
            out += [collected[seq] for seq in self._queue.between(lo, hi)]
        if stop > before + queued:
            lo = max(start, before + queued) - queued
            out += [k[-1] for k in keys.between(lo, stop - queued)]
        return out

    def _rows(self, start: int, stop: int) -> list[str]:
        """Rows shown at ``start`` to ``stop - 1`` (0 <= start, stop <= len)."""
        if not self.view.reverse:
            return self._between(start, stop)
        n, failing = self._len, self._n_failing
        out: list[str] = []
        # Each group reads backwards: shown position p is raw position _raw(p).
        if start < failing:
            part = self._between(failing - min(stop, failing), failing - start)
            out += reversed(part)
        lo = max(start, failing)
        if lo < stop:
            part = self._between(n + failing - stop, n + failing - lo)
            out += reversed(part)
        return out

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        n = self._len
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return self._rows(0, n)[index]
            return self._rows(start, max(start, stop))
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        raw = self._raw(index)
        return self._between(raw, raw + 1)[0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows(0, len(self)))

    def _place(self, nodeid: object) -> int | None:
        """The raw position of ``nodeid``'s row, None if it is not shown."""
        if not isinstance(nodeid, str):
            return None
        key = self._keys.get(nodeid)
        if key is not None:
            pos: int = self._sorted.position(key)
            return pos if pos < self._before else pos + len(self._queue)
        place = self._places.get(nodeid) if self._block else None
        if place is None or place not in self._queue:
            return None
        return self._before + self._queue.position(place)

    def __contains__(self, nodeid: object) -> bool:
        return self._place(nodeid) is not None

    def index(self, nodeid: Any, start: int = 0, stop: int | None = None) -> int:
        raw = self._place(nodeid)
        if raw is None:
            raise ValueError(f"{nodeid!r} is not shown")
        pos = self._raw(raw)  # _raw is its own inverse
        if pos < start or (stop is not None and pos >= stop):
            raise ValueError(f"{nodeid!r} is not in the range")
        return pos

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, LiveTestIndex)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
