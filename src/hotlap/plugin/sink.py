"""Where the plugin's events go: the app's socket, or a callback in this process."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hotlap.channel import ENV_SOCKET, ENV_TOKEN

if TYPE_CHECKING:
    from hotlap.protocol import Event

#: Environment variables the app sets for the pytest processes it starts.


class Sink:
    """Anything that accepts events. Sending never raises.

    A process forked from this one (a test that forks and whose child goes on running the
    session instead of exiting) sends nothing: its events would count the parent's tests a
    second time. Subclasses drop events once ``_dead`` is true.
    """

    _dead = False

    def __init__(self) -> None:
        _SINKS.add(self)

    def send(self, event: Event) -> None:
        raise NotImplementedError

    def send_new(self, cls: type[Event], **fields: Any) -> None:
        """Send ``cls(**fields)``; a sink may encode the fields without building the event."""
        self.send(cls(**fields))

    def close(self) -> None:
        """Flush and release; later sends are dropped."""

    def set_linger(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` every :data:`LINGER` seconds from a background thread, before
        lazy events are flushed, if this sink has such a thread (the socket sink does)."""


#: Events a view needs at once: everything but passing phase reports and fixture costs.
_LAZY_KINDS = frozenset(("test_report", "test_done", "fixture_setup", "fixture_teardown"))

#: Seconds a lazy event may wait for company before a background flush sends it.
LINGER = 0.1


class SocketSink(Sink):
    """Sends events as JSON lines over the app's Unix socket.

    The connection is made on the first send, starts with a hello carrying the run's token,
    and is given up for good on the first error: if the app went away, pytest must finish
    anyway, only without us.

    Passing phase reports and fixture costs are buffered and go out with the next urgent
    event (a test start, a failure, …) or within :data:`LINGER` seconds: one ``sendall`` per
    test instead of four, which on a busy 2-core machine is most of what streaming costs.
    Urgent events flush at once, so a worker that dies has already said which test it ran.
    """

    def __init__(self, path: str, token: str, worker: str) -> None:
        # Imported here, not at module level: a plugin that never sends must not pay for it.
        from hotlap.protocol.codec import encode, encode_hello

        self._encode, self._encode_hello = encode, encode_hello
        super().__init__()
        self._path, self._token, self._worker = path, token, worker
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._pending: list[bytes] = []
        self._fields_encoders: dict[type[Event], Callable[..., bytes]] = {}
        self._flusher: threading.Thread | None = None
        self._closing = threading.Event()
        self._linger: Callable[[], None] | None = None

    def set_linger(self, callback: Callable[[], None]) -> None:
        self._linger = callback

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._path)
            sock.sendall(self._encode_hello(self._token, self._worker, self._pid))
        except OSError:
            self._dead = True
            return None
        self._sock = sock
        return sock

    def send(self, event: Event) -> None:
        if self._dead:
            return
        data = self._encode(event)
        lazy = event.kind in _LAZY_KINDS and getattr(event, "outcome", "passed") == "passed"
        self._queue(data, lazy)

    def send_new(self, cls: type[Event], **fields: Any) -> None:
        if self._dead:
            return
        encoder = self._fields_encoders.get(cls)
        if encoder is None:
            from hotlap.protocol.codec import fields_encoder

            encoder = self._fields_encoders[cls] = fields_encoder(cls)
        lazy = cls.kind in _LAZY_KINDS and fields.get("outcome", "passed") == "passed"
        self._queue(encoder(**fields), lazy)

    def _queue(self, data: bytes, lazy: bool) -> None:
        with self._lock:
            self._pending.append(data)
            if not lazy:
                self._flush_locked()
            if self._flusher is None:  # from the first event: a first test may be long
                self._flusher = threading.Thread(
                    target=self._flush_soon, name="hotlap-sink", daemon=True
                )
                self._flusher.start()

    def _flush_soon(self) -> None:
        while not self._closing.wait(LINGER):
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
        sock = self._sock or self._connect()
        if sock is None:
            return
        try:
            sock.sendall(data)
        except OSError:
            self._dead = True
            self._close_socket()

    def _close_socket(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            self._flush_locked()
            self._dead = True
            self._close_socket()


class CallbackSink(Sink):
    """Hands events to a function in this process (plain-pytest exports without xdist)."""

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


def sink_from_env(worker: str) -> Sink | None:
    """A socket sink if the app asked for one through the environment (on a worker that
    cannot reach the app's socket, the controller's channel instead)."""
    if channel_factory is not None:
        return channel_factory(worker)
    path, token = os.environ.get(ENV_SOCKET), os.environ.get(ENV_TOKEN)
    if not path or not token:
        return None
    return SocketSink(path, token, worker)
