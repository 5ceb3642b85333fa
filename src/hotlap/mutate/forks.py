"""The fork server of the mutation worker: commands in, one forked child per command, each
child's verdict out. Standard library only (loaded by path, like the worker).

A child runs in its own process group (killed whole at its deadline), dies with its parent
(``PR_SET_PDEATHSIG`` on Linux), reads nothing, prints nothing, and reports on its own pipe:
``start`` per test, ``fail`` per failing test, then ``end`` with its status. A child that
exits without ``end`` while a test ran crashed its process: the mutant is detected.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import time
from typing import Any


# -- output -----------------------------------------------------------------------------------
def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        try:
            written = os.write(fd, data)
        except InterruptedError:
            continue
        data = data[written:]


_PRCTL: Any = None


def _load_prctl() -> None:
    """Load ``prctl`` in the server, once: importing ctypes in each child cost 15-30 ms of
    every mutant (load 9)."""
    global _PRCTL
    with contextlib.suppress(Exception):
        import ctypes

        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """Linux: SIGKILL when the parent dies, so no child outlives a killed run."""
    with contextlib.suppress(Exception):
        if _PRCTL is not None:
            _PRCTL(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


# -- what a child reports ---------------------------------------------------------------------
class Probe:
    """pytest hooks of a child: each test's start, failure and time, to the child's pipe."""

    def __init__(self) -> None:
        self.fd = -1
        self.failed: list[str] = []
        self.outcomes: dict[str, list[Any]] = {}
        self.stop_first = True
        #: A fresh session's child: report and leave when the session finishes (pytest's
        #: unconfigure then collects the garbage of the whole forked heap twice, ~0.1 s).
        self.exit_at_finish = False

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        if self.fd >= 0:
            _send(self.fd, {"t": "start", "n": nodeid})

    def pytest_runtest_logreport(self, report: Any) -> None:
        if self.fd < 0:
            return
        entry = self.outcomes.setdefault(report.nodeid, ["passed", 0.0])
        entry[1] += float(getattr(report, "duration", 0.0) or 0.0)
        if report.failed:
            entry[0] = "failed"
            if report.nodeid not in self.failed:
                self.failed.append(report.nodeid)
                _send(self.fd, {"t": "fail", "n": report.nodeid, "when": report.when})
        elif report.skipped and entry[0] == "passed":
            entry[0] = "skipped"

    def pytest_collectreport(self, report: Any) -> None:
        if self.fd >= 0 and report.failed:
            nodeid = report.nodeid or "<collection>"
            self.failed.append(nodeid)
            _send(self.fd, {"t": "fail", "n": nodeid, "when": "collect"})

    def pytest_sessionfinish(self, session: Any) -> None:
        if self.exit_at_finish and self.fd >= 0:
            self.end("killed" if self.failed else ("survived" if self.outcomes else "error"))
            os._exit(0)

    def end(self, status: str, message: str = "") -> None:
        _send(
            self.fd,
            {
                "t": "end",
                "status": status,
                "failed": self.failed,
                "outcomes": self.outcomes,
                "message": message,
            },
        )


# -- the server loop (both modes) ---------------------------------------------------------------
class Child:
    def __init__(self, cmd: dict[str, Any], pid: int, fd: int) -> None:
        self.cmd = cmd
        self.pid = pid
        self.fd = fd
        self.buf = b""
        self.started = time.monotonic()
        timeout = cmd.get("timeout")
        self.deadline = self.started + float(timeout) if timeout else None
        self.current = ""
        self.ran: list[str] = []
        self.end: dict[str, Any] | None = None
        self.timed_out = False
        self.status: int | None = None
        self.eof = False


class Server:
    """Reads commands, forks a child per command, reports each child's verdict."""

    def __init__(self, in_fd: int, out_fd: int, run_child: Any) -> None:
        self.in_fd = in_fd
        self.out = out_fd
        self.run_child = run_child
        self.children: dict[int, Child] = {}
        self.by_fd: dict[int, Child] = {}
        self.sel = selectors.DefaultSelector()
        self.inbuf = b""
        _load_prctl()

    def feed(self, data: bytes) -> None:
        """Commands that arrived with the first line."""
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            if line.strip():
                self._command(json.loads(line))

    def send(self, message: dict[str, Any]) -> None:
        _send(self.out, message)

    def serve(self) -> None:
        os.set_blocking(self.in_fd, False)
        self.sel.register(self.in_fd, selectors.EVENT_READ)
        open_ = True
        while open_ or self.children:
            # A child whose pipe ended is exiting: look again shortly, not at the next tick
            # (its verdict waited up to 50 ms, per mutant: 0.2-0.5 s of a 22-mutant run).
            exiting = any(c.eof and c.status is None for c in self.children.values())
            timeout = 0.002 if exiting else 0.05
            for events in self.sel.select(timeout):
                key = events[0]
                if key.fd == self.in_fd:
                    open_ = self._read_commands()
                    if not open_:
                        self.sel.unregister(self.in_fd)
                        self._kill_all()
                else:
                    self._read_child(self.by_fd[key.fd])
            self._reap()
            self._check_deadlines()

    def _read_commands(self) -> bool:
        try:
            data = os.read(self.in_fd, 1 << 16)
        except BlockingIOError:
            return True
        if not data:
            return False
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            if line.strip():
                self._command(json.loads(line))
        return True

    def _command(self, cmd: dict[str, Any]) -> None:
        if cmd.get("op") == "cancel":
            for child in list(self.children.values()):
                if child.cmd.get("id") == cmd.get("id"):
                    self._kill(child)
            return
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                os.close(read_fd)
                os.setpgid(0, 0)
                _die_with_parent()
                for fd in [*self.by_fd, self.in_fd, self.out]:
                    os.close(fd)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                self.run_child(cmd, write_fd)
            except BaseException as exc:  # report, never return into the server's loop
                try:
                    _send(write_fd, {"t": "end", "status": "error", "message": repr(exc)[:500]})
                except Exception:
                    code = 3
            finally:
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        child = Child(cmd, pid, read_fd)
        self.children[pid] = child
        self.by_fd[read_fd] = child
        self.sel.register(read_fd, selectors.EVENT_READ)

    def _read_child(self, child: Child) -> None:
        try:
            data = os.read(child.fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            child.eof = True
            self.sel.unregister(child.fd)
            del self.by_fd[child.fd]
            os.close(child.fd)
            self._finish_if_done(child)
            return
        child.buf += data
        while b"\n" in child.buf:
            line, child.buf = child.buf.split(b"\n", 1)
            try:
                message = json.loads(line)
            except ValueError:
                continue
            kind = message.get("t")
            if kind == "start":
                child.current = message["n"]
                child.ran.append(message["n"])
            elif kind == "end":
                child.end = message

    def _reap(self) -> None:
        while self.children:
            # Find an exited child without reaping it: until it is reaped, its pid (and the
            # id of its process group) cannot be reused, so killing that group below can
            # only reach what its tests left running, never a stranger's processes.
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            pid = info.si_pid
            child = self.children.get(pid)
            if child is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)  # its process group: what the tests left
            _, status = os.waitpid(pid, 0)
            if child is None:
                continue
            child.status = status
            if not child.eof:
                # Drain what it wrote; a grandchild may hold the pipe open: do not wait.
                self._read_child(child)
                if not child.eof:
                    self.sel.unregister(child.fd)
                    del self.by_fd[child.fd]
                    os.close(child.fd)
                    child.eof = True
            self._finish_if_done(child)

    def _finish_if_done(self, child: Child) -> None:
        if child.status is None or not child.eof or child.pid not in self.children:
            return
        del self.children[child.pid]
        seconds = time.monotonic() - child.started
        end = child.end or {}
        result: dict[str, Any] = {
            "ev": "done",
            "id": child.cmd.get("id"),
            "seconds": round(seconds, 4),
            "tests_run": len(child.ran),
            "outcomes": end.get("outcomes", {}),
            "message": end.get("message", ""),
        }
        if child.timed_out:
            result.update(status="timeout", killed_by=[child.current] if child.current else [])
        elif child.end is not None:
            result.update(status=end["status"], killed_by=end.get("failed", [])[:1])
        else:
            status = child.status
            how = (
                f"signal {os.WTERMSIG(status)}"
                if os.WIFSIGNALED(status)
                else f"exit code {os.WEXITSTATUS(status)}"
            )
            if child.current:  # the test crashed its process: the mutant is detected
                result.update(status="killed", killed_by=[child.current], message=f"crash: {how}")
            else:
                result.update(status="error", killed_by=[], message=f"child ended: {how}")
        self.send(result)

    def _kill(self, child: Child) -> None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for child in list(self.children.values()):
            if child.deadline is not None and now > child.deadline and not child.timed_out:
                child.timed_out = True
                self._kill(child)

    def _kill_all(self) -> None:
        for child in list(self.children.values()):
            self._kill(child)
