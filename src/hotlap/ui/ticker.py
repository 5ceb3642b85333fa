"""The dashboard's refresh clock: a tick per period on a fixed grid, late ticks not skipped.

Textual's ``set_interval`` skips ahead when a tick ends after the next one was due: the next
tick then comes one to two periods later (``Timer._run``), so at 20 Hz the events that
arrived meanwhile waited up to ~100 ms for a refresh plus the refresh itself. Here a tick
that ran late is followed by the next one as soon as its picture is on screen, and the grid
starts again from there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def tick_forever(
    tick: Callable[[], object],
    period: float,
    *,
    painted: Callable[[], Awaitable[object]],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Call ``tick`` every ``period`` seconds until cancelled.

    ``painted`` waits until the screen shows what the last tick changed: when the next slot
    has already passed, the next tick waits for that paint rather than delaying it further,
    then runs at once.
    """
    due = clock()
    while True:
        due += period
        wait = due - clock()
        if wait > 0:
            await sleep(wait)
        else:
            await painted()
            due = clock()
        tick()
