"""Runs whose dependency files wait to be merged into ``.hotlap/impact.sqlite3``.

Merging a run (resolving every recorded function to its block, the static import closures,
one transaction) takes a large suite a few tenths of a second: too long to keep the user
waiting for pytest's summary line, or for hotlap to exit. So a run ends by writing what the
merge needs besides the plugin's per-process files (the tests' outcomes, the collection
errors, pytest's arguments) into the run's directory, ``.hotlap/impact-tmp/<run>/``, and the
merge happens on a background thread while pytest shuts down. If hotlap exits first (or is
killed), nothing is lost: the directory stays, and the next hotlap command that needs the
data, or the next run, merges it, oldest first.

A directory is claimed for merging by renaming it (``<run>.merging-<pid>``), so two hotlap
processes never merge the same run; a claim whose process is gone is taken over.
"""

from __future__ import annotations

import contextlib
import os
import time
from _thread import allocate_lock
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import threading

# msgspec is imported where a run is marked or merged: hotlap imports this module before it
# starts pytest.

#: The file that makes a run's directory ready to merge (written last, atomically).
INFO = "run.info"
_INFO_VERSION = 1
_CLAIM = ".merging-"

# threading and shutil are imported where they are used: ``hotlap affected`` imports this
# module for merge_pending and is timed per saved file.
_lock = allocate_lock()
_thread: threading.Thread | None = None


def base_dir(project: Path) -> Path:
    return project / ".hotlap" / "impact-tmp"


def mark_ready(
    directory: Path,
    outcomes: dict[str, str],
    collect_errors: list[str],
    pytest_args: list[str],
    ran: list[str] | None = None,
) -> None:
    """Record what the merge of this run needs besides the plugin's files (``ran``: the
    absolute test paths pytest was given, [] for all, None when unknown)."""
    info = {
        "version": _INFO_VERSION,
        "outcomes": outcomes,
        "collect_errors": collect_errors,
        "pytest_args": pytest_args,
        "ended_ns": time.time_ns(),
        "ran": ran,
    }
    import msgspec

    tmp = directory / (INFO + ".tmp")
    tmp.write_bytes(msgspec.json.encode(info))
    os.replace(tmp, directory / INFO)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's too): the owner of a claim."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claimable(base: Path) -> list[Path]:
    """Ready runs and abandoned claims, oldest first."""
    found: list[tuple[float, Path]] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    for entry in entries:
        name = entry.name
        if _CLAIM in name:
            pid = name.rsplit(_CLAIM, 1)[1]
            if not pid.isdigit() or int(pid) == os.getpid() or alive(int(pid)):
                continue
        try:
            found.append(((entry / INFO).stat().st_mtime, entry))
        except OSError:
            continue  # a run still going, or one a killed hotlap left unfinished
    return [entry for _, entry in sorted(found)]


def _claim(entry: Path) -> Path | None:
    name = entry.name.split(_CLAIM, 1)[0]
    claimed = entry.with_name(f"{name}{_CLAIM}{os.getpid()}")
    try:
        os.rename(entry, claimed)
    except OSError:
        return None  # another hotlap took it
    return claimed


_COST = "merge-cost"


def merge_pending(project: Path) -> list[str]:
    """Merge every ready run of ``project`` into its store, oldest first; the messages of
    the merges (failures included: a merge never raises)."""
    with _lock:
        messages: list[str] = []
        for entry in _claimable(base_dir(project)):
            claimed = _claim(entry)
            if claimed is None:
                continue
            began = time.thread_time()
            try:
                messages += _merge(project, claimed)
                with contextlib.suppress(OSError):
                    cost = f"{time.thread_time() - began:.3f}\n"
                    (base_dir(project) / _COST).write_text(cost, encoding="ascii")
            except Exception as exc:  # never break a run or a command for impact data
                messages.append(f"impact: could not record a run ({exc})")
            finally:
                import shutil

                shutil.rmtree(claimed, ignore_errors=True)
        return messages


