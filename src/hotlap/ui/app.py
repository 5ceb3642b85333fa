"""The hotlap dashboard: a Textual app that shows a run live.

Events are never handled one message at a time: a 20 Hz tick drains the
:class:`~hotlap.runner.source.EventSource`, folds everything into the :class:`RunState` and
refreshes only the panels whose part of the state changed, inside one ``batch_update``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, TabbedContent, TabPane

from hotlap.model.run_state import Change, RunPhase, RunState
from hotlap.protocol import Event
from hotlap.runner.headless import RegressionFn
from hotlap.runner.replay import INTERRUPTED
from hotlap.runner.source import EventSource
from hotlap.ui.debugging import StartDebug, debug_in_terminal
from hotlap.ui.format import editor_command
from hotlap.ui.keys import KEY_ACTIONS
from hotlap.ui.live_index import touched_rows
from hotlap.ui.screens.help import HelpScreen
from hotlap.ui.strength import StrengthPane
from hotlap.ui.ticker import paint_when_idle, tick_forever
from hotlap.ui.watching import WatchControl, narrow_to_filter
from hotlap.ui.widgets.detail import TestDetail
from hotlap.ui.widgets.line_table import LineTable
from hotlap.ui.widgets.panels import ResourcesPanel, RunHeader, RunView, WorkerLanes
from hotlap.ui.widgets.tables import FixturesTable, TestsTable
from hotlap.watch.feed import WatchFeed

if TYPE_CHECKING:
    from hotlap.mutate.watching import MutationWatch

StartRun = Callable[[str, list[str]], EventSource]
#: ``(state, failed nodeid) -> what the polluter search found``, run on a thread.
FindPolluters = Callable[[RunState, str], str]

#: Refreshes per second of the panels (events are applied at the same rate).
REFRESH_HZ = 20
#: Seconds of a tick's work after which the detail pane waits for the next tick.
DETAIL_BUDGET = 0.02
#: Below this width the detail pane goes under the tests table.
NARROW = 110
PANES = ("tests-pane", "fixtures-pane", "resources-pane")
#: New container objects after which, while the dashboard runs, a young collection follows
#: the next paint (see ``HotlapApp.on_mount``).
GC_YOUNG = 5_000
#: ... or runs in the tick itself, if that many piled up without a paint.
GC_BACKSTOP = 40 * GC_YOUNG
#: Seconds after a run ends before the full collection (~0.2 s at 50,000 tests), so the
#: final screen and the keys pressed meanwhile are handled first.
GC_AFTER_RUN = 0.5


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """After each collection, move the survivors out of the collector's way."""
    if phase == "stop":
        gc.freeze()


