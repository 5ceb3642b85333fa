"""When the dashboard refreshes and paints: a tick per period on a fixed grid, late ticks not
skipped, and a screen that paints a tick's changes without waiting for a later frame.

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
from typing import Any

from textual.screen import Screen
from textual.timer import Timer


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


def paint_when_idle(screen: Screen[Any]) -> None:
    """Let ``screen`` paint its changes as soon as the app is idle, not at a later frame.

    Textual's screen update timer (60 Hz) skips like its interval timers: after the first
    paint that follows a pause (most paints: the screen is still between ticks), or one that
    ran past the next frame, the next paint waits one to two frames, 17-33 ms. A tick that
    came after a page-down's paint waited that long to be seen. Without the skip, a paint
    still happens once per idle moment of the app (changes made meanwhile are painted
    together), only without the wait. Textual keeps the flag in ``Timer._skip``; a version
    without it keeps its own behaviour.
    """
    timer = getattr(screen, "_update_timer", None)
    if isinstance(timer, Timer) and hasattr(timer, "_skip"):
        timer._skip = False
