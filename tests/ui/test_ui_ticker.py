"""The refresh clock ticks on a fixed grid and never skips a late tick (on a fake clock)."""

from __future__ import annotations

import pytest

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
