"""Lanes of workers elsewhere: a worker on another host or Python says so in its lane, and the
replay of shards merged into one record shows every shard's workers as lanes of their own."""

from __future__ import annotations

import msgspec
from ui_helpers import events_of

from hotlap.export.record_merge import merge_records
from hotlap.model.run_state import RunState
from hotlap.protocol import Event, SessionStart, WorkerStart
from hotlap.ui.app import HotlapApp
from hotlap.ui.screenshots import LiveReplay, busy_cut, settle


def mid_run_app(events: list[Event]) -> HotlapApp:
    """A dashboard frozen mid-run on ``events`` (every lane busy)."""
    events = sorted(events, key=lambda e: e.t)
    cut, now = busy_cut(events)
    events = events[:cut]
    first = min(e.t for e in events)
    return HotlapApp(
        LiveReplay(events, speed=None, clock=lambda: first),
        RunState(),
        title="test",
        pytest_args=["-n", "2"],
        effective_cores=2.0,
        expected={},
        slow_threshold=1.0,
        start_run=None,
        clock=lambda: now,
    )


def located(events: list[Event]) -> list[Event]:
    """The demo run with its session on host ci-main, gw0 there too, gw1 on ci-box-2 under
    Python 3.12.1."""
    out: list[Event] = []
    for e in events:
        if isinstance(e, SessionStart):
            e = msgspec.structs.replace(e, host="ci-main", python_version="3.11.7")
        elif isinstance(e, WorkerStart):
            remote = e.worker == "gw1"
            e = msgspec.structs.replace(
                e, host="ci-box-2" if remote else "ci-main", python="3.12.1" if remote else "3.11.7"
            )
        out.append(e)
    return out


def lane_row(text: str, lane: str) -> str:
    return next(row for row in text.splitlines() if row.startswith(f" {lane} "))


async def test_a_lane_on_another_host_shows_host_and_python() -> None:
    """gw1 runs on ci-box-2 under 3.12.1: its lane says "ci-box-2 py3.12.1"; gw0, on the
    controller's host and Python, says nothing more than before."""
    app = mid_run_app(located(events_of("ui_demo_n2.jsonl")))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        text = await settle(app, pilot)
        assert "ci-box-2 py3.12.1" in lane_row(text, "gw1")
        assert "ci-" not in lane_row(text, "gw0") and "py3" not in lane_row(text, "gw0")
        assert app.state.workers["gw1"].current in lane_row(text, "gw1")


def shard(events: list[Event], name: str, wall_shift: float) -> list[Event]:
    """The demo run as if it were a shard of a suite: its tests renamed into ``name``/, its
    session started ``wall_shift`` seconds later."""
    out: list[Event] = []
    for e in events:
        changes: dict[str, object] = {}
        if hasattr(e, "nodeid") and e.nodeid:
            changes["nodeid"] = f"{name}/{e.nodeid}"
        if hasattr(e, "nodeids"):
            changes["nodeids"] = [f"{name}/{n}" for n in e.nodeids]
        if hasattr(e, "wall"):
            changes["wall"] = e.wall + wall_shift
        out.append(msgspec.structs.replace(e, **changes) if changes else e)
    return out


async def test_replay_of_merged_shards_shows_every_lane() -> None:
    """Two shards (two workers each) merged into one record: mid-replay the dashboard has
    four lanes, s1/gw0 s1/gw1 s2/gw0 s2/gw1, each running its shard's tests."""
    demo = events_of("ui_demo_n2.jsonl")
    merged, _ = merge_records([("a", shard(demo, "a", 0.0)), ("b", shard(demo, "b", 0.3))])
    app = mid_run_app(merged)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        text = await settle(app, pilot)
        assert sorted(app.state.workers) == ["s1/gw0", "s1/gw1", "s2/gw0", "s2/gw1"]
        for lane in app.state.workers.values():
            row = lane_row(text, lane.id)
            assert lane.current and lane.current[-30:] in row
            assert lane.current.startswith("a/" if lane.id.startswith("s1/") else "b/")
