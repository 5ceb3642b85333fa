"""The threads hotlap runs in a test process (the hang watch, the sink's flusher).

What they do is not the running test's: the hazard recorder's audit hook sees every thread's
``open``, and the hang watch looks for its kill-request file five times a second, which made
each test that ran that long "read" the file (``hotlap safety`` listed it). :data:`IDS` names
them while they run.

They also step aside while a lone pytest process (no xdist) forks, on Python 3.12+: it warns
``DeprecationWarning: This process … is multi-threaded, use of fork() may lead to deadlocks in
the child`` when the process has other threads, so a test that forks (itself, or through
``multiprocessing``'s "fork" start method) got warnings under hotlap that plain pytest does
not give. Before the fork each pausable thread is stopped and joined; they start again at
hotlap's next event in the process (:func:`resume`: when the test ends, at the latest),
not in the fork's after-hook, which Python runs before it counts the threads. A
hang watch that kills (``--kill-after``) is never paused: a test that forks and then hangs must
still end. xdist's workers are left alone: execnet's own thread makes the warning plain
pytest's there too.
"""

from __future__ import annotations

import _thread
import os
import sys
import threading
import weakref
from collections.abc import Callable

from hotlap.real import read_head, real

#: ``threading.get_ident()`` of each of hotlap's threads while it runs.
IDS: set[int] = set()

#: Longest a fork waits for one of hotlap's threads to stop (seconds).
PAUSE_WAIT = 0.5
#: Longest a fork waits, after the joins, for the system to count the threads gone.
GONE_WAIT = 0.02

_THREADS: weakref.WeakSet[OwnThread] = weakref.WeakSet()
#: Threads a fork stopped, started again by :func:`resume`.
PAUSED: list[OwnThread] = []
_stepping_aside = False


class OwnThread:
    """A thread of hotlap's running ``body(halt)``, which returns once ``halt`` is set
    (``while not halt.wait(seconds): ...``): for good (:meth:`stop`), or while the process
    forks (``pausable``).

    Started with :mod:`_thread`, as execnet starts its own, so that ``threading.enumerate()``
    and ``threading.active_count()`` show a test what plain pytest shows: a fixture that joins
    every thread but the main one waited for hotlap's forever. The body must not call
    ``threading.current_thread()`` (that would register it), and like a daemon thread it ends
    with the interpreter."""

    def __init__(self, body: Callable[[threading.Event], None], pausable: bool = True) -> None:
        self.body = body
        self.pausable = pausable
        self.done = threading.Event()
        self._halt = threading.Event()
        self._running = _thread.allocate_lock()  # held while the body runs
        self._ident = 0
        _THREADS.add(self)

    def start(self) -> None:
        if self.done.is_set():
            return
        halt = self._halt = threading.Event()
        running = self._running = _thread.allocate_lock()
        running.acquire()
        body = self.body

        def run() -> None:
            ident = self._ident = _thread.get_ident()
            IDS.add(ident)
            try:
                body(halt)
            except Exception:  # nothing of hotlap's may reach a test's hooks
                pass
            finally:
                IDS.discard(ident)  # an ident may be reused by a thread a test starts
                running.release()

        try:
            _thread.start_new_thread(run, ())
        except RuntimeError:  # no thread can start (interpreter shutting down)
            running.release()

    def is_alive(self) -> bool:
        return self._running.locked()

    def stop(self) -> None:
        """For good: the thread ends at its next wait."""
        self.done.set()
        self._halt.set()

    def _pausable_now(self) -> bool:
        return (
            self.pausable
            and not self.done.is_set()
            and self.is_alive()
            and self._ident != _thread.get_ident()
        )

    def _pause(self) -> bool:
        self._halt.set()
        running = self._running
        if running.acquire(timeout=PAUSE_WAIT):
            running.release()
            return True
        return False


def resume() -> None:
    """Start again the threads a fork paused (from hotlap's hooks, in the tests' thread)."""
    if PAUSED:
        paused, PAUSED[:] = list(PAUSED), []
        for thread in paused:
            thread.start()


def _os_threads() -> int:
    """Threads of this process as the system counts them (Python's check on Linux), or 0."""
    try:  # in the forking test's thread: by functions it cannot have patched (a mocked open)
        data = read_head("/proc/self/stat", 4096)
        return int(data.rsplit(b")", 1)[1].split()[17])
    except (OSError, ValueError, IndexError):
        return 0


def _before_fork() -> None:
    running = [t for t in list(_THREADS) if t._pausable_now()]
    if not running:
        return  # nothing to stop: no read of /proc on every fork
    before = _os_threads()
    paused = [t for t in running if t._pause()]
    PAUSED.extend(paused)
    if paused and before:
        # A joined thread may still be leaving the kernel for a moment.
        deadline = real.monotonic() + GONE_WAIT
        while _os_threads() > before - len(paused) and real.monotonic() < deadline:
            real.sleep(0.0002)


def _after_in_child() -> None:
    PAUSED.clear()
    for thread in list(_THREADS):
        thread.done.set()  # the child has none of them, and starts none


def step_aside_at_fork() -> None:
    """From now on, hotlap's pausable threads stop while this process forks (Python 3.12+
    only: the versions that warn). Once per process."""
    global _stepping_aside
    if _stepping_aside or sys.version_info < (3, 12) or not hasattr(os, "register_at_fork"):
        return
    _stepping_aside = True
    os.register_at_fork(before=_before_fork, after_in_child=_after_in_child)
