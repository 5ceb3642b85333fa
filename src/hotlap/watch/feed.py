"""The interface between the file watcher and a view (headless loop or dashboard)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Selection:
    """What to run for a batch of changes, and why."""

    full_run: bool
    reason: str
    #: nodeid -> reasons ("src/pkg/mod.py::func changed", "failed last run", …)
    tests: dict[str, list[str]] = field(default_factory=dict)


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
