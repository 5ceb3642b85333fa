"""The dashboard flags slow regressions live, once per test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hotlap.export.record import read_record
from hotlap.model.run_state import RunState
from hotlap.runner.replay import ReplaySource
from hotlap.ui.app import HotlapApp

DATA = Path(__file__).parent.parent / "data"


@dataclass(frozen=True)
class _Slower:
    nodeid: str
    old: float
    new: float
    runs: int


async def test_regressions_are_notified_once() -> None:
    """Every check that finds the same slower test notifies only the first time."""
    calls: list[float] = []

    def regressions(state: RunState, now: float) -> list[_Slower]:
        calls.append(now)
        return [_Slower("test_x.py::test_slow", 0.1, 0.9, 5)] if state.tests else []

    events = list(read_record(DATA / "engine_n0.jsonl"))
    app = HotlapApp(
        ReplaySource(events, speed=0),
        RunState(),
        title="t",
        pytest_args=[],
        effective_cores=2,
        expected={},
        slow_threshold=1.0,
        start_run=None,
        regressions=regressions,
    )
    shown: list[str] = []
    app.notify = lambda message, **kw: shown.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(int(app.refresh_hz * 5)):
            app.tick()
        await pilot.pause()
    assert len(calls) >= 2
    assert [m for m in shown if "test_slow" in m] == [
        "test_x.py::test_slow: 0.10s -> 0.90s (median of 5 runs)"
    ]
