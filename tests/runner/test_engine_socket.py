"""The event socket drops what is not a valid event of this run, and keeps working.

These talk to a real :class:`EventServer` over a real Unix socket, as a pytest process would.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable

from hotlap.protocol import PROTOCOL_VERSION, Event, TestStart, WorkerStart
from hotlap.protocol.codec import encode, encode_hello, to_dict
from hotlap.runner.server import EventServer


def _connect(server: EventServer) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(server.path)
    return sock


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds (bounded); the server reads on its own thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _start(worker: str, nodeid: str) -> TestStart:
    return TestStart(
        worker, os.getpid(), time.monotonic(), nodeid=nodeid, path="t.py", line=1, domain=nodeid
    )


def test_malformed_and_wrong_token_lines_are_dropped() -> None:
    """Garbage, an unknown kind and a wrong protocol version count as ``malformed``; a client
    with a wrong token counts as ``rejected`` and is disconnected; only valid events of
    authenticated clients reach ``drain()``, and the server keeps serving after the garbage."""
    with EventServer() as server:
        pid = os.getpid()
        first = WorkerStart("gw0", pid, time.monotonic(), wall=time.time())
        second = _start("gw0", "t.py::test_after_garbage")
        unknown_kind = {"kind": "no_such_event", "v": PROTOCOL_VERSION, "worker": "gw0"}
        wrong_version = {**to_dict(_start("gw0", "t.py::wrong_v")), "v": PROTOCOL_VERSION + 1}

        good = _connect(server)
        good.sendall(encode_hello(server.token, "gw0", pid))
        good.sendall(encode(first))
        good.sendall(b"this is { not json\n")
        good.sendall(json.dumps(unknown_kind).encode() + b"\n")
        good.sendall(json.dumps(wrong_version).encode() + b"\n")
        good.sendall(encode(second))

        intruder = _connect(server)
        intruder.sendall(encode_hello("not-the-token", "gw1", pid))
        intruder.sendall(encode(_start("gw1", "t.py::from_intruder")))

        assert _wait_for(lambda: server.received == 2 and server.rejected == 1)
        # The server closed the intruder's connection: reading gives end-of-file.
        assert intruder.recv(1) == b""
        assert server.drain() == [first, second]
        assert server.malformed == 3
        assert server.rejected == 1

        # Still serving: another event on the same connection, sent in two pieces.
        third = _start("gw0", "t.py::test_later")
        data = encode(third)
        good.sendall(data[:10])
        time.sleep(0.05)
        good.sendall(data[10:])
        got: list[Event] = []
        assert _wait_for(lambda: bool(got.extend(server.drain()) or got))
        assert got == [third]
        assert (server.malformed, server.rejected, server.received) == (3, 1, 3)
        good.close()
        intruder.close()
