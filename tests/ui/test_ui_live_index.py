"""The tests table's incremental row order: always the order ``order_tests`` computes."""

from __future__ import annotations

import random

import pytest
from ui_helpers import events_of

import hotlap.ui.live_index as live_index
from hotlap.model.run_state import RunState
from hotlap.protocol import Event, TestStart
from hotlap.ui.index import TEST_SORTS, TestView, order_tests
from hotlap.ui.live_index import LiveTestIndex, SortedKeys, touched_rows

FILTERS = ("", "inventory", ":fail", ":pass", ":queued :running", "orders :failed", "zzz")


def _views(texts: tuple[str, ...]) -> list[TestView]:
    return [
        TestView(text, sort, reverse, first)
        for text in texts
        for sort in TEST_SORTS
        for reverse in (False, True)
        for first in (False, True)
    ]


def _replay_in_chunks(events: list[Event], view: TestView, seed: int) -> int:
    """Feed ``events`` in random chunks, comparing the index with ``order_tests`` after each;
    returns how many comparisons were made."""
    rng = random.Random(seed)
    state = RunState()
    index = LiveTestIndex(state, view)
    checks = 0
    i = 0
    while i < len(events):
        chunk = events[i : i + rng.randint(1, 12)]
        i += len(chunk)
        for event in chunk:
            state.apply(event)
        touched = touched_rows(chunk)
        if touched is None:
            index.rebuild(state, view)
        else:
            index.update(touched)
        expected = order_tests(state, view)
        assert list(index) == expected, (view, i)
        assert len(index) == len(expected)
        if expected:
            pos = rng.randrange(len(expected))
            assert index[pos] == expected[pos]
            assert index.index(expected[pos]) == pos
            start = rng.randrange(len(expected))
            stop = rng.randrange(start, len(expected) + 1)
            assert index[start:stop] == expected[start:stop]
        checks += 1
    return checks


@pytest.mark.parametrize(
    ("record", "views"),
    [("ui_crash_n2.jsonl", 252), ("engine_n2.jsonl", 252), ("ui_demo_n2.jsonl", 40)],
)
def test_incremental_order_matches_a_full_rebuild(
    record: str, views: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed in random chunks, every sort x reverse x failures-first x filter (a sample
    of them on the longer record) shows the rows ``order_tests`` shows, in the same order.
    Tiny blocks, so block splits and emptied blocks happen too."""
    monkeypatch.setattr(live_index, "BLOCK", 3)
    events = events_of(record)
    chosen = random.Random(record).sample(_views(FILTERS), views)
    checks = sum(_replay_in_chunks(events, view, seed) for seed, view in enumerate(chosen))
    assert checks > views


def test_a_crash_rebuilds_and_new_tests_leave_the_queue() -> None:
    """A worker crash asks for a rebuild; a started test moves from the queue to run order."""
    events = events_of("ui_crash_n2.jsonl")
    assert touched_rows(events) is None
    state = RunState()
    index = LiveTestIndex(state, TestView(failures_first=False))
    first_start = next(i for i, e in enumerate(events) if isinstance(e, TestStart))
    for event in events[:first_start]:
        state.apply(event)
    index.update([])  # the collection (and a collection error) arrived: no test started
    assert list(index) == order_tests(state, index.view)
    assert len(index) == len(state.collected) + len(state.collect_errors)
    started = events[first_start]
    assert isinstance(started, TestStart)
    state.apply(started)
    index.update(touched_rows([started]) or [])
    assert index[len(state.collect_errors)] == started.nodeid


def test_sorted_keys_match_a_sorted_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random inserts and removals keep the blocks in order; positions and slices agree."""
    monkeypatch.setattr(live_index, "BLOCK", 4)
    rng = random.Random(7)
    keys = SortedKeys([(rng.random(), i) for i in range(50)])
    reference = sorted(keys)
    for i in range(50, 600):
        if reference and rng.random() < 0.45:
            key = reference.pop(rng.randrange(len(reference)))
            keys.remove(key)
        else:
            key = (rng.random(), i)
            keys.add(key)
            reference.append(key)
            reference.sort()
        assert len(keys) == len(reference)
    assert list(keys) == reference
    for pos in range(0, len(reference), 7):
        assert keys.at(pos) == reference[pos]
        assert keys.position(reference[pos]) == pos
        assert list(keys.between(pos, pos + 9)) == reference[pos : pos + 9]
    with pytest.raises(KeyError):
        keys.remove((2.0, -1))
