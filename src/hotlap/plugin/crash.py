"""Why an xdist worker died, told by the controller (part of the ``hang`` extension).

xdist only says "Not properly terminated". The controller started the worker, so it can ask
the worker's ``Popen`` for the exit code or signal. While a worker is alive the controller
also keeps its own handle on the worker's capture files (pytest captures into unlinked
temporary files, reachable through ``/proc/<pid>/fd``), so after a crash it can still read
what the crashed test printed. A worker that killed itself because its test hung leaves its
reason and last stack in the fault directory. Processes the dead worker's tests started are
killed (found by their :data:`~hotlap.plugin.hang.ENV_OWNER` marker).

The result is put on the node as ``hotlap_crash_reason`` for the controller's emitter.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
from typing import Any, BinaryIO

import pytest

from hotlap.channel import ENV_FAULT_DIR, note_path
from hotlap.plugin.hang import kill_owned
from hotlap.plugin.sink import sink_from_env
from hotlap.plugin.text import clean

#: Bytes of each captured stream kept in a crash reason.
TAIL_BYTES = 4096
#: Set by a controller that the app drives: workers write faulthandler's dump of a fatal
#: error (segfault, abort) to the fault directory, where the crash reason picks it up.
ENV_FATAL = "HOTLAP_FAULT_FATAL"
_FATAL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
_EXPORT_OPTIONS = ("hotlap_json", "hotlap_durations", "hotlap_record")
_SIGNAL_HINTS = {
    signal.SIGKILL: "killed from outside, e.g. by the OOM killer",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "abort",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGTERM: "terminated",
}


#: xdist's "error" for a worker whose session ended with KeyboardInterrupt (a test raised it,
#: or Ctrl-C reached the worker): the worker is alive and exits normally, so it is no crash
#: to explain, and waiting for its exit code held the run up for 5 s.
INTERRUPTED = "keyboard-interrupt"


def hotlap_active(config: pytest.Config) -> bool:
    """Whether hotlap drives this run (app socket) or writes exports."""
    if sink_from_env("controller") is not None:
        return True
    return any(config.getoption(name, None) for name in _EXPORT_OPTIONS)


def exit_description(returncode: int | None) -> str:
    """``killed by signal SIGSEGV (segmentation fault)``, ``exit code 3``, or ""."""
    if returncode is None:
        return ""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return f"killed by signal {-returncode}"
        hint = _SIGNAL_HINTS.get(sig)
        return f"killed by signal {sig.name}" + (f" ({hint})" if hint else "")
    return f"exit code {returncode}"


def _popen(node: Any) -> Any:
    io = getattr(getattr(node, "gateway", None), "_io", None)
    return getattr(io, "popen", None)


def capture_fds(config: pytest.Config) -> dict[str, int]:
    """The fds of pytest's capture files in this process (fd capture only), by stream."""
    capman = config.pluginmanager.get_plugin("capturemanager")
    capturing = getattr(capman, "_global_capturing", None)
    fds = {}
    for name, attr in (("stdout", "out"), ("stderr", "err")):
        tmpfile = getattr(getattr(capturing, attr, None), "tmpfile", None)
        try:
            fd = tmpfile.fileno() if tmpfile is not None else None
        except (OSError, ValueError, AttributeError):
            fd = None
        if isinstance(fd, int):
            fds[name] = fd
    return fds


def prepare_worker(config: pytest.Config) -> None:
    """Tell the controller (through the fault directory) how to explain this worker's death.

    Between tests pytest points fds 1 and 2 back at the real streams, so the controller
    cannot find the capture files by looking at them: it gets their own fd numbers. Under the
    app, faulthandler's dump of a fatal error goes to a file there too (pytest would print it
    on the worker's stderr, which only the app's log of pytest's output shows).
    """
    directory = os.environ.get(ENV_FAULT_DIR)
    if not directory:
        return
    fds = capture_fds(config)
    if fds:
        text = "".join(f"{name} {fd}\n" for name, fd in fds.items())
        with contextlib.suppress(OSError), open(_fds_path(directory, os.getpid()), "w") as f:
            f.write(text)
    if os.environ.get(ENV_FATAL) == "1":
        import faulthandler

        with contextlib.suppress(OSError):
            # A bare descriptor, open until the process ends (faulthandler keeps only the
            # fd): a file object would be collected at exit and say "unclosed file" in the
            # user's output when ResourceWarning is shown (filterwarnings = error).
            fatal = os.open(_fatal_path(directory, os.getpid()), _FATAL_FLAGS, 0o644)
            faulthandler.enable(file=fatal, all_threads=False)


def _fatal_path(directory: str, pid: int) -> str:
    return os.path.join(directory, f"{pid}.fatal")


def _fds_path(directory: str, pid: int) -> str:
    return os.path.join(directory, f"{pid}.fds")


