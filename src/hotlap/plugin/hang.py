"""Hang stacks and hang kills, in the process that runs the tests.

Activated by ``--hotlap-hang-after SECONDS`` / ``HOTLAP_HANG_AFTER`` (stacks) and
``--hotlap-kill-after SECONDS`` / ``HOTLAP_KILL_AFTER`` (kills). A daemon thread watches the
test that runs now; once it has run longer than the hang limit, the thread formats the main
thread's Python stack (``sys._current_frames``) and sends it as a :class:`HangStack` event,
again every :data:`REFRESH` seconds while the test still runs.

At the kill limit the thread sends a last stack headed ``hung: killed after Ns``, leaves the
same text in the fault directory for the controller (:mod:`hotlap.plugin.crash`), kills every
process the test started (the tree below this one, and anything carrying this worker's
:data:`ENV_OWNER` marker that escaped the tree), then ``os._exit`` s: xdist reports the test
as crashed, replaces the worker and the run goes on. Without xdist there is no one to replace
this process, so the thread kills the children and raises ``Failed`` in the main thread
instead.

On the controller, :func:`configure` installs :class:`~hotlap.plugin.crash.CrashForensics`,
which names the signal or exit code of a dead worker and the tail of its captured output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
import warnings
from typing import Any

import pytest

from hotlap.channel import ENV_FAULT_DIR, kill_request_path, note_path
from hotlap.plugin.own_threads import OwnThread, resume
from hotlap.plugin.role import Role, worker_id
from hotlap.plugin.sink import Sink, sink_from_env
from hotlap.plugin.text import bounded, clean
from hotlap.real import read_head, real

# hotlap.protocol is imported where a stack is sent: a plugin that never sends must not pay.

ENV_HANG_AFTER = "HOTLAP_HANG_AFTER"
ENV_KILL_AFTER = "HOTLAP_KILL_AFTER"
#: Set in every test process to its own pid; children inherit it, so a process a test
#: started is found and killed even after it left the process tree.
ENV_OWNER = "HOTLAP_TEST_OWNER"
#: Seconds between two stacks of the same hanging test (less when the hang limit is shorter).
REFRESH = 2.0
#: Exit code of a worker that killed itself because its test hung (as ``timeout(1)``).
HANG_EXIT = 124
#: Signal that makes the main thread of a single process fail its hung test: a real-time one
#: where there are (Linux), which no test expects to find in use, as it may SIGUSR1/2.
_FAIL_SIGNAL = signal.SIGRTMAX - 1 if hasattr(signal, "SIGRTMAX") else signal.SIGUSR2


def addoption(parser: pytest.Parser) -> None:
    """``--hotlap-hang-after`` and ``--hotlap-kill-after``."""
    group = parser.getgroup("hotlap")
    group.addoption(
        "--hotlap-hang-after",
        type=float,
        metavar="SECONDS",
        default=None,
        help=f"send the Python stack of a test running longer than SECONDS (env {ENV_HANG_AFTER})",
    )
    group.addoption(
        "--hotlap-kill-after",
        type=float,
        metavar="SECONDS",
        default=None,
        help=f"kill a test (and its processes) running longer than SECONDS (env {ENV_KILL_AFTER})",
    )


def setting(config: pytest.Config, option: str, env: str) -> float | None:
    """A positive number of seconds from the option, else the environment, else None."""
    value: Any = config.getoption(option, None)
    if value is None:
        value = os.environ.get(env) or None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds > 0 else None


def configure(config: pytest.Config, role: Role) -> None:
    """Start the watchdog on a test process, the crash forensics on a controller."""
    if role is Role.CONTROLLER:
        from hotlap.plugin.crash import CrashForensics, hotlap_active

        if hotlap_active(config):
            config.pluginmanager.register(CrashForensics(config), "hotlap-crash-forensics")
        return
    if role is Role.WORKER and sink_from_env(worker_id(config)) is not None:
        from hotlap.plugin.sanitize import WarningSanitizer

        config.pluginmanager.register(WarningSanitizer(), "hotlap-warning-sanitizer")
    if role is Role.WORKER and os.environ.get(ENV_FAULT_DIR):
        from hotlap.plugin.crash import prepare_worker

        # The controller finds what this worker's tests started by this marker after a crash.
        os.environ[ENV_OWNER] = str(os.getpid())
        prepare_worker(config)
    hang_after = setting(config, "hotlap_hang_after", ENV_HANG_AFTER)
    kill_after = setting(config, "hotlap_kill_after", ENV_KILL_AFTER)
    if hang_after is None and kill_after is None:
        return
    from hotlap.plugin.crash import hotlap_active

    explicit = any(
        config.getoption(name, None) is not None
        for name in ("hotlap_hang_after", "hotlap_kill_after")
    )
    if not explicit and not hotlap_active(config):
        return  # limits inherited through the environment by a pytest hotlap does not drive
    watch = HangWatch(config, role, hang_after, kill_after)
    config.pluginmanager.register(watch, "hotlap-hang-watch")
    config.add_cleanup(watch.stop)
    watch.start()


#: Frames of pytest's own machinery, left out at the top of a stack.
_MACHINERY = (
    "/_pytest/",
    "/pluggy/",
    "/execnet/",
    "/xdist/",
    "/hotlap/plugin/",
    "/pytest/__main__.py",
    "/bin/pytest",
    "/bin/py.test",
    "runpy.py",
    "<frozen ",
    "<string>",
    "<socket server>",  # execnet's socket server (a worker started with --tx socket=)
)


def format_stack(thread_id: int) -> str:
    """The Python stack of thread ``thread_id``, innermost call last ("" if it is gone).

    The outer frames of pytest, pluggy, xdist and execnet are dropped: they are the same in
    every stack and would push the test's own frames out of view.
    """
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return ""
    frames = traceback.extract_stack(frame)
    first = 0
    while first < len(frames) and any(part in frames[first].filename for part in _MACHINERY):
        first += 1
    if first == len(frames):
        first = 0
    return "".join(traceback.format_list(frames[first:]))


def _owned(pid: int) -> list[Any]:
    """Processes below ``pid``, plus those marked as started by a test in ``pid``."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return []
    found: dict[int, Any] = {}
    try:
        for child in psutil.Process(pid).children(recursive=True):
            found[child.pid] = child
    except psutil.Error:
        pass
    marker = str(pid)
    for proc in psutil.process_iter():
        if proc.pid in found or proc.pid == pid:
            continue
        try:
            if proc.environ().get(ENV_OWNER) == marker:
                found[proc.pid] = proc
        except psutil.Error:
            continue
    return list(found.values())


