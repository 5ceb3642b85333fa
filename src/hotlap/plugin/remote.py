"""Workers that cannot reach the app's socket send their events through xdist's controller.

An xdist worker on another host (``--tx ssh=…``, ``--tx socket=…``) inherits neither the app's
environment nor a path to its Unix socket. The controller (:mod:`hotlap.plugin.relay`) offers
every worker an execnet channel of its own in ``workerinput``; a worker that finds no socket
to connect to (or is told to, with ``HOTLAP_VIA_CONTROLLER=1``) adopts it here, before any
other part of the plugin asks for a sink, and :func:`~hotlap.plugin.sink.sink_from_env` then
hands out :class:`ChannelSink` s. The events are the same JSON lines; the controller writes
them to the app's socket as they come, so the app sees one more connection and nothing else.

The channel is a second stream on xdist's own connection to the worker: it costs a message
through execnet and a copy in the controller per batch (``bench/remote_events.py`` measures
it against the socket). Settings the app gives the workers through the environment (hang and
kill limits, the slow threshold, reruns) travel in the offer too.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from typing import TYPE_CHECKING, Any

import pytest

from hotlap.channel import ENV_SOCKET, ENV_TOKEN
from hotlap.plugin import sink as sink_module
from hotlap.plugin.role import Role, origin
from hotlap.plugin.sink import BatchingSink
from hotlap.real import real

if TYPE_CHECKING:
    pass

#: The key of the controller's offer in a worker's ``workerinput``.
WORKERINPUT_KEY = "hotlap_channel"
#: ``1``: send through the controller even when the app's socket is reachable (tests, bench).
ENV_VIA_CONTROLLER = "HOTLAP_VIA_CONTROLLER"
#: Settings the plugin reads from the environment on a worker, which a worker on another host
#: does not inherit: the controller forwards them with its offer.
FORWARDED_ENV = (
    "HOTLAP_HANG_AFTER",
    "HOTLAP_KILL_AFTER",
    "HOTLAP_SLOW_THRESHOLD",
    "HOTLAP_FAIL_UNMARKED_SLOW",
    "HOTLAP_RERUNS",
)
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def boot_id() -> str:
    """This machine's boot id ("" where there is none): processes with the same one share the
    monotonic clock, so their event times compare without correction."""
    try:
        with open(_BOOT_ID, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def socket_reachable() -> bool:
    """Whether the app's socket (from the environment) exists on this machine."""
    path = os.environ.get(ENV_SOCKET)
    if not path or not os.environ.get(ENV_TOKEN):
        return False
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def configure(config: pytest.Config, role: Role) -> None:
    """On a worker offered a channel that cannot (or must not) use the socket: adopt it."""
    if role is not Role.WORKER:
        return
    offer = getattr(config, "workerinput", {}).get(WORKERINPUT_KEY)
    if not isinstance(offer, dict) or offer.get("channel") is None:
        return
    if os.environ.get(ENV_VIA_CONTROLLER) != "1" and socket_reachable():
        return  # the direct path: the channel stays unused
    from hotlap.plugin.gate import ENV_PARENT_PID

    forwarded = offer.get("env") or {}
    for name in FORWARDED_ENV:
        value = forwarded.get(name)
        if isinstance(value, str) and name not in os.environ:
            os.environ[name] = value
    # hotlap's variables now in this environment are this worker's: a pytest one of its
    # tests starts drops them (see hotlap.plugin.gate).
    os.environ[ENV_PARENT_PID] = "-"
    adopt(offer["channel"])


def adopt(channel: Any) -> None:
    """Send this process's events through ``channel`` from now on."""
    _serialize_writes(channel)
    host, python = origin()
    hello = {
        "pid": os.getpid(),
        "host": host,
        "python": python,
        "boot": boot_id(),
        "now": real.monotonic(),
    }
    try:
        channel.send(hello)
    except (OSError, EOFError, ValueError):
        return
    sink_module.channel_factory = lambda worker: ChannelSink(channel)


def _serialize_writes(channel: Any) -> None:
    """Make writes on the worker's execnet connection one at a time.

    xdist writes from the main thread only; this plugin also writes from its flusher thread.
    execnet writes each message with one call, which a pipe's buffered writer serializes, but a
    socket gateway (``--tx socket=``) calls ``sendall``, which two threads can interleave.
    """
    io = getattr(getattr(channel, "gateway", None), "_io", None)
    write = getattr(io, "write", None)
    if io is None or write is None or getattr(write, "_hotlap_locked", False):
        return
    lock = threading.Lock()

    def locked_write(data: bytes) -> None:
        with lock:
            write(data)

    locked_write._hotlap_locked = True  # type: ignore[attr-defined]
    with contextlib.suppress(AttributeError, TypeError):
        io.write = locked_write


class ChannelSink(BatchingSink):
    """Sends events through the controller's channel, batched like the socket sink: a quick
    test is part of one channel message every 0.1 s. A closed channel (the controller went
    away) ends the sending for good; pytest goes on."""

    def __init__(self, channel: Any) -> None:
        super().__init__()
        self._channel = channel

    def _write(self, data: bytes) -> bool:
        try:
            self._channel.send(data)
        except (OSError, EOFError, ValueError):
            return False
        return True
