"""One cProfile profiler for the calling thread and one for each thread started later.

The profilers count CPU time of their thread (``time.thread_time``), not wall time: on a
shared machine a wall-clock profile mostly measures the time the process was not scheduled.
The timer is a system call (~0.5 us) per profiled call and return, which inflates call-heavy
code more than the default clock does: read the figures as shares of the process's CPU.
"""

from __future__ import annotations

import cProfile
import pstats
import threading
import time
from typing import Any


class _Snapshot:
    """What ``pstats.Stats`` reads, taken without disabling the profiler (its thread may run on)."""

    def __init__(self, profile: cProfile.Profile) -> None:
        profile.snapshot_stats()
        self.stats = profile.stats  # type: ignore[attr-defined]

    def create_stats(self) -> None:
        pass


class Profiles:
    def __init__(self) -> None:
        self.main = cProfile.Profile(time.thread_time)
        self.threads: list[cProfile.Profile] = []
        original = threading.Thread.run
        threads = self.threads

        def run(thread: threading.Thread) -> Any:
            profile = cProfile.Profile(time.thread_time)
            try:
                profile.enable()
            except ValueError:  # 3.12+: one profiler at a time (it sees every thread)
                return original(thread)
            threads.append(profile)
            try:
                return original(thread)
            finally:
                profile.disable()

        threading.Thread.run = run  # type: ignore[method-assign]
        self.main.enable()

    def dump(self, path: str) -> None:
        self.main.disable()
        stats = pstats.Stats(_Snapshot(self.main))  # type: ignore[arg-type]
        for profile in list(self.threads):
            stats.add(_Snapshot(profile))  # type: ignore[arg-type]
        stats.dump_stats(path)
