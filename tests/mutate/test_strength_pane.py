"""The Strength pane under a pilot: survivors with their diffs and tests, live."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from hotlap.mutate.operators import Mutation
from hotlap.mutate.plan import Mutant
from hotlap.mutate.session import Finished, MutantResult, Note, RunEvent
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