class HotlapApp(App[int]):
    """The dashboard for one source of runs (the first run, then reruns and watch runs)."""

    # Absolute, so subclasses defined elsewhere (the benchmark) find it too.
    CSS_PATH = str(Path(__file__).with_name("hotlap.tcss"))
    TITLE = "hotlap"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rerun_all", "Rerun"),
        Binding("f", "rerun_failed", "Failed"),
        Binding("x", "cancel_run", "Cancel"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "sort_reverse", "Reverse sort", show=False),
        Binding("exclamation_mark", "failures_first", "Failures first", show=False),
        Binding("o", "open_editor", "Edit"),
        Binding("d", "debug", "Debug"),
        Binding("D", "debug(True)", "Trace", show=False),
        Binding("p", "find_polluters", "Polluters", show=False),
        Binding("y", "copy_nodeid", "Copy id", show=False),
        Binding("k", "kill_worker", "Kill worker", show=False),
        Binding("tab", "next_pane", "Pane", priority=True),
        Binding("shift+tab", "next_pane(-1)", "Previous pane", show=False, priority=True),
        Binding("J", "scroll_detail(1)", "Detail down", show=False),
        Binding("K", "scroll_detail(-1)", "Detail up", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        # Watch mode's keys come after q so that q stays in view on an 80-column footer.
        Binding("w", "watch_pause", "Pause"),
        Binding("a", "rerun_all", "All", show=False),
        Binding("c", "clear", "Clear"),
        Binding("ctrl+c", "quit_now", "Quit now", show=False, priority=True),
    ]
    _WATCH_ONLY = frozenset(("watch_pause", "clear"))

    def __init__(
        self,
        source: EventSource,
        state: RunState,
        *,
        title: str,
        pytest_args: list[str],
        effective_cores: float,
        expected: dict[str, float],
        slow_threshold: float,
        start_run: StartRun | None,
        watch: WatchFeed | None = None,
        clock: Callable[[], float] = time.monotonic,
        autostart: bool = True,
        refresh_hz: float = REFRESH_HZ,
        regressions: RegressionFn | None = None,
        start_debug: StartDebug | None = None,
        mutation: MutationWatch | None = None,
        find_polluters: FindPolluters | None = None,
    ) -> None:
        super().__init__()
        #: ``(state, nodeid) -> one line`` for ``p``: a polluter search (None: not offered).
        self.find_polluters = find_polluters
        #: ``(nodeid, trace) -> a run in the foreground`` for ``d``/``D`` (None: no debugging).
        self.start_debug = start_debug
        #: ``hotlap watch --mutate``: mutation runs between cycles, in the Strength pane.
        self.mutation = mutation
        #: ``q`` once every test had reported: the app exits when pytest does.
        self.finishing = False
        #: Node ids seen in watch mode's runs (a filter narrows a cycle's files to them).
        self.known: dict[str, None] = {}
        #: ``(state, now) -> slow regressions`` from history, checked every 2 s.
        self.regressions = regressions
        self._slow_seen: set[str] = set()
        self.source = source
        self.state = state
        self.start_run = start_run
        self.view = RunView(
            state, title, list(pytest_args), effective_cores, dict(expected), slow_threshold, clock
        )
        self.watching = WatchControl(watch) if watch is not None else None
        self.autostart = autostart
        self.refresh_hz = refresh_hz
        #: pytest's exit code of the run shown, once known.
        self.exit_status: int | None = None
        self.active = False
        self.ticks = 0
        self._lane_count = -1
        #: The detail pane was left to the next tick (see ``_show_detail``).
        self._detail_due = False
        self._refreshes = 0
        #: The app runs the garbage collector (see ``on_mount``); whether it was enabled before.
        self._gc_owned = False
        self._gc_enabled = True
        #: A young collection waits for the next paint.
        self._gc_due = False

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield RunHeader(self.view, id="header")
        yield WorkerLanes(self.view, id="lanes")
        with TabbedContent(id="panes"):
            with TabPane("Tests", id="tests-pane"), Horizontal(id="tests-split"):
                yield TestsTable(self.state, id="tests")
                yield TestDetail(id="detail")
            with TabPane("Fixtures", id="fixtures-pane"):
                yield FixturesTable(self.state, id="fixtures")
            with TabPane("Resources", id="resources-pane"):
                yield ResourcesPanel(self.view, id="resources")
            if self.mutation is not None:
                with TabPane("Strength", id="strength-pane"):
                    yield StrengthPane(self.mutation.state, id="strength")
        yield Input(
            placeholder="filter: words in the test id, :failed :error :skipped :running :queued"
            "  (enter keeps, escape clears)",
            id="filter",
        )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # A collection's pause grows with the objects it walks: a full one walks every test
        # record (~200 ms at 50,000 tests), a young one with a 100,000 threshold ~140 ms.
        # So collect the young often (each pause a few ms) and freeze what survives (the
        # records, which form no cycles): no collection walks the records while a run
        # streams. Cycles that die later (removed widgets) wait for the collection that
        # follows each run (``_collect_between_runs``). And collect only between frames:
        # the collector's own trigger fired inside ticks and paints (pauses of 1-10 ms,
        # the collection's tick walked its 50,000 new records), on the lag's path; after a
        # paint the next tick is tens of ms away (``_collect_after_paint``).
        self._gc_enabled = gc.isenabled()
        gc.freeze()
        gc.disable()
        gc.callbacks.append(_freeze_survivors)
        self._gc_owned = True
        self._gc_due = False
        # Kept as attributes: the timer may fire once more while the screen is torn down.
        self.header = self.query_one(RunHeader)
        self.lanes = self.query_one(WorkerLanes)
        self.tests = self.query_one(TestsTable)
        self.fixtures = self.query_one(FixturesTable)
        self.resources = self.query_one(ResourcesPanel)
        self.detail = self.query_one(TestDetail)
        self.panes = self.query_one("#panes", TabbedContent)
        self.filter_box = self.query_one("#filter", Input)
        self.filter_box.display = False
        self.tests.focus()
        self.set_class(self.size.width < NARROW, "-narrow")
        if self.autostart:
            self._start_source()
        paint_when_idle(self.screen)
        # Not ``set_interval``: its timer skips one to two periods after a late tick.
        self.run_worker(
            tick_forever(self.tick, 1 / self.refresh_hz, painted=self._painted),
            name="refresh",
            group="refresh",
            exclusive=True,
        )
        self.tick()

    def on_unmount(self) -> None:
        if self._gc_owned:
            if _freeze_survivors in gc.callbacks:
                gc.callbacks.remove(_freeze_survivors)
            if self._gc_enabled:
                gc.enable()
            gc.unfreeze()
            self._gc_owned = False

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    # -- the refresh loop ------------------------------------------------------------------------
    def _start_source(self) -> None:
        self.source.start()
        self.active = True
        self.exit_status = None

    async def _painted(self) -> None:
        """Until the screen has painted what the last tick changed.

        Not ``App.wait_for_refresh``: it asserts the app's own task, which only
        ``App.run_test`` sets, so a real run failed at its first late tick."""
        painted = asyncio.Event()
        if self.call_after_refresh(painted.set):
            await painted.wait()

    def tick(self) -> int:
        """Drain the source, apply its events, refresh what changed. Returns events applied."""
        started = time.perf_counter()
        self.ticks += 1
        events = self.source.drain()
        apply = self.state.apply
        # OR-ing IntFlag members costs microseconds each (enum machinery); plain ints do not.
        mask = 0
        for event in events:
            mask |= int(apply(event))
        changes = Change(mask)
        if events:
            self._note(events)
        if self.active:
            code = self.source.poll()
            if code is not None:
                self.active = False
                self.exit_status = code
                changes |= Change.SESSION
                self._report_run_error(code)
                if self.state.phase in (RunPhase.STARTING, RunPhase.COLLECTING, RunPhase.RUNNING):
                    self.state.phase = RunPhase.DONE
                # After the last events are on screen: the footer's new keys recompose it
                # and lay out the screen (~20-40 ms), which the final picture need not wait for.
                self.call_after_refresh(self.refresh_bindings)
                self.set_timer(GC_AFTER_RUN, self._collect_between_runs)
                if self.watching is not None:
                    self.known.update(dict.fromkeys(self.state.collected))
                    self.known.update(dict.fromkeys(self.state.tests))
                if self.mutation is not None and self.watching is not None:
                    self.mutation.cycle_done(code, self.watching.last_paths)
                if self.finishing:
                    self.call_after_refresh(self.exit, code)
        if self.watching is not None:
            self._watch_tick()
        if self.mutation is not None:
            self._mutation_tick()
        if self.regressions is not None and self.ticks % int(2 * self.refresh_hz) == 0:
            self._flag_regressions()
        self.refresh_panels(changes, started)
        if self._gc_owned:
            young = gc.get_count()[0]
            if young >= GC_BACKSTOP:
                gc.collect(0)  # no paint came for a long while
            elif young >= GC_YOUNG and not self._gc_due:
                self._gc_due = True
                self.call_after_refresh(self._collect_after_paint)
        return len(events)

    def _collect_after_paint(self) -> None:
        """Collect the young objects once the screen shows the tick: after the callbacks
        that wait for that paint, not before them."""
        asyncio.get_running_loop().call_soon(self._collect_young)

    def _collect_young(self) -> None:
        self._gc_due = False
        if self._gc_owned:
            gc.collect(0)

    def _note(self, events: list[Event]) -> None:
        """Tell the views that keep up incrementally which tests the applied events changed."""
        touched = touched_rows(events)
        self.tests.note(touched)
        self.view.live_eta.note(touched)

    def _collect_between_runs(self) -> None:
        """A full collection once a run is over and on screen."""
        if self.active or not self._gc_owned:
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def _flag_regressions(self) -> None:
        """A notification per test newly slower than its history (running ones included)."""
        assert self.regressions is not None
        for found in self.regressions(self.state, time.monotonic()):
            if found.nodeid not in self._slow_seen:
                self._slow_seen.add(found.nodeid)
                self.notify(
                    f"{found.nodeid}: {found.old:.2f}s -> {found.new:.2f}s "
                    f"(median of {found.runs} runs)",
                    title="slower than its history",
                    severity="warning",
                    timeout=8,
                )

    def _report_run_error(self, code: int) -> None:
        """pytest stopped before running anything (usage error, no tests, internal error):
        say why, from its own output, instead of showing an empty table."""
        if self.state.tests or code in (0, 1):
            return
        reason = last_output_line(self.source.output) or f"pytest exited with code {code}"
        self.tests.run_error = f"no tests ran (exit {code}): {reason}"
        self.tests.refresh()
        self.notify(reason, title=f"pytest exited with code {code}", severity="error", timeout=10)

    def refresh_panels(self, changes: Change, started: float | None = None) -> None:
        """Refresh the panels that show what ``changes`` says changed (``started``: when the
        tick that asks began, on ``time.perf_counter``, to keep it within its budget)."""
        if not self.detail.is_attached:
            # The app is closing: its widgets are unmounted (their component styles gone),
            # and the ticker's last tick may come after that.
            return
        running = self.active
        pane = self.panes.active
        with self.batch_update():
            if running or changes:
                self.header.refresh()
            if running or changes & (Change.WORKERS | Change.SESSION):
                # Only a change of the lanes' height needs a layout pass.
                rows = self.view.lane_rows()
                self.lanes.refresh(layout=rows != self._lane_count)
                self._lane_count = rows
            tests = self.tests
            if changes & (Change.TESTS | Change.COUNTS):
                tests.update_rows()
                self._show_detail(started)
            elif running or self._detail_due:
                self._show_detail(started)
            if changes & Change.FIXTURES and pane == "fixtures-pane":
                self.fixtures.update_rows()
            if changes & Change.RESOURCES and pane == "resources-pane":
                self.resources.refresh()
        self._refreshes += 1

    def _show_detail(self, started: float | None = None) -> None:
        """Show the selected test in the detail pane; a tick that began ``started`` and has
        worked more than ``DETAIL_BUDGET`` leaves it to the next tick (the collection's
        tick builds the table's index and the first text of the pane costs ~8 ms)."""
        if started is not None and time.perf_counter() - started > DETAIL_BUDGET:
            self._detail_due = True
            return
        self._detail_due = False
        self.detail.show(self.state, self.tests.cursor_key, self.view.now())

    def on_line_table_highlighted(self, message: LineTable.Highlighted) -> None:
        # A tick that ran out of budget moved the cursor: its next tick shows the test.
        if isinstance(message.table, TestsTable) and not self._detail_due:
            self._show_detail()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane.id
        if pane == "fixtures-pane":
            self.fixtures.update_rows()
            self.fixtures.focus()
        elif pane == "resources-pane":
            self.resources.refresh()
            self.resources.focus()
        elif pane == "strength-pane":
            self.query_one(StrengthPane).focus()
        else:
            self.tests.focus()

    # -- runs -------------------------------------------------------------------------------------
    def install(self, source: EventSource, state: RunState | None = None) -> None:
        """Show a new run from ``source`` (started here) on a fresh state."""
        self.source = source
        self.state = state if state is not None else RunState()
        self.view.state = self.state
        self.finishing = self.view.finishing = False
        self.tests.reset(self.state)
        self.fixtures.reset(self.state)
        self._start_source()
        self.refresh_panels(Change.SESSION | Change.WORKERS | Change.TESTS)

    async def cancel_active(self, timeout: float = 10.0) -> None:
        """Cancel the running run (off the event loop) and wait for pytest's exit code."""
        if not self.active:
            return
        self.state.mark_cancelled()
        source = self.source
        await asyncio.to_thread(source.cancel)
        deadline = time.monotonic() + timeout
        code = source.poll()
        while code is None and time.monotonic() < deadline:
            drained = source.drain()
            for event in drained:
                self.state.apply(event)
            self._note(drained)
            await asyncio.sleep(0.05)
            code = source.poll()
        self.active = False
        self.exit_status = code if code is not None else INTERRUPTED
        self.refresh_panels(Change.SESSION | Change.WORKERS | Change.TESTS)
        self.refresh_bindings()
        self.set_timer(GC_AFTER_RUN, self._collect_between_runs)

    def failed_nodeids(self) -> list[str]:
        """Tests to rerun with ``f``: failures, errors and tests a crash took down."""
        failed = list(self.state.failures)
        failed += [n for n, r in self.state.tests.items() if r.crashed and n not in failed]
        return failed

    def start_new(self, kind: str, nodeids: list[str]) -> bool:
        """Start a run now (no run may be active); False if this app cannot start runs."""
        if self.start_run is None:
            self.notify("this run cannot be restarted from here", severity="warning")
            return False
        try:
            source = self.start_run(kind, self.invocable(nodeids))
        except Exception as exc:  # a failure to start must not take the dashboard down
            self.notify(f"could not start the run: {exc}", severity="error")
            return False
        n = len(nodeids)
        labels = {
            "failed": f"rerun of {n} failed",
            "selection": f"{n} selected",
            "shown": f"{n} shown by /{self.tests.view.text.strip()}",
            "marked": f"{n} marked",
        }
        self.view.run_label = labels.get(kind, "")
        self.install(source)
        return True

    def invocable(self, nodeids: list[str]) -> list[str]:
        """Node ids as pytest arguments that work from any directory.

        A node id is relative to pytest's rootdir, but pytest resolves ``path::name``
        arguments from the directory it starts in; those differ for ``hotlap demo`` or a
        ``--rootdir`` run, so anchor them to the rootdir the last run reported.
        """
        rootdir = self.state.session.rootdir
        if not rootdir:
            return list(nodeids)
        return [n if os.path.isabs(n) else os.path.join(rootdir, n) for n in nodeids]

    async def finish_or_cancel(self, wait: float = 5.0) -> None:
        """Before another run: a run whose tests have all reported is left to end by itself
        (for up to ``wait`` seconds: its exit code, its summary); one with tests to come is
        cancelled."""
        deadline = time.monotonic() + wait
        while self.active and self.all_reported() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the refresh loop notices the end
        await self.cancel_active()

    async def restart(self, kind: str, nodeids: list[str]) -> None:
        await self.finish_or_cancel()
        self.start_new(kind, nodeids)

    async def action_rerun_all(self) -> None:
        await self.restart("all", [])

    async def action_rerun_failed(self) -> None:
        failed = self.failed_nodeids()
        if not failed:
            self.notify("no failed tests to rerun")
            return
        await self.restart("failed", failed)

    async def action_cancel_run(self) -> None:
        if not self.active:
            self.notify("no run is running")
            return
        await self.cancel_active()

    def all_reported(self) -> bool:
        """Every collected test has reported (pytest may still tear down session fixtures
        or write its summary)."""
        state = self.state
        total = state.total
        return state.session.finished is not None or (total > 0 and state.done_count >= total)

    async def action_quit(self) -> None:
        """Quit. Once every test has reported, wait for pytest's own end (its exit code, its
        summary) showing "finishing…"; a second ``q``, or ``q`` before that, cancels."""
        if self.active and not self.finishing and self.all_reported():
            self.finishing = self.view.finishing = True
            self.header.refresh()
            return
        await self.action_quit_now()

    async def action_quit_now(self) -> None:
        await self.cancel_active()
        self.exit(self.exit_status if self.exit_status is not None else INTERRUPTED)

    # -- watch mode -------------------------------------------------------------------------------
    def _watch_tick(self) -> None:
        assert self.watching is not None
        request = self.watching.poll(active=self.active, failed=self.failed_nodeids())
        if request is not None and self.mutation is not None:
            self.mutation.changed(self.watching.last_paths)  # a save: stop mutating old code
        if request is not None and self.tests.view.text.strip():
            request = self._narrow(*request)
        self.view.watch_status = self.watching.status
        if request is not None:
            self.start_new(*request)

    def _narrow(self, kind: str, nodeids: list[str]) -> tuple[str, list[str]] | None:
        """A watch cycle's tests, limited to what the filter shows (until it is cleared)."""
        assert self.watching is not None
        state = self.state
        known = {**self.known, **dict.fromkeys(state.collected)}
        kept = narrow_to_filter(kind, nodeids, self.tests.view.matcher(state), known)
        text = self.tests.view.text.strip()
        self.watching.reason += f" · {len(kept) or 'none'} shown by /{text}"
        return ("shown", kept) if kept else None

    def _mutation_tick(self) -> None:
        assert self.mutation is not None
        self.mutation.poll()
        pane = self.query_one(StrengthPane)
        pane.status = self.mutation.status
        pane.show(self.mutation.state)

    def action_watch_pause(self) -> None:
        if self.watching is not None:
            self.watching.toggle_pause()
            self.view.watch_status = self.watching.status
            self.header.refresh()

    async def action_clear(self) -> None:
        if self.watching is None:
            return
        if self.active:
            self.notify("cancel the run (x) before clearing")
            return
        self.watching.clear()
        self.view.watch_status = self.watching.status
        self.state = RunState()
        self.view.state = self.state
        self.tests.reset(self.state)
        self.fixtures.reset(self.state)
        self.refresh_panels(Change.SESSION | Change.WORKERS | Change.TESTS)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self._WATCH_ONLY:
            return self.watching is not None
        if action == "cancel_run":
            return True if self.active else None
        return True

    # -- table actions ----------------------------------------------------------------------------
    def _pane(self) -> str:
        return self.panes.active

    def action_next_pane(self, step: int = 1) -> None:
        panes = self.panes
        order = (*PANES, "strength-pane") if self.mutation is not None else PANES
        i = order.index(panes.active) if panes.active in order else 0
        panes.active = order[(i + step) % len(order)]

    def action_filter(self) -> None:
        self.panes.active = "tests-pane"
        box = self.filter_box
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.tests.set_view(text=event.value)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        """enter in the filter: run only the tests it shows (the filter stays)."""
        if event.input.id == "filter":
            event.input.display = False
            self.tests.focus()
            if self.tests.view.text.strip():
                await self.run_shown()

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        box = self.filter_box
        if key == "escape" and box.has_focus:
            box.value = ""
            box.display = False
            self.tests.focus()
        elif key == "down" and box.has_focus:
            box.display = False  # keep the filter, go to the rows
            self.tests.focus()

    async def run_shown(self) -> None:
        """Run the tests the filter shows, by node id."""
        shown = list(self.tests.keys)
        if not shown:
            self.notify(f"no test matches “{self.tests.view.text.strip()}”")
            return
        await self.restart("shown", shown)

    # -- marks, debugging, copying ----------------------------------------------------------
    def action_mark(self) -> None:
        """Mark the selected test (or unmark it) and move to the next row."""
        nodeid = self.tests.cursor_key
        if nodeid is None:
            return
        self.tests.toggle_mark(nodeid)
        self.tests.move_cursor(self.tests.cursor + 1)

    async def action_run_marked(self) -> None:
        """Run the marked tests, or the selected one when none is marked."""
        marked = list(self.tests.marked)
        if marked:
            await self.restart("marked", marked)
        elif self.tests.cursor_key is not None:
            await self.restart("selection", [self.tests.cursor_key])
        else:
            self.notify("mark tests with space, then enter runs them")

    def action_unmark(self) -> None:
        """escape on the table: clear the marks, or else the filter."""
        if self.tests.marked:
            self.tests.clear_marks()
        elif self.tests.view.text:
            self.filter_box.value = ""  # its Changed message clears the view's filter

    def action_copy_nodeid(self) -> None:
        """Copy the selected node id, quoted for a shell (OSC 52: the terminal's clipboard)."""
        nodeid = self.tests.cursor_key
        if nodeid is None:
            self.notify("select a test first")
            return
        self.copy_to_clipboard(shlex.quote(nodeid))
        self.notify(f"copied {nodeid}", timeout=2)

    async def action_debug(self, trace: bool = False) -> None:
        """Rerun the selected test alone in this terminal under pdb (``--pdb``, or
        ``--trace`` for its first line), the dashboard suspended; then show its result."""
        nodeid = self.tests.cursor_key
        if nodeid is None:
            self.notify("select a test to debug")
            return
        if self.start_debug is None:
            self.notify("this run cannot be debugged from here", severity="warning")
            return
        await debug_in_terminal(self, self.start_debug, nodeid, trace)

    def action_find_polluters(self) -> None:
        """Search the polluters of the selected failed test on a thread (reruns of pytest);
        the line it ends with goes to the test's detail and a notification."""
        nodeid = self.tests.cursor_key
        rec = self.state.tests.get(nodeid) if nodeid is not None else None
        if nodeid is None or rec is None or rec.outcome not in ("failed", "error"):
            self.notify("select a failed test to look for its polluters")
            return
        if self.find_polluters is None:
            self.notify("this run cannot look for polluters from here", severity="warning")
            return
        if self.active:
            self.notify("wait for the run to end (or cancel it with x)")
            return
        self.notify(f"looking for the polluters of {nodeid}…")
        self._search_polluters(self.find_polluters, self.state, nodeid)

    @work(thread=True, exclusive=True, group="polluters")
    def _search_polluters(self, search: FindPolluters, state: RunState, nodeid: str) -> None:
        try:
            line = search(state, nodeid)
        except Exception as exc:  # a failed search must not take the dashboard with it
            line = f"the polluter search failed: {type(exc).__name__}: {exc}"
        self.call_from_thread(self._polluters_found, state, nodeid, line)

    def _polluters_found(self, state: RunState, nodeid: str, line: str) -> None:
        rec = state.tests.get(nodeid)
        if rec is not None:
            rec.polluters = line
        if state is self.state and self.detail.is_attached:
            self._show_detail()
        self.notify(line, timeout=15)

    def action_sort(self) -> None:
        if self._pane() == "fixtures-pane":
            sort = self.fixtures.cycle_sort()
        else:
            sort = self.tests.cycle_sort()
        self.notify(f"sorted by {sort}", timeout=1.5)

    def action_sort_reverse(self) -> None:
        if self._pane() == "fixtures-pane":
            table = self.fixtures
            table.sort_reverse = not table.sort_reverse
            table.update_rows()
            table.refresh()
        else:
            tests = self.tests
            tests.set_view(reverse=not tests.view.reverse)

    def action_failures_first(self) -> None:
        tests = self.tests
        tests.set_view(failures_first=not tests.view.failures_first)
        self.notify("failures first" if tests.view.failures_first else "run order", timeout=1.5)

    def action_scroll_detail(self, direction: int) -> None:
        detail = self.detail
        detail.scroll_relative(y=direction * max(1, detail.size.height - 2), animate=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(watch_mode=self.watching is not None))

    async def action_kill_worker(self) -> None:
        """Kill the worker running the selected test (a hung test): it is reported failed
        with its last stack, and xdist starts a replacement worker."""
        nodeid = self.tests.cursor_key
        rec = self.state.tests.get(nodeid) if nodeid else None
        kill = getattr(self.source, "kill_worker", None)
        if rec is None or rec.finished is not None or rec.started is None or kill is None:
            self.notify("select a running test to kill its worker")
            return
        reason = f"hung: killed after {time.monotonic() - rec.started:.0f}s (from the dashboard)"
        self.notify(f"killing {rec.worker} ({nodeid})")
        await asyncio.to_thread(kill, rec.worker, reason)

    def action_open_editor(self) -> None:
        nodeid = self.tests.cursor_key
        rec = self.state.tests.get(nodeid) if nodeid else None
        if rec is None or not (rec.crash_path or rec.path):
            self.notify("select a test first")
            return
        path, line = (rec.crash_path, rec.crash_line) if rec.crash_path else (rec.path, rec.line)
        if not Path(path).is_absolute() and self.state.session.rootdir:
            path = str(Path(self.state.session.rootdir) / path)
        argv = editor_command(os.environ, path, line)
        if argv is None:
            self.notify("set $EDITOR or $VISUAL to open files", severity="warning")
            return
        try:
            with self.suspend():
                subprocess.run(argv, check=False)
        except Exception as exc:  # headless, no terminal, or the editor is missing
            self.notify(f"could not open the editor: {exc}", severity="error")

    # -- command palette --------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's own commands, then every action of the dashboard with its key."""
        yield from super().get_system_commands(screen)
        for key in KEY_ACTIONS:
            if not key.palette or (key.watch and self.watching is None):
                continue
            yield SystemCommand(
                key.title, f"{key.help} ({key.key})", partial(self.run_action, key.action)
            )


