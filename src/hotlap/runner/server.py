"""The app's end of the event socket.

A Unix socket in a private (0700) temporary directory. Each pytest process connects once,
sends a hello with the run's token, then one JSON line per event. A background thread
accepts, reads and decodes; decoded events wait in a queue until the app drains them, so the
app's own loop (Textual's, or the headless reporter's) never blocks on the socket.

A connection whose hello is wrong is closed and counted in ``rejected``; a line that does not
decode is counted in ``malformed`` and dropped. Neither stops the run.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hotlap.protocol import Event

_codec: ModuleType | None = None


def _protocol() -> ModuleType:
    """The codec, imported on the first line received: the app starts this server before
    pytest, and building the event classes (~25 ms) can then overlap pytest's start-up."""
    global _codec
    if _codec is None:
        from hotlap.protocol import codec

        _codec = codec
    return _codec


#: Seconds the reader waits after a read so the next one takes many lines at once.
COALESCE = 0.01

#: Longest line we accept; a longer one is a broken sender, not an event.
MAX_LINE = 64 * 1024 * 1024


class SocketDirError(OSError):
    """No directory could hold the event socket."""


def _socket_dir() -> str:
    """A fresh 0700 directory for the socket: in TMPDIR, else /tmp, else /dev/shm.

    AF_UNIX paths are limited to ~107 bytes, so a deep TMPDIR is skipped too.
    """
    tried = []
    for base in (tempfile.gettempdir(), "/tmp", "/dev/shm"):
        if len(base) > 60 or base in tried:
            continue
        tried.append(base)
        try:
            return tempfile.mkdtemp(prefix="hotlap-", dir=base)  # mkdtemp makes it 0700
        except OSError:
            continue
    raise SocketDirError(f"cannot create a private socket directory in {', '.join(tried)}")


class _Conn:
    __slots__ = ("authed", "buf", "sock", "worker")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.authed = False
        self.worker = ""


class EventServer:
    """Accepts connections from pytest processes and decodes their events."""

    def __init__(self, on_event: Callable[[], None] | None = None) -> None:
        # os.urandom is what secrets.token_hex uses; importing secrets (hashlib, random)
        # costs ~13 ms before pytest can start.
        self.token = os.urandom(16).hex()
        self.directory = _socket_dir()
        self.path = os.path.join(self.directory, "events.sock")
        self.malformed = 0
        self.rejected = 0
        self.received = 0
        self._on_event = on_event
        self._queue: deque[Event] = deque()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self._listener.listen(64)
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._conns: dict[int, _Conn] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._serve, name="hotlap-events", daemon=True)
        self._idle = threading.Condition()
        self._last_activity = time.monotonic()

    # -- public API -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment variables that make the hotlap plugin send here."""
        from hotlap.channel import ENV_SOCKET, ENV_TOKEN

        return {ENV_SOCKET: self.path, ENV_TOKEN: self.token}

    def start(self) -> EventServer:
        self._thread.start()
        return self

    def drain(self) -> list[Event]:
        """Every event decoded since the last call, in arrival order."""
        out: list[Event] = []
        queue = self._queue
        while queue:
            out.append(queue.popleft())
        return out

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def wait_quiet(self, timeout: float, quiet: float = 0.05) -> None:
        """Wait until no connection is open (all senders exited) or ``timeout`` passes.

        A sender may still be connected a moment after its process reported the end, so this
        also returns once nothing has arrived for ``quiet`` seconds while no sender is left.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._conns and time.monotonic() - self._last_activity >= quiet:
                return
            time.sleep(0.01)

    def close(self) -> None:
        """Stop the thread, close every connection and remove the socket directory."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for conn in list(self._conns.values()):
            self._drop(conn)
        for s in (self._listener, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                s.close()
        with contextlib.suppress(OSError):
            self._selector.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> EventServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the thread -------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready = self._selector.select(timeout=0.5)
            except OSError:  # pragma: no cover - selector closed under us
                return
            for key, _ in ready:
                if key.data is None:
                    self._accept()
                elif key.data == "wake":
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(64)
                else:
                    self._read(key.data)
            if ready:
                # Let lines pile up a little: waking once per line would preempt the tests
                # that write them (2 cores), for a latency no view can show.
                self._stop.wait(COALESCE)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # pragma: no cover - listener closed
                return
            sock.setblocking(False)
            conn = _Conn(sock)
            self._conns[sock.fileno()] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)
            self._last_activity = time.monotonic()

    def _drop(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if fd >= 0:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(conn.sock)
        self._conns.pop(fd, None)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self._last_activity = time.monotonic()
        if not data:
            if conn.buf:  # a last line without its newline
                self._line(conn, bytes(conn.buf))
            self._drop(conn)
            return
        conn.buf += data
        if b"\n" not in data:
            if len(conn.buf) > MAX_LINE:
                self.malformed += 1
                conn.buf.clear()
            return
        end = conn.buf.rindex(b"\n") + 1
        chunk = bytes(conn.buf[:end])
        del conn.buf[:end]
        if not conn.authed:
            first, _, chunk = chunk.partition(b"\n")
            if not self._line(conn, first) and conn.sock.fileno() < 0:
                return
        if not chunk:
            return
        events, bad = (_codec or _protocol()).decode_lines(chunk)
        self.malformed += bad
        if events:
            self.received += len(events)
            self._queue.extend(events)
            if self._on_event is not None:
                self._on_event()

    def _line(self, conn: _Conn, line: bytes) -> bool:
        codec = _codec or _protocol()
        if not conn.authed:
            try:
                conn.worker, _ = codec.decode_hello(line, self.token)
            except codec.ProtocolError:
                self.rejected += 1
                self._drop(conn)
                return False
            conn.authed = True
            return False
        try:
            event = codec.decode(line)
        except codec.ProtocolError:
            self.malformed += 1
            return False
        self.received += 1
        self._queue.append(event)
        return True
