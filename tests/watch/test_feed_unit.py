"""The watch feed in-process: filters, pause/resume, queueing, the polling fallback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hotlap.watch.feed import ChangeBatch
from hotlap.watch.watcher import FileWatcher, PathFilter, ProjectWatchFeed, watch_roots


def test_path_filter(tmp_path: Path) -> None:
    """Swap/backup files, caches, venvs and git-ignored paths are ignored, unless a test
    reads the file."""
    (tmp_path / ".gitignore").write_text("*.log\n/out/\nsecret.txt\n")
    f = PathFilter(tmp_path, keep=lambda rel: rel == "data/secret.txt")
    yes = ["src/mod.py", "tests/data/x.json", "data/secret.txt"]
    no = [
        "src/.mod.py.swp",
        "src/mod.py~",
        "src/.#mod.py",
        "src/4913",
        ".venv/lib/x.py",
        "src/__pycache__/m.pyc",
        ".hotlap/impact.sqlite3",
        "run.log",
        "out/report.txt",
        "other/secret.txt",
    ]
    for rel in yes:
        assert f(str(tmp_path / rel)), rel
    for rel in no:
        assert not f(str(tmp_path / rel)), rel


def test_watch_roots_skip_venvs_and_caches(tmp_path: Path) -> None:
    """Only useful top-level directories are watched recursively, plus hidden ones that
    hold a file a test reads."""
    for name in ("src", "tests", ".git", "node_modules", "build", "myenv", ".hotlap", ".data"):
        (tmp_path / name).mkdir()
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("")
    assert [p.name for p in watch_roots(tmp_path)] == ["src", "tests"]
    assert [p.name for p in watch_roots(tmp_path, {".data/x.json"})] == [".data", "src", "tests"]


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[ProjectWatchFeed]:
    """A feed over an empty project, its watcher running."""
    (tmp_path / "src").mkdir()
    f = ProjectWatchFeed(tmp_path, [], debounce_ms=50)
    assert f.wait_ready(10)
    yield f
    f.close()


def _take(feed: ProjectWatchFeed, timeout: float = 10.0) -> ChangeBatch | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = feed.take()
        if batch is not None:
            return batch
        time.sleep(0.05)
    return None


def test_pause_keeps_changes_until_resume(tmp_path: Path, feed: ProjectWatchFeed) -> None:
    """While paused nothing is handed out, and nothing is dropped either."""
    feed.pause()
    assert feed.paused
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    deadline = time.monotonic() + 10
    while not feed.has_pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert feed.take() is None
    feed.resume()
    batch = _take(feed)
    assert batch is not None and batch.paths == ["src/a.py"]


def test_temp_file_of_an_atomic_save_is_not_reported(
    tmp_path: Path, feed: ProjectWatchFeed
) -> None:
    """write-temp-then-rename reports the target only."""
    target = tmp_path / "src" / "b.txt"
    tmp = tmp_path / "src" / "b.txt.part"
    tmp.write_text("new")
    tmp.replace(target)
    batch = _take(feed)
    assert batch is not None and batch.paths == ["src/b.txt"]


def test_requeue_joins_the_next_batch(tmp_path: Path, feed: ProjectWatchFeed) -> None:
    """A cancelled run's paths come back with the next change."""
    (tmp_path / "src" / "c.py").write_text("")
    feed.requeue(["src/old.py"])
    batch = _take(feed)
    assert batch is not None and "src/old.py" in batch.paths


def test_watch_limit_falls_back_to_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError from the OS watcher (the inotify limit) switches to polling with a clear
    message, and changes are still seen."""
    import watchfiles

    real = watchfiles.watch
    calls: list[Any] = []

    def limited(*paths: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("force_polling"))
        if not kwargs.get("force_polling"):
            raise OSError(28, "OS file watch limit reached")
        return real(*paths, **kwargs)

    monkeypatch.setattr(watchfiles, "watch", limited)
    notices: list[str] = []
    seen: list[list[str]] = []
    (tmp_path / "src").mkdir()
    watcher = FileWatcher(tmp_path, seen.append, debounce_ms=50, notice=notices.append)
    watcher.start()
    try:
        assert watcher.wait_ready(10)
        # The poller's first scan may come after a first write (it then counts as there
        # from the start): keep changing the file until a batch names it.
        deadline = time.monotonic() + 10
        n = 0
        while not seen and time.monotonic() < deadline:
            n += 1
            (tmp_path / "src" / "d.py").write_text(f"y = {n}\n")
            time.sleep(0.5)
    finally:
        watcher.close()
    assert any("falling back to polling" in n for n in notices)
    assert True in calls
    assert any(str(tmp_path / "src" / "d.py") in paths for paths in seen)


def test_feed_keeps_the_impact_store_open(tmp_path: Path) -> None:
    """While the feed lives, a selection's connection is not the last one to the WAL
    database, so closing it does not checkpoint and delete the WAL (that cost ~20 ms per
    save); the feed's close lets the WAL go."""
    from hotlap.impact.engine import compute_selection

    feed = ProjectWatchFeed(tmp_path, [], debounce_ms=50)
    wal = tmp_path / ".hotlap" / "impact.sqlite3-wal"
    try:
        compute_selection(tmp_path, [])
        assert wal.exists()
    finally:
        feed.close()
    assert not wal.exists()
