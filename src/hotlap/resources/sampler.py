"""Sampling the pytest process tree with psutil: CPU % and RSS per lane, and the machine's load.

The app samples about twice a second. ``psutil.Process`` objects are cached by pid because
``cpu_percent()`` measures since the previous call *on the same object*; the first reading of
a new process is meaningless and is reported as 0.0. Processes come and go at any moment
(a test's subprocess, a crashed worker), so every psutil call here tolerates the process
having vanished: a sample is never an exception.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping

import psutil

from hotlap.protocol import ResourceSample
from hotlap.resources.cores import effective_cores

#: What psutil raises for a process that is gone, a zombie, or not ours to read.
_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


class _Tracked:
    """A cached process: its psutil object and the identity that detects pid reuse."""

    __slots__ = ("created", "primed", "proc")

    def __init__(self, proc: psutil.Process, created: float) -> None:
        self.proc = proc
        self.created = created
        self.primed = False


def _created(proc: psutil.Process) -> float | None:
    try:
        return float(proc.create_time())
    except _GONE:
        return None


class ResourceSampler:
    """Takes :class:`ResourceSample` events of the process tree under ``root_pid``."""

    def __init__(self, root_pid: int, interval: float = 0.5) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self._tracked: dict[int, _Tracked] = {}
        self._root: psutil.Process | None = None
        with contextlib.suppress(*_GONE):
            self._root = psutil.Process(root_pid)
        self._procfs = _procfs_children_supported()
        self._cores = effective_cores()
        # Prime the machine-wide counters: their first reading covers no interval.
        with contextlib.suppress(Exception):
            psutil.cpu_percent(percpu=True)

    @property
    def effective_cores(self) -> float:
        return self._cores

    def _tree(self) -> list[tuple[int, float, psutil.Process | None]]:
        """(pid, identity, psutil object if one was made) of the root and its descendants.

        ``identity`` is the process's start time, so a pid reused by a new process is told
        apart from the cached one. On Linux the tree is read from the kernel's per-thread
        ``children`` lists (a few small reads per process); psutil's ``children()`` instead
        reads ``/proc/*/stat`` of every process on the machine, the sampler's main cost on a
        busy box.
        """
        if self._procfs:
            return [(pid, start, None) for pid, start in _procfs_tree(self.root_pid)]
        root = self._root
        if root is None:
            return []
        try:
            procs = [root, *root.children(recursive=True)]
        except _GONE:
            return []
        out: list[tuple[int, float, psutil.Process | None]] = []
        for proc in procs:
            created = _created(proc)
            if created is not None:
                out.append((proc.pid, created, proc))
        return out

    def _track(self, pid: int, identity: float, fresh: psutil.Process | None) -> _Tracked | None:
        """The cached entry for ``pid``, (re)made if it is new or the pid was reused."""
        tracked = self._tracked.get(pid)
        if tracked is not None and tracked.created == identity:
            return tracked
        if fresh is None:
            try:
                fresh = psutil.Process(pid)
            except _GONE:
                return None
        tracked = self._tracked[pid] = _Tracked(fresh, identity)
        return tracked

    def sample(self, workers: Mapping[int, str]) -> ResourceSample:
        """One sample; ``workers`` maps a worker's pid to its lane ("gw0", "main")."""
        readings: dict[int, tuple[int, float, int]] = {}  # pid -> (ppid, cpu %, rss)
        seen: set[int] = set()
        for pid, identity, fresh in self._tree():
            tracked = self._track(pid, identity, fresh)
            if tracked is None:
                continue
            seen.add(pid)
            proc = tracked.proc
            try:
                # oneshot: ppid, CPU times and memory come from one read of /proc/<pid>/stat(m).
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue  # dead, waiting for its parent to reap it: no CPU, no RSS
                    ppid = proc.ppid()
                    cpu = float(proc.cpu_percent(interval=None))
                    rss = int(proc.memory_info().rss)
            except _GONE:
                continue
            if not tracked.primed:
                tracked.primed, cpu = True, 0.0  # the first reading covers no interval
            readings[pid] = (ppid, cpu, rss)
        for pid in list(self._tracked):
            if pid not in seen:
                del self._tracked[pid]

        processes: list[list[object]] = []
        total_cpu, total_rss = 0.0, 0
        for pid, (_, cpu, rss) in readings.items():
            processes.append([pid, _lane_of(pid, readings, workers), cpu, rss])
            total_cpu += cpu
            total_rss += rss
        mem_total, mem_available = _memory()
        return ResourceSample(
            "app",
            os.getpid(),
            time.monotonic(),
            processes=processes,
            total_cpu=total_cpu,
            total_rss=total_rss,
            per_core=_per_core(),
            mem_total=mem_total,
            mem_available=mem_available,
            effective_cores=self._cores,
        )


def _procfs_children_supported() -> bool:
    """Whether the kernel lists each thread's children (Linux with CONFIG_PROC_CHILDREN)."""
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _start_time(pid: int) -> float | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ")".
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return float(fields[19])
    except (IndexError, ValueError):
        return None


def _procfs_tree(root: int) -> list[tuple[int, float]]:
    """(pid, start time) of ``root`` and its live descendants, read from procfs."""
    out: list[tuple[int, float]] = []
    stack, seen = [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        start = _start_time(pid)
        if start is None:
            continue  # gone; like psutil, its orphans are no longer reachable from the root
        out.append((pid, start))
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    stack.extend(int(child) for child in f.read().split())
            except (OSError, ValueError):
                continue
    return out


def _lane_of(
    pid: int, readings: Mapping[int, tuple[int, float, int]], workers: Mapping[int, str]
) -> str:
    """The lane of the nearest ancestor-or-self of ``pid`` that is a worker, else ""."""
    hops = 0
    while pid in readings and hops < 64:  # a bound, in case a reused pid makes a cycle
        lane = workers.get(pid)
        if lane is not None:
            return lane
        pid = readings[pid][0]
        hops += 1
    return ""


def _per_core() -> list[float]:
    try:
        return [float(x) for x in psutil.cpu_percent(percpu=True)]
    except Exception:  # pragma: no cover - /proc/stat unreadable
        return []


def _memory() -> tuple[int, int]:
    try:
        vm = psutil.virtual_memory()
        return int(vm.total), int(vm.available)
    except Exception:  # pragma: no cover - /proc/meminfo unreadable
        return 0, 0


class SamplerThread:
    """Runs a sampler on a daemon thread every ``interval`` seconds until :meth:`stop`.

    ``workers_getter`` is called before each sample for the current pid → lane map, and
    ``on_sample`` receives each sample (on the sampler's thread). An exception from either,
    or from the sampler, skips that sample; nothing is ever raised into the caller.
    """

    def __init__(
        self,
        sampler: ResourceSampler,
        workers_getter: Callable[[], Mapping[int, str]],
        on_sample: Callable[[ResourceSample], None],
        interval: float = 0.5,
    ) -> None:
        self.sampler = sampler
        self.interval = interval
        self.errors = 0
        self._workers = workers_getter
        self._on_sample = on_sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hotlap-sampler", daemon=True)

    def start(self) -> SamplerThread:
        with contextlib.suppress(RuntimeError):  # started twice: keep the first
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and wait for the thread (at most about one interval)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval + 1.0)

    def _run(self) -> None:
        # A fixed cadence (not "sleep after each sample") keeps the chart's time axis even.
        next_t = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t += self.interval
            now = time.monotonic()
            if next_t < now:  # fell behind (suspended machine): don't burst to catch up
                next_t = now + self.interval
            try:
                self._on_sample(self.sampler.sample(dict(self._workers())))
            except Exception:
                self.errors += 1
