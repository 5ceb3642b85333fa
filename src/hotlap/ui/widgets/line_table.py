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
from typing import Any, ClassVar, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from hotlap.ui.format import ellipsize_left


def _thumb(virtual: float, window: float, position: float, size: int) -> tuple[int, int]:
    """Where a vertical scrollbar's thumb starts and ends on the bar, in eighths of a cell (as
    Textual's ``ScrollBarRender.render_bar`` draws it)."""
    if not (window and size and virtual) or size == virtual or virtual == window:
        return (0, 0)
    thumb = max(1.0, window / (virtual / size))
    start = int((size - thumb) * (position / (virtual - window)) * 8)
    # What the bar shows: a thumb longer than the bar (content shorter than the window)
    # fills it, whatever the content's height.
    return (max(0, start), min(size * 8, start + ceil(thumb * 8)))


def update_vertical_scrollbar(view: ScrollView, virtual: int, position: float) -> None:
    """Set ``view``'s vertical scrollbar; repaint it only if its thumb moves on screen.

    Repainting the bar costs ~1-20 ms (Textual renders it line by line), and at 50,000 rows
    a few rows more or a row of scrolling do not move the thumb at all, nor does a detail
    text that grows while it fits the pane.
    """
    if not view.show_vertical_scrollbar:
        return
    bar = view.vertical_scrollbar
    window = view.container_size.height - view.scrollbar_size_horizontal
    height = bar.size.height
    before = _thumb(bar.window_virtual_size, bar.window_size, bar.position, height)
    bar.set_reactive(ScrollBar.window_virtual_size, virtual)
    bar.set_reactive(ScrollBar.window_size, window)
    bar.set_reactive(ScrollBar.position, position)
    if _thumb(virtual, window, position, height) != before:
        bar.refresh()


