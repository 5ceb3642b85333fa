"""Shared helpers of the dashboard tests: recorded streams and apps built on them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hotlap.export.record import read_record
from hotlap.model.run_state import RunState
from hotlap.protocol import Event, ResourceSample
from hotlap.runner.replay import ReplaySource
from hotlap.ui.app import HotlapApp, StartRun
from hotlap.ui.screenshots import LiveReplay, busy_cut
from hotlap.watch.feed import WatchFeed

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


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Drop the outer test run's hotlap/xdist variables so a child pytest starts clean."""
    for key in list(os.environ):
        if key.startswith(("HOTLAP_", "PYTEST_XDIST_")) or key in (
            "PYTEST_ADDOPTS",
            "PYTEST_CURRENT_TEST",
            "PYTEST_PLUGINS",
        ):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return lambda: None