def last_merge_cost(project: Path) -> float:
    """CPU seconds the last merge of one run took (0.0: none known)."""
    try:
        return float((base_dir(project) / _COST).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return 0.0


def last_run_written(project: Path) -> dict[str, str] | None:
    """``{absolute path: checksum}`` of the files the newest run still waiting to be merged
    wrote, as its processes left them; None when no run waits (the store then says what the
    last run wrote), or when its processes did not say (older ones). Read without merging,
    from the small files beside the per-process ones."""
    waiting = _claimable(base_dir(project))
    if not waiting:
        return None
    try:
        return left_by(waiting[-1])
    except (OSError, ValueError):
        return None  # claimed by a merge meanwhile, or unreadable: merge and read the store


def left_by(
    directory: Path, processes: list[dict[str, Any]] | None = None
) -> dict[str, str] | None:
    """What a run's processes left in the files they wrote: each file's checksum from the
    process that ended last among those that wrote it. Processes too old to have said are
    read now from ``processes`` (their files); without them, None."""
    import json  # as the process files: they may hold escaped lone surrogates

    from hotlap.impact import WRITES_SUFFIX

    said = [json.loads(path.read_bytes()) for path in directory.glob(f"*{WRITES_SUFFIX}")]
    if not said:
        if processes is None:
            return None
        from hotlap.impact.blocks import file_digest

        return {f: file_digest(f) for proc in processes for f in proc.get("written", [])}
    found: dict[str, str] = {}
    for data in sorted(said, key=lambda d: int(d.get("ended_ns", 0))):
        found.update((k, v) for k, v in data.get("digests", {}).items() if isinstance(v, str))
    return found


def _merge(project: Path, directory: Path) -> list[str]:
    import msgspec

    from hotlap.impact.fingerprint import fingerprint
    from hotlap.impact.merge import merge_run, read_process_files
    from hotlap.impact.store import open_store

    info: dict[str, Any] = msgspec.json.decode((directory / INFO).read_bytes())
    if info.get("version") != _INFO_VERSION:
        return []
    processes = read_process_files(directory)
    if not processes:
        return []
    root = Path(processes[0]["root"])
    store = open_store(project)
    try:
        messages = list(store.warnings)
        fp = fingerprint(root, list(info["pytest_args"]), project)
        messages += merge_run(
            store,
            directory,
            dict(info["outcomes"]),
            fp,
            list(info["collect_errors"]),
            processes,
            _relative(info.get("ran"), root),
        )
        return messages
    finally:
        store.close()


def _relative(ran: list[str] | None, root: Path) -> list[str] | None:
    """Absolute test paths as the store's root-relative ones (None: one outside it)."""
    if ran is None:
        return None
    found = []
    for path in ran:
        file, sep, rest = path.partition("::")
        rel = os.path.relpath(file, root)
        if rel.startswith(".."):
            return None
        found.append(Path(rel).as_posix() + sep + rest)
    return found


def merge_in_background(project: Path) -> None:
    """Start merging ``project``'s ready runs on a daemon thread (see :func:`settle`)."""
    global _thread
    import threading

    thread = threading.Thread(
        target=merge_pending, args=(project,), name="hotlap-impact-merge", daemon=True
    )
    thread.start()
    _thread = thread


def settle(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for a background merge; whether none is left running.
    One that goes on when the process exits is rolled back and done again next time."""
    thread = _thread
    if thread is None:
        return True
    thread.join(max(0.0, timeout))
    return not thread.is_alive()


def remove_stale(project: Path, age: float = 86400.0) -> None:
    """Run directories a killed hotlap left unfinished (no ``run.info``), over a day old."""
    base = base_dir(project)
    try:
        entries = list(base.iterdir())
    except OSError:
        return
    import shutil

    now = time.time()
    for entry in entries:
        with contextlib.suppress(OSError):
            if not (entry / INFO).exists() and now - entry.stat().st_mtime > age:
                shutil.rmtree(entry, ignore_errors=True)
