"""Where the plugin's events go: the app's socket, or a callback in this process."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hotlap.protocol import Event

#: Environment variables the app sets for the pytest processes it starts.
ENV_SOCKET = "HOTLAP_SOCKET"
ENV_TOKEN = "HOTLAP_TOKEN"


class Sink:
    """Anything that accepts events. Sending never raises."""

    def send(self, event: Event) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release; later sends are dropped."""


class SocketSink(Sink):
    """Sends events as JSON lines over the app's Unix socket.

    The connection is made on the first send, starts with a hello carrying the run's token,
    and is given up for good on the first error: if the app went away, pytest must finish
    anyway, only without us.
    """

    def __init__(self, path: str, token: str, worker: str) -> None:
        # Imported here, not at module level: a plugin that never sends must not pay for it.
        from hotlap.protocol.codec import encode, encode_hello

        self._encode, self._encode_hello = encode, encode_hello
        self._path, self._token, self._worker = path, token, worker
        self._sock: socket.socket | None = None
        self._dead = False
        self._lock = threading.Lock()
        self._pid = os.getpid()

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
        with self._lock:
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
        with self._lock:
            self._dead = True
            self._close_socket()


class CallbackSink(Sink):
    """Hands events to a function in this process (plain-pytest exports without xdist)."""

    def __init__(self, callback: Callable[[Event], None]) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        with self._lock:
            self._callback(event)


def sink_from_env(worker: str) -> Sink | None:
    """A socket sink if the app asked for one through the environment."""
    path, token = os.environ.get(ENV_SOCKET), os.environ.get(ENV_TOKEN)
    if not path or not token:
        return None
    return SocketSink(path, token, worker)
