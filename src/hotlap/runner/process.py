"""Stopping processes for good: pytest's process group, a worker's tree."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

# psutil (20 ms to import) is imported where it is used: the app imports this module before
# it starts pytest, and only needs psutil once a run is stopped.

#: Seconds to wait after SIGINT, then after SIGTERM, before SIGKILL.
INT_GRACE = 0.6
TERM_GRACE = 0.3


def _descendants(pid: int) -> list[psutil.Process]:
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _group_alive(pgid: int) -> bool:
    """True while a process of the group still runs.

    ``killpg(pgid, 0)`` also finds zombies: workers orphaned by pytest's exit wait for init
    to reap them (seconds on some machines, forever in a container whose PID 1 never reaps),
    and a zombie runs nothing. So a "yes" from killpg is checked process by process.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process reused the id
        return False
    import psutil

    for member in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError, psutil.Error):
            if member.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(member.pid) == pgid:
                return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group(proc: subprocess.Popen[bytes], pgid: int, timeout: float) -> bool:
    """Wait until the leader is reaped and the group is empty; True if it is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        if proc.returncode is not None and not _group_alive(pgid):
            return True
        time.sleep(0.01)
    proc.poll()
    return proc.returncode is not None and not _group_alive(pgid)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop pytest and everything it started: INT, then TERM, then KILL to its group.

    Descendants that left the group (``setsid`` in a test) are found beforehand with psutil
    and killed at the end, so nothing is orphaned.
    """
    import psutil

    pgid = proc.pid  # started with start_new_session: the leader's pid is the group id
    strays = _descendants(proc.pid)
    for sig, grace in ((signal.SIGINT, INT_GRACE), (signal.SIGTERM, TERM_GRACE)):
        _signal_group(pgid, sig)
        if _wait_group(proc, pgid, grace):
            break
    else:
        _signal_group(pgid, signal.SIGKILL)
        _wait_group(proc, pgid, 1.0)
    strays += _descendants(proc.pid) if proc.returncode is None else []
    for child in strays:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                child.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1.0)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (children first found, then the root)."""
    import psutil

    procs = _descendants(pid)
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        procs.append(psutil.Process(pid))
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.kill()
    psutil.wait_procs(procs, timeout=1.0)
