"""Screenshots of the dashboard from recorded runs: ``python -m hotlap.ui.screenshots [DIR]``.

Each scene replays a record from ``tests/data`` up to a moment, with the app's clock frozen
there, so the pictures (and the text snapshots the tests compare) come out the same every
time. SVGs come from Textual's ``save_screenshot``; PNGs from ``rsvg-convert`` if installed.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot

from hotlap.export.record import read_record
from hotlap.model.run_state import RunState
from hotlap.protocol import Event, ResourceSample
from hotlap.runner.replay import ReplaySource
from hotlap.ui.app import HotlapApp
from hotlap.ui.widgets.tables import TestsTable

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
#: A real ``hotlap demo --record`` run (-n 2, with the app's resource samples).
RECORD = DATA / "ui_demo_n2.jsonl"
#: The same demo recorded with the failed ``==``'s full diff (``AssertDiff``, added later).
RECORD_DIFF = DATA / "ui_demo_diff_n2.jsonl"


class LiveReplay(ReplaySource):
    """A replay that stays "running" after its last event, like a live run caught mid-way."""

    def poll(self) -> int | None:
        return super().poll() if self.cancelled else None


def busy_cut(events: list[Event]) -> tuple[int, float]:
    """A moment mid-run worth a picture: every lane busy and a failure in, at the longest
    quiet gap (so lanes show tests well into their run). Returns (events to keep, now)."""
    state = RunState()
    best: tuple[float, int] = (-1.0, len(events))
    for i, event in enumerate(events[:-1]):
        state.apply(event)
        lanes = list(state.workers.values())
        if (
            len(lanes) >= 2
            and all(lane.current and lane.phase == "call" for lane in lanes)
            and state.failures
            and len(state.resources) >= 4
        ):
            gap = events[i + 1].t - event.t
            best = max(best, (gap, i + 1))
    gap, cut = best
    now = events[cut - 1].t + max(0.0, gap) * 0.8
    return cut, now


@dataclass
class Scene:
    """One picture: which events, which moment, which pane, what is selected."""

    name: str
    size: tuple[int, int]
    mid_run: bool = False
    pane: str = "tests-pane"
    select_failure: bool = False
    sort: str = "order"
    #: Typed into the filter box, left open.
    filter: str = ""
    #: The test to select (its node id ends so).
    select: str = ""
    record: Path = RECORD


SCENES = (
    Scene("mid-run", (140, 40), mid_run=True),
    Scene("failure", (140, 40), select_failure=True, sort="call"),
    Scene("fixtures", (140, 30), pane="fixtures-pane"),
    Scene("resources", (140, 34), mid_run=True, pane="resources-pane"),
    Scene("narrow-80x24", (80, 24), mid_run=True),
    Scene("fuzzy-filter", (140, 30), filter="ordlife"),
    Scene("diff", (140, 40), select="test_refund_rounding", record=RECORD_DIFF),
)


def scene_app(scene: Scene) -> HotlapApp:
    """The app of a scene, with a frozen clock, before it runs."""
    events = sorted(read_record(scene.record), key=lambda e: e.t)
    if scene.mid_run:
        cut, now = busy_cut(events)
        events = events[:cut]
    else:
        now = events[-1].t
    first = min(e.t for e in events if not isinstance(e, ResourceSample))

    def clock() -> float:  # the app's clock, frozen at the scene's moment
        return now

    def source_clock() -> float:  # the replay starts at the record's own first moment
        return first

    app = HotlapApp(
        (LiveReplay if scene.mid_run else ReplaySource)(events, speed=None, clock=source_clock),
        RunState(),
        title="hotlap · demo",
        pytest_args=["-n", "2"],
        effective_cores=2.0,
        expected={},
        slow_threshold=1.0,
        start_run=None,
        clock=clock,
    )
    # The tab underline slides: without animations every picture is the same.
    app.animation_level = "none"
    return app


async def prepare(app: HotlapApp, scene: Scene) -> None:
    """Drive a running app (inside ``run_test``) to the scene's pane and selection."""
    from textual.widgets import TabbedContent

    app.tick()
    if scene.sort != "order":
        app.query_one(TestsTable).set_view(sort=scene.sort)
    tests = app.query_one(TestsTable)
    if scene.select_failure and app.state.failures:
        tests.user_moved = True
        tests.move_cursor(tests.keys.index(app.state.failures[0]))
    if scene.select:
        tests.move_cursor(next(i for i, k in enumerate(tests.keys) if k.endswith(scene.select)))
    if scene.filter:
        app.action_filter()
        app.filter_box.value = scene.filter
        await asyncio.sleep(0.05)
    panes = app.query_one("#panes", TabbedContent)
    # Right after mount the tabs may still apply their initial activation: retry once.
    for _ in range(3):
        panes.active = scene.pane
        await asyncio.sleep(0.05)
        if panes.active == scene.pane:
            break
    app.tick()


def screen_text(app: HotlapApp) -> str:
    """What the terminal shows, as plain text (for snapshot comparisons)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    screen_render = app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens
    )
    console.print(screen_render)
    return console.export_text()


async def settle(
    app: HotlapApp, pilot: Pilot[int], timeout: float = 5.0, footer: bool = True
) -> str:
    """The screen's text once it stops changing and the footer is drawn.

    Under load the footer (recomposed when the focused widget's keys change) can lag a
    frame or two behind; a picture or a snapshot must not catch it half-done.
    """
    deadline = time.monotonic() + timeout
    text = screen_text(app)
    same = 0
    while time.monotonic() < deadline and same < 3:
        await pilot.pause(0.05)
        again = screen_text(app)
        drawn = not footer or "Quit" in again.rstrip().rsplit("\n", 1)[-1]
        same = same + 1 if again == text and drawn else 0
        text = again
    return text


async def shoot(scene: Scene, out: Path) -> Path:
    """Render one scene to ``out/<name>.svg`` (and .png when rsvg-convert is there)."""
    app = scene_app(scene)
    async with app.run_test(size=scene.size) as pilot:
        await pilot.pause()
        await prepare(app, scene)
        await settle(app, pilot)
        svg = Path(app.save_screenshot(f"{scene.name}.svg", path=str(out)))
    converter = shutil.which("rsvg-convert")
    if converter:
        # rsvg drops leading non-breaking spaces (indentation) unless told to keep them.
        text = svg.read_text(encoding="utf-8").replace("<svg ", '<svg xml:space="preserve" ', 1)
        subprocess.run(
            [converter, "-o", str(svg.with_suffix(".png"))],
            input=text.encode("utf-8"),
            check=True,
        )
    return svg


async def _main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for scene in SCENES:
        svg = await shoot(scene, out)
        print(svg)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    asyncio.run(_main(Path(args[0]) if args else Path("screenshots")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
