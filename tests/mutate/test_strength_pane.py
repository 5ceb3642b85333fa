"""The Strength pane under a pilot: survivors with their diffs and tests, live."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from hotlap.mutate.events import Finished, MutantResult, Note, RunEvent
from hotlap.mutate.operators import Mutation
from hotlap.mutate.plan import Mutant
from hotlap.mutate.state import StrengthState
from hotlap.mutate.store import Verdict
from hotlap.ui.strength import StrengthApp, StrengthPane


def result(block: str, line: int, old: str, new: str, status: str, index: int = 0) -> MutantResult:
    mutation = Mutation(block, index, line, "comparison", old, new)
    mutant = Mutant("src/pkg/size.py", block, "c0ffee", mutation, ["tests/test_size.py::test_a"])
    killed = ["tests/test_size.py::test_a"] if status == "killed" else []
    return MutantResult(mutant, Verdict(status, killed, 1, 0.01))


class FakeRun:
    """A run whose drains hand out prepared batches of events, one per drain."""

    def __init__(self, batches: list[list[RunEvent]]) -> None:
        self.batches = batches
        self.started = False
        self.cancelled = False

    def start(self) -> None:
        self.started = True

    def drain(self) -> list[RunEvent]:
        return self.batches.pop(0) if self.batches else []

    def cancel(self) -> None:
        self.cancelled = True

    def wait(self, timeout: float | None = None) -> bool:
        return True


def shown(app: Any) -> str:
    return str(app.query_one("#strength-body", Static).content)


async def test_pane_shows_survivors_live_with_their_diffs() -> None:
    """A survivor appears as ``- old`` / ``+ new`` with the tests that ran, while the run
    goes on; a later kill updates the counts; the end says done. (The test ticks.)"""
    run = FakeRun(
        [
            [result("is_small", 2, "return x < 5", "return x <= 5", "survived")],
            [],
            [result("is_small", 2, "return x < 5", "return None", "killed", 1), Note("a note")],
            [Finished(1.5)],
        ]
    )
    state = StrengthState(total=2)
    app = StrengthApp(run, state, title="t", interval=None)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 30)) as pilot:
        assert run.started
        app.tick()
        await pilot.pause()
        text = shown(app)
        assert "1 survived" in text
        assert "- return x < 5" in text and "+ return x <= 5" in text
        assert "ran tests/test_size.py::test_a" in text
        assert "[1/2]" in text
        app.tick()
        app.tick()
        await pilot.pause()
        text = shown(app)
        assert "1 killed, 1 survived" in text and "[2/2]" in text
        assert "note: a note" in text
        app.tick()
        await pilot.pause()
        assert "done in 1.5 s" in shown(app)
        await pilot.press("q")
    assert app.return_value == 0


async def test_quit_while_running_cancels_the_run() -> None:
    """q during a run cancels it and exits 2."""
    run = FakeRun([])
    app = StrengthApp(run, StrengthState(total=3), title="t", interval=None)  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
    assert run.cancelled and app.return_value == 2


async def test_pane_in_any_app_repaints_only_when_the_state_moved() -> None:
    """The pane is a plain widget: ``show`` repaints after the state changed."""
    from textual.app import App, ComposeResult

    state = StrengthState(total=1)

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield StrengthPane(state, id="pane")

    app = Host()
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.query_one(StrengthPane)
        assert "no verdicts yet" in shown(app)
        state.apply(result("f", 3, "a == b", "a != b", "survived"))
        pane.show()
        await pilot.pause()
        assert "+ a != b" in shown(app)


class ManualSource:
    """A run the test ends by hand (``code``)."""

    def __init__(self) -> None:
        self.code: int | None = None

    def start(self) -> None:
        pass

    def drain(self) -> list[object]:
        return []

    def cancel(self) -> None:
        self.code = 2

    def poll(self) -> int | None:
        return self.code

    summary_line = summary_text = output = ""
    output_cut = 0


class Feed:
    """A watch feed with scripted change batches."""

    paused = False

    def __init__(self) -> None:
        self.batches: list[Any] = []

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def take(self) -> Any:
        return self.batches.pop(0) if self.batches else None

    def select(self, batch: Any, failed: list[str]) -> Any:
        from hotlap.impact.selection import Selection

        return Selection(False, "1 affected", {"tests/test_size.py::test_a": ["changed"]})

    def close(self) -> None: ...


class WatchMutation:
    """What the dashboard asks of ``hotlap watch --mutate`` (MutationWatch's interface)."""

    def __init__(self) -> None:
        self.state = StrengthState(total=1)
        self.status = "idle"
        self.calls: list[tuple[Any, ...]] = []
        self.pending: list[RunEvent] = []

    def poll(self) -> list[RunEvent]:
        events, self.pending = self.pending, []
        for event in events:
            self.state.apply(event)
        return events

    def changed(self, paths: list[str]) -> None:
        self.calls.append(("changed", list(paths)))

    def cycle_done(self, code: int | None, paths: list[str] | None = None) -> None:
        self.calls.append(("done", code, list(paths or [])))


async def test_watch_dashboard_strength_tab_follows_the_cycles() -> None:
    """With ``--mutate`` the watch dashboard has a Strength tab (tab reaches it); a cycle
    that ends tells the mutation side its exit code and paths, a save tells it to stop
    before the next run starts, and its survivors show in the tab."""
    from hotlap.model.run_state import RunState
    from hotlap.ui.app import HotlapApp
    from hotlap.watch.feed import ChangeBatch

    first = ManualSource()
    feed, mutation = Feed(), WatchMutation()
    app = HotlapApp(
        first,  # type: ignore[arg-type]
        RunState(),
        title="t",
        pytest_args=[],
        effective_cores=2.0,
        expected={},
        slow_threshold=1.0,
        start_run=lambda kind, nodeids: ManualSource(),  # type: ignore[arg-type,return-value]
        watch=feed,  # type: ignore[arg-type]
        mutation=mutation,  # type: ignore[arg-type]
        refresh_hz=1,
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        for _ in range(3):  # what tab does (keys are tested with the dashboard's other panes)
            app.action_next_pane()
            await pilot.pause()
        assert app.panes.active == "strength-pane", app.panes.active
        first.code = 0
        app.tick()  # the first run ends: nothing saved yet, nothing to mutate
        assert mutation.calls == [("done", 0, [])]
        feed.batches.append(ChangeBatch(["src/pkg/size.py"]))
        app.tick()  # the save starts a run
        assert mutation.calls[-1] == ("changed", ["src/pkg/size.py"])
        app.source.code = 0  # type: ignore[attr-defined]
        app.tick()
        assert mutation.calls[-1] == ("done", 0, ["src/pkg/size.py"])
        mutation.pending.append(result("is_small", 2, "return x < 5", "return x <= 5", "survived"))
        app.tick()
        await pilot.pause()
        assert "+ return x <= 5" in shown(app)
