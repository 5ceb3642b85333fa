"""A recorded run (``--record`` / ``--hotlap-record`` JSON lines) as an :class:`EventSource`.

``hotlap replay RUN.jsonl`` feeds it to the dashboard or the headless reporter, so a CI run
can be watched locally as it happened. Events come out paced by their ``t`` divided by
``speed`` (``speed=None`` or ``0``: all at once), and each event's ``t`` is moved onto this
process's monotonic clock so that "running for 2.3s" reads right in the view.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from hotlap.export.record import read_record
from hotlap.protocol import Event, ResourceSample, SessionFinish

#: The exit code a replay reports when the record has no session end (pytest's "interrupted").
INTERRUPTED = 2


def summary_line(stats: dict[str, int], seconds: float) -> str:
    """pytest's closing line, e.g. ``1 failed, 3 passed in 0.52s``."""
    order = ("failed", "passed", "skipped", "deselected", "xfailed", "xpassed", "error")
    # pytest pluralises only these two words ("2 errors", "3 warnings").
    plural = {"error": "errors", "warnings": "warnings"}
    counts = [(k, stats[k]) for k in order if stats.get(k)]
    counts += [(k, n) for k, n in stats.items() if n and k not in order]
    parts = [f"{n} {plural.get(k, k) if n != 1 else k}" for k, n in counts]
    return f"{', '.join(parts) or 'no tests ran'} in {seconds:.2f}s"


class ReplaySource:
    """Recorded events, released on the recorded schedule (scaled by ``speed``)."""

    def __init__(
        self,
        events: Sequence[Event],
        *,
        speed: float | None = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Records from several processes are merged by time; pacing needs them in that order.
        self._events = sorted(events, key=lambda e: e.t)
        self._speed = speed if speed and speed > 0 else None
        self._clock = clock
        self._pos = 0
        self._start: float | None = None
        timed = [e.t for e in self._events if not isinstance(e, ResourceSample)]
        self._first = min(timed) if timed else (self._events[0].t if self._events else 0.0)
        self._last = max(timed) if timed else self._first
        self.cancelled = False
        self._finish = next((e for e in self._events if isinstance(e, SessionFinish)), None)

    @classmethod
    def from_file(cls, path: str | Path, *, speed: float | None = 1.0) -> ReplaySource:
        """A source for the record at ``path`` (``OSError`` if it cannot be read)."""
        return cls(list(read_record(path)), speed=speed)

    @property
    def events(self) -> list[Event]:
        return list(self._events)

    def start(self) -> None:
        self._start = self._clock()

    def _shift(self, event: Event) -> Event:
        assert self._start is not None
        offset = (event.t - self._first) / (self._speed or 1.0)
        return msgspec.structs.replace(event, t=self._start + max(0.0, offset))

    def drain(self) -> list[Event]:
        """The events due by now (all of them when not paced)."""
        if self._start is None or self.cancelled:
            return []
        if self._speed is None:
            due = len(self._events)
        else:
            horizon = self._first + (self._clock() - self._start) * self._speed
            due = self._pos
            while due < len(self._events) and self._events[due].t <= horizon:
                due += 1
        out = [self._shift(e) for e in self._events[self._pos : due]]
        self._pos = due
        return out

    def cancel(self) -> None:
        self.cancelled = True

    def poll(self) -> int | None:
        if self.cancelled:
            return INTERRUPTED
        if self._start is None or self._pos < len(self._events):
            return None
        return self._finish.exitstatus if self._finish is not None else INTERRUPTED

    @property
    def summary_line(self) -> str:
        if self._finish is None or self._pos < len(self._events):
            return ""
        return summary_line(self._finish.stats, self._last - self._first)

    @property
    def summary_text(self) -> str:
        return ""  # a record holds events, not pytest's output

    @property
    def output(self) -> str:
        return ""

    @property
    def output_cut(self) -> int:
        return 0

    def output_since(self, seen: int) -> tuple[list[str], int]:
        return [], 0

    def close(self) -> None:
        """Nothing to release (the record was read up front)."""