def last_output_line(output: str) -> str:
    """The last meaningful line pytest printed (its error), without decoration."""
    for line in reversed(output.splitlines()):
        line = line.strip().strip("=").strip()
        if line:
            return line
    return ""


def _run_app(app: HotlapApp) -> None:
    """Run ``app`` in the terminal (a seam: tests run it headless under a pilot)."""
    app.run()


def run_dashboard(
    source: EventSource,
    state: RunState,
    *,
    title: str,
    pytest_args: list[str],
    effective_cores: float,
    expected: dict[str, float],
    slow_threshold: float,
    start_run: StartRun | None,
    watch: WatchFeed | None = None,
    on_exit: Callable[[RunState, EventSource], None] | None = None,
    regressions: RegressionFn | None = None,
    start_debug: StartDebug | None = None,
    mutation: MutationWatch | None = None,
    find_polluters: FindPolluters | None = None,
) -> int:
    """Run the dashboard until the user quits; print pytest's summary; return its exit code.

    ``on_exit`` receives the last run's state and source (``r``/``f`` start new runs), so the
    caller's exports and history describe what the user saw last.
    """
    app = HotlapApp(
        source,
        state,
        title=title,
        pytest_args=pytest_args,
        effective_cores=effective_cores,
        expected=expected,
        slow_threshold=slow_threshold,
        start_run=start_run,
        watch=watch,
        regressions=regressions,
        start_debug=start_debug,
        mutation=mutation,
        find_polluters=find_polluters,
    )
    _run_app(app)
    last = app.source
    code = app.exit_status
    if app.active or code is None:
        # The app ended without the quit action (an exception, a signal): no orphans.
        last.cancel()
        deadline = time.monotonic() + 10
        while (code := last.poll()) is None and time.monotonic() < deadline:
            last.drain()
            time.sleep(0.05)
    if on_exit is not None:
        on_exit(app.state, last)
    line = last.summary_text or last.summary_line
    if line:
        print(line)
    elif code not in (0, 1, None):
        # No summary: pytest stopped early (usage error, collection interrupted). Show why.
        tail = [t for t in last.output.splitlines() if t.strip()][-10:]
        for text in tail:
            print(text, file=sys.stderr)
    return code if code is not None else INTERRUPTED
