"""The dashboard's keys from a failure to the debugger, driven by Pilot: the fuzzy filter and
its runs, marks, watch cycles under a filter, ``d``/``D``, ``y``, the command palette,
``q`` at the end of a run and the resources pane's controller."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import time
from collections.abc import Callable, Iterator
from typing import Any

from textual.binding import Binding
from ui_helpers import FakeFeed, ManualSource, events_of, manual_app, replay_app

from hotlap.protocol import SessionFinish
from hotlap.runner.replay import ReplaySource
from hotlap.ui.app import HotlapApp
from hotlap.ui.fuzzy import FuzzyFilter
from hotlap.ui.keys import KEY_ACTIONS
from hotlap.ui.screenshots import settle
from hotlap.ui.widgets.tables import TestsTable
from hotlap.watch.feed import ChangeBatch

REFUND = "test_orders.py::test_refund_rounding"


class Calls:
    """A ``start_run`` that records what it was asked to run and replays a short run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.rerun = events_of("ui_run_n0.jsonl")

    def __call__(self, kind: str, nodeids: list[str]) -> ReplaySource:
        self.calls.append((kind, nodeids))
        return ReplaySource(self.rerun, speed=None)


async def until(check: Callable[[], object], timeout: float = 15.0) -> None:
    """Wait for ``check()`` (the refresh loop applies events at 20 Hz; a loaded machine
    may take a while)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def absolute(app: HotlapApp, nodeids: list[str]) -> list[str]:
    return [os.path.join(app.state.session.rootdir, n) for n in nodeids]


def _matched_text(app: HotlapApp, row: int) -> str:
    """The characters of a rendered table row drawn in the filter's match style."""
    tests = app.query_one(TestsTable)
    strip = tests.render_line(row + 1)  # line 0 is the header
    return "".join(seg.text for seg in strip if seg.style is not None and seg.style.underline)