def _runs(indexes: set[int]) -> list[tuple[int, int]]:
    """``indexes`` as runs of consecutive ones, ``(start, stop)`` each, in order."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


class _Pass(NamedTuple):
    """What every line of one render pass shares."""

    width: int
    base: Style
    cursor: Style
    focus: bool
    top: int


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
        self._labels: tuple[str, ...] = ()
        # What every line of one render pass shares (width, styles, scroll, focus): reading
        # ``rich_style`` walks the ancestors' styles, a third of a row's cost per line.
        self._pass: _Pass | None = None
        self._fgs: dict[str, Style] | None = None

    # -- what subclasses provide --------------------------------------------------------------
    def cells(self, key: Any) -> list[Text]:
        """The cells of row ``key``, one per column in :attr:`COLUMNS`."""
        raise NotImplementedError

    def empty_message(self) -> str:
        return self.EMPTY

    def column_label(self, column: Column) -> str:
        """What the header shows over ``column``."""
        return column.label

    def row_version(self, key: Any) -> Hashable:
        """Anything that changes when row ``key``'s cells change (None: never cache)."""
        return None

    def visible_keys(self) -> Sequence[Any]:
        top = int(self.scroll_offset.y)
        return self.keys[top : top + max(0, self.scrollable_content_region.height - 1)]

    def refresh_if_changed(self) -> None:
        """Repaint the lines whose row changed (another key, its data, the cursor on or off
        it); everything when the number of visible rows changed.

        Rows added or removed out of view change only the scrollbar, which ``set_rows``
        updates: repainting a screenful of rows costs ~30 ms at 160x48. A few rows that
        change on screen (a new failure put first shifts the failures above the selection)
        cost only their lines: each repainted line is a pass through Textual's styles and
        filters, cached strip or not.
        """
        rows = tuple((k, self.row_version(k)) for k in self.visible_keys())
        line = self.cursor - int(self.scroll_offset.y)
        shown: tuple[Any, ...] = (*rows, line)
        labels = tuple(self.column_label(c) for c, _ in self._columns)
        if labels != self._labels:
            self._labels = labels
            self.refresh(Region(0, 0, self.scrollable_content_region.width, 1))
        old = self._shown
        if shown == old:
            return
        self._shown = shown
        if len(shown) != len(old):
            self.refresh()
            return
        changed = {i for i, (was, now) in enumerate(zip(old[:-1], rows, strict=True)) if was != now}
        if old[-1] != line:
            changed.update(i for i in (old[-1], line) if 0 <= i < len(rows))
        width = self.scrollable_content_region.width
        for start, stop in _runs(changed):
            self.refresh(Region(0, start + 1, width, stop - start))  # line 0: the header

    def fg(self, name: str) -> Style:
        """A component style without its background, so the cursor row's background shows."""
        fgs = self._fgs
        style = fgs.get(name) if fgs is not None else None
        if style is None:
            full = self.get_component_rich_style(name)
            style = Style(
                color=full.color, bold=full.bold, italic=full.italic, underline=full.underline
            )
            if fgs is not None:
                fgs[name] = style
        return style

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
        update_vertical_scrollbar(self, virtual, position)

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
        # Quietly: the caller repaints the rows, and the scrollbar is repainted only if its
        # thumb moves (a page at 50,000 rows moves it less than a cell's eighth).
        if self.cursor < top:
            self._scroll_quietly(self.cursor)
        elif self.cursor >= top + visible:
            self._scroll_quietly(self.cursor - visible + 1)

    def move_cursor(self, row: int) -> None:
        """Put the cursor on ``row`` (clamped) and scroll it into view; from now on it stays
        on that row's key when the rows change."""
        if not self.keys:
            return
        self.user_moved = True
        self.cursor = max(0, min(len(self.keys) - 1, row))
        self._sync_cursor()
        # Repaint, and remember what is shown: the next refresh of the rows then repaints
        # only if a row on screen changed since (not a second time for this move).
        self._shown = ()
        self.refresh_if_changed()

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
        # Quietly: the resize came from a layout pass, and asking for another one re-renders
        # the screen (~20-50 ms) for a width only the scrollbars depend on.
        self._set_virtual_size(Size(self.scrollable_content_region.width, len(self.keys) + 1))

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
        # Plain text in the row's base style is gathered into one segment: a row is a handful
        # of segments, not three per cell, which every later step (Textual's crop, filters,
        # compositor) pays for per segment.
        segments: list[Segment] = []
        plain: list[str] = []  # text in ``base`` not yet made a segment
        used = 0
        for (col, w), cell in zip(self._layout(width), cells, strict=False):
            text = cell.plain
            if len(text) > w:
                if col.key == "name" and cell.spans and w > 1:
                    # Keep the end, and the spans on it (the filter's highlighted letters).
                    cell = Text("…", style=cell.style) + cell[len(text) - w + 1 :]
                elif col.key == "name":
                    cell = Text(ellipsize_left(text, w), style=cell.style)
                else:
                    cell = cell[: w - 1] + Text("…")
                text = cell.plain
            cells_len = cell.cell_len
            pad = " " * (w - cells_len)
            used += max(w, cells_len) + 1
            if col.align == "right":
                plain.append(pad)
            # Text.render leaves out the Text's own style: add it under the spans' styles.
            own = cell.style
            cell_base = base + own if isinstance(own, Style) and own else base
            if cell.spans or cell_base is not base:
                if plain:
                    segments.append(Segment("".join(plain), base))
                    plain = []
                if not cell.spans:
                    segments.append(Segment(text, cell_base))
                else:
                    for seg in cell.render(self.app.console):
                        style = cell_base + seg.style if seg.style else cell_base
                        segments.append(Segment(seg.text, style))
            else:
                plain.append(text)
            if col.align != "right":
                plain.append(pad)
            plain.append(" ")
        if used < width:
            plain.append(" " * (width - used))
        if plain:
            segments.append(Segment("".join(plain), base))
        if used <= width:
            return Strip(segments, width)
        return Strip(segments).crop(0, width)

    def _visible_cells(self, key: Any) -> list[Text]:
        cells = self.cells(key)
        return [cells[i] for i in self._shown_columns]

    def _make_pass(self) -> _Pass:
        cursor = self.get_component_rich_style("line-table--cursor")
        focus = self.has_focus
        return _Pass(
            self.scrollable_content_region.width,
            self.rich_style,
            cursor if focus else Style(bgcolor=cursor.bgcolor),
            focus,
            int(self.scroll_offset.y),
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass, self._fgs = self._make_pass(), {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass = self._fgs = None

    def render_line(self, y: int) -> Strip:
        # Called by render_lines; on its own (a test, a subclass) it works out its own pass.
        shared = self._pass or self._make_pass()
        width, base = shared.width, shared.base
        self._layout(width)
        if y == 0:
            header = self.get_component_rich_style("line-table--header")
            labels = []
            for col, _ in self._columns:
                label = self.column_label(col)
                if col.key == self.sort_column:
                    label += " ▲" if self.sort_reverse else " ▼"
                labels.append(Text(label))
            return self._line(labels, base + header, width)
        if not self.keys:
            if y == 2:
                dim = self.get_component_rich_style("line-table--dim")
                return Strip([Segment(f"  {self.empty_message()}".ljust(width), base + dim)])
            return Strip.blank(width, base)
        row = shared.top + y - 1
        if row >= len(self.keys):
            return Strip.blank(width, base)
        key = self.keys[row]
        is_cursor = row == self.cursor
        version = self.row_version(key)
        cache_key = (key, version, width, is_cursor, shared.focus, base)
        if version is not None:
            cached = self._strips.get(cache_key)
            if cached is not None:
                return cached
        style = base + shared.cursor if is_cursor else base
        strip = self._line(self._visible_cells(key), style, width)
        if version is not None:
            self._strips[cache_key] = strip
        return strip
