"""The tests table's incremental row order: always the order ``order_tests`` computes."""

from __future__ import annotations

import random

import pytest
from ui_helpers import events_of

import hotlap.ui.places as places
import hotlap.ui.sorted_keys as sorted_keys
from hotlap.model.run_state import RunState
from hotlap.protocol import (
    CollectError,
    CollectionFinish,
    Event,
    HangStack,
    TestDone,
    TestReport,
    TestStart,
    WorkerCrash,
)
from hotlap.ui.index import TEST_SORTS, TestView, order_tests
from hotlap.ui.live_index import LiveTestIndex, touched_rows
from hotlap.ui.sorted_keys import SortedKeys

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
    Tiny blocks, so block splits and emptied blocks happen too, and the collection's places
    indexed two at a time, so lookups past the indexed part happen too."""
    monkeypatch.setattr(sorted_keys, "BLOCK", 3)
    monkeypatch.setattr(places, "CHUNK", 2)
    events = events_of(record)
    chosen = random.Random(record).sample(_views(FILTERS), views)
    checks = sum(_replay_in_chunks(events, view, seed) for seed, view in enumerate(chosen))
    assert checks > views


def _report(worker: str, nodeid: str, when: str, outcome: str, t: float) -> TestReport:
    category = outcome if when == "call" or outcome != "passed" else ""
    return TestReport(
        worker, 1, t, nodeid, when, outcome, category, bool(category), t % 0.7, t, t, t % 0.3,
        int(t * 1000) % 5000, 0, longrepr="E boom" if outcome == "failed" else "",
    )  # fmt: skip


def _random_run(seed: int) -> list[Event]:
    """An invented stream with what recorded runs rarely hold: a collection listing a test
    twice, a collection error for a collected test (and one for a module), tests started out
    of collection order, a test that was not collected, reruns, hang stacks, a crash, and
    passing tests reported in one ``test_done`` event."""
    rng = random.Random(seed)
    names = [
        f"tests/test_{rng.choice(('inventory', 'orders', 'misc'))}.py::test_{i}" for i in range(40)
    ]
    collected = [*names, names[3], names[17]]
    events: list[Event] = [
        CollectError("gw0", 1, 0.0, "tests/test_broken.py", "E import error"),
        CollectionFinish("gw0", 1, 0.1, len(collected), collected),
    ]
    later_error = CollectError("gw1", 1, 0.0, names[30], "E late")
    order = [*names, "tests/test_extra.py::test_uncollected", names[5], names[9]]
    rng.shuffle(order)
    order.remove(names[30])
    order.append(names[30])  # still queued when its collection error arrives
    t = 1.0
    for i, nodeid in enumerate(order):
        if i == 10:
            events.append(later_error)
        worker = rng.choice(("gw0", "gw1"))
        t += rng.random()
        events.append(TestStart(worker, 1, t, nodeid, nodeid.split("::")[0], 1, nodeid))
        if rng.random() < 0.1:
            events.append(HangStack(worker, 1, t, nodeid, 1.0, "stack"))
        if rng.random() < 0.05:
            events.append(WorkerCrash("controller", 1, t, worker, nodeid, "killed"))
            continue
        if rng.random() < 0.3:  # a quietly passing test in one event
            events.append(
                TestDone(worker, 1, t, nodeid, 0.1, t % 0.7, 0.1, t, t + 0.3, 0.2, 1000, 2000)
            )
            continue
        setup = "failed" if rng.random() < 0.05 else "passed"
        events.append(_report(worker, nodeid, "setup", setup, t + 0.1))
        if setup == "passed":
            call = rng.choice(("passed", "passed", "passed", "failed", "skipped"))
            events.append(_report(worker, nodeid, "call", call, t + 0.2))
        events.append(_report(worker, nodeid, "teardown", "passed", t + 0.3))
    return events


@pytest.mark.parametrize("seed", range(4))
def test_incremental_order_matches_on_invented_runs(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Duplicated collection entries, collection errors of collected tests, uncollected and
    rerun tests: the incremental order (queued block included) still equals ``order_tests``
    for every view, also when the whole stream arrives at once."""
    monkeypatch.setattr(sorted_keys, "BLOCK", 3)
    monkeypatch.setattr(places, "CHUNK", 2)
    events = _random_run(seed)
    for n, view in enumerate(_views(FILTERS)):
        assert _replay_in_chunks(events, view, seed * 1000 + n) > 10
        state = RunState()
        for event in events:
            state.apply(event)
        assert list(LiveTestIndex(state, view)) == order_tests(state, view)


def test_membership_and_positions_of_queued_rows() -> None:
    """Queued rows (the block) answer ``in``, ``index`` and slices like the others; a row
    filtered out is not in the index."""
    state = RunState()
    for event in _random_run(1)[:2]:
        state.apply(event)
    for view in _views(("", "inventory")):
        index = LiveTestIndex(state, view)
        expected = order_tests(state, view)
        assert [index.index(n) for n in expected] == list(range(len(expected)))
        assert all(n in index for n in expected)
        hidden = [n for n in state.collected if n not in expected]
        assert not any(n in index for n in hidden)
        assert index[-1] == expected[-1] and index[3:9] == expected[3:9]
        with pytest.raises(ValueError):
            index.index("nowhere")


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


def test_a_large_collection_arriving_with_a_few_started_tests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refresh that receives a collection of 1,000 tests and a few started ones (out of
    collection order, one also a collection error) takes those out of the queued block and
    shows what ``order_tests`` shows, for every view; so does the next refresh."""
    monkeypatch.setattr(sorted_keys, "BLOCK", 7)
    monkeypatch.setattr(places, "CHUNK", 50)
    collected = [f"t/test_{i // 50}.py::test_{i}" for i in range(1000)]
    started = [collected[i] for i in (3, 640, 0, 999, 120)]
    events: list[Event] = [CollectionFinish("gw0", 1, 0.1, len(collected), collected)]
    events.append(CollectError("gw0", 1, 0.2, collected[640], "E boom"))
    events += [TestStart("gw0", 1, 0.3, n, n.split("::")[0], 1, n) for n in started]
    later = _report("gw0", started[1], "call", "failed", 0.5)
    for view in _views(("", ":queued", "test_1")):
        state = RunState()
        index = LiveTestIndex(state, view)
        for event in events:
            state.apply(event)
        index.update(touched_rows(events) or [])
        assert list(index) == order_tests(state, view), view
        state.apply(later)
        index.update([later.nodeid])
        assert list(index) == order_tests(state, view), view


def test_collection_places_are_first_places_indexed_as_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lookup indexes only as far as its nodeid; ``advance`` indexes the rest a chunk at a
    time; a collection listing a nodeid twice is indexed whole, first places kept."""
    monkeypatch.setattr(places, "CHUNK", 3)
    found = places.CollectionPlaces([f"t{i}" for i in range(10)])
    assert found.get("t1") == 1 and found.built == 3
    assert found.get("t7") == 7 and found.built == 9 and not found.done
    found.advance()
    assert found.done and found.get("nowhere") is None and not found.repeats
    twice = places.CollectionPlaces(["a", "b", "a", "c", "b"])
    assert twice.done and twice.repeats == {2, 4}
    assert [twice.get(n) for n in "abc"] == [0, 1, 3]


def test_sorted_keys_match_a_sorted_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random inserts and removals keep the blocks in order; positions and slices agree."""
    monkeypatch.setattr(sorted_keys, "BLOCK", 4)
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
