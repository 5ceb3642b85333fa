"""The header, the worker lanes and the resources panel: text views of the run state.

Each widget renders a :class:`rich.text.Text` from the state on demand; the app calls
``refresh()`` on its timer when the state changed, so nothing here runs per event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget
from typing_extensions import Self

from hotlap.model.run_state import RunPhase, RunState, SessionInfo, WorkerLane
from hotlap.ui.eta import LiveEta
from hotlap.ui.format import (
    ellipsize_left,
    fmt_bytes,
    fmt_seconds,
    growth_sparkline,
    hbar,
    sparkline,
)

#: Counts in the header, with the short words pytest users know.
COUNT_LABELS = (
    ("passed", "passed"),
    ("failed", "failed"),
    ("error", "error"),
    ("skipped", "skipped"),
    ("xfailed", "xfail"),
    ("xpassed", "xpass"),
)


@dataclass
class RunView:
    """What every panel reads: the state plus what the CLI knew before the run."""

    state: RunState
    title: str
    pytest_args: list[str]
    effective_cores: float
    expected: dict[str, float]
    slow_threshold: float
    clock: Callable[[], float]
    watch_status: str = ""
    #: What the run shown is, when not the full run ("rerun of 3 failed", "5 selected").
    run_label: str = ""
    #: ``q`` was pressed once every test had reported: waiting for pytest's end.
    finishing: bool = False
    notes: list[str] = field(default_factory=list)
    #: The header's ETA, fed by the app with the tests each refresh's events touched.
    live_eta: LiveEta = field(default_factory=LiveEta)
    _asked: int | None = field(default=None, init=False, repr=False)

    def now(self) -> float:
        return self.clock()

    def workers(self) -> int:
        lanes = [w for w in self.state.workers.values() if not w.crashed]
        return max(1, len(lanes) or self.state.session.numprocesses)

    def lane_rows(self) -> int:
        """Rows the lanes panel takes: one per lane, and while the run has not ended at least
        as many as the ``-n N`` it was started with, so that the workers' arrival does not
        move everything below (a layout pass re-renders the whole screen)."""
        rows = max(1, len(self.state.workers))
        if self.state.phase in (RunPhase.DONE, RunPhase.CANCELLED):
            return rows
        if self._asked is None:
            self._asked = numprocesses(self.pytest_args)
        return max(rows, self._asked)


def numprocesses(args: list[str]) -> int:
    """The worker count ``-n N`` / ``-nN`` / ``--numprocesses[=]N`` asks for (the last one
    given; 0 when none or not a number, as with ``-n auto``)."""
    count = 0
    for i, arg in enumerate(args):
        value = ""
        if arg in ("-n", "--numprocesses"):
            value = args[i + 1] if i + 1 < len(args) else ""
        elif arg.startswith("--numprocesses="):
            value = arg.partition("=")[2]
        elif arg.startswith("-n") and not arg.startswith("--"):
            value = arg[2:]
        if value:
            count = int(value) if value.isdigit() else 0
    return count


class _TextPanel(Widget):
    """A widget that renders one Text from the run view, styled by component classes."""

    def __init__(self, view: RunView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self._styles: dict[str, Style] = {}

    def style_of(self, name: str) -> Style:
        # Looked up dozens of times per render at 15 Hz: keep them until the CSS changes.
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name)
        return style

    def notify_style_update(self) -> None:
        self._styles.clear()
        super().notify_style_update()


class _LinePanel(_TextPanel):
    """A panel of one Text per line, rendered with the Line API.

    Textual's general text path (wrapping, alignment) costs milliseconds per refresh; these
    panels refresh 15 times a second, so they hand Textual ready strips instead.
    """

    def __init__(self, view: RunView, *, id: str | None = None) -> None:
        super().__init__(view, id=id)
        self._strips: list[Strip] | None = None
        self._strips_width = -1

    def lines(self, width: int) -> list[Text]:
        """The panel's lines for ``width`` cells."""
        raise NotImplementedError

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        self._strips = None
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.lines(width)))

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width or self.size.width
        if self._strips is None or self._strips_width != width:
            console = self.app.console
            base = self.rich_style
            styles: dict[tuple[object, object], Style] = {}
            self._strips = []
            for line in self.lines(width):
                strip = line_strip(line, base, width, styles, console)
                if strip is None:  # overlapping spans: rich's general path
                    # Text.render leaves out the Text's own style: put it under the spans.
                    style = base + line.style if isinstance(line.style, Style) else base
                    strip = Strip(list(line.render(console))).apply_style(style)
                    strip = strip.extend_cell_length(width, base).crop(0, width)
                self._strips.append(strip)
            self._strips_width = width
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)