def _read_fds(directory: str, pid: int) -> list[tuple[str, int]]:
    try:
        with open(_fds_path(directory, pid), encoding="ascii") as f:
            rows = [line.split() for line in f]
    except (OSError, ValueError):
        return []
    return [(row[0], int(row[1])) for row in rows if len(row) == 2 and row[1].isdigit()]


def _open_capture(pid: int, fd: int) -> BinaryIO | None:
    """Our own handle on the worker's fd ``fd`` if it is pytest's capture file."""
    path = f"/proc/{pid}/fd/{fd}"
    try:
        st = os.stat(path)
        # Only an unlinked regular file is pytest's capture: never a pipe or a user's log.
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 0:
            return None
        return open(path, "rb")  # held until the worker goes down
    except OSError:
        return None


def read_tail(f: BinaryIO, limit: int = TAIL_BYTES) -> str:
    """The last ``limit`` bytes of ``f`` as text (bad bytes replaced), "" if unreadable."""
    try:
        size = os.fstat(f.fileno()).st_size
        data = os.pread(f.fileno(), limit, max(0, size - limit))
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return ("[…]" + text) if size > limit else text


class CrashForensics:
    """Controller-side hooks that explain a dead worker."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        given = os.environ.get(ENV_FAULT_DIR, "")
        # The app may give the directory (so it can ask a worker to kill its test); else
        # make one. Workers are spawned after configure and inherit the environment.
        self.owned = not os.path.isdir(given)
        self.directory = tempfile.mkdtemp(prefix="hotlap-faults-") if self.owned else given
        os.environ[ENV_FAULT_DIR] = self.directory
        self.app_driven = sink_from_env("controller") is not None
        if self.app_driven:
            os.environ[ENV_FATAL] = "1"
        self._captures: dict[str, list[tuple[str, BinaryIO]]] = {}
        config.add_cleanup(self.close)

    def close(self) -> None:
        """Release the capture handles and the fault directory."""
        for files in self._captures.values():
            for _, f in files:
                f.close()
        self._captures.clear()
        if self.app_driven:
            os.environ.pop(ENV_FATAL, None)
        if self.owned:
            if os.environ.get(ENV_FAULT_DIR) == self.directory:
                del os.environ[ENV_FAULT_DIR]
            shutil.rmtree(self.directory, ignore_errors=True)

    def pytest_testnodeready(self, node: Any) -> None:
        popen = _popen(node)
        if popen is None:
            return
        files = []
        for name, fd in _read_fds(self.directory, popen.pid):
            f = _open_capture(popen.pid, fd)
            if f is not None:
                files.append((name, f))
        self._captures[str(node.gateway.id)] = files

    @pytest.hookimpl(tryfirst=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        files = self._captures.pop(str(getattr(node.gateway, "id", "")), [])
        try:
            if error and error != INTERRUPTED:
                node.hotlap_crash_reason = self.reason(node, error, files)
        finally:
            for _, f in files:
                f.close()

    def reason(self, node: Any, error: Any, files: list[tuple[str, BinaryIO]]) -> str:
        """The one-paragraph explanation of a dead worker."""
        popen = _popen(node)
        returncode = None
        if popen is not None:
            with contextlib.suppress(Exception):
                returncode = popen.wait(timeout=5.0)
        parts = []
        note = ""
        if popen is not None:
            path = note_path(self.directory, popen.pid)
            with contextlib.suppress(OSError):
                with open(path, encoding="utf-8", errors="replace") as note_file:
                    note = note_file.read()
                os.unlink(path)
            # What the dead worker's tests started is now an orphan: end it.
            kill_owned(popen.pid)
        if note:  # the worker's watchdog killed it (a hang limit or the app's request)
            parts.append(note.rstrip("\n"))
        else:
            described = exit_description(returncode)
            parts.append(f"worker crashed: {described}" if described else f"worker {error}")
        fatal = self._fatal(popen.pid) if popen is not None else ""
        if fatal:
            parts.append(f"--- fatal error ---\n{fatal}")
        for name, f in files:
            tail = read_tail(f)
            if tail.strip():
                parts.append(f"--- last captured {name} ---\n{tail.rstrip()}")
        return clean("\n".join(parts))

    def _fatal(self, pid: int) -> str:
        """faulthandler's dump of a fatal error in worker ``pid`` (under the app), or ""."""
        path = _fatal_path(self.directory, pid)
        try:
            with open(path, "rb") as f:
                text = read_tail(f, 2 * TAIL_BYTES)
            os.unlink(path)
        except OSError:
            return ""
        return _trim_fatal(text.strip())


def _trim_fatal(text: str) -> str:
    """faulthandler's dump up to pytest's own frames (innermost calls come first)."""
    kept = []
    for line in text.splitlines():
        if "/_pytest/" in line or "/pluggy/" in line:
            kept.append("  …")
            break
        kept.append(line)
    return "\n".join(kept)
