"""The refreshes a streaming run makes stay clear of Textual's layout pass.

A layout pass re-renders the whole screen (~20-50 ms at 160x48): one that follows the arrival
of the workers, the collection, or a cursor move delays the next refresh by as much, which is
what the dashboard's event-to-screen lag goal cannot afford.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.screen import Screen
from textual.scrollbar import ScrollBar
from ui_helpers import ManualSource, events_of, manual_app, replay_app

import hotlap.ui.app as app_module
from hotlap.protocol import SessionFinish, TestStart, WorkerStart
from hotlap.ui.screenshots import settle
from hotlap.ui.widgets.panels import numprocesses


def _layouts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record every layout pass of any screen."""
    calls: list[object] = []
    original = Screen._refresh_layout

    def counted(self: Screen[object], *args: object, **kwargs: object) -> None:
        calls.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Screen, "_refresh_layout", counted)
    return calls


def test_numprocesses_reads_the_worker_count_asked_for() -> None:
    """``-n N`` in its spellings gives N; none, ``auto`` or a later ``-n auto`` give 0."""
    assert numprocesses(["-n", "4", "-q"]) == 4
    assert numprocesses(["-n8"]) == 8
    assert numprocesses(["--numprocesses", "3"]) == 3
    assert numprocesses(["--numprocesses=5", "tests"]) == 5
    assert numprocesses(["-n", "2", "-n", "auto"]) == 0
    assert numprocesses(["-q", "-x", "--no-header"]) == 0
    assert numprocesses(["-n"]) == 0


async def test_a_streaming_run_refreshes_without_layout_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started with ``-n 2``, the lanes keep their two rows from the first frame: the workers,
    the collection (the table's scrollbar is always there), tests starting and the detail
    pane following the first row cost no layout pass, and the table does not move."""
    events = [e for e in events_of("ui_demo_n2.jsonl") if not isinstance(e, SessionFinish)]
    source = ManualSource()
    app = manual_app(source, refresh_hz=1)  # the test ticks by hand
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)  # the first frames (footer, tabs) lay out the screen
        assert app.lanes.content_region.height == 2
        table_top = app.tests.region.y
        layouts = _layouts(monkeypatch)
        first_start = next(i for i, e in enumerate(events) if isinstance(e, TestStart))
        assert any(isinstance(e, WorkerStart) for e in events[:first_start])
        for chunk in (events[:first_start], events[first_start : first_start + 40]):
            source.pending = list(chunk)
            app.tick()
            await pilot.pause()
        assert len(app.state.workers) == 2 and app.state.tests
        assert len(app.tests.keys) == app.state.total
        assert app.detail.nodeid == app.tests.keys[0]
        assert layouts == []
        assert app.lanes.content_region.height == 2 and app.tests.region.y == table_top


async def test_moving_the_cursor_over_every_row_needs_no_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Row by row through a finished run (failures with tracebacks, passes, skips), the detail
    pane shows each test's text without a layout pass; paging scrolls the table the same way."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        tests, detail = app.tests, app.detail
        layouts = _layouts(monkeypatch)
        shapes = set()
        for row in range(len(tests.keys)):
            tests.move_cursor(row)
            await pilot.pause()
            nodeid = tests.keys[row]
            assert detail.nodeid == nodeid
            rec = app.state.tests.get(nodeid)
            expected = detail.render_test(app.state, nodeid, rec, app.view.now()).plain
            assert detail.text == expected
            shapes.add(expected.count("\n"))
        await pilot.press("home", "pagedown", "pagedown", "pageup")
        await pilot.pause()
        assert len(shapes) > 3  # texts of many heights were shown
        assert layouts == []
        assert tests.scroll_offset.y > 0


async def test_a_tick_over_its_budget_leaves_the_detail_pane_to_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tick that has worked past ``DETAIL_BUDGET`` refreshes the table but not the detail
    pane (nor does the cursor's move show it); the next tick within budget shows the test."""
    events = [e for e in events_of("ui_demo_n2.jsonl") if not isinstance(e, SessionFinish)]
    source = ManualSource()
    app = manual_app(source, refresh_hz=1)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        monkeypatch.setattr(app_module, "DETAIL_BUDGET", -1.0)
        source.pending = events[:60]
        app.tick()
        await pilot.pause()
        assert app.tests.cursor_key is not None
        assert app.detail.nodeid is None
        monkeypatch.setattr(app_module, "DETAIL_BUDGET", 10.0)
        app.tick()
        await pilot.pause()
        assert app.detail.nodeid == app.tests.cursor_key
        assert app.tests.cursor_key in app.detail.text


async def test_the_detail_scrollbar_is_repainted_only_when_its_thumb_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Texts that fit the pane all show the same bar (a thumb filling it): moving between them
    does not repaint the detail pane's scrollbar, moving to a taller text does, and the bar
    always holds the height of the text shown."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(app, pilot)
        tests, detail = app.tests, app.detail
        bar = detail.vertical_scrollbar
        repaints: list[object] = []
        original = ScrollBar.refresh

        def counted(self: ScrollBar, *args: Any, **kwargs: Any) -> ScrollBar:
            if self is bar:
                repaints.append(detail.nodeid)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(ScrollBar, "refresh", counted)
        window = detail.scrollable_content_region.height
        assert detail.nodeid == tests.keys[0]
        fitted = detail.virtual_size.height <= window
        seen = {"fit to fit": 0, "fit to taller": 0}
        for row in [*range(1, len(tests.keys)), 0]:  # row 0 (a failure) is the tallest
            repaints.clear()
            tests.move_cursor(row)
            await pilot.pause()
            height = detail.virtual_size.height
            assert bar.window_virtual_size == height
            fits = height <= window
            if fitted and fits:
                seen["fit to fit"] += 1
                assert repaints == [], tests.keys[row]
            elif fitted:
                seen["fit to taller"] += 1
                assert repaints, tests.keys[row]
            fitted = fits
        assert all(seen.values()), seen