def line_strip(
    line: Text,
    base: Style,
    width: int,
    styles: dict[tuple[object, object], Style],
    console: Console,
) -> Strip | None:
    """``line`` as a strip of ``width`` cells over ``base``, as ``Text.render`` styles it
    (base, then the line's own style, then each span's), or None if spans overlap.

    The lanes and the header are a few dozen spans that never overlap, redrawn every refresh:
    rich's general path (a stack of open spans, a style combined per segment, then a pass to
    put the base under them) costs ~0.1 ms a line here. ``styles`` memoizes combined styles
    across the lines of one render.
    """
    own_style = line.style
    plain = line.plain
    segments: list[Segment] = []
    add = segments.append
    pos = 0
    for start, end, span_style in line.spans:
        if start < pos:
            return None
        if end <= start:
            continue
        key = (own_style, span_style)
        style = styles.get(key)
        if style is None:
            if not isinstance(span_style, Style):
                span_style = console.get_style(span_style, default=Style.null())
            style = styles[key] = _own(own_style, base, styles, console) + span_style
        if start > pos:
            add(Segment(plain[pos:start], _own(own_style, base, styles, console)))
        add(Segment(plain[start:end], style))
        pos = end
    if pos < len(plain):
        add(Segment(plain[pos:], _own(own_style, base, styles, console)))
    cells = line.cell_len
    if cells < width:
        add(Segment(" " * (width - cells), base))
    elif cells > width:
        return Strip(segments).crop(0, width)
    return Strip(segments, width)


def _own(
    own_style: str | Style,
    base: Style,
    styles: dict[tuple[object, object], Style],
    console: Console,
) -> Style:
    """The style of a line's text outside its spans: base, then the line's own style."""
    key = (own_style, None)
    style = styles.get(key)
    if style is None:
        if not isinstance(own_style, Style):
            own_style = console.get_style(own_style, default=Style.null())
        style = styles[key] = base + own_style
    return style


def _pad_between(left: Text, right: Text, width: int) -> Text:
    gap = width - left.cell_len - right.cell_len
    if gap < 1:
        left.truncate(max(0, width - right.cell_len - 1), overflow="ellipsis")
        gap = max(1, width - left.cell_len - right.cell_len)
    return Text.assemble(left, " " * gap, right)


