"""``RunSession``: one live pytest run, as an :class:`~hotlap.runner.source.EventSource`.

pytest runs as ``python -m pytest -p hotlap …`` in a new session (its own process group), with
the event socket's address and token in its environment. Its output is read on a thread and
kept (the tail), so the summary line and any usage error can be shown afterwards. Events
arrive on the socket thread; resource samples on the sampler thread; all wait in queues
until a view drains them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hotlap.runner.process import kill_tree, stop_group
from hotlap.runner.server import EventServer

if TYPE_CHECKING:
    from hotlap.protocol import Event

#: Lines of pytest's output kept for the end of the run (its closing sections: a failing test
#: that printed 6,000 lines made 5,000 lose every traceback).
OUTPUT_TAIL = 50_000

#: Seconds the output reader sleeps after a small read (see ``_read_output``).
OUTPUT_COALESCE = 0.01
#: Bytes from one read that mean output is flowing: read again at once.
OUTPUT_BULK = 8192

#: This machine's name, as the plugin's events give theirs.
_HOST = socket.gethostname()

_SUMMARY = re.compile(r"^=*\s*((?:no tests ran|\d+ \w+).*? in [\d.]+s(?: \([\d:]+\))?)\s*=*\s*$")

#: SGR escapes (colours, bold) as pytest's ``--color=yes`` writes them.
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain_text(line: str) -> str:
    """``line`` without colour escapes."""
    return _SGR.sub("", line) if "\x1b" in line else line


def parse_summary_line(line: str) -> str | None:
    """pytest's final summary ("1 failed, 2 passed in 0.12s") from one output line, coloured
    or not."""
    match = _SUMMARY.match(plain_text(line).strip())
    return match.group(1) if match else None


#: Bytes of pytest arguments above which they go to pytest in an ``@file``.
ARGS_IN_FILE = 100_000


def _pytest_reads_argfiles() -> bool:
    """pytest 8.2+ reads ``@file`` arguments (one per line)."""
    try:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("pytest").split(".")[:2])
    except Exception:  # no metadata, a version like "9.0.dev1+g…"
        return False
    return (major, minor) >= (8, 2)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        import psutil

        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except Exception:
        return False


def unbuffered(command: list[str]) -> list[str]:
    """``python -m pytest …`` as ``python -u -m pytest …``: its output reaches the app as
    pytest writes it. The flag, unlike ``PYTHONUNBUFFERED``, is not inherited: a process a
    test starts buffers its output as under plain pytest (a child's stdout and stderr
    interleave in the same order)."""
    if command[1:3] == ["-m", "pytest"]:
        return [command[0], "-u", *command[1:]]
    return command


class RunSession:
    """Starts pytest, streams its events, cancels it cleanly."""

    def __init__(
        self,
        pytest_args: list[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        *,
        command: list[str] | None = None,
        sample: bool = True,
        sample_interval: float = 0.5,
        on_drain: Callable[[list[Event]], None] | None = None,
    ) -> None:
        from hotlap.runner.command import WorkerChoice, pytest_command

        self.pytest_args = list(pytest_args)
        self.cwd = Path(cwd)
        self.extra_env = dict(env or {})
        self.command = command or pytest_command(self.pytest_args, WorkerChoice([], -1, ""))
        self.sample = sample
        self.sample_interval = sample_interval
        self._on_drain = on_drain
        self.cancelled = False
        self.server: EventServer | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self._output: deque[str] = deque(maxlen=OUTPUT_TAIL)
        self._lines_seen = 0
        self._output_lock = threading.Lock()  # the tail and its count change together
        self._summary = self._summary_text = ""
        self._reader: threading.Thread | None = None
        self._sampler: object | None = None
        self._extra: deque[Event] = deque()
        self._worker_pids: dict[int, str] = {}
        self._saw_finish = False
        self._current: dict[str, str] = {}  # worker -> nodeid running now
        self._ended_at: float | None = None
        self._done = False
        self.fault_dir = ""

    # -- EventSource ----------------------------------------------------------------------
    def start(self) -> None:
        if self.proc is not None:  # started already (the CLI starts it before the loop does)
            return
        self.server = EventServer().start()
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(self.server.env())
        # The pytest started here is the run's (its parent is this process); a pytest that
        # one of its tests starts is not (plugin/gate.py).
        env["HOTLAP_APP_PID"] = str(os.getpid())
        env.pop("HOTLAP_PARENT_PID", None)
        # Where the kill key leaves its requests for a worker's watchdog (plugin/hang.py).
        self.fault_dir = os.path.join(self.server.directory, "faults")
        os.mkdir(self.fault_dir, 0o700)
        env.setdefault("HOTLAP_FAULT_DIR", self.fault_dir)
        # The subclasses' _spawn read self.command: the long form is swapped in meanwhile,
        # and the command as given stays what the run reports.
        command, self.command = self.command, self._argfile_command(self.command)
        try:
            self.proc = self._spawn(env)
        finally:
            self.command = command
        if self.proc.stdout is not None:  # a run in the foreground writes to the terminal
            self._reader = threading.Thread(
                target=self._read_output, name="hotlap-output", daemon=True
            )
            self._reader.start()
        if self.sample:
            self._start_sampler()

    def _argfile_command(self, command: list[str]) -> list[str]:
        """``command`` with its trailing node ids in an ``@file`` when they are many (the
        tests a filter shows) and pytest reads one (8.2+): Linux refuses a command line of
        more than ~2 MB. Options stay on the command line: pytest looks for ``-p`` there
        before it reads the file. The file is in the run's private directory."""
        start = len(command)
        while start > 3 and "::" in command[start - 1] and not command[start - 1].startswith("-"):
            start -= 1
        before = command[start - 1]
        if start < len(command) and before.startswith("-") and "=" not in before:
            start += 1  # that first node id may be the option's value: it stays with it
        ids = command[start:]
        if (
            sum(len(a) + 1 for a in ids) < ARGS_IN_FILE
            or command[1:3] != ["-m", "pytest"]
            or any("\n" in a for a in ids)
            or self.server is None
            or not _pytest_reads_argfiles()
        ):
            return command
        path = os.path.join(self.server.directory, "args")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(ids) + "\n")
        return [*command[:start], f"@{path}"]

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``self.command`` in its own session, output piped, stdin closed (a
        subclass may hand it to a process started beforehand: hotlap.watch.spare)."""
        return subprocess.Popen(
            unbuffered(self.command),
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def drain(self) -> list[Event]:
        events = self.server.drain() if self.server is not None else []
        while self._extra:
            events.append(self._extra.popleft())
        for event in events:
            self._track(event)
        if events and self._on_drain is not None:
            self._on_drain(events)
        return events

    def poll(self) -> int | None:
        if self._done:
            return self.returncode
        if self.proc is None or self.proc.poll() is None:
            return None
        now = time.monotonic()
        if self._ended_at is None:
            self._ended_at = now
        server = self.server
        # Workers may still be flushing their last events: wait for their connections to
        # close, but not forever (a grandchild may hold a socket open).
        if server is not None and server.open_connections and now - self._ended_at < 2.0:
            return None
        if self._reader is not None and self._reader.is_alive() and now - self._ended_at < 2.0:
            return None  # pytest's last output lines (the summary) are still being read
        self._finish()
        return None  # the synthesized events still need draining

    def cancel(self) -> None:
        """SIGINT to pytest's process group, then TERM, then KILL: all within ~1 s."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self.cancelled = True
        stop_group(proc)

    @property
    def summary_line(self) -> str:
        return self._summary

    @property
    def summary_text(self) -> str:
        return self._summary_text

    @property
    def output(self) -> str:
        return "\n".join(self._output)

    @property
    def output_cut(self) -> int:
        return self._lines_seen - len(self._output)

    def output_since(self, seen: int) -> tuple[list[str], int]:
        """The output lines after the first ``seen`` pytest printed (those still kept), and
        how many it printed: a copy of the new lines only, for a relay that reads often."""
        with self._output_lock:
            total = self._lines_seen
            new = min(total - seen, len(self._output))
            lines = list(itertools.islice(reversed(self._output), max(0, new)))
        lines.reverse()
        return lines, total

    # -- extras ---------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def worker_pids(self) -> dict[int, str]:
        """pid -> lane id of the processes known to run tests."""
        return dict(self._worker_pids)

    def kill_worker(self, worker: str, reason: str = "killed from hotlap") -> bool:
        """Kill the test ``worker`` runs, and its process tree; xdist replaces the worker.

        The worker's own watchdog does it when it can (it reports ``reason`` with the test's
        last stack); otherwise, or if the worker is still there after 2 s, SIGKILL its tree.
        Blocks up to ~2 s: call it off a UI thread.
        """
        pids = [pid for pid, lane in self.worker_pids().items() if lane == worker]
        if not pids:
            return False
        pid = pids[-1]
        if self.fault_dir:
            try:
                from hotlap.channel import request_kill

                request_kill(self.fault_dir, pid, reason)
            except (ImportError, OSError):
                pass
            else:
                deadline = time.monotonic() + 2.0
                while time.monotonic() < deadline and _alive(pid):
                    time.sleep(0.05)
        if _alive(pid):
            kill_tree(pid)
        return True

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the run is over (for callers with no view); drained events are kept."""
        deadline = None if timeout is None else time.monotonic() + timeout
        kept: list[Event] = []
        while True:
            kept.extend(self.drain())
            self.poll()
            if self._done:
                # poll() returns None on the call that finishes the run (its synthesized
                # events still need draining), so the code is read off the session.
                kept.extend(self.drain())
                self._extra.extend(kept)
                return self.returncode
            if deadline is not None and time.monotonic() > deadline:
                self._extra.extend(kept)
                return None
            time.sleep(0.02)

    def close(self) -> None:
        """Cancel if still running and release the socket and threads."""
        self.cancel()
        self._stop_sampler()
        if self.server is not None:
            self.server.close()

    # -- internals ------------------------------------------------------------------------
    def _track(self, event: Event) -> None:
        kind = event.kind
        if kind == "worker_start" and getattr(event, "host", "") in ("", _HOST):
            # A worker on another host (--tx ssh=, socket=) has a pid of that host: not one to
            # sample or kill here.
            self._worker_pids[event.pid] = event.worker
        elif kind == "session_finish":
            self._saw_finish = True
        if kind == "test_start":
            self._current[event.worker] = getattr(event, "nodeid", "")
        elif kind == "test_done" or (
            kind == "test_report" and getattr(event, "when", "") == "teardown"
        ):
            self._current.pop(event.worker, None)

    def _read_output(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        partial = b""
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            except OSError:
                data = b""
            if not data:
                break
            *lines, partial = (partial + data).split(b"\n")
            for raw in lines:
                self._line(raw)
            # Let output pile up in the pipe: a reader waiting on it is woken by every write,
            # and pytest writes (and flushes) a progress character per test, each write then
            # costing its process ~0.2 ms here instead of a few microseconds. A big read
            # means output is flowing (``-s``, a chatty test): keep reading, or the writer
            # would block on a full pipe.
            if len(data) < OUTPUT_BULK and proc.poll() is None:
                time.sleep(OUTPUT_COALESCE)
        if partial:
            self._line(partial)
        # Read to its end: closed here, by its only reader (left to the collector, it would
        # say "unclosed file" where ResourceWarning is shown: -X dev, PYTHONWARNINGS).
        with contextlib.suppress(OSError):
            proc.stdout.close()

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        with self._output_lock:
            self._output.append(line)
            self._lines_seen += 1
        summary = parse_summary_line(line)
        if summary:
            self._summary, self._summary_text = summary, line

    def _finish(self) -> None:
        from hotlap.protocol import SessionFinish, WorkerCrash

        proc = self.proc
        assert proc is not None
        code = proc.returncode
        self._stop_sampler()
        for event in self.server.drain() if self.server is not None else []:
            self._extra.append(event)
            self._track(event)
        reason = ""
        if code is not None and code < 0:
            sig = -code
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            reason = f"pytest was killed by {name}"
            code = 2 if self.cancelled else 128 + sig
        elif code:
            reason = f"pytest exited with code {code} before the session finished"
        if reason and not self.cancelled and not self._saw_finish:
            # pytest itself died (os._exit or a crash in a run without xdist): name the tests
            # that were running, so they are not left "running" forever.
            for worker, nodeid in self._current.items():
                self._extra.append(
                    WorkerCrash(
                        "app",
                        os.getpid(),
                        time.monotonic(),
                        crashed_worker=worker,
                        nodeid=nodeid,
                        reason=reason,
                    )
                )
        if not self._saw_finish:
            self._extra.append(
                SessionFinish("app", os.getpid(), time.monotonic(), exitstatus=int(code or 0))
            )
        self.returncode = int(code or 0)
        if self.server is not None:
            self.server.close()
        self._done = True

    def _start_sampler(self) -> None:
        try:
            from hotlap.resources.sampler import ResourceSampler, SamplerThread
        except ImportError:
            return
        proc = self.proc
        assert proc is not None
        thread = SamplerThread(
            ResourceSampler(proc.pid, interval=self.sample_interval),
            self.worker_pids,
            self._extra.append,
            interval=self.sample_interval,
        )
        thread.start()
        self._sampler = thread

    def _stop_sampler(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            with contextlib.suppress(Exception):
                sampler.stop()  # type: ignore[attr-defined]
