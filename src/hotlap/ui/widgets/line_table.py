"""A table that renders only its visible rows (Textual's Line API over a ``ScrollView``).

A ``DataTable`` row per test takes seconds to build at 50,000 tests; here a row costs
nothing until it scrolls into view, and a refresh re-renders one screenful. Subclasses say
what the cells of a row are; the table keeps a cursor on a row *key*, so it stays on the
same test when the order changes under it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from hotlap.ui.format import ellipsize_left


def _thumb(virtual: float, window: float, position: float, size: int) -> tuple[int, int]:
    """Where a vertical scrollbar's thumb starts and ends, in eighths of a cell (as Textual's
    ``ScrollBarRender.render_bar`` draws it)."""
    if not (window and size and virtual) or size == virtual or virtual == window:
        return (0, 0)
    thumb = max(1.0, window / (virtual / size))
    start = int((size - thumb) * (position / (virtual - window)) * 8)
    return (start, start + ceil(thumb * 8))


@dataclass(frozen=True)
class Column:
    """One column: ``width`` 0 takes the space left; ``drop`` columns go first when narrow."""

    key: str
    label: str
    width: int = 0
    align: str = "left"
    drop: int = 0  # 0: never dropped; higher numbers are dropped first


class LineTable(ScrollView, can_focus=True):
    """Rows of cells, a fixed header line, a cursor; renders visible lines only."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-table--header",
        "line-table--cursor",
        "line-table--dim",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
    ]
    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    EMPTY = "nothing to show"

    class Highlighted(Message):
        """The cursor moved to another row (``key`` None when the table is empty)."""

        def __init__(self, table: LineTable, key: Hashable | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.keys: Sequence[Any] = []
        self.cursor = 0
        self.sort_column = ""
        self.sort_reverse = False
        self._cursor_key: Any = None
        # Until the user moves the cursor it stays on the first row (e.g. the first failure).
        self.user_moved = False
        self._layout_width = -1
        self._columns: list[tuple[Column, int]] = []
        # Indexes in COLUMNS of the columns the current width keeps.
        self._shown_columns: list[int] = []
        # Rendered rows by (key, version, width, cursor, focus): a refresh re-renders only
        # rows whose data changed, which is most of the cost while a run streams.
        self._strips: LRUCache[tuple[Any, ...], Strip] = LRUCache(1024)
        self._shown: tuple[Any, ...] = ()

    # -- what subclasses provide --------------------------------------------------------------
    def cells(self, key: Any) -> list[Text]:
        """The cells of row ``key``, one per column in :attr:`COLUMNS`."""
        raise NotImplementedError

    def empty_message(self) -> str:
        return self.EMPTY

    def row_version(self, key: Any) -> Hashable:
        """Anything that changes when row ``key``'s cells change (None: never cache)."""
        return None

    def visible_keys(self) -> Sequence[Any]:
        top = int(self.scroll_offset.y)
        return self.keys[top : top + max(0, self.scrollable_content_region.height - 1)]

    def refresh_if_changed(self) -> None:
        """Refresh only if a visible row (or which rows are visible) changed.

        Rows added or removed out of view change only the scrollbar, which ``set_rows``
        updates: repainting a screenful of rows costs ~30 ms at 160x48.
        """
        shown: tuple[Any, ...] = tuple((k, self.row_version(k)) for k in self.visible_keys())
        shown += (self.cursor - int(self.scroll_offset.y),)
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def fg(self, name: str) -> Style:
        """A component style without its background, so the cursor row's background shows."""
        style = self.get_component_rich_style(name)
        return Style(
            color=style.color, bold=style.bold, italic=style.italic, underline=style.underline
        )

    # -- rows -----------------------------------------------------------------------------------
    @property
    def cursor_key(self) -> Any:
        return self._cursor_key

    def set_rows(self, keys: Sequence[Any]) -> None:
        """Show ``keys`` in this order, keeping the cursor on the same key if it is still there."""
        old = self._cursor_key
        old_cursor = self.cursor
        self.keys = keys
        followed = False
        if not self.user_moved:
            self.cursor = 0
        elif old is not None and (self.cursor >= len(keys) or keys[self.cursor] != old):
            try:
                self.cursor = keys.index(old)
                followed = True
            except ValueError:
                self.cursor = min(self.cursor, max(0, len(keys) - 1))
        self.cursor = min(self.cursor, max(0, len(keys) - 1))
        size = Size(self.scrollable_content_region.width, len(keys) + 1)
        if size != self.virtual_size:
            self._set_virtual_size(size)
        if followed:
            self._scroll_quietly(int(self.scroll_offset.y) + self.cursor - old_cursor)
        self._sync_cursor(scroll=False)
        self.refresh_if_changed()

    def _scroll_quietly(self, y: int) -> None:
        """Scroll to ``y`` without repainting: the selected row moved by as many rows as the
        view, so the rows on screen stay where they were (rows inserted above, e.g. a new
        failure, neither make the view crawl nor cost a repaint of every visible row)."""
        y = max(0, min(y, int(self.max_scroll_y)))
        if y == int(self.scroll_offset.y):
            return
        self.set_reactive(LineTable.scroll_y, float(y))
        self.set_reactive(LineTable.scroll_target_y, float(y))
        self._update_scrollbar(self.virtual_size.height, y)

    def _update_scrollbar(self, virtual: int, position: float) -> None:
        """Set the vertical scrollbar; repaint it only if its thumb moves on screen.

        Repainting the bar costs ~10-20 ms (Textual renders it line by line), and at 50,000
        rows a few rows more or a row of scrolling do not move the thumb at all.
        """
        if not self.show_vertical_scrollbar:
            return
        bar = self.vertical_scrollbar
        window = self.container_size.height - self.scrollbar_size_horizontal
        height = bar.size.height
        before = _thumb(bar.window_virtual_size, bar.window_size, bar.position, height)
        bar.set_reactive(ScrollBar.window_virtual_size, virtual)
        bar.set_reactive(ScrollBar.window_size, window)
        bar.set_reactive(ScrollBar.position, position)
        if _thumb(virtual, window, position, height) != before:
            bar.refresh()

    def _set_virtual_size(self, size: Size) -> None:
        """Change the number of rows without a layout pass.

        Setting ``virtual_size`` asks for a layout of the whole screen (~30-50 ms at 160x48),
        and a filtered table that grows while a run streams changes it on every refresh. Only
        the scrollbar depends on it here: update it as a layout would (Textual's
        ``_scroll_update``); a scrollbar that appears or goes still triggers a layout.
        """
        if not self.is_mounted or not self.container_size:
            self.virtual_size = size
            return
        self.set_reactive(LineTable.virtual_size, size)
        self._refresh_scrollbars()
        self._update_scrollbar(size.height, self.scroll_offset.y)
        # Fewer rows than the view was scrolled past: scroll back (a real repaint).
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def _sync_cursor(self, scroll: bool = True) -> None:
        key = self.keys[self.cursor] if self.keys else None
        if key != self._cursor_key:
            self._cursor_key = key
            self.post_message(self.Highlighted(self, key))
        if scroll:
            self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def move_cursor(self, row: int) -> None:
        """Put the cursor on ``row`` (clamped) and scroll it into view; from now on it stays
        on that row's key when the rows change."""
        if not self.keys:
            return
        self.user_moved = True
        self.cursor = max(0, min(len(self.keys) - 1, row))
        self._sync_cursor()
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(
            self.cursor + direction * max(1, self.scrollable_content_region.height - 2)
        )

    def action_edge(self, end: int) -> None:
        self.move_cursor(len(self.keys) - 1 if end else 0)

    def on_click(self, event: events.Click) -> None:
        row = int(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= row < len(self.keys):
            self.move_cursor(row)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.keys) + 1)

    # -- rendering ------------------------------------------------------------------------------
    def _layout(self, width: int) -> list[tuple[Column, int]]:
        if width == self._layout_width and self._columns:
            return self._columns
        cols = list(self.COLUMNS)
        # Drop optional columns until the flexible one keeps a useful width.
        while True:
            fixed = sum(c.width + 1 for c in cols if c.width)
            if width - fixed >= 28 or not any(c.drop for c in cols):
                break
            worst = max(c.drop for c in cols)
            cols = [c for c in cols if c.drop != worst]
        flex = max(4, width - sum(c.width + 1 for c in cols if c.width) - 1)
        self._columns = [(c, c.width or flex) for c in cols]
        self._shown_columns = [i for i, c in enumerate(self.COLUMNS) if c in cols]
        self._layout_width = width
        return self._columns

    def _line(self, cells: list[Text], base: Style, width: int) -> Strip:
        segments: list[Segment] = []
        used = 0
        for (col, w), cell in zip(self._layout(width), cells, strict=False):
            text = cell.plain
            if len(text) > w:
                if col.key == "name":
                    cell = Text(ellipsize_left(text, w), style=cell.style)
                else:
                    cell = cell[: w - 1] + Text("…")
            pad = w - cell.cell_len
            if col.align == "right":
                segments.append(Segment(" " * pad, base))
            # Text.render leaves out the Text's own style: add it under the spans' styles.
            cell_base = base + cell.style if isinstance(cell.style, Style) and cell.style else base
            if not cell.spans:  # the common case, without rich's rendering machinery
                segments.append(Segment(cell.plain, cell_base))
            else:
                for seg in cell.render(self.app.console):
                    style = cell_base + seg.style if seg.style else cell_base
                    segments.append(Segment(seg.text, style))
            if col.align != "right":
                segments.append(Segment(" " * pad, base))
            segments.append(Segment(" ", base))
            used += w + 1
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments).crop(0, width)

    def _visible_cells(self, key: Any) -> list[Text]:
        cells = self.cells(key)
        return [cells[i] for i in self._shown_columns]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        self._layout(width)
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("line-table--header")
            labels = []
            for col, _ in self._columns:
                label = col.label
                if col.key == self.sort_column:
                    label += " ▲" if self.sort_reverse else " ▼"
                labels.append(Text(label))
            return self._line(labels, base + header, width)
        if not self.keys:
            if y == 2:
                dim = self.get_component_rich_style("line-table--dim")
                return Strip([Segment(f"  {self.empty_message()}".ljust(width), base + dim)])
            return Strip.blank(width, base)
        row = int(self.scroll_offset.y) + y - 1
        if row >= len(self.keys):
            return Strip.blank(width, base)
        key = self.keys[row]
        is_cursor = row == self.cursor
        version = self.row_version(key)
        cache_key = (key, version, width, is_cursor, self.has_focus, base)
        if version is not None:
            cached = self._strips.get(cache_key)
            if cached is not None:
                return cached
        style = base
        if is_cursor:
            cursor = self.get_component_rich_style("line-table--cursor")
            if not self.has_focus:
                cursor = Style(bgcolor=cursor.bgcolor)
            style = base + cursor
        strip = self._line(self._visible_cells(key), style, width)
        if version is not None:
            self._strips[cache_key] = strip
        return strip
