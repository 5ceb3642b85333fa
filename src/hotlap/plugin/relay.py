"""The controller's end of :mod:`hotlap.plugin.remote`: a worker's channel to the app's socket.

For each xdist worker the controller opens an execnet channel on the worker's gateway and puts
it in the worker's ``workerinput`` (with the settings that live in its environment). A worker
that adopts the channel first sends a hello (pid, host, Python, boot id, clock), then batches
of event lines. The relay opens one connection to the app's socket per such worker, says
hello with the run's token as the worker would have, and writes each batch as it comes, in
execnet's receiver thread for that worker: the lines are not decoded.

Except on another machine: ``real.monotonic()`` there counts from another boot, so the relay
measures the offset between the two clocks from the hello and moves each event's ``t`` onto
this machine's clock (decoding and encoding the lines of that worker only). A worker that kills
itself at the hang limit leaves its reason in a fault directory the controller cannot read
from there; the relay keeps the kill's last stack to name the crash instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

import msgspec

from hotlap.channel import ENV_SOCKET, ENV_TOKEN
from hotlap.plugin.remote import FORWARDED_ENV, WORKERINPUT_KEY, boot_id
from hotlap.plugin.role import origin
from hotlap.real import real

#: What execnet hands the callback when the channel closes.
_END = object()
_HANG_KIND = b'"hang_stack"'


class Relay:
    """One worker's channel, written to the app's socket."""

    def __init__(self, worker: str, path: str, token: str) -> None:
        self.worker = worker
        self._path, self._token = path, token
        self._sock: socket.socket | None = None
        self._dead = False
        #: Seconds to add to the worker's event times (0: the same clock as here).
        self.offset = 0.0
        self.remote_host = ""
        self.batches = 0
        #: The last stack the worker sent before it killed its hung test (see HangWatch).
        self.kill_note = ""

    # -- execnet's receiver thread ----------------------------------------------------------
    def receive(self, item: Any) -> None:
        """The channel's callback: a hello, a batch of lines, or the end."""
        if item is _END:
            self.close()
        elif isinstance(item, bytes):
            self._forward(item)
        elif isinstance(item, dict):
            self._hello(item)

    def _hello(self, hello: dict[str, Any]) -> None:
        from hotlap.protocol.codec import encode_hello

        host, _ = origin()
        theirs, mine = str(hello.get("boot") or ""), boot_id()
        self.remote_host = str(hello.get("host") or "")
        same_clock = (theirs == mine) if (theirs or mine) else self.remote_host == host
        now = hello.get("now")
        if not same_clock and isinstance(now, (int, float)):
            # The hello left the worker a moment ago: the offset errs by that transit time.
            self.offset = real.monotonic() - float(now)
        pid = hello.get("pid")
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._path)
            sock.sendall(encode_hello(self._token, self.worker, int(pid or 0)))
        except (OSError, ValueError, TypeError):
            self._dead = True
            return
        self._sock = sock

    def _forward(self, data: bytes) -> None:
        self.batches += 1
        if _HANG_KIND in data:
            self._note_kill(data)
        if self.offset:
            data = self._shift(data)
        if self._dead or self._sock is None:
            return
        try:
            self._sock.sendall(data)
        except OSError:
            self._dead = True
            self.close()

    def _shift(self, data: bytes) -> bytes:
        from hotlap.protocol.codec import ProtocolError, decode, encode

        out = []
        for line in data.splitlines():
            if not line:
                continue
            try:
                event = decode(line)
            except ProtocolError:
                out.append(line + b"\n")  # the app counts it malformed, as it would have
                continue
            out.append(encode(msgspec.structs.replace(event, t=event.t + self.offset)))
        return b"".join(out)

    def _note_kill(self, data: bytes) -> None:
        from hotlap.protocol.codec import ProtocolError, decode

        for line in data.splitlines():
            if _HANG_KIND not in line:
                continue
            try:
                event = decode(line)
            except ProtocolError:
                continue
            stack = str(getattr(event, "stack", ""))
            head = stack.split("\n", 1)[0]
            # A kill's stack starts with its reason ("hung: killed after 5s"); a hang's own
            # stacks start with a frame.
            if "killed" in head and not head.startswith("  File "):
                self.kill_note = stack

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    # -- the controller's main thread -------------------------------------------------------
    def crash_reason(self, node: Any, reason: str) -> str:
        """``reason`` for the death of this relay's worker, or the kill note it left, when the
        controller could not read the worker's own note (a worker on another host)."""
        popen = getattr(getattr(getattr(node, "gateway", None), "_io", None), "popen", None)
        if self.kill_note and popen is None:
            return self.kill_note.rstrip("\n")
        return reason


def offer_channel(node: Any) -> Relay | None:
    """Open a channel to ``node``'s worker and offer it in the worker's ``workerinput``; the
    relay that writes what comes through it to the app's socket (None without one)."""
    path, token = os.environ.get(ENV_SOCKET), os.environ.get(ENV_TOKEN)
    gateway = getattr(node, "gateway", None)
    if not path or not token or gateway is None:
        return None
    relay = Relay(str(getattr(gateway, "id", "") or "gw?"), path, token)
    try:
        channel = gateway.newchannel()
        channel.setcallback(relay.receive, endmarker=_END)
    except (OSError, AttributeError):
        return None
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    node.workerinput[WORKERINPUT_KEY] = {"channel": channel, "env": env}
    return relay
