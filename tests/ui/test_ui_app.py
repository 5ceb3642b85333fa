"""The dashboard driven by Pilot over recorded runs: lanes, keys, filter, sort, quit."""

from __future__ import annotations

import gc
import itertools
import os
import weakref

from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from ui_helpers import FakeFeed, ManualSource, events_of, manual_app, replay_app, state_of

from hotlap.model.run_state import RunPhase
from hotlap.runner.replay import ReplaySource
from hotlap.ui.app import GC_AFTER_RUN, GC_YOUNG, HotlapApp
from hotlap.ui.screens.help import HelpScreen
from hotlap.ui.screenshots import LiveReplay, settle
from hotlap.ui.widgets.detail import TestDetail
from hotlap.ui.widgets.panels import line_strip
from hotlap.ui.widgets.tables import TestsTable
from hotlap.watch.feed import ChangeBatch


async def test_lanes_show_what_each_worker_runs_now() -> None:
    """Mid-run, each lane row names its worker, phase and the test it is running."""
    app = replay_app(mid_run=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        text = await settle(app, pilot)
        assert app.active and app.state.phase is RunPhase.RUNNING
        for lane in app.state.workers.values():
            assert lane.current
            line = next(row for row in text.splitlines() if row.startswith(f" {lane.id} "))
            assert lane.current in line and lane.phase in line
        assert "running" in text.splitlines()[0]


async def test_finished_run_counts_match_pytest() -> None:
    """After the replay the header shows pytest's own counts and the state "done"."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        header = "\n".join((await settle(app, pilot)).splitlines()[:3])
        counts = app.state.summary_counts()
        assert "done" in header
        for key, label in (("passed", "passed"), ("failed", "failed"), ("xfailed", "xfail")):
            assert f"{counts[key]} {label}" in header
        assert app.exit_status == 1


async def test_failure_detail_shows_traceback_and_output() -> None:
    """Selecting a failed test shows its traceback and captured output beside the table."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        failed = app.state.failures[0]
        tests = app.query_one(TestsTable)
        tests.user_moved = True
        tests.move_cursor(tests.keys.index(failed))
        await pilot.pause()
        detail = app.query_one(TestDetail)
        assert detail.nodeid == failed
        text = await settle(app, pilot)
        assert "── traceback" in text and "AssertionError" in text
        assert app.state.tests[failed].stdout
        for _ in range(6):  # J scrolls the detail down to the captured output
            await pilot.press("J")
        await pilot.pause()
        assert "── captured stdout" in (await settle(app, pilot))


async def test_slash_filters_and_escape_clears() -> None:
    """`/` opens the filter, typing narrows the rows live, escape clears it."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        everything = len(tests.keys)
        await pilot.press("slash")
        await pilot.press(*"inventory")
        await pilot.pause()
        assert 0 < len(tests.keys) < everything
        assert all("inventory" in key for key in tests.keys)
        await pilot.press("escape")
        await pilot.pause()
        assert len(tests.keys) == everything and not app.filter_box.display


async def test_outcome_filter_and_enter_keeps_it() -> None:
    """`:failed` in the filter keeps only failed tests; enter closes the box, keeps the rows."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *":failed", "enter")
        await pilot.pause()
        tests = app.query_one(TestsTable)
        assert sorted(tests.keys) == sorted(
            n for n, r in app.state.tests.items() if r.outcome == "failed"
        )
        assert not app.filter_box.display and tests.has_focus


async def test_s_cycles_sort_and_bang_toggles_failures_first() -> None:
    """`s` moves to the next sort column (header marked); `!` puts failures first or not."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        assert tests.view.failures_first
        assert app.state.tests[tests.keys[0]].outcome in ("failed", "error")
        await pilot.press("exclamation_mark")
        await pilot.press("s")  # order -> name
        await pilot.pause()
        assert tests.view.sort == "name" and tests.keys == sorted(tests.keys)
        assert "test ▼" in (await settle(app, pilot))
        await pilot.press("S")
        await pilot.pause()
        assert tests.keys == sorted(tests.keys, reverse=True)


async def test_tab_switches_panes_and_fixtures_show_a_hint() -> None:
    """`tab` goes tests → fixtures → resources → tests; fixtures list the scope hint."""
    app = replay_app("ui_run_n2.jsonl")
    async with app.run_test(size=(140, 40)) as pilot:
        # Drawn first: on a loaded machine (CI, once) a tab pressed at the first pause left
        # the tests pane active.
        await settle(app, pilot)
        await pilot.press("tab")
        await pilot.pause()
        assert app.panes.active == "fixtures-pane"
        text = await settle(app, pilot)
        assert "database" in text and "scope=module would save" in text
        await pilot.press("tab")
        await pilot.pause()
        assert app.panes.active == "resources-pane"
        assert "cores" in (await settle(app, pilot)) and "cpu0" in (await settle(app, pilot))
        await pilot.press("tab")
        assert app.panes.active == "tests-pane"


async def test_q_on_a_finished_run_returns_pytest_exit_code() -> None:
    """Quitting after the run returns pytest's exit code (1: there were failures)."""
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("q")
    assert app.return_value == 1


async def test_q_while_running_cancels_first() -> None:
    """Quitting a running suite cancels it (no orphans) and returns "interrupted" (2)."""
    app = replay_app(mid_run=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.active
        await pilot.press("q")
    assert isinstance(app.source, LiveReplay) and app.source.cancelled
    assert app.return_value == 2 and app.state.phase is RunPhase.CANCELLED


async def test_x_cancels_and_the_app_stays_open() -> None:
    """`x` stops the run; the dashboard keeps showing its results, marked cancelled."""
    app = replay_app(mid_run=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        assert not app.active and app.exit_status == 2
        assert "cancelled" in (await settle(app, pilot)).splitlines()[0]
        assert app.is_running


async def test_r_and_f_start_new_runs_on_a_fresh_state() -> None:
    """`r` reruns all, `f` reruns the failed tests; each shows a new run from zero."""
    calls: list[tuple[str, list[str]]] = []
    rerun = events_of("ui_run_n0.jsonl")

    def start_run(kind: str, nodeids: list[str]) -> ReplaySource:
        calls.append((kind, nodeids))
        return ReplaySource(rerun, speed=None)

    app = replay_app(mid_run=True, start_run=start_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        first_source, failed = app.source, app.failed_nodeids()
        first_root = app.state.session.rootdir
        assert first_root  # node ids are anchored to it, so reruns work from any directory
        assert failed
        await pilot.press("f")
        await pilot.pause()
        root = first_root
        assert calls == [("failed", [os.path.join(root, n) for n in failed])]
        assert isinstance(first_source, LiveReplay) and first_source.cancelled
        await pilot.pause(0.2)
        assert app.state.summary_counts() == state_of(rerun).summary_counts()
        assert f"rerun of {len(failed)} failed" in (await settle(app, pilot)).splitlines()[0]
        await pilot.press("r")
        await pilot.pause()
        assert calls[-1] == ("all", [])
        assert app.source is not first_source and app.source.poll() is not None


async def test_rerun_without_start_run_says_so() -> None:
    """A replay cannot be rerun: the key explains instead of failing."""
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        source = app.source
        await pilot.press("r")
        await pilot.pause()
        assert app.source is source


async def test_help_lists_the_keys() -> None:
    """`?` opens the key list; escape closes it."""
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Rerun failed tests" in (await settle(app, pilot, footer=False))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_open_editor_without_a_terminal_explains() -> None:
    """`o` on a headless app (no terminal to hand over) notifies instead of crashing."""
    app = replay_app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert app.is_running


async def test_80x24_renders_without_overlap() -> None:
    """At 80 x 24 the header, lanes, panes and footer stack without overlapping."""
    app = replay_app(mid_run=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        regions = [
            app.header.region,
            app.lanes.region,
            app.panes.region,
            app.screen.query_one("Footer").region,
        ]
        for region in regions:
            assert region.height > 0 and region.right <= 80 and region.bottom <= 24
        for a, b in itertools.pairwise(regions):
            assert a.bottom <= b.y
        assert app.tests.region.height >= 4 and app.detail.region.height >= 3
        text = await settle(app, pilot)
        assert all(len(line) <= 80 for line in text.splitlines())
        footer = [line for line in text.splitlines() if line.strip()][-1]
        assert "q Quit" in footer and "? Help" in footer


async def test_watch_batch_waits_for_the_run_then_starts() -> None:
    """A change during a run is queued; when the run ends the selection runs."""
    feed = FakeFeed()
    calls: list[tuple[str, list[str]]] = []
    rerun = events_of("ui_run_n0.jsonl")

    def start_run(kind: str, nodeids: list[str]) -> ReplaySource:
        calls.append((kind, nodeids))
        return ReplaySource(rerun, speed=None)

    app = replay_app(mid_run=True, start_run=start_run, watch=feed)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        feed.batches.append(ChangeBatch(["src/shop/cart.py"]))
        await pilot.pause(0.2)
        assert calls == [] and "queued: cart.py" in app.view.watch_status
        root = app.state.session.rootdir
        await pilot.press("x")  # the run ends
        await pilot.pause(0.3)
        assert calls == [("selection", [os.path.join(root, "tests/test_cart.py::t")])]
        assert "changed: cart.py" in (await settle(app, pilot))
        await pilot.press("w")
        assert feed.paused and "paused" in app.view.watch_status


def test_app_is_a_textual_app_with_keys_in_the_footer() -> None:
    """Every key the issue lists is bound, shown in the footer or the help."""
    keys = {b.key for b in HotlapApp.BINDINGS if hasattr(b, "key")}
    for key in ("r", "f", "x", "slash", "s", "o", "tab", "question_mark", "q", "w", "a", "c"):
        assert key in keys


class UsageErrorSource:
    """A run pytest refuses to start: no events, exit 4, the reason in its output."""

    summary_line = summary_text = ""
    output = "ERROR: file or directory not found: test_gone.py\n\n"
    output_cut = 0

    def start(self) -> None:
        self.started = True

    def drain(self) -> list[object]:
        return []

    def cancel(self) -> None:
        pass

    def poll(self) -> int | None:
        return 4


async def test_a_run_that_never_starts_says_why() -> None:
    """A rerun pytest rejects (exit 4) shows pytest's error, not an empty "collecting…"."""
    app = replay_app(start_run=lambda kind, nodeids: UsageErrorSource())  # type: ignore[arg-type,return-value]
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause(0.2)
        assert app.exit_status == 4
        text = await settle(app, pilot)
        assert "no tests ran (exit 4): ERROR: file or directory not found: test_gone.py" in text


async def test_a_crashed_worker_says_where_and_its_replacement_gets_a_lane() -> None:
    """A worker that died shows "crashed in <nodeid>"; xdist's replacement is a new lane."""
    app = replay_app("ui_crash_n2.jsonl")
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        text = await settle(app, pilot)
        crashed = [lane for lane in app.state.workers.values() if lane.crashed]
        assert len(crashed) == 1 and len(app.state.workers) == 3
        line = next(row for row in text.splitlines() if row.startswith(f" {crashed[0].id} "))
        assert f"crashed in {crashed[0].crashed_in}" in line
        assert "test_broken_import.py" in text  # the collection error is a row too


async def test_eta_shows_only_when_history_knows_durations() -> None:
    """With expected durations the header shows an ETA while running; without, none."""
    events = events_of("ui_demo_n2.jsonl")
    expected = {n: 0.5 for n in state_of(events).collected}
    app = replay_app(mid_run=True, expected=expected)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        assert "ETA" in (await settle(app, pilot)).splitlines()[0]
    app = replay_app(mid_run=True)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        assert "ETA" not in (await settle(app, pilot)).splitlines()[0]


async def test_command_palette_offers_the_same_actions() -> None:
    """The command palette lists rerun, rerun failed, cancel, filter, sort and editor."""
    app = replay_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
    for title in ("Rerun all tests", "Rerun failed tests", "Cancel the run", "Filter tests"):
        assert title in titles
    assert {"Sort", "Open in editor", "Next pane"} <= titles


async def test_table_resized_by_a_filter_keeps_its_scrollbar_true() -> None:
    """A filter that changes the row count resizes the table without a layout pass: the
    scrollbar spans exactly the rows shown and `end` shows the last one."""
    app = replay_app()
    async with app.run_test(size=(140, 24)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        # Both views need a scrollbar and start on the same (failed) row: nothing else on
        # screen changes its size, so no layout pass happens to fix a stale scrollbar.
        first, everything = tests.keys[0], len(tests.keys)
        for text in (":failed :passed", ""):
            tests.set_view(text=text)
            await pilot.pause()
            assert tests.keys[0] == first and len(tests.keys) > 24
            assert tests.virtual_size.height == len(tests.keys) + 1
            assert tests.vertical_scrollbar.window_virtual_size == len(tests.keys) + 1
        assert len(tests.keys) == everything
        await pilot.press("end")
        text = await settle(app, pilot)
        assert 0 < tests.scroll_offset.y == tests.max_scroll_y
        assert tests.keys[-1].split("::")[-1] in text


async def test_garbage_collector_tuned_while_running_and_restored_on_exit() -> None:
    """While the app runs, the collector never runs by itself: young objects piled up by a
    tick are collected once that tick is on screen, and the survivors frozen; a run that
    ends is followed by a full collection (a cycle that was frozen is freed); on exit the
    collector is enabled again and nothing stays frozen."""
    before = gc.isenabled()

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    app = replay_app(mid_run=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert app.active and not gc.isenabled()
        frozen = gc.get_freeze_count()
        # Each list is a tracked object; twice the threshold, as objects made earlier and
        # freed meanwhile count down.
        young = [[] for _ in range(2 * GC_YOUNG)]
        assert gc.get_count()[0] >= GC_YOUNG  # no collection while they were made
        app.tick()
        assert gc.get_count()[0] >= GC_YOUNG  # nor in the tick
        for _ in range(100):  # once the tick is painted (a loaded machine: a while)
            await pilot.pause(0.02)
            if gc.get_count()[0] < GC_YOUNG:
                break
        assert gc.get_count()[0] < GC_YOUNG
        # The survivors were frozen. Frozen objects that die meanwhile (old strips, caches)
        # leave the count too: 109,964 after 100,123 + 10,000 was seen.
        assert gc.get_freeze_count() >= frozen + len(young) // 2
        cycle = weakref.ref(Cycle())
        gc.freeze()  # as if it had survived a collection during the run
        await pilot.pause()
        assert cycle() is not None and gc.get_freeze_count() > 0
        await app.cancel_active()
        await pilot.pause()
        assert not app.active and cycle() is not None  # not during the final refresh
        await pilot.pause(GC_AFTER_RUN + 0.3)
        assert cycle() is None
    assert gc.isenabled() == before
    assert gc.get_freeze_count() == 0


async def test_selection_stays_on_the_same_test_while_the_run_streams() -> None:
    """Once the user moves the cursor, it stays on that test while rows are added, move
    (sorted by call time) and change outcome; the detail pane keeps showing it. Rows that
    move it (failures put first above it) scroll the view with it: it stays on the same
    line of the screen."""
    events = events_of("ui_demo_n2.jsonl")
    source = ManualSource()
    app = manual_app(source)
    async with app.run_test(size=(140, 40)) as pilot:
        source.pending = events[: len(events) // 3]
        await pilot.pause(0.2)
        tests = app.query_one(TestsTable)
        await pilot.press("down", "down", "down")
        chosen = tests.cursor_key
        assert chosen is not None and tests.cursor == 3
        rest = events[len(events) // 3 :]
        line, moved_in_place = 3, 0
        for i in range(0, len(rest), 40):
            if i == 80:
                tests.set_view(sort="call")
            cursor = tests.cursor
            source.pending = rest[i : i + 40]
            await pilot.pause(0.15)
            assert tests.cursor_key == chosen and tests.keys[tests.cursor] == chosen
            assert app.query_one(TestDetail).nodeid == chosen
            top = int(tests.scroll_offset.y)
            assert tests.vertical_scrollbar.position == top
            if i != 80 and 0 < top < tests.max_scroll_y:
                assert tests.cursor - top == line
                moved_in_place += tests.cursor != cursor
            line = tests.cursor - top
        assert moved_in_place > 0  # rows did move under it


def _cells(strip: Strip) -> list[tuple[str, Style | None]]:
    """A strip as (character, style) per cell, whatever its segments."""
    return [(ch, seg.style) for seg in strip for ch in seg.text]


async def test_panel_lines_are_styled_as_rich_renders_them() -> None:
    """The header's and the lanes' strips, built span by span, have the characters and styles
    rich's ``Text.render`` gives them (base under the line's style under each span's), padded
    or cropped to the width; a line with overlapping spans is left to rich."""
    app = replay_app(mid_run=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        console = app.console
        lines = 0
        for panel in (app.header, app.lanes):
            base = panel.rich_style
            for width in (160, 40):
                for line in panel.lines(width):
                    strip = line_strip(line, base, width, {}, console)
                    assert strip is not None
                    own = base + line.style if isinstance(line.style, Style) else base
                    expected = Strip(list(line.render(console))).apply_style(own)
                    expected = expected.extend_cell_length(width, base).crop(0, width)
                    assert _cells(strip) == _cells(expected), line.plain
                    assert strip.cell_length == width
                    lines += 1
        assert lines >= 10
        text = Text("ab", style=Style(bold=True))
        text.append("cd", style="italic")
        assert _cells(line_strip(text, Style(), 6, {}, console) or Strip([])) == [
            ("a", Style(bold=True)),
            ("b", Style(bold=True)),
            ("c", Style(bold=True, italic=True)),
            ("d", Style(bold=True, italic=True)),
            (" ", Style()),
            (" ", Style()),
        ]
        text.stylize("underline", 0, 3)
        assert line_strip(text, Style(), 6, {}, console) is None


async def test_late_ticks_in_a_real_run() -> None:
    """Outside ``run_test`` (as ``hotlap`` runs it): a tick that overruns its slot makes the
    refresh loop wait for the paint, then go on. That wait once used
    ``App.wait_for_refresh``, which only works under ``run_test``: the first late tick of a
    real run stopped the dashboard with an AssertionError."""
    import asyncio
    import time

    app = replay_app(mid_run=True)
    ticks: list[float] = []
    real_tick = app.tick

    def slow_tick() -> int:
        ticks.append(time.monotonic())
        if len(ticks) % 3 == 0:
            time.sleep(2 / app.refresh_hz)  # past the next slot
        return real_tick()

    app.tick = slow_tick  # type: ignore[method-assign]

    async def stop_later() -> None:
        while len(ticks) < 12:
            await asyncio.sleep(0.05)
        app.exit(0)

    stopper = asyncio.ensure_future(stop_later())
    await asyncio.wait_for(app.run_async(headless=True, size=(100, 30)), timeout=30)
    stopper.cancel()
    assert app.return_code == 0, app._exception
    assert len(ticks) >= 12
