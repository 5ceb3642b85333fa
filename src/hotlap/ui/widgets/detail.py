"""The detail pane: the selected test's outcome, traceback, captured output and log."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from hotlap.model.run_state import RunState, TestRecord
from hotlap.ui.format import fmt_delta_bytes, fmt_seconds
from hotlap.ui.index import outcome_of


class TestDetail(VerticalScroll):
    """Scrollable text about one test; re-rendered only when that test changed."""

    __test__ = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "detail--title",
        "detail--dim",
        "detail--section",
        "detail--error",
        "detail--failed",
        "detail--passed",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.nodeid: str | None = None
        self._signature: tuple[object, ...] = ()
        self._shape: tuple[object, ...] = ()
        self._body = Static("", id="detail-body")

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, state: RunState, nodeid: str | None, now: float) -> None:
        """Show ``nodeid`` (None: the empty state); cheap when nothing changed."""
        rec = state.tests.get(nodeid) if nodeid else None
        signature = _signature(state, nodeid, rec)
        running = rec is not None and rec.finished is None
        if signature == self._signature and not running:
            return
        if nodeid != self.nodeid:
            self.scroll_home(animate=False)
        text = self.render_test(state, nodeid, rec, now)
        # A layout pass re-renders much of the screen (~30-50 ms at 160x48): skip it when the
        # text keeps its shape (its lines' lengths), as when a running test's seconds tick on.
        shape = tuple(len(line) for line in text.plain.split("\n"))
        layout = shape != self._shape
        self.nodeid, self._signature, self._shape = nodeid, signature, shape
        self._body.update(text, layout=layout)

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
        if rec.longrepr:
            self._section(out, "traceback" if bad else "report", rec.longrepr, error=bad)
        if rec.hang_stack:
            self._section(out, f"stack after {fmt_seconds(rec.hang_elapsed)}", rec.hang_stack)
        self._section(out, "captured stdout", rec.stdout)
        self._section(out, "captured stderr", rec.stderr)
        self._section(out, "captured log", rec.log)
        return out

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
    )