class RunHeader(_LinePanel):
    """Project, arguments, workers/cores, state, time, progress and counts."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "header--title",
        "header--label",
        "header--dim",
        "header--bar-done",
        "header--bar-todo",
        "header--bar-failed",
        *(f"state--{p.value}" for p in RunPhase),
        *(f"count--{key}" for key, _ in COUNT_LABELS),
    }

    def lines(self, width: int) -> list[Text]:
        v, s = self.view, self.view.state
        width = max(20, width or 80)
        now = v.now()
        dim = self.style_of("header--dim")
        args = " ".join(v.pytest_args) or "(no args)"
        # The badge already says hotlap: "hotlap · project" titles show only the project.
        title = v.title
        if title.startswith("hotlap") and title[6:].strip(" ·-"):
            title = title[6:].strip(" ·-")
        left = Text.assemble((" hotlap ", self.style_of("header--title")), " ", title, "  ")
        if v.run_label:
            left.append(f"{v.run_label} · ", style=self.style_of("header--label"))
        left.append(f"pytest {args}", style=dim)
        workers = v.workers()
        lanes = "process" if "main" in s.workers else ("worker" if workers == 1 else "workers")
        right = Text.assemble(
            (f"{workers} {lanes} / {v.effective_cores:g} cores  ", dim),
            (
                " finishing… " if v.finishing else f" {s.phase.value} ",
                self.style_of(f"state--{s.phase.value}"),
            ),
            f"  {fmt_seconds(s.elapsed(now))}",
        )
        eta = v.live_eta.eta(s, v.expected, workers, now)
        if eta is not None and s.phase is RunPhase.RUNNING:
            right.append(f"  ETA {fmt_seconds(eta)}", style=dim)
        line1 = _pad_between(left, right, width)

        done, total = s.done_count, s.total
        counts = Text()
        for key, label in COUNT_LABELS:
            n = s.counts.get(key, 0)
            if n or key in ("passed", "failed"):
                counts.append(f"  {n} {label}", style=self.style_of(f"count--{key}") if n else dim)
        progress = f" {done}/{total}" if total else " 0/0"
        bar_width = max(8, width - counts.cell_len - len(progress) - 2)
        filled, empty = hbar(done / total if total else 0.0, bar_width)
        bad = s.counts.get("failed", 0) + s.counts.get("error", 0)
        bar_style = self.style_of("header--bar-failed" if bad else "header--bar-done")
        line2 = Text.assemble(
            " ",
            (filled.replace("█", "━"), bar_style),
            (empty.replace(" ", "─"), self.style_of("header--bar-todo")),
            progress,
            counts,
        )
        line3 = Text(" ")
        sample = s.last_sample
        if sample is not None:
            cores = sample.effective_cores or v.effective_cores
            line3.append(f"CPU {sample.total_cpu / 100:.1f} / {cores:g} cores  ")
            top = 100.0
            for load in sample.per_core:
                line3.append(sparkline([load], 1, top), style=self.style_of("header--bar-done"))
            rss = fmt_bytes(sample.total_rss) if sample.total_rss else "-"
            line3.append(f"   RSS {rss}")
            line3.append(f" · {fmt_bytes(sample.mem_available)} available", style=dim)
        elif s.phase in (RunPhase.DONE, RunPhase.CANCELLED):
            line3.append("CPU and memory: no sample of this run", style=dim)
        else:
            line3.append("CPU and memory: waiting for the first sample…", style=dim)
        if v.watch_status:
            line3.append(f"   {v.watch_status}", style=dim)
        return [line1, line2, line3]


def lane_origin(lane: WorkerLane, session: SessionInfo) -> str:
    """Where a lane runs, when not where the session does: ``ci-box-2 py3.12.1`` for a worker
    on another host, ``py3.12.1`` for one under another Python, else ""."""
    if lane.host and session.host and lane.host != session.host:
        return f"{lane.host} py{lane.python}" if lane.python else lane.host
    if lane.python and session.python_version and lane.python != session.python_version:
        return f"py{lane.python}"
    return ""


class WorkerLanes(_LinePanel):
    """One row per worker: what it runs now, for how long, its CPU and RSS."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "lanes--id",
        "lanes--dim",
        "lanes--slow",
        "lanes--crashed",
        "lanes--spark",
    }

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.view.lane_rows()

    def lines(self, width: int) -> list[Text]:
        v, s = self.view, self.view.state
        width = max(20, width or 80)
        if not s.workers:
            msg = "starting pytest…" if s.phase is RunPhase.STARTING else "collecting…"
            return [Text(f" {msg}", style=self.style_of("lanes--dim"))]
        sparks = width >= 110
        now = v.now()
        return [self._lane(lane, width, sparks, now) for lane in s.workers.values()]

    def _lane(self, lane: WorkerLane, width: int, sparks: bool, now: float) -> Text:
        dim = self.style_of("lanes--dim")
        line = Text(" ")
        line.append(f"{lane.id:<5}", style=self.style_of("lanes--id"))
        where = lane_origin(lane, self.view.state.session)
        if where:
            line.append(f" {ellipsize_left(where, max(8, width // 4))}", style=dim)
        if lane.crashed:
            reason = f"  ({lane.crash_reason})" if lane.crash_reason else ""
            msg = f" crashed in {lane.crashed_in or '?'}{reason}"
            room = width - line.cell_len - 1
            line.append(ellipsize_left(msg, room), style=self.style_of("lanes--crashed"))
            return line
        tail = Text()
        tail.append(f"{lane.cpu_percent:4.0f}%", style="")
        if sparks:
            tail.append(" ")
            tail.append(
                sparkline(lane.cpu_history, 12, 100.0).ljust(12), self.style_of("lanes--spark")
            )
        tail.append(f" {fmt_bytes(lane.rss):>7}")
        if sparks:
            tail.append(" ")
            tail.append(
                growth_sparkline(lane.rss_history, 12).ljust(12), self.style_of("lanes--spark")
            )
        tail.append(f" {lane.tests_done:>5} done", style=dim)
        if lane.current:
            running = max(0.0, now - lane.since)
            slow = running >= self.view.slow_threshold
            line.append(f" {lane.phase:<8}", style=dim)
            line.append(
                f"{fmt_seconds(running):>7} ", style=self.style_of("lanes--slow") if slow else ""
            )
            room = width - line.cell_len - tail.cell_len - 2
            line.append(ellipsize_left(lane.current, room).ljust(room))
        else:
            word = "done" if lane.finished else "idle"
            room = width - line.cell_len - tail.cell_len - 2
            line.append(f" {word}".ljust(max(0, room)), style=dim)
        line.append("  ")
        line.append(tail)
        return line


