"""Where the plugin's events go: the app's socket, or a callback in this process."""

from __future__ import annotations

import _socket
import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hotlap.channel import ENV_LINGER, ENV_SOCKET, ENV_TOKEN
from hotlap.plugin.own_threads import PAUSED, OwnThread, resume
from hotlap.real import real

if TYPE_CHECKING:
    from hotlap.protocol import Event


class Sink:
    """Anything that accepts events. Sending never raises.

    A process forked from this one (a test that forks and whose child goes on running the
    session instead of exiting) sends nothing: its events would count the parent's tests a
    second time. Subclasses drop events once ``_dead`` is true.
    """

    _dead = False
    #: Whether what was sent outlives this process (an app reads it): then a single process
    #: announces each test as it starts, so that the test it died in is known.
    outlives_process = True

    def __init__(self) -> None:
        _SINKS.add(self)

    def send(self, event: Event) -> None:
        raise NotImplementedError

    def send_new(self, cls: type[Event], **fields: Any) -> None:
        """Send ``cls(**fields)``."""
        self.send(cls(**fields))

    def close(self) -> None:
        """Flush and release; later sends are dropped."""

    def set_linger(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` every :data:`LINGER` seconds from a background thread, before
        lazy events are flushed, if this sink has such a thread (the socket sink does)."""


#: Events a view needs at once: everything but passing phase reports, quick tests and
#: fixture costs, hazards (read after the run).
_LAZY_KINDS = frozenset(("test_report", "test_done", "fixture_setup", "fixture_teardown", "hazard"))

#: Seconds a lazy event may wait for company before it is sent (the app may ask for longer
#: through :data:`~hotlap.channel.ENV_LINGER`; at most :data:`MAX_LINGER`).
LINGER = 0.02
MAX_LINGER = 5.0
#: The flusher thread's period at the shortest. Each of its wakes takes the GIL from the
#: thread that runs the tests (a forced switch, and on this kind of machine a wake-up of the
#: other CPU): at 50 a second they cost a lone pytest of 2,000 quick tests ~6 % of its wall
#: time. Events of a busy process go out from the sending thread once the oldest waited
#: :data:`LINGER`; the thread only sends what an idle one left, and announces long tests.
TICK = 0.1

#: Whether anything shows this run while it runs (the app does; plain-pytest exports, written
#: at the end, do not: see :mod:`hotlap.plugin.offline`). Without a live view a batching sink
#: has no flusher thread: lazy events wait for an urgent one, for :data:`OFFLINE_BATCH` of
#: them, or for the end.
live_view = True
OFFLINE_BATCH = 1000


class BatchingSink(Sink):
    """Encodes events as JSON lines and writes them in batches (see :meth:`_write`).

    Lazy events (a quick test's one TestDone, passing phase reports, fixture costs) are
    buffered and go out with the next urgent event (a failure, a long test's start, …), or
    with the first event sent :attr:`batch_wait` seconds after the oldest (:data:`LINGER`, unless
    the app asked for longer), or from the flusher thread when the process went quiet: a
    suite of quick tests costs one write per worker every 20 ms at most, not one per test. A
    worker that dies takes at most that much with it, and the xdist controller sends what it
    knows of those tests (see :mod:`hotlap.plugin.controller`). Without a live view
    (:data:`live_view`) there is no flusher thread and lazy events wait for
    :data:`OFFLINE_BATCH` of them. The first failed write ends the sending for good: if the
    app went away, pytest must finish anyway, only without us.
    """

    def __init__(self) -> None:
        # Imported here, not at module level: a plugin that never sends must not pay for it.
        from hotlap.protocol.codec import encode

        self._encode = encode
        super().__init__()
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._oldest = 0.0  # when the oldest pending event was added
        #: Seconds a lazy event may wait for company (see :func:`linger_from_env`).
        self.batch_wait = linger_from_env()
        self._flusher: OwnThread | None = None
        self._linger: Callable[[], None] | None = None
        self._live = live_view

    def set_linger(self, callback: Callable[[], None]) -> None:
        self._linger = callback

    def send(self, event: Event) -> None:
        if self._dead:
            return
        if PAUSED:
            resume()  # after a fork: hotlap's threads start again now
        data = self._encode(event)
        lazy = event.kind in _LAZY_KINDS and getattr(event, "outcome", "passed") == "passed"
        with self._lock:
            pending = self._pending
            now = real.monotonic() if self._live else 0.0
            if not pending:
                self._oldest = now
            pending.append(data)
            if (
                not lazy
                or (self._live and now - self._oldest >= self.batch_wait)
                or (not self._live and len(pending) >= OFFLINE_BATCH)
            ):
                self._flush_locked()
            # From the first event (a first test may be long), if a view shows the run live.
            if self._flusher is None and self._live:
                self._flusher = OwnThread(self._flush_soon)
                self._flusher.start()

    def _flush_soon(self, halt: threading.Event) -> None:
        while not halt.wait(max(self.batch_wait, TICK)):
            if self._linger is not None:
                # Outside the lock: the callback sends through this sink. A view's detail is
                # never worth stopping the flushes for.
                with contextlib.suppress(Exception):
                    self._linger()
            with self._lock:
                if self._pending:
                    self._flush_locked()

    def _flush_locked(self) -> None:
        if self._dead or not self._pending:
            self._pending.clear()
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._write(data):
            self._dead = True

    def _write(self, data: bytes) -> bool:
        """Write one batch of lines (the caller holds the lock); False: give up."""
        raise NotImplementedError

    def _release(self) -> None:
        """Let go of what :meth:`_write` writes to (the caller holds the lock)."""

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.stop()
        with self._lock:
            self._flush_locked()
            self._dead = True
            self._release()


def linger_from_env() -> float:
    """:data:`LINGER`, or the longer wait the app asked for."""
    try:
        asked = float(os.environ.get(ENV_LINGER, ""))
    except ValueError:
        return LINGER
    return asked if LINGER <= asked <= MAX_LINGER else LINGER


class SocketSink(BatchingSink):
    """Sends events over the app's Unix socket: the connection is made on the first write and
    starts with a hello carrying the run's token."""

    def __init__(self, path: str, token: str, worker: str) -> None:
        super().__init__()
        self._path, self._token, self._worker = path, token, worker
        self._sock: _socket.socket | None = None
        self._pid = os.getpid()

    def _write(self, data: bytes) -> bool:
        sock = self._sock
        if sock is None:
            from hotlap.protocol.codec import encode_hello

            try:
                # The C socket type: a test (or pytest-socket) may have patched or replaced
                # ``socket.socket`` and its methods, and must not see nor stop this traffic.
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                sock.connect(self._path)
                real.sendall(sock, encode_hello(self._token, self._worker, self._pid))
            except OSError:
                return False
            self._sock = sock
        try:
            real.sendall(sock, data)
        except OSError:
            self._release()
            return False
        return True

    def _release(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


class CallbackSink(Sink):
    """Hands events to a function in this process (plain-pytest exports without xdist)."""

    outlives_process = False  # the exports die with the process

    def __init__(self, callback: Callable[[Event], None]) -> None:
        super().__init__()
        self._callback = callback
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        if self._dead:
            return
        with self._lock:
            self._callback(event)


_SINKS: weakref.WeakSet[Sink] = weakref.WeakSet()


def _silence_in_child() -> None:
    for sink in list(_SINKS):
        sink._dead = True  # its socket is the parent's: left open for the parent


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_silence_in_child)


#: Set on an xdist worker that sends through its controller (see hotlap.plugin.remote).
channel_factory: Callable[[str], Sink] | None = None


def app_drives() -> bool:
    """Whether the app asked for events (what :func:`sink_from_env` needs), without
    connecting."""
    return channel_factory is not None or bool(
        os.environ.get(ENV_SOCKET) and os.environ.get(ENV_TOKEN)
    )


def sink_from_env(worker: str) -> Sink | None:
    """A socket sink if the app asked for one through the environment (on a worker that
    cannot reach the app's socket, the controller's channel instead)."""
    if channel_factory is not None:
        return channel_factory(worker)
    path, token = os.environ.get(ENV_SOCKET), os.environ.get(ENV_TOKEN)
    if not path or not token:
        return None
    return SocketSink(path, token, worker)
