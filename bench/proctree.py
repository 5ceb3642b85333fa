"""Run a command and account for the CPU time of its whole process tree (a module for the
bench scripts; ``bench/suites.py`` and ``bench/profile_tree.py`` import it).

Two independent measures:

* ``RUSAGE_CHILDREN`` of this process, before and after the run: the CPU of every process of
  the tree that was *waited for* by its parent, up to the command itself. Exact (the kernel's
  own accounting) but blind to a process that its parent never waited for.
* A sampler thread that reads ``/proc/<pid>/stat`` of every process descended from the
  command every ``interval`` seconds, keeping each process's last ``utime + stime``. It sees
  every process, but loses what a process spent after its last sample (at most ``interval``
  of CPU each, more when the machine is so busy the sampler is not scheduled).

The command itself is read once more after it exits and before it is reaped
(``waitid(WNOWAIT)``: a zombie's ``/proc/<pid>/stat`` still holds its own CPU and its
waited-for children's), which splits the exact total into the command's own CPU and its
descendants'.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Stat:
    """The fields of ``/proc/<pid>/stat`` used here (CPU in seconds)."""

    ppid: int
    utime: float
    stime: float
    cutime: float
    cstime: float
    start: int  # clock ticks after boot: with the pid, names a process uniquely


def read_stat(pid: int) -> Stat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses.
    fields = data[data.rindex(b")") + 2 :].split()
    return Stat(
        ppid=int(fields[1]),
        utime=int(fields[11]) / TICK,
        stime=int(fields[12]) / TICK,
        cutime=int(fields[13]) / TICK,
        cstime=int(fields[14]) / TICK,
        start=int(fields[19]),
    )


def read_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


@dataclass
class Proc:
    """One process of the tree as last seen by the sampler."""

    pid: int
    ppid: int
    start: int
    argv: list[str]
    cpu: float = 0.0  # own utime + stime, seconds, at the last sample
    samples: int = 0
    gone: bool = False

    @property
    def role(self) -> str:
        """What the process is, from its command line (guessed; good enough for these trees)."""
        text = " ".join(self.argv)
        if "exec(eval(sys.stdin.readline()))" in text:
            return "worker"  # execnet's popen gateway: an xdist worker
        if "-m pytest" in text or os.path.basename(self.argv[0] if self.argv else "") in (
            "pytest",
            "py.test",
        ):
            return "pytest"
        names = [os.path.basename(a) for a in self.argv[:3]]
        if "hotlap" in names or "hotlap_bench_app.py" in names or "-m hotlap" in text:
            return "app"
        return os.path.basename(self.argv[0]) if self.argv else "?"


class TreeSampler(threading.Thread):
    """Samples the CPU of every descendant of ``root`` (and ``root``) until stopped."""

    def __init__(self, root: int, interval: float = 0.01) -> None:
        super().__init__(daemon=True, name="tree-sampler")
        self.root = root
        self.interval = interval
        self.procs: dict[tuple[int, int], Proc] = {}
        self._stop_event = threading.Event()
        self._outside: set[int] = set()  # pids seen and not in the tree (pid reuse: rare, ignored)
        self.scans = 0

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def _members(self) -> dict[int, Proc]:
        return {p.pid: p for p in self.procs.values() if not p.gone}

    def scan(self) -> None:
        alive = self._members()
        in_tree = {self.root} | set(alive)
        for key, proc in list(self.procs.items()):
            if proc.gone:
                continue
            st = read_stat(proc.pid)
            if st is None or st.start != proc.start:
                proc.gone = True
                continue
            proc.cpu = st.utime + st.stime
            proc.samples += 1
            if proc.samples <= 20:  # a forked child shows its parent's command line until it execs
                proc.argv = read_cmdline(proc.pid) or proc.argv
            self.procs[key] = proc
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return
        # New pids: a child is younger than its parent, so ascending pids find parents first
        # (pid wrap-around aside, which a later scan catches).
        for pid in sorted(pids):
            if pid in alive or pid in self._outside:
                continue
            st = read_stat(pid)
            if st is None:
                continue
            if pid == self.root or st.ppid in in_tree:
                proc = Proc(pid, st.ppid, st.start, read_cmdline(pid), st.utime + st.stime, 1)
                self.procs[(pid, st.start)] = proc
                in_tree.add(pid)
            else:
                self._outside.add(pid)
        self.scans += 1

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.scan()
            self._stop_event.wait(self.interval)


@dataclass
class RunResult:
    argv: list[str]
    wall: float  # seconds, from the spawn to the command's exit
    cpu: float  # RUSAGE_CHILDREN delta: the whole waited-for tree
    returncode: int
    stdout: str
    stderr: str
    root_self: float = 0.0  # the command's own CPU (exact, read from its zombie)
    root_children: float = 0.0  # its waited-for descendants' CPU (exact, same)
    tree: list[Proc] = field(default_factory=list)  # with sample=True

    @property
    def sampled_cpu(self) -> float:
        return sum(p.cpu for p in self.tree)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    *,
    timeout: float = 900.0,
    sample: bool = False,
    interval: float = 0.01,
) -> RunResult:
    """Run ``argv`` to its end; see the module docstring for what is measured."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cpu0 = children_cpu()
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        sampler = TreeSampler(proc.pid, interval) if sample else None
        if sampler is not None:
            sampler.start()
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            wall = time.perf_counter() - start
            zombie = read_stat(proc.pid)
        finally:
            timer.cancel()
        if sampler is not None:
            sampler.stop()
        proc.wait()
        cpu = children_cpu() - cpu0
        out.seek(0)
        err.seek(0)
        result = RunResult(
            argv=argv,
            wall=wall,
            cpu=cpu,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if zombie is not None:
        result.root_self = zombie.utime + zombie.stime
        result.root_children = zombie.cutime + zombie.cstime
    if sampler is not None:
        result.tree = sorted(sampler.procs.values(), key=lambda p: (p.start, p.pid))
        for p in result.tree:  # the command's own CPU is known exactly
            if p.pid == proc.pid and zombie is not None:
                p.cpu = result.root_self
    return result


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGTERM)
    time.sleep(3)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def label_tree(tree: list[Proc]) -> list[tuple[str, Proc]]:
    """(label, process) pairs, in start order: app, pytest (the controller), worker1, ...

    A worker is an execnet child of pytest; a process forked by a worker (same command line)
    is ``forked``; anything else is named by its executable."""
    labels: list[tuple[str, Proc]] = []
    workers = 0
    roles = {p.pid: p.role for p in tree}
    for p in tree:
        role = roles[p.pid]
        if role == "worker":
            if roles.get(p.ppid) == "worker":
                role = "forked"
            else:
                workers += 1
                role = f"worker{workers}"
        labels.append((role, p))
    return labels
