"""What the tests table paints again while a run streams: the lines that changed, not all."""

from __future__ import annotations

from ui_helpers import ManualSource, manual_app

from hotlap.protocol import (
    CollectionFinish,
    Event,
    SessionStart,
    TestReport,
    TestStart,
    WorkerStart,
)
from hotlap.ui.app import HotlapApp
from hotlap.ui.widgets.detail import RUNNING_EVERY, TestDetail
from hotlap.ui.widgets.tables import TestsTable

NAMES = [f"tests/test_a.py::test_{i}" for i in range(100)]


def _start(nodeid: str) -> TestStart:
    return TestStart("gw0", 1, 1.0, nodeid, "tests/test_a.py", 1, nodeid)


def _report(nodeid: str, when: str, outcome: str = "passed") -> TestReport:
    category = outcome if when == "call" else ""
    return TestReport(
        "gw0", 1, 1.0, nodeid, when, outcome, category, when == "call", 0.001, 0.0, 0.0, 0.0, 0, 0
    )


def _run(nodeid: str, outcome: str = "passed") -> list[Event]:
    return [
        _report(nodeid, "setup"),
        _report(nodeid, "call", outcome),
        _report(nodeid, "teardown"),
    ]


def _opening() -> list[Event]:
    """A collection of 100 tests; tests 0-9 passed, test 10 runs."""
    events: list[Event] = [
        SessionStart("controller", 1, 0.0, 0.0, "controller", ["-n", "1"], "/p", "", "", "", "", 1),
        WorkerStart("gw0", 1, 0.0, 0.0),
        CollectionFinish("gw0", 1, 0.0, len(NAMES), NAMES),
    ]
    for nodeid in NAMES[:10]:
        events += [_start(nodeid), *_run(nodeid)]
    events.append(_start(NAMES[10]))
    return events


async def _painted_lines(app: HotlapApp, pilot: object, events: list[Event]) -> set[int]:
    """The tests table's lines painted while the app shows ``events``."""
    tests = app.query_one(TestsTable)
    source = app.source
    assert isinstance(source, ManualSource)
    painted: set[int] = set()
    render_line = tests.render_line

    def spy(y: int) -> object:
        painted.add(y)
        return render_line(y)

    tests.render_line = spy  # type: ignore[assignment,method-assign]
    try:
        source.pending = events
        app.tick()
        await pilot.pause()  # type: ignore[attr-defined]
    finally:
        del tests.render_line
    return painted


async def test_a_visible_row_that_changes_repaints_only_its_line() -> None:
    """A running test on screen that finishes repaints its own line; a failure that goes
    first moves the rows above its old place down and repaints those lines, not the rows
    below it, nor the header."""
    source = ManualSource()
    app = manual_app(source, pytest_args=["-n", "1"])
    async with app.run_test(size=(140, 40)) as pilot:
        source.pending = _opening()
        app.tick()
        await pilot.pause()
        await pilot.pause()
        tests = app.query_one(TestsTable)
        assert list(tests.keys[:11]) == NAMES[:11]
        visible = tests.scrollable_content_region.height
        assert visible > 20  # the lines below row 10 are on screen

        # Test 10 (line 11: line 0 is the header) passes.
        painted = await _painted_lines(app, pilot, _run(NAMES[10]))
        assert painted == {11}

        # Test 11 starts and fails: it goes to the top, rows 0-10 move down one line.
        painted = await _painted_lines(app, pilot, [_start(NAMES[11]), *_run(NAMES[11], "failed")])
        assert list(tests.keys[:13]) == [NAMES[11], *NAMES[:11], NAMES[12]]
        assert painted == set(range(1, 13))


async def test_a_running_tests_clock_in_the_detail_pane_is_not_repainted_every_refresh() -> None:
    """The selected test runs: the detail pane shows its clock again every RUNNING_EVERY
    seconds, not at every refresh (the test's lane shows it at every refresh, and the pane
    costs half of an idle refresh); a change of the test itself (its phase) shows at once."""
    now = [100.0]
    source = ManualSource()
    app = manual_app(source, pytest_args=["-n", "1"], clock=lambda: now[0])
    async with app.run_test(size=(140, 40)) as pilot:
        source.pending = [
            *_opening()[:3],
            TestStart("gw0", 1, 100.0, NAMES[0], "tests/test_a.py", 1, NAMES[0]),
        ]
        app.tick()
        await pilot.pause()
        detail = app.query_one(TestDetail)
        assert "running on gw0 · setup · 0.00s" in detail.text

        now[0] = 100.1
        app.tick()
        assert "· 0.00s" in detail.text  # within RUNNING_EVERY: the pane was left alone

        now[0] = 100.0 + RUNNING_EVERY + 0.01
        app.tick()
        assert f"· {RUNNING_EVERY + 0.01:.2f}s" in detail.text

        now[0] += 0.05
        source.pending = [_report(NAMES[0], "setup")]
        app.tick()
        assert f"running on gw0 · call · {RUNNING_EVERY + 0.06:.2f}s" in detail.text
