"""Watch mode's decisions, kept out of the app so they are tested without a screen.

Change batches are queued, never dropped: while a run is active they wait, and the queued
paths are run together as soon as the run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hotlap.watch.feed import ChangeBatch, WatchFeed


def describe_paths(paths: list[str], limit: int = 3) -> str:
    """``a.py, b.py and 3 more`` for a status line."""
    names = [p.rsplit("/", 1)[-1] for p in paths]
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


class WatchControl:
    """Pending changes and the status line of watch mode, over a :class:`WatchFeed`."""

    def __init__(self, feed: WatchFeed) -> None:
        self.feed = feed
        self.pending: list[str] = []
        self.last_paths: list[str] = []
        self.reason = "watching for changes"

    @property
    def status(self) -> str:
        parts = ["watch"]
        if self.feed.paused:
            parts.append("paused (w resumes)")
        if self.pending:
            parts.append(f"queued: {describe_paths(self.pending)}")
        if self.last_paths:
            parts.append(f"changed: {describe_paths(self.last_paths)}")
        parts.append(self.reason)
        return " · ".join(parts)

    def toggle_pause(self) -> None:
        if self.feed.paused:
            self.feed.resume()
        else:
            self.feed.pause()

    def clear(self) -> None:
        self.last_paths = []
        self.reason = "watching for changes"

    def poll(self, *, active: bool, failed: list[str]) -> tuple[str, list[str]] | None:
        """Take new changes; when no run is active, return the run to start (kind, nodeids)."""
        batch = self.feed.take()
        if batch is not None:
            self.pending += [p for p in batch.paths if p not in self.pending]
        if active or not self.pending:
            return None
        paths, self.pending = self.pending, []
        self.last_paths = paths
        selection = self.feed.select(ChangeBatch(paths), failed)
        self.reason = selection.reason
        if selection.full_run:
            return ("all", [])
        if not selection.tests:
            self.reason = f"{selection.reason} · nothing to run"
            return None
        return ("selection", list(selection.tests))


def narrow_to_filter(
    kind: str, entries: list[str], shows: Callable[[str], bool], known: Iterable[str]
) -> list[str]:
    """A cycle's tests (``entries``: node ids, or files for whole files; ``kind`` "all" for
    a full run) limited to those ``shows`` keeps. A file or a full run stands for the
    ``known`` node ids in it; a file with none known (a new one) is kept whole: what it
    holds is unknown until it runs, and the table then shows only what the filter keeps."""
    by_file: dict[str, list[str]] = {}
    for nodeid in known:
        by_file.setdefault(nodeid.split("::", 1)[0], []).append(nodeid)
    if kind == "all":
        return [n for nodeids in by_file.values() for n in nodeids if shows(n)]
    kept: list[str] = []
    for entry in entries:
        if "::" in entry:
            if shows(entry):
                kept.append(entry)
            continue
        path = entry.rstrip("/")
        inside = by_file.get(path)
        if inside is None:  # a directory
            inside = [n for f, ns in by_file.items() if f.startswith(f"{path}/") for n in ns]
        if inside:
            kept += [n for n in inside if shows(n)]
        else:
            kept.append(entry)
    return list(dict.fromkeys(kept))