async def test_slash_filters_fuzzily_and_lights_the_matched_letters() -> None:
    """`/` then ``ordrefnd`` keeps test_orders.py::test_refund_rounding (letters in order,
    not together), and its row shows exactly those letters highlighted; the header says
    how many rows the filter shows."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        await pilot.press("slash", *"ordrefnd")
        await pilot.pause()
        keys = list(tests.keys)
        assert REFUND in keys and all(FuzzyFilter(["ordrefnd"])(k) for k in keys)
        assert _matched_text(app, keys.index(REFUND)) == "ordrefnd"
        assert f"/ordrefnd  {len(keys)} shown" in (await settle(app, pilot))
        await pilot.press("down")  # to the rows, the filter kept, nothing run
        assert tests.has_focus and not app.filter_box.display and tests.view.text == "ordrefnd"


async def test_enter_in_the_filter_runs_the_shown_tests_and_keeps_the_filter() -> None:
    """enter runs exactly the rows shown, by node id (anchored to the rootdir); the new run
    is still filtered; escape then clears the filter."""
    start = Calls()
    app = replay_app(start_run=start)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        root = app.state.session.rootdir
        shown = [n for n in tests.keys if FuzzyFilter(["invent"])(n)]
        await pilot.press("slash", *"invent", "enter")
        await until(lambda: start.calls)
        assert start.calls and start.calls[0][0] == "shown"
        ran = start.calls[0][1]
        assert ran == [os.path.join(root, n) for n in shown]
        assert tests.view.text == "invent" and not app.filter_box.display and tests.has_focus
        assert "shown by /invent" in app.view.run_label
        await pilot.press("escape")
        await pilot.pause()
        assert tests.view.text == ""


async def test_enter_with_an_empty_filter_or_no_match_runs_nothing() -> None:
    """An empty filter closes; a filter that shows no test says so instead of running."""
    start = Calls()
    app = replay_app(start_run=start)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash", "enter")
        await pilot.press("slash", *"zzzqqq", "enter")
        await pilot.pause()
        assert start.calls == []


async def test_space_marks_and_enter_runs_the_marked_tests() -> None:
    """space marks the selected test and moves down; enter runs the marked tests (their
    order of marking); without marks, enter runs the selected test; escape clears marks."""
    start = Calls()
    app = replay_app(start_run=start)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        first, second = tests.keys[0], tests.keys[1]
        expected = absolute(app, [first, second])  # the rootdir of the run shown now
        await pilot.press("space", "space")
        await pilot.pause()
        assert list(tests.marked) == [first, second] and tests.cursor == 2
        text = await settle(app, pilot)
        assert "2 marked" in text and f"● {first}" in text
        await pilot.press("up", "space")  # unmark the second again
        assert list(tests.marked) == [first]
        await pilot.press("up", "space")  # and mark it back
        await pilot.press("enter")
        await until(lambda: start.calls)
        assert start.calls[-1] == ("marked", expected)
        assert list(tests.marked) == [first, second]  # kept for the next enter
        await pilot.press("escape")
        assert not tests.marked
        await until(lambda: not app.active)
        selected = absolute(app, [tests.cursor_key])
        await pilot.press("enter")
        await until(lambda: len(start.calls) == 2)
        assert start.calls[-1] == ("selection", selected)


async def test_watch_cycles_run_only_what_the_filter_shows_until_cleared() -> None:
    """In watch mode a filter narrows each cycle to the tests it shows, a full run too;
    once the filter is cleared the cycles run everything selected again."""
    feed = FakeFeed()
    start = Calls()
    app = replay_app(start_run=start, watch=feed)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        root = app.state.session.rootdir
        app.tests.set_view(text="cart")  # as typed into the filter box
        feed.batches.append(ChangeBatch(["src/a.py", "src/cart.py"]))
        await until(lambda: start.calls)
        assert start.calls[-1] == ("shown", [os.path.join(root, "tests/test_cart.py::t")])
        assert "1 shown by /cart" in app.view.watch_status
        await until(lambda: not app.active)
        feed.batches.append(ChangeBatch(["src/a.py"]))
        await until(lambda: "none shown by /cart" in app.view.watch_status)
        assert len(start.calls) == 1
        # A full run under the filter: the known tests it shows.
        app.tests.set_view(text="invent")
        feed.full = True
        feed.batches.append(ChangeBatch(["conftest.py"]))
        await until(lambda: len(start.calls) == 2)
        kind, ran = start.calls[-1]
        assert kind == "shown" and ran and all("inventory" in n for n in ran)
        await until(lambda: not app.active)
        app.tests.set_view(text="")
        feed.full = False
        feed.batches.append(ChangeBatch(["src/a.py", "src/cart.py"]))
        await until(lambda: len(start.calls) == 3)
        assert start.calls[-1][0] == "selection" and len(start.calls[-1][1]) == 2


class DebugRun(ReplaySource):
    """A run "in the foreground": what ``start_debug`` returns, without a terminal."""

    def __init__(self, nodeid: str, trace: bool) -> None:
        super().__init__(events_of("ui_run_n0.jsonl"), speed=None)
        flag = "--trace" if trace else "--pdb"
        self.command = ["python", "-m", "pytest", "-n", "0", flag, nodeid]
        self.ran = False
        self.closed = False

    def run_in_foreground(self) -> int:
        self.ran = True
        return 1

    def close(self) -> None:
        self.closed = True


async def test_d_debugs_the_selected_test_in_the_foreground() -> None:
    """`d` hands the selected test (by its node id from the rootdir) to the debug run, runs
    it with the dashboard suspended, then shows its result; `D` asks for --trace."""
    made: list[tuple[str, bool]] = []
    runs: list[DebugRun] = []
    suspended: list[bool] = []

    def start_debug(nodeid: str, trace: bool) -> DebugRun:
        made.append((nodeid, trace))
        runs.append(DebugRun(nodeid, trace))
        return runs[-1]

    app = replay_app()
    app.start_debug = start_debug  # type: ignore[assignment]

    @contextlib.contextmanager
    def suspend() -> Iterator[None]:
        suspended.append(True)  # what Textual does in a terminal, not under run_test
        yield

    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        app.suspend = suspend  # type: ignore[method-assign]
        source = app.source
        selected = app.tests.cursor_key
        nodeid = absolute(app, [selected])[0]
        await pilot.press("d")
        await until(lambda: app.source is not source)
        assert made == [(nodeid, False)]
        assert runs[0].ran and suspended == [True]
        assert app.source is runs[0] and app.view.run_label == f"debug {selected}"
        await until(lambda: not app.active)
        assert app.exit_status == 1
        await pilot.press("D")
        await until(lambda: len(made) == 2 and app.source is runs[1])
        assert made[-1][1] is True and app.view.run_label.startswith("trace ")


async def test_d_without_a_terminal_says_what_to_run() -> None:
    """Under no terminal (Textual cannot suspend) `d` shows the command instead."""
    notes: list[str] = []
    runs: list[DebugRun] = []

    def start_debug(nodeid: str, trace: bool) -> DebugRun:
        runs.append(DebugRun(nodeid, trace))
        return runs[-1]

    app = replay_app()
    app.start_debug = start_debug  # type: ignore[assignment]
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        source = app.source
        app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
        await pilot.press("d")
        await pilot.pause()
        assert app.source is source and not runs[0].ran and runs[0].closed
        assert any("--pdb" in note and "run:" in note for note in notes)


async def test_y_copies_the_node_id_for_a_shell() -> None:
    """`y` puts the selected node id on the clipboard (OSC 52), quoted for a shell when it
    needs it (a parametrized id's brackets)."""
    app = replay_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        tests.move_cursor(next(i for i, k in enumerate(tests.keys) if k.endswith("[3]")))
        await pilot.press("y")
        nodeid = tests.cursor_key
        assert app.clipboard == shlex.quote(nodeid) and app.clipboard.startswith("'")
        assert shlex.split(app.clipboard) == [nodeid]


def _bound_actions() -> list[tuple[str, str]]:
    """(action, key) of every binding of the app and the tests table (app.* actions)."""
    return [
        (binding.action.removeprefix("app."), key)
        for binding in [*HotlapApp.BINDINGS, *TestsTable.BINDINGS]
        if isinstance(binding, Binding)
        for key in binding.key.split(",")
    ]


async def test_every_action_is_in_the_palette_with_its_key() -> None:
    """Each action bound to a key (app and tests table) is a palette command whose help
    names its key, and choosing one in the palette runs it."""
    app = replay_app(watch=FakeFeed())
    keys: dict[str, set[str]] = {}
    for k in KEY_ACTIONS:
        keys.setdefault(k.action, set()).add(k.key)
    shown = {"slash": "/", "question_mark": "?", "exclamation_mark": "!"}
    for action, key in _bound_actions():
        if action in ("cursor(-1)", "cursor(1)", "page(-1)", "page(1)", "edge(0)", "edge(1)"):
            continue  # moving in the table
        assert shown.get(key, key) in keys.get(action, set()), (action, key)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        for key in KEY_ACTIONS:
            if key.palette:
                assert commands[key.title].endswith(f"({key.key})"), key
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"copy the node", "enter")
        await pilot.pause(0.3)
        assert app.clipboard == shlex.quote(app.tests.cursor_key)


