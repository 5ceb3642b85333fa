"""The Strength pane: what a mutation run found, live (survivors first, each with its diff and
the tests that ran), and the small app ``hotlap mutate`` shows it in.

The pane renders from a :class:`~hotlap.mutate.state.StrengthState`; whoever owns the run
drains it on a timer and calls :meth:`StrengthPane.show` when the state moved, so nothing
here runs per mutant.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from hotlap.mutate.session import MutationRun
from hotlap.mutate.state import LABELS, STATUSES, StrengthState

_STATUS_STYLE = {
    "killed": "green",
    "timeout": "green",
    "survived": "bold red",
    "no_tests": "yellow",
    "error": "magenta",
}


def strength_text(state: StrengthState, width: int = 100, status: str = "") -> Text:
    """The pane's content: the score line, then per file and function the counts, and under
    each function its survivors as a one-line diff with the tests that ran."""
    text = Text(no_wrap=True, overflow="ellipsis")
    score = state.score
    text.append("strength ", style="bold")
    text.append(f"{score:.1f}%" if score is not None else "n/a", style="bold")
    text.append(f"  {state.progress()}", style="dim")
    if status:
        text.append(f"  {status}", style="dim")
    text.append("\n")
    survivors = state.survivors()
    if not state.results:
        text.append("no verdicts yet\n", style="dim")
    elif not survivors:
        text.append("no survivor: every mutant tested so far was noticed\n", style="green")
    else:
        text.append(f"{len(survivors)} survived\n", style="bold red")
    current = ""
    for block in sorted(
        state.blocks(), key=lambda b: (not b.survivors, b.file, b.block != "<module>", b.line)
    ):
        if block.file != current:
            current = block.file
            text.append(f"{current}\n", style="bold")
        text.append(f"  {block.block:<28} ")
        for i, name in enumerate(s for s in STATUSES if block.counts.get(s)):
            if i:
                text.append(", ")
            text.append(f"{block.counts[name]} {LABELS[name]}", style=_STATUS_STYLE[name])
        text.append("\n")
        for result in block.survivors:
            m = result.mutant
            text.append(f"    line {m.line:<5} ", style="dim")
            text.append(f"- {m.mutation.old}\n", style="red")
            text.append(f"    {'':<10} ")
            text.append(f"+ {m.mutation.new}\n", style="green")
            tests = ", ".join(m.tests[:3]) + (
                f" … ({len(m.tests)} tests)" if len(m.tests) > 3 else ""
            )
            text.append(f"    {'':<10} ran {tests or 'no test'}\n", style="dim")
    for note in state.notes[-5:]:
        text.append(f"note: {note}\n", style="yellow")
    return text


class StrengthPane(VerticalScroll):
    """Survivors with their diffs and per-function verdicts, scrollable."""

    DEFAULT_CSS = """
    StrengthPane { height: 1fr; }
    StrengthPane > Static { width: auto; }
    """

    def __init__(self, state: StrengthState | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state or StrengthState()
        self.status = ""
        self._shown = -1

    def compose(self) -> ComposeResult:
        yield Static(id="strength-body")

    def on_mount(self) -> None:
        self.show(force=True)

    def show(self, state: StrengthState | None = None, force: bool = False) -> None:
        """Repaint from ``state`` (the pane's own when None) if it changed since last time."""
        if state is not None and state is not self.state:
            self.state = state
            force = True
        if not force and self.state.version == self._shown:
            return
        self._shown = self.state.version
        body = self.query_one("#strength-body", Static)
        body.update(strength_text(self.state, self.size.width or 100, self.status))


class StrengthApp(App[int]):
    """``hotlap mutate`` in a terminal: the Strength pane of one run."""

    TITLE = "hotlap mutate"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "cancel", "Cancel"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self, run: MutationRun, state: StrengthState, *, title: str, interval: float | None = 0.1
    ) -> None:
        super().__init__()
        #: Seconds between ticks (None: the caller ticks, as tests do).
        self.interval = interval
        self.run_ = run
        self.state = state
        self.title = title
        self.exit_code: int | None = None
        self.started = time.monotonic()

    def compose(self) -> ComposeResult:
        yield StrengthPane(self.state, id="strength")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.pane = self.query_one(StrengthPane)
        self.run_.start()
        if self.interval is not None:
            self.set_interval(self.interval, self.tick)

    def tick(self) -> None:
        for event in self.run_.drain():
            self.state.apply(event)
        finished = self.state.finished
        if finished is None:
            self.pane.status = f"{time.monotonic() - self.started:.1f} s"
        else:
            done = "cancelled" if finished.cancelled else "done"
            self.pane.status = f"{done} in {finished.wall:.1f} s · q quits"
        self.pane.show(force=True)

    async def action_cancel(self) -> None:
        if self.state.finished is None:
            self.run_.cancel()
            self.notify("cancelling the mutation run")

    async def action_quit(self) -> None:
        if self.state.finished is None:
            self.run_.cancel()
            self.run_.wait(10)
            for event in self.run_.drain():
                self.state.apply(event)
            self.exit(2)
            return
        self.exit(0)


def _run_app(app: StrengthApp) -> int | None:
    """Run ``app`` in the terminal (a seam for tests)."""
    return app.run()


def run_strength_dashboard(run: MutationRun, state: StrengthState, *, title: str) -> int:
    """Show ``run`` until the user quits; its exit code (2 when cancelled)."""
    app = StrengthApp(run, state, title=title)
    code = _run_app(app)
    if state.finished is None:  # the app ended some other way: no orphans
        run.cancel()
        run.wait(10)
        for event in run.drain():
            state.apply(event)
    return int(code or 0)
