"""Helpers of the dashboard tests: recorded streams and apps built on them.

A module of its own (not ``conftest``) so test modules import it by a name no other test
directory uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hotlap.export.record import read_record
from hotlap.impact.selection import Selection
from hotlap.model.run_state import RunState
from hotlap.protocol import Event, ResourceSample
from hotlap.runner.replay import ReplaySource
from hotlap.ui.app import HotlapApp, StartRun
from hotlap.ui.screenshots import LiveReplay, busy_cut
from hotlap.watch.feed import ChangeBatch, WatchFeed

DATA = Path(__file__).resolve().parents[1] / "data"
DEMO = DATA / "ui_demo_n2.jsonl"


def events_of(name: str) -> list[Event]:
    """The events of a record in ``tests/data``, in time order."""
    return sorted(read_record(DATA / name), key=lambda e: e.t)


def state_of(events: list[Event]) -> RunState:
    """A state with every event applied."""
    state = RunState()
    for event in events:
        state.apply(event)
    return state


def replay_app(
    name: str = "ui_demo_n2.jsonl",
    *,
    mid_run: bool = False,
    start_run: StartRun | None = None,
    watch: WatchFeed | None = None,
    expected: dict[str, float] | None = None,
) -> HotlapApp:
    """An app showing a recorded run: finished, or frozen mid-run (still "running")."""
    events = events_of(name)
    if mid_run:
        cut, now = busy_cut(events)
        events = events[:cut]
    else:
        now = events[-1].t
    first = min(e.t for e in events if not isinstance(e, ResourceSample))
    source_cls = LiveReplay if mid_run else ReplaySource
    return HotlapApp(
        source_cls(events, speed=None, clock=lambda: first),
        RunState(),
        title="test",
        pytest_args=["-n", "2"],
        effective_cores=2.0,
        expected=expected or {},
        slow_threshold=1.0,
        start_run=start_run,
        watch=watch,
        clock=lambda: now,
    )


class FakeFeed:
    """A WatchFeed whose batches and selections the test scripts."""

    def __init__(self) -> None:
        self.batches: list[ChangeBatch] = []
        self.selected: list[tuple[list[str], list[str]]] = []
        self.full = False
        self._paused = False
        self.closed = False

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def take(self) -> ChangeBatch | None:
        if self._paused or not self.batches:
            return None
        return self.batches.pop(0)

    def select(self, batch: ChangeBatch, failed: list[str]) -> Selection:
        self.selected.append((list(batch.paths), list(failed)))
        if self.full:
            return Selection(True, "conftest.py changed: full run")
        tests = {f"tests/test_{p.rsplit('/', 1)[-1]}::t": ["changed"] for p in batch.paths}
        return Selection(False, f"{len(tests)} affected", tests)

    def close(self) -> None:
        self.closed = True


class ManualSource:
    """An EventSource the test feeds by hand: set ``pending``, the app drains it. Cancelling
    ends the run with exit code 2, as pytest interrupted does."""

    def __init__(self) -> None:
        self.pending: list[Event] = []
        self.code: int | None = None

    def start(self) -> None:
        pass

    def drain(self) -> list[Event]:
        out, self.pending = self.pending, []
        return out

    def cancel(self) -> None:
        self.code = 2

    def poll(self) -> int | None:
        return self.code if not self.pending else None

    summary_line = summary_text = ""
    output = ""
    output_cut = 0


def manual_app(source: ManualSource, **options: Any) -> HotlapApp:
    """A dashboard on a hand-fed source, for a ``-n 2`` run (``options`` override the rest)."""
    kwargs: dict[str, Any] = {
        "title": "test",
        "pytest_args": ["-n", "2"],
        "effective_cores": 2.0,
        "expected": {},
        "slow_threshold": 1.0,
        "start_run": None,
        **options,
    }
    return HotlapApp(source, RunState(), **kwargs)