def _cut_before_finish(name: str) -> tuple[list[Any], list[Any]]:
    events = events_of(name)
    end = next(i for i, e in enumerate(events) if isinstance(e, SessionFinish))
    return events[:end], events[end:]


async def test_q_after_every_test_waits_for_pytest_and_returns_its_code() -> None:
    """`q` once every test has reported (pytest still finishing: session teardown, its
    summary) shows "finishing…" and exits with pytest's own code when it ends."""
    before, after = _cut_before_finish("ui_demo_n2.jsonl")
    source = ManualSource()
    app = manual_app(source)
    async with app.run_test(size=(140, 40)) as pilot:
        source.pending = list(before)
        await until(app.all_reported)
        assert app.active
        await pilot.press("q")
        assert app.is_running and "finishing…" in (await settle(app, pilot)).splitlines()[0]
        source.pending, source.code = list(after), 1
        await until(lambda: app.return_value is not None)
    assert app.return_value == 1 and app.state.phase.value != "cancelled"


async def test_a_second_q_cancels() -> None:
    """A second `q` while finishing cancels pytest and exits with its interrupted code."""
    before, _ = _cut_before_finish("ui_demo_n2.jsonl")
    source = ManualSource()
    app = manual_app(source)
    async with app.run_test(size=(140, 40)) as pilot:
        source.pending = list(before)
        await until(app.all_reported)
        await pilot.press("q")
        assert app.is_running and app.finishing
        await pilot.press("q")
    assert app.return_value == 2