def describe_children(pid: int) -> str:
    """One line per process the test started (pid and command line), or ""."""
    lines = []
    for proc in _owned(pid):
        try:
            cmd = " ".join(proc.cmdline()) or proc.name()
        except Exception:
            cmd = "?"
        lines.append(f"  child pid {proc.pid}: {cmd[:200]}")
    return "processes started by the test:\n" + "\n".join(lines) + "\n" if lines else ""


def kill_owned(pid: int) -> int:
    """SIGKILL every process ``pid``'s tests started (tree and marked); how many were hit."""
    procs = _owned(pid)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.kill()
    try:
        import psutil

        psutil.wait_procs(procs, timeout=2.0)
    except Exception:
        pass
    return len(procs)


class HangWatch:
    """Tracks the running test; its thread sends stacks and does the kill."""

    def __init__(
        self,
        config: pytest.Config,
        role: Role,
        hang_after: float | None,
        kill_after: float | None,
    ) -> None:
        self.config = config
        self.role = role
        self.worker = worker_id(config)
        self.pid = os.getpid()
        self.hang_after = hang_after if hang_after is not None else kill_after
        self.kill_after = kill_after
        self.refresh = min(REFRESH, max(0.5, self.hang_after or REFRESH))
        self._current: tuple[str, float] | None = None
        # The thread that runs the tests is the one configuring pytest: not always the
        # process's main thread (execnet's socket server runs a worker in one of its own).
        self._main = threading.get_ident()
        # A watch that kills is never paused by a fork: a test that forks, then hangs, ends.
        self._thread = OwnThread(self._run, pausable=kill_after is None)
        self._sink: Sink | None = None
        self._failing = ""
        os.environ[ENV_OWNER] = str(self.pid)
        self.directory = os.environ.get(ENV_FAULT_DIR, "")
        if role is Role.SINGLE and (kill_after is not None or self.directory):
            # Only the main thread may install a handler; configure runs there.
            signal.signal(_FAIL_SIGNAL, self._fail_in_main)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()

    # -- hooks (main thread) ---------------------------------------------------------------
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._current = (nodeid, real.monotonic())
        resume()  # a test before this one forked: the watch starts again

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self._current = None

    def _fail_in_main(self, signum: int, frame: Any) -> None:
        __tracebackhide__ = True
        if self._failing:
            reason, self._failing = self._failing, ""
            # End what the test started here, in the main thread, before the test fails: done
            # from the watchdog thread it raced the main thread, which could finish the run
            # and exit first, leaving the children behind.
            kill_owned(self.pid)
            pytest.fail(reason, pytrace=True)

    # -- the watchdog thread ---------------------------------------------------------------
    def _sink_now(self) -> Sink | None:
        if self._sink is None:
            sink = sink_from_env(self.worker)
            if sink is None:
                # A plain ``pytest --hotlap-json`` run without xdist: its in-process sink.
                local = self.config.pluginmanager.get_plugin("hotlap-local-exports")
                sink = getattr(local, "sink", None)
            self._sink = sink
        return self._sink

    def _send(self, nodeid: str, elapsed: float, stack: str) -> None:
        sink = self._sink_now()
        if sink is not None:
            from hotlap.protocol import HangStack

            event = HangStack(
                self.worker, self.pid, real.monotonic(), clean(nodeid), elapsed, stack
            )
            sink.send(event)

    def _run(self, halt: threading.Event) -> None:
        assert self.hang_after is not None
        tick = min(0.2, self.hang_after / 4)
        sent_for: tuple[str, float] | None = None
        next_send = 0.0
        while not halt.wait(tick):
            requested = self._kill_requested()
            current = self._current
            if current is None:
                continue
            nodeid, started = current
            now = real.monotonic()
            elapsed = now - started
            if requested or (self.kill_after is not None and elapsed >= self.kill_after):
                self._kill(nodeid, elapsed, requested)
                sent_for, next_send = current, now + self.refresh
                continue
            if elapsed < self.hang_after:
                continue
            if sent_for != current or now >= next_send:
                stack = format_stack(self._main) + describe_children(self.pid)
                self._send(nodeid, elapsed, bounded(stack))
                sent_for, next_send = current, now + self.refresh

    def _kill_requested(self) -> str:
        """The reason the app asked this process to kill its test for (see :func:`request_kill`)."""
        if not self.directory:
            return ""
        path = kill_request_path(self.directory, self.pid)
        # Five times a second beside the running test: by functions a test cannot have patched
        # (a mocked ``open`` would count these calls), and a stat first, which raises no audit
        # event (a test's audit hook would see an ``open``): the file is opened only once the
        # app has asked.
        try:
            real.stat(path)
            data = read_head(path, 65536)
            real.unlink(path)
        except OSError:
            return ""
        reason = data.decode("utf-8", "replace").strip()
        return reason or "killed on request"

    def _kill(self, nodeid: str, elapsed: float, head: str = "") -> None:
        head = head or f"hung: killed after {self.kill_after or elapsed:g}s"
        stack = bounded(f"{head}\n{format_stack(self._main)}{describe_children(self.pid)}")
        if self.role is not Role.WORKER:
            # Without xdist no one would replace this process: fail the test in the main
            # thread instead (the signal interrupts sleeps and waits), then end its children.
            if self._current is not None and self._current[0] == nodeid:
                self._current = (nodeid, float("inf"))  # once per test
                self._failing = head
                signal.pthread_kill(self._main, _FAIL_SIGNAL)
                self._send(nodeid, elapsed, stack)
                kill_owned(self.pid)
            return
        if self.directory:
            path = note_path(self.directory, self.pid)
            with contextlib.suppress(OSError), open(path, "w", encoding="utf-8") as f:
                f.write(stack)
        self._send(nodeid, elapsed, stack)
        if self._sink is not None:
            self._sink.close()
        _exit_then_kill([proc.pid for proc in _owned(self.pid)])


def _exit_then_kill(pids: list[int]) -> None:
    """End this process, then ``pids``, in that order.

    Killed first, a child the test waits for would let the test go on and pass before this
    process exits (on a loaded machine the main thread gets the GIL back in between), and the
    next test would be blamed. So a forked killer waits for this process to die, then kills.
    """
    parent = os.getpid()
    killer = -1
    if pids:
        # Python 3.12+ warns about fork in a threaded process; under -W error that warning
        # would raise here, in the parent, after the fork. This process ends right after.
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")
            killer = os.fork()
    if killer == 0:  # the killer: plain system calls only
        try:
            deadline = real.monotonic() + 5.0
            while os.getppid() == parent and real.monotonic() < deadline:
                real.sleep(0.005)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            os._exit(0)
    if killer < 0:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    os._exit(HANG_EXIT)
