"""What a view (the headless reporter, the dashboard) reads a run from.

A live :class:`~hotlap.runner.session.RunSession` and a replay of a recorded run both
implement :class:`EventSource`, so a view never knows which one it shows.
"""

from __future__ import annotations

from typing import Protocol

from hotlap.protocol import Event


class EventSource(Protocol):
    """A run's events, drained by the view on its own schedule (never blocks)."""

    def start(self) -> None:
        """Begin producing events (start pytest, open the file, …)."""

    def drain(self) -> list[Event]:
        """Every event produced since the last call, oldest first; never blocks."""

    def cancel(self) -> None:
        """Stop the run (INT, TERM, then KILL for a live run); idempotent."""

    def poll(self) -> int | None:
        """pytest's exit code once the run is over and its events are drained, else None."""

    @property
    def summary_line(self) -> str:
        """pytest's own final summary line ("1 failed, 3 passed in 0.52s"), once known."""

    @property
    def summary_text(self) -> str:
        """That line exactly as pytest printed it (its ``=`` rule, ``-q``'s bare line, its
        colours), or "" when no pytest output is at hand (a replayed record)."""

    @property
    def output(self) -> str:
        """What pytest printed (stdout and stderr, the tail if it was long)."""

    @property
    def output_cut(self) -> int:
        """Lines of pytest's output dropped from the start of :attr:`output`."""

    def output_since(self, seen: int) -> tuple[list[str], int]:
        """pytest's output lines after the first ``seen`` it printed (those still kept), and
        how many lines it printed."""
