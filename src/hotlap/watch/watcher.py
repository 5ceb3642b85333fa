"""The project's file watcher (watchfiles on a thread) and the :class:`WatchFeed` over it.

Changes are accumulated, never dropped: while paused, or while a run is going on, they wait
in ``pending`` until :meth:`ProjectWatchFeed.take`. Editors' swap and backup files are
ignored; an atomic save (temp file + rename) shows up as the real file changing.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hotlap.impact.selection import Selection
from hotlap.impact.store import ImpactStore, open_store
from hotlap.paths import SKIP_DIRS
from hotlap.watch.feed import ChangeBatch

#: How long a burst of changes must pause before it is handed on, in ms. watchfiles yields
#: once its set of changes stopped growing for one ``step`` (so a lone save waits one to two
#: steps, not the whole debounce); ``debounce`` only caps how long a burst that keeps growing
#: is held. An editor's save (temp file, rename, chmod) takes well under a millisecond; 20 ms
#: still groups it, while a one-file save is seen after ~35 ms instead of ~75 ms (step=50).
QUIET_MS = 20

_SWAP = re.compile(
    r"(\.sw[a-p]$|\.swx$|~$|^\.#|^#.*#$|^4913$|\.tmp$|\.bak$|^\.goutputstream-|___jb_...___$"
    r"|^\.DS_Store$|^\.~lock\.|\.py[cod]$|\.orig$|\.crdownload$|^flycheck_)"
)


def _gitignore(root: Path) -> list[str]:
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    # Negations are not supported: a "!" line makes us ignore less, never more.
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "!"))]


class PathFilter:
    """Which changed paths matter (True) to the tests of the project at ``root``."""

    def __init__(self, root: Path, keep: Callable[[str], bool] | None = None) -> None:
        self.root = root
        self.patterns = _gitignore(root)
        self.keep = keep or (lambda rel: False)

    def rel(self, path: str) -> str | None:
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, OSError):
            return None

    def _ignored_by_git(self, rel: str) -> bool:
        parts = rel.split("/")
        for pattern in self.patterns:
            anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
            pat = pattern.strip("/")
            dir_only = pattern.endswith("/")
            if anchored:
                for i in range(1, len(parts) + 1):
                    if fnmatch.fnmatch("/".join(parts[:i]), pat) and (
                        i < len(parts) or not dir_only
                    ):
                        return True
            else:
                for i, part in enumerate(parts):
                    if fnmatch.fnmatch(part, pat) and (i < len(parts) - 1 or not dir_only):
                        return True
        return False

    def __call__(self, path: str) -> bool:
        rel = self.rel(path)
        if rel is None or rel == ".":
            return False
        parts = rel.split("/")
        if _SWAP.search(parts[-1]):
            return False
        if any(p in SKIP_DIRS or p.endswith(".egg-info") for p in parts[:-1]):
            return False
        if self.keep(rel):  # a data file a test reads, even if git ignores it
            return True
        return not self._ignored_by_git(rel)


def watch_roots(root: Path, tracked: set[str] | frozenset[str] = frozenset()) -> list[Path]:
    """Top-level directories worth watching recursively (no venvs, caches, build dirs),
    plus any that hold a file a test reads (``tracked``, root-relative)."""
    wanted = {rel.split("/", 1)[0] for rel in tracked if "/" in rel} - {".git", ".hotlap"}
    found = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.is_dir():
            continue
        skipped = (
            entry.name in SKIP_DIRS
            or entry.name.endswith(".egg-info")
            or entry.name.startswith(".")
            or (entry / "pyvenv.cfg").exists()
        )
        if not skipped or entry.name in wanted:
            found.append(entry)
    return found


class FileWatcher:
    """watchfiles on a daemon thread: the root (not recursive) and its useful subdirectories
    (recursive). Falls back to polling when the OS watch limit is hit."""

    def __init__(
        self,
        root: Path,
        on_paths: Callable[[list[str]], None],
        *,
        debounce_ms: int = 300,
        notice: Callable[[str], None] | None = None,
        force_polling: bool = False,
        tracked: set[str] | None = None,
    ) -> None:
        self.root = root
        self.tracked = tracked or set()
        self.on_paths = on_paths
        self.debounce_ms = max(1, debounce_ms)
        self.notice = notice or (lambda msg: None)
        self.force_polling = force_polling
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self._ready: list[threading.Event] = []

    def start(self) -> None:
        specs: list[tuple[list[Path], bool]] = [([self.root], False)]
        subdirs = watch_roots(self.root, self.tracked)
        if subdirs:
            specs.append((subdirs, True))
        for paths, recursive in specs:
            ready = threading.Event()
            self._ready.append(ready)
            thread = threading.Thread(
                target=self._run, args=(paths, recursive, ready), name="hotlap-watch", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Block until every watch thread has its OS watches in place (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        return all(r.wait(max(0.0, deadline - time.monotonic())) for r in self._ready)

    def _run(self, paths: list[Path], recursive: bool, ready: threading.Event) -> None:
        import watchfiles

        polling = self.force_polling
        while not self.stop_event.is_set():
            try:
                for changes in watchfiles.watch(
                    *paths,
                    watch_filter=None,
                    debounce=self.debounce_ms,
                    step=min(QUIET_MS, self.debounce_ms),
                    stop_event=self.stop_event,
                    recursive=recursive,
                    force_polling=polling,
                    poll_delay_ms=100,
                    yield_on_timeout=True,
                    rust_timeout=200,
                    raise_interrupt=False,
                ):
                    # The first yield (a timeout at the latest) means the watches are set up.
                    ready.set()
                    if changes:
                        self.on_paths(sorted({path for _change, path in changes}))
                return
            except OSError as exc:
                if polling:
                    self.notice(f"file watching failed ({exc}); watch stopped")
                    ready.set()
                    return
                polling = True
                self.notice(
                    f"the OS file-watch limit was hit ({exc}); falling back to polling "
                    "(slower; raise fs.inotify.max_user_watches to avoid it)"
                )
            except RuntimeError as exc:  # watchfiles reports some backend errors this way
                if polling or "limit" not in str(exc).lower():
                    self.notice(f"file watching failed ({exc}); watch stopped")
                    ready.set()
                    return
                polling = True
                self.notice(f"the OS file-watch limit was hit ({exc}); falling back to polling")

    def close(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=2.0)


class ProjectWatchFeed:
    """The :class:`~hotlap.watch.feed.WatchFeed` of one project: a watcher thread plus
    impact selection."""

    def __init__(
        self,
        project: Path,
        pytest_args: list[str],
        *,
        debounce_ms: int = 300,
        notice: Callable[[str], None] | None = None,
        force_polling: bool = False,
        no_impact: bool = False,
    ) -> None:
        from hotlap.impact.engine import root_of, tracked_files

        self.no_impact = no_impact
        self.project = project
        self.pytest_args = list(pytest_args)
        self.root = root_of(project)
        self.filter = PathFilter(self.root, keep=self._known)
        self._known_files: set[str] = tracked_files(project)
        self._lock = threading.Lock()
        self._pending: dict[str, None] = {}
        self._paused = False
        self.changed = threading.Event()  # set whenever something is pending
        self.notices: list[str] = []
        self._notice = notice
        # Held open, idle, for the whole session: closing the *last* connection to a WAL
        # database checkpoints it and deletes the WAL (~20 ms here), which each selection
        # (and each recording) paid before its run; with this one open they close at once.
        self._pin: ImpactStore | None = None
        if not no_impact:
            with contextlib.suppress(OSError, sqlite3.Error):
                self._pin = open_store(project)
                for warning in self._pin.warnings:  # a corrupt store it moved aside
                    self._on_notice(warning)
        self.watcher = FileWatcher(
            self.root,
            self._on_paths,
            debounce_ms=debounce_ms,
            notice=self._on_notice,
            force_polling=force_polling,
            tracked=self._known_files,
        )
        self.watcher.start()

    def _known(self, rel: str) -> bool:
        return rel in self._known_files

    def _on_notice(self, message: str) -> None:
        self.notices.append(message)
        if self._notice is not None:
            self._notice(message)

    def _on_paths(self, paths: list[str]) -> None:
        kept = [p for p in paths if self.filter(p)]
        if not kept:
            return
        with self._lock:
            for path in kept:
                self._pending[path] = None
            self.changed.set()

    # -- WatchFeed --------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def has_pending(self) -> bool:
        """Changes are waiting (paused or not)."""
        with self._lock:
            return bool(self._pending)

    def requeue(self, paths: list[str]) -> None:
        """Put a batch back (its run was cancelled): it joins the next one."""
        with self._lock:
            for path in paths:
                self._pending[str(self.root / path)] = None
            self.changed.set()

    def take(self) -> ChangeBatch | None:
        if self._paused:
            return None
        with self._lock:
            paths, self._pending = list(self._pending), {}
            self.changed.clear()
        rels = []
        for path in paths:
            rel = self.filter.rel(path)
            if rel is None:
                continue
            # A temp file that came and went (atomic saves) is not a change of the project.
            if not os.path.exists(path) and not (rel.endswith(".py") or self._known(rel)):
                continue
            if os.path.isdir(path):
                continue
            rels.append(rel)
        rels = self._not_own_writes(rels)
        return ChangeBatch(sorted(set(rels))) if rels else None

    def _not_own_writes(self, rels: list[str]) -> list[str]:
        """Leave out files the last run's own processes wrote and nobody changed since (a
        test that writes into the project would otherwise rerun itself for ever)."""
        if self.no_impact or not rels:
            return rels
        from hotlap.impact.engine import own_writes, run_writes
        from hotlap.impact.pending import merge_pending

        merge_pending(self.project)  # the run just ended may still be merging
        writes: dict[str, str] = {}
        if self._pin is not None:  # the session's own connection sees the last merge
            with contextlib.suppress(sqlite3.Error, ValueError):
                found = self._pin.get_meta("run_writes", {})
                writes = dict(found) if isinstance(found, dict) else {}
        else:
            writes = run_writes(self.project)
        if not writes:
            return rels
        own = own_writes(self.root, writes, rels)
        return [rel for rel in rels if rel not in own]

    def select(self, batch: ChangeBatch, failed: list[str]) -> Selection:
        from hotlap.impact.engine import compute_selection

        if self.no_impact:
            # Nothing is recorded, so recorded dependencies would go stale: run everything.
            return Selection(True, "impact recording is off (--no-impact)")
        fresh = [str(self.root / p) for p in batch.paths]
        selection, warnings = compute_selection(self.project, self.pytest_args, fresh)
        for warning in warnings:
            self._on_notice(warning)
        if selection.full_run:
            return selection
        tests: dict[str, list[str]] = {}
        for nodeid in failed:
            if (self.root / nodeid.split("::", 1)[0]).is_file():
                tests[nodeid] = ["failed last run"]
        for nodeid, reasons in selection.tests.items():
            known = tests.setdefault(nodeid, [])
            known.extend(r for r in reasons if r not in known)
        if tests and not selection.tests:
            return Selection(False, "failed last run", tests)
        return Selection(False, selection.reason, tests)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Block until the watcher sees changes (its OS watches are in place)."""
        return self.watcher.wait_ready(timeout)

    def close(self) -> None:
        self.watcher.close()
        if self._pin is not None:
            self._pin.close()
            self._pin = None
