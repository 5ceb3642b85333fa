"""The refresh clock ticks on a fixed grid and never skips a late tick (on a fake clock); the
screen paints a change at once after a long paint."""

from __future__ import annotations

import asyncio

import pytest
import textual._time as textual_time
import textual.timer as textual_timer
from textual.screen import Screen
from ui_helpers import replay_app

from hotlap.ui.screenshots import settle
from hotlap.ui.ticker import tick_forever


class Done(Exception):
    """Raised by the fake tick to stop the loop."""


class FakeTime:
    """A clock that moves only when the loop sleeps, a tick works or a paint is awaited."""

    def __init__(self, tick_costs: list[float], oversleep: dict[int, float] | None = None) -> None:
        self.now = 0.0
        self.costs = list(tick_costs)
        self.oversleep = oversleep or {}
        self.ticks: list[float] = []
        self.paints: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # The event loop may wake the sleeper late (it was busy): ``oversleep[n]`` before
        # the n-th tick (counted from 0).
        self.now += seconds + self.oversleep.get(len(self.ticks), 0.0)

    async def painted(self) -> None:
        self.paints.append(self.now)
        self.now += 0.005

    def tick(self) -> None:
        self.ticks.append(self.now)
        if not self.costs:
            raise Done
        self.now += self.costs.pop(0)


async def run(fake: FakeTime, period: float = 0.05) -> None:
    with pytest.raises(Done):
        await tick_forever(
            fake.tick, period, painted=fake.painted, clock=fake.clock, sleep=fake.sleep
        )


async def test_ticks_keep_to_the_grid_when_they_wake_late() -> None:
    """A tick that wakes 20 ms late does not push the next one: it still comes on the grid,
    without waiting for a paint."""
    fake = FakeTime([0.01, 0.01, 0.01], oversleep={1: 0.02})
    await run(fake)
    assert fake.ticks == pytest.approx([0.05, 0.12, 0.15, 0.20])
    assert fake.paints == []


async def test_a_tick_that_runs_past_the_next_slot_is_followed_once_painted() -> None:
    """A tick of 130 ms (past the next two slots): the next tick runs as soon as the screen
    shows the long one, not one to two periods later as Textual's interval timer does, and
    the grid starts again from there."""
    fake = FakeTime([0.01, 0.13, 0.01, 0.01])
    await run(fake)
    assert fake.paints == pytest.approx([0.23])
    assert fake.ticks == pytest.approx([0.05, 0.10, 0.235, 0.285, 0.335])


async def test_the_screen_paints_at_once_after_a_long_paint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a paint that took 50 ms, the screen's update timer asks for no wait before the
    next paint (Textual's own skips to one to two frames later, 17-33 ms). The paint's length
    is a jump of the clock Textual's timers read, so nothing here depends on real timing."""
    jump = [0.0]
    real_time = textual_time.get_time
    monkeypatch.setattr(textual_time, "get_time", lambda: real_time() + jump[0])
    waits: list[float] = []
    real_sleep = textual_timer.sleep

    async def sleep(seconds: float) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "screen_update":
            waits.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(textual_timer, "sleep", sleep)
    app = replay_app()  # a finished run: only this test makes the screen paint
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(app, pilot)
        paint = Screen._on_timer_update

        def long_paint(self: Screen[object]) -> None:
            paint(self)
            jump[0] += 0.05

        monkeypatch.setattr(Screen, "_on_timer_update", long_paint)
        waits.clear()
        app.header.refresh()
        await pilot.pause(0.1)
        assert waits and waits[0] == 0.0
