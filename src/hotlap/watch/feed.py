"""The interface between the file watcher and a view (headless loop or dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hotlap.impact.selection import Selection


@dataclass
class ChangeBatch:
    """Files changed since the last batch was taken (debounced, deduplicated)."""

    paths: list[str]


class WatchFeed(Protocol):
    """Textual-free watch state the dashboard polls on its timer."""

    @property
    def paused(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def take(self) -> ChangeBatch | None:
        """Pending changes (never blocks); None when nothing changed or while paused."""
        ...

    def select(self, batch: ChangeBatch, failed: list[str]) -> Selection:
        """Tests to run for ``batch``: the failed ones first, then the affected ones."""
        ...

    def close(self) -> None: ...
