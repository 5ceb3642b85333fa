"""The ``?`` screen: every key, including the ones the footer has no room for."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hotlap.ui.keys import KEY_ACTIONS, KeyAction


def _line(key: KeyAction) -> str:
    return f"{key.title} · {key.help}" if key.title else key.help


KEYS = tuple((k.key, _line(k)) for k in KEY_ACTIONS if not k.watch)
WATCH_KEYS = tuple((k.key, _line(k)) for k in KEY_ACTIONS if k.watch)


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
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, style="bold")
        table.add_column(ratio=1)
        for key, what in rows:
            table.add_row(key, what)
        with VerticalScroll(id="help-box"):
            yield Static("hotlap keys", id="help-title")
            yield Static(table)
            yield Static(
                "escape closes · the same actions are in the command palette (ctrl+p)",
                id="help-hint",
            )

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
