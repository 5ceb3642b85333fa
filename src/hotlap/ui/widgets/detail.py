"""The detail pane: the selected test's outcome, traceback, captured output and log."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.visual import Visual, visualize

from hotlap.model.run_state import RunState, TestRecord
from hotlap.ui.diff import LEFT, RIGHT, SUMMARY, diff_lines, shows_diff
from hotlap.ui.format import fmt_delta_bytes, fmt_seconds
from hotlap.ui.index import outcome_of
from hotlap.ui.widgets.line_table import update_vertical_scrollbar

#: Seconds between repaints of a running test's clock in the pane, when nothing else about the
#: test changed (its lane shows the clock at every refresh). At every 20 Hz refresh the pane's
#: text and the screen from the header down to it cost 2.1 of the 4.3 ms of an idle refresh
#: (50,000 tests, 8 running, 160x48): 8.5 % of a core while the selected test ran, 4-5 % now.
RUNNING_EVERY = 0.25


class TestDetail(ScrollView, can_focus=True):
    """Scrollable text about one test; re-rendered only when that test changed.

    A Line-API view of ready strips, not a ``Static`` in a scroll container: a ``Static``
    whose text changes height asks for a layout of the whole screen (~20-50 ms at 160x48),
    and the text changes shape each time the cursor lands on another test.
    """

    __test__ = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "detail--title",
        "detail--dim",
        "detail--section",
        "detail--error",
        "detail--failed",
        "detail--passed",
        "detail--diff-left",
        "detail--diff-right",
        "detail--diff-right-changed",
        "detail--diff-left-changed",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.nodeid: str | None = None
        self._signature: tuple[object, ...] = ()
        self._text = Text()
        self._lines: list[Strip] = []
        self._wrapped_width = -1
        self._base: Style | None = None
        #: When the text was last rendered (the ``now`` it was rendered for).
        self._rendered_at = float("-inf")

    def show(self, state: RunState, nodeid: str | None, now: float) -> None:
        """Show ``nodeid`` (None: the empty state); cheap when nothing changed."""
        rec = state.tests.get(nodeid) if nodeid else None
        signature = _signature(state, nodeid, rec)
        if signature == self._signature:
            running = rec is not None and rec.finished is None
            if not running or now - self._rendered_at < RUNNING_EVERY:
                return
        text = self.render_test(state, nodeid, rec, now)
        self._rendered_at = now
        moved = nodeid != self.nodeid
        self.nodeid, self._signature = nodeid, signature
        if not moved and text.plain == self._text.plain and text.spans == self._text.spans:
            return
        self._text = text
        before = len(self._lines)
        self._wrap()
        top = int(self.scroll_offset.y)
        if moved and top:
            self.scroll_to(y=0, animate=False, immediate=True)
            self.refresh()
            return
        # Repaint the lines the text covers now or covered before, not the blank ones below
        # (each line costs Textual's styling and filters, text or not).
        rows = max(before, len(self._lines)) - top
        if rows > 0:
            self.refresh(Region(0, 0, self.scrollable_content_region.width, rows))

    @property
    def text(self) -> str:
        """What the pane shows, as plain text (for tests)."""
        return self._text.plain

    def _wrap(self) -> None:
        """Wrap the text to the pane's width and size the scrollable area to it."""
        width = self.scrollable_content_region.width
        if width <= 0:
            self._lines, self._wrapped_width = [], -1
            return
        visual: Visual | None = visualize(self, self._text)
        self._lines = (
            Visual.to_strips(self, visual, width, None, self.visual_style) if visual else []
        )
        self._wrapped_width = width
        size = Size(width, len(self._lines))
        if size == self.virtual_size:
            return
        if not self.is_mounted or not self.container_size:
            self.virtual_size = size
            return
        # Only the scrollbar depends on the height: no layout pass (a scrollbar that
        # appears or goes makes its own, and the resize that follows re-wraps).
        self.set_reactive(ScrollView.virtual_size, size)
        self._refresh_scrollbars()
        update_vertical_scrollbar(self, size.height, self.scroll_offset.y)
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def on_resize(self, event: events.Resize) -> None:
        if self.scrollable_content_region.width != self._wrapped_width:
            self._wrap()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._wrapped_width = -1  # the strips carry the old styles

    def render_lines(self, crop: Region) -> list[Strip]:
        # ``rich_style`` walks the ancestors' styles: read it once per pass, not per line.
        self._base = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._base = None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._wrapped_width:
            self._wrap()
        base = self._base or self.rich_style
        row = int(self.scroll_offset.y) + y
        if row < len(self._lines):
            line = self._lines[row]
            return line if line.cell_length == width else line.crop_extend(0, width, base)
        return Strip.blank(width, base)

    def render_test(
        self, state: RunState, nodeid: str | None, rec: TestRecord | None, now: float
    ) -> Text:
        """The text for one test (public so tests can read it without a screen)."""
        dim = self.get_component_rich_style("detail--dim")
        if nodeid is None:
            return Text("select a test to see its details", style=dim)
        outcome = outcome_of(state, nodeid)
        bad = outcome in ("failed", "error")
        out = Text()
        out.append(nodeid, style=self.get_component_rich_style("detail--title"))
        out.append("\n")
        if rec is None:
            if nodeid in state.collect_errors:
                out.append(
                    "collection error\n\n", style=self.get_component_rich_style("detail--failed")
                )
                self._section(out, "traceback", state.collect_errors[nodeid], error=True)
            else:
                out.append("queued", style=dim)
            return out
        style = self.get_component_rich_style("detail--failed" if bad else "detail--passed")
        if rec.finished is None and rec.started is not None:
            out.append(
                f"running on {rec.worker} · {rec.phase} · {fmt_seconds(now - rec.started)}\n",
                style=dim,
            )
        else:
            out.append(outcome, style=style)
            out.append(f"  on {rec.worker} in {fmt_seconds(rec.duration)}", style=dim)
            out.append(
                f"  (setup {fmt_seconds(rec.setup)}, call {fmt_seconds(rec.call)},"
                f" teardown {fmt_seconds(rec.teardown)}, cpu {fmt_seconds(rec.cpu)}"
                + (f", rss {fmt_delta_bytes(rec.rss_delta)}" if rec.rss_delta else "")
                + ")\n",
                style=dim,
            )
        message = rec.message
        if message and bad:
            out.append(f"{message}\n", style=self.get_component_rich_style("detail--error"))
        crash_path = rec.crash_path
        root = state.session.rootdir
        if root and crash_path.startswith(root.rstrip("/") + "/"):
            crash_path = crash_path[len(root.rstrip("/")) + 1 :]
        where = f"{crash_path}:{rec.crash_line}" if crash_path else f"{rec.path}:{rec.line}"
        if rec.path or crash_path:
            out.append(f"{where}", style=dim)
            out.append("\n")
            if bad:
                out.append("o opens it in $VISUAL / $EDITOR\n", style=dim)
        if rec.crashed:
            out.append("the worker crashed while running this test\n", style=style)
        if rec.wasxfail:
            out.append(f"xfail: {rec.wasxfail}\n", style=dim)
        if rec.hazards:
            out.append(f"⚠ left behind or shared: {', '.join(rec.hazards)}\n", style=dim)
        if rec.polluters:
            out.append(f"{rec.polluters}\n", style=style)
        if bad and shows_diff(rec.message, rec.diff):
            self._diff(out, rec.diff)
        if rec.longrepr:
            self._section(out, "traceback" if bad else "report", rec.longrepr, error=bad)
        if rec.hang_stack:
            self._section(out, f"stack after {fmt_seconds(rec.hang_elapsed)}", rec.hang_stack)
        self._section(out, "captured stdout", rec.stdout)
        self._section(out, "captured stderr", rec.stderr)
        self._section(out, "captured log", rec.log)
        return out

    def _diff(self, out: Text, explanation: str) -> None:
        """pytest's ``-vv`` explanation of the failed ``==``: the right side's lines in one
        colour, the left side's in another, the characters that differ marked."""
        out.append("\n── diff ", style=self.get_component_rich_style("detail--section"))
        out.append(
            "- right  + left  (pytest -vv)\n", style=self.get_component_rich_style("detail--dim")
        )
        styles = {
            RIGHT: self.get_component_rich_style("detail--diff-right"),
            LEFT: self.get_component_rich_style("detail--diff-left"),
            SUMMARY: self.get_component_rich_style("detail--title"),
        }
        changed = {
            RIGHT: self.get_component_rich_style("detail--diff-right-changed"),
            LEFT: self.get_component_rich_style("detail--diff-left-changed"),
        }
        for line in diff_lines(explanation):
            start = len(out)
            out.append(line.text + "\n", style=styles.get(line.kind))
            for pos in line.changed:
                out.stylize(changed[line.kind], start + pos, start + pos + 1)

    def _section(self, out: Text, title: str, body: str, error: bool = False) -> None:
        if not body:
            return
        out.append(f"\n── {title} ", style=self.get_component_rich_style("detail--section"))
        out.append("\n")
        err = self.get_component_rich_style("detail--error")
        for line in body.rstrip("\n").split("\n"):
            if error and (line.startswith("E ") or line.startswith(">")):
                out.append(line + "\n", style=err)
            else:
                out.append(line + "\n")


def _signature(state: RunState, nodeid: str | None, rec: TestRecord | None) -> tuple[object, ...]:
    if rec is None:
        return (nodeid, nodeid in state.collect_errors if nodeid else False)
    return (
        nodeid,
        rec.outcome,
        rec.phase,
        rec.finished,
        len(rec.longrepr),
        len(rec.stdout),
        len(rec.stderr),
        len(rec.log),
        rec.hang_stack,
        rec.crashed,
        len(rec.diff),
        len(rec.hazards),
        rec.polluters,
    )