class ResourcesPanel(_TextPanel, can_focus=True):
    """Total CPU against the effective cores, per-core bars, RSS against available memory."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resources--label",
        "resources--dim",
        "resources--bar",
        "resources--bar-hot",
        "resources--bar-empty",
        "resources--spark",
    }

    def render(self) -> Text:
        v, s = self.view, self.view.state
        sample = s.last_sample
        dim = self.style_of("resources--dim")
        if sample is None:
            return Text(" no resource samples yet", style=dim)
        width = max(30, self.content_region.width or 80)
        label = self.style_of("resources--label")
        cores = sample.effective_cores or v.effective_cores
        used = sample.total_cpu / 100
        out = Text()
        out.append(" CPU    ", style=label)
        out.append(f"{used:.1f} / {cores:g} cores", style="bold")
        out.append(
            f"  ({sample.total_cpu / max(cores, 1e-9):.0f}% of what this run may use)\n", style=dim
        )
        spark_width = max(10, width - 12)
        history = [p.total_cpu for p in s.resources]
        out.append("        ")
        out.append(
            sparkline(history, spark_width, max(cores * 100, 1.0)),
            self.style_of("resources--spark"),
        )
        out.append("\n\n")
        bar_width = max(10, min(60, width - 22))
        for i, load in enumerate(sample.per_core):
            cells = round(max(0.0, min(1.0, load / 100)) * bar_width)
            hot = self.style_of("resources--bar-hot" if load >= 90 else "resources--bar")
            out.append(f" {'cores' if i == 0 else '':<6} {f'cpu{i}':<5} ", style=label)
            out.append("━" * cells, style=hot)
            out.append("─" * (bar_width - cells), style=self.style_of("resources--bar-empty"))
            out.append(f" {load:4.0f}%\n")
        out.append("\n RSS    ", style=label)
        out.append(f"{fmt_bytes(sample.total_rss)}", style="bold")
        out.append(" test processes", style=dim)
        out.append(
            f"   {fmt_bytes(sample.mem_available)} available of {fmt_bytes(sample.mem_total)}\n",
            style=dim,
        )
        out.append("        ")
        rss = [float(p.total_rss) for p in s.resources]
        out.append(growth_sparkline(rss, spark_width), self.style_of("resources--spark"))
        out.append("\n\n processes\n", style=label)
        for row in sorted(sample.processes, key=lambda r: str(r[1]) or "~"):
            pid, worker, cpu, rss_bytes = row[:4]
            rss_text = fmt_bytes(int(rss_bytes))
            if not worker:
                worker = "controller" if pid == s.session.pid else "-"
            out.append(f"   {worker:<10} pid {pid:<8} {float(cpu):5.0f}%  {rss_text:>8}\n")
        return out