async def test_q_before_every_test_reported_cancels_at_once() -> None:
    """While tests are still to come, `q` cancels and exits (2), as before."""
    events = events_of("ui_demo_n2.jsonl")
    source = ManualSource()
    app = manual_app(source)
    async with app.run_test(size=(140, 40)) as pilot:
        source.pending = events[: len(events) // 2]
        await until(lambda: not source.pending and app.state.tests)
        assert not app.all_reported()
        await pilot.press("q")
    assert app.return_value == 2


async def test_resources_call_the_xdist_controller_controller() -> None:
    """The process that is no worker's, the xdist controller, is named in the resources
    pane (its pid is the session's)."""
    app = replay_app("ui_demo_n2.jsonl")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        app.panes.active = "resources-pane"
        await pilot.pause(0.2)
        text = await settle(app, pilot)
        pid = app.state.session.pid
        assert pid and f"controller pid {pid}" in " ".join(text.split())
        rows = [line.split() for line in text.splitlines() if "pid" in line.split()]
        assert rows and all(row[0] != "-" for row in rows)


async def test_a_failed_eq_shows_a_coloured_diff_in_the_detail_pane() -> None:
    """The detail pane of a failed ``==`` shows pytest's -vv diff before the traceback: the
    right side's lines in one colour, the left side's in another, the differing
    characters marked; a record without the explanation shows the traceback alone."""
    app = replay_app("ui_demo_diff_n2.jsonl")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        tests.move_cursor(list(tests.keys).index(REFUND))
        await pilot.pause()
        detail = app.detail
        text = detail._text
        plain = text.plain
        assert plain.index("── diff") < plain.index("── traceback")
        right = plain.index("-     'amount': 10.0,")
        left = plain.index("+     'amount': 9.99,")

        def styles_at(offset: int) -> list[object]:
            return [s.style for s in text.spans if s.start <= offset < s.end]

        right_style = detail.get_component_rich_style("detail--diff-right")
        left_style = detail.get_component_rich_style("detail--diff-left")
        assert right_style in styles_at(right) and left_style in styles_at(left)
        assert right_style.color != left_style.color
        ten = right + len("-     'amount': ")
        assert detail.get_component_rich_style("detail--diff-right-changed") in styles_at(ten)
        section = plain[plain.index("── diff") : plain.index("── traceback")]
        assert not any(line.lstrip().startswith("? ") for line in section.split("\n"))
    app = replay_app("ui_demo_n2.jsonl")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        tests = app.query_one(TestsTable)
        tests.move_cursor(list(tests.keys).index(REFUND))
        await pilot.pause()
        assert "── diff" not in app.detail.text and "── traceback" in app.detail.text


async def test_a_new_run_lets_a_run_whose_tests_all_reported_end_first() -> None:
    """enter (or r, f, d) right after the last test reported, while pytest still finishes:
    that run ends by itself (not marked cancelled) before the new one starts."""
    before, after = _cut_before_finish("ui_demo_n2.jsonl")
    source = ManualSource()
    start = Calls()
    app = manual_app(source, start_run=start)
    async with app.run_test(size=(140, 40)) as pilot:
        source.pending = list(before)
        await until(app.all_reported)
        assert app.active
        # The key's action waits for the run: press it in the background.
        press = asyncio.ensure_future(pilot.press("enter"))  # run the selected test
        await asyncio.sleep(0.5)
        assert start.calls == [] and app.source is source
        source.pending, source.code = list(after), 1
        await press
        await until(lambda: start.calls)
        assert len(start.calls) == 1 and source.code == 1  # ended, not cancelled (2)
