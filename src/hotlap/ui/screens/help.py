"""The ``?`` screen: every key, including the ones the footer has no room for."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("r", "rerun all tests"),
    ("f", "rerun the failed tests"),
    ("x", "cancel the run"),
    ("/", "filter tests: words, or :failed :error :skipped :running :queued"),
    ("s / S", "sort by the next column / reverse the sort"),
    ("!", "failures first"),
    ("o", "open the selected test in $VISUAL / $EDITOR"),
    ("k", "kill the worker running the selected test (a hang); xdist replaces it"),
    ("tab", "next pane (tests, fixtures, resources)"),
    ("↑ ↓ pgup pgdn", "move in the table"),
    ("J / K", "scroll the test detail"),
    ("ctrl+p", "command palette (every action by name)"),
    ("q", "quit (cancels a running suite first)"),
)
WATCH_KEYS = (
    ("w", "pause / resume watching"),
    ("a", "run all tests"),
    ("f", "run the failed tests only"),
    ("c", "clear the results"),
)


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; any of escape, ? or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss_help", "Close"),
    ]

    def __init__(self, watch_mode: bool) -> None:
        super().__init__()
        self.watch_mode = watch_mode

    def compose(self) -> ComposeResult:
        rows = list(KEYS)
        if self.watch_mode:
            rows += [("", ""), ("watch mode", ""), *WATCH_KEYS]
        text = Text()
        for key, what in rows:
            text.append(f"{key:<15}", style="bold")
            text.append(f"{what}\n")
        text.rstrip()
        with Vertical(id="help-box"):
            yield Static("hotlap keys", id="help-title")
            yield Static(text)
            yield Static("escape closes", id="help-hint")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
