"""The tests table and the fixtures table, both :class:`LineTable` views of the run state."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType

from hotlap.model.run_state import RunState
from hotlap.ui.format import fmt_delta_bytes, fmt_seconds
from hotlap.ui.fuzzy import FuzzyFilter
from hotlap.ui.index import (
    FIXTURE_SORTS,
    TEST_SORTS,
    TestView,
    fixture_rows,
    outcome_of,
)
from hotlap.ui.live_index import LiveTestIndex
from hotlap.ui.widgets.line_table import Column, LineTable

#: Glyph shown for each outcome; the colour comes from the ``.tcss`` component classes.
GLYPHS = {
    "passed": "✓",
    "failed": "✗",
    "error": "E",
    "skipped": "s",
    "xfailed": "x",
    "xpassed": "X",
    "rerun": "R",
    "running": "▸",
    "queued": "·",
}


def _secs(value: float, dim: Style) -> Text:
    """Seconds; tiny values are blank or dimmed so the eye goes to the costly ones."""
    if value < 0.005:  # would read "0.00s": leave it out, the table stays calm
        return Text("")
    return Text(fmt_seconds(value), style=dim if value < 0.01 else "")


class TestsTable(LineTable):
    """Every test: outcome, worker, phase seconds, CPU seconds, RSS change."""

    __test__ = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *LineTable.COMPONENT_CLASSES,
        *(f"outcome--{name}" for name in GLYPHS),
        "tests--match",
        "tests--mark",
        "tests--hazard",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        *LineTable.BINDINGS,
        Binding("space", "app.mark", "Mark", show=False),
        Binding("enter", "app.run_marked", "Run marked", show=False),
        Binding("escape", "app.unmark", "Unmark", show=False),
    ]
    COLUMNS = (
        Column("outcome", "", 1),
        Column("name", "test"),
        Column("worker", "worker", 6, drop=1),
        Column("setup", "setup", 5, "right", drop=3),
        Column("call", "call", 6, "right"),
        Column("teardown", "tdown", 5, "right", drop=4),
        Column("cpu", "cpu s", 5, "right", drop=2),
        Column("rss", "rss Δ", 7, "right", drop=5),
    )

    def __init__(self, state: RunState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.view = TestView()
        #: Why a run that ended ran no tests (pytest's own words), shown instead of rows.
        self.run_error = ""
        self.sort_column = ""
        self.rows = LiveTestIndex(state, self.view)
        #: The filter's words, for highlighting the characters they matched.
        self.match = FuzzyFilter([])
        #: Tests marked with ``space`` (in the order they were marked), kept across runs.
        self.marked: dict[str, None] = {}
        # Tests that events touched since the last update; None: rebuild every row.
        self._touched: list[str] | None = []

    def empty_message(self) -> str:
        if self.run_error:
            return self.run_error
        if self.view.text:
            return f"no test matches “{self.view.text}”"
        return "collecting…" if not self.state.collected else "no tests"

    def column_label(self, column: Column) -> str:
        label = column.label
        if column.key == "name":
            if self.view.text:
                label += f"  /{self.view.text}  {len(self.keys)} shown"
            if self.marked:
                label += f"  {len(self.marked)} marked"
        return label

    def toggle_mark(self, nodeid: str) -> bool:
        """Mark ``nodeid``, or unmark it; True if it is marked now."""
        if nodeid in self.marked:
            del self.marked[nodeid]
        else:
            self.marked[nodeid] = None
        self.refresh()  # the row and the header's count
        return nodeid in self.marked

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()

    def reset(self, state: RunState) -> None:
        """Show a new run."""
        self.state = state
        self.cursor = 0
        self.user_moved = False
        self.run_error = ""
        self.update_rows(force=True)

    def mark_dirty(self) -> None:
        """Rebuild every row at the next update (something changed that no event named)."""
        self._touched = None

    def note(self, touched: list[str] | None) -> None:
        """Remember which tests the applied events changed (``touched_rows``; None: any)."""
        if self._touched is None:
            return
        if touched is None:
            self._touched = None
        else:
            self._touched += touched

    def update_rows(self, force: bool = False) -> None:
        """Move the rows of the tests that changed since the last update (``note``); rebuild
        every row when forced or when an event reshaped the table."""
        touched, self._touched = self._touched, []
        if force or touched is None or self.rows.state is not self.state:
            self.rows.rebuild(self.state, self.view)
        elif touched or self.rows.reshaped():
            self.rows.update(touched)
        else:
            self.refresh_if_changed()
            return
        self.set_rows(self.rows)

    def row_version(self, key: Any) -> Any:
        rec = self.state.tests.get(key)
        if rec is None:
            return (key in self.state.collect_errors, key in self.marked, self.view.text)
        return (
            key in self.marked,
            self.view.text,
            rec.outcome,
            rec.started,
            rec.finished,
            rec.phase,
            rec.duration,
            rec.cpu,
            rec.rss_after,
            len(rec.hazards),
        )

    def set_view(self, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(self.view, name, value)
        self.match = FuzzyFilter(self.view.parse()[0])
        self.sort_column = "" if self.view.sort == "order" else self.view.sort
        self.sort_reverse = self.view.reverse
        self.update_rows(force=True)
        self.refresh()  # the header's sort mark

    def cycle_sort(self) -> str:
        i = TEST_SORTS.index(self.view.sort)
        self.set_view(sort=TEST_SORTS[(i + 1) % len(TEST_SORTS)], reverse=False)
        return self.view.sort

    def cells(self, key: Any) -> list[Text]:
        state = self.state
        outcome = outcome_of(state, key)
        glyph = Text(GLYPHS.get(outcome, "?"), style=self.fg(f"outcome--{outcome}"))
        name = Text(key)
        if self.match:
            match = self.fg("tests--match")
            for pos in self.match.positions(key):
                name.stylize(match, pos, pos + 1)
        if key in self.marked:
            name = Text("● ", style=self.fg("tests--mark")) + name
        rec = state.tests.get(key)
        if rec is None:
            return [glyph, name, *(Text() for _ in range(6))]
        if rec.hazards:  # left something changed or touched shared files/ports: hotlap safety
            name = Text("⚠ ", style=self.fg("tests--hazard")) + name
        dim = self.fg("line-table--dim")
        return [
            glyph,
            name,
            Text(rec.worker),
            _secs(rec.setup, dim),
            _secs(rec.call, dim),
            _secs(rec.teardown, dim),
            _secs(rec.cpu, dim),
            Text(fmt_delta_bytes(rec.rss_delta)),
        ]


class FixturesTable(LineTable):
    """Every fixture definition: scope, setup/teardown cost, uses, and a scope hint."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {*LineTable.COMPONENT_CLASSES, "fixtures--hint"}
    COLUMNS = (
        Column("name", "fixture", 22),
        Column("scope", "scope", 8),
        Column("count", "setups", 6, "right"),
        Column("setup", "setup", 7, "right", drop=2),
        Column("teardown", "teardown", 8, "right", drop=3),
        Column("total", "total", 7, "right"),
        Column("per use", "per use", 7, "right", drop=1),
        Column("hint", "hint"),
    )
    EMPTY = "no fixtures recorded"

    def __init__(self, state: RunState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.sort = "total"
        self.sort_column = "total"

    def reset(self, state: RunState) -> None:
        self.state = state
        self.cursor = 0
        self.user_moved = False
        self.update_rows()

    def update_rows(self) -> None:
        self.set_rows(fixture_rows(self.state, self.sort, self.sort_reverse))

    def row_version(self, key: Any) -> Any:
        cost = self.state.fixtures[key]
        return (cost.count, cost.setup_total, cost.teardown_total, cost.failed)

    def cycle_sort(self) -> str:
        i = FIXTURE_SORTS.index(self.sort)
        self.sort = FIXTURE_SORTS[(i + 1) % len(FIXTURE_SORTS)]
        self.sort_column = "hint" if self.sort == "saving" else self.sort
        self.update_rows()
        self.refresh()
        return self.sort

    def cells(self, key: Any) -> list[Text]:
        cost = self.state.fixtures[key]
        hint = Text()
        saving = cost.wider_scope_saving()
        if saving is not None and saving[1] >= 0.05:
            hint = Text(
                f"scope={saving[0]} would save ~{fmt_seconds(saving[1])}",
                style=self.fg("fixtures--hint"),
            )
        elif cost.failed:
            hint = Text(f"{cost.failed} failed setup" + ("s" if cost.failed > 1 else ""))
        return [
            Text(cost.name),
            Text(cost.scope),
            Text(str(cost.count)),
            Text(fmt_seconds(cost.setup_total)),
            Text(fmt_seconds(cost.teardown_total)),
            Text(fmt_seconds(cost.total)),
            Text(fmt_seconds(cost.per_use)),
            hint,
        ]
