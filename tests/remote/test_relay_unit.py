"""The two ends of the controller's channel, without xdist: the worker's ChannelSink batches
like the socket sink, the controller's Relay writes what it gets to the app's socket, moves the
times of a worker on another machine onto this clock, and keeps a hang kill's last stack."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from hotlap.plugin.relay import _END, Relay
from hotlap.plugin.remote import ChannelSink, boot_id
from hotlap.protocol import HangStack, TestDone, TestStart, encode
from hotlap.runner.server import EventServer


class FakeChannel:
    """What ChannelSink uses of an execnet channel: ``send``; closed, it raises OSError."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.closed = False

    def send(self, item: Any) -> None:
        if self.closed:
            raise OSError("cannot send to closed channel")
        self.sent.append(item)


def start(nodeid: str) -> TestStart:
    return TestStart("gw0", 1, time.monotonic(), nodeid=nodeid, path="t.py", line=1, domain="t")


def done(nodeid: str) -> TestDone:
    return TestDone(
        "gw0", 1, time.monotonic(), nodeid=nodeid, setup=0.0, call=0.1, teardown=0.0,
        start=0.0, stop=0.0, cpu=0.0, rss=0, maxrss=0,
    )  # fmt: skip


def test_channel_sink_batches_quiet_tests_with_the_next_start() -> None:
    """A passed test waits for the next start: one channel message carries both; close
    flushes what waits; a closed channel ends the sending without raising."""
    channel = FakeChannel()
    sink = ChannelSink(channel)
    sink.send(start("t.py::a"))
    sink.send(done("t.py::a"))
    assert len(channel.sent) == 1  # the start went at once, the quiet result waits
    sink.send(start("t.py::b"))
    assert len(channel.sent) == 2 and channel.sent[1].count(b"\n") == 2
    sink.send_new(TestStart, worker="gw0", pid=1, t=1.0, nodeid="t.py::c", path="", line=0,
                  domain="")  # fmt: skip
    sink.send(done("t.py::c"))
    sink.close()
    assert b'"test_done"' in channel.sent[-1]
    channel.closed = True
    again = ChannelSink(channel)
    again.send(start("t.py::d"))  # no exception
    again.send(start("t.py::e"))
    assert len(channel.sent) == 4


@pytest.fixture
def server() -> Any:
    with EventServer() as srv:
        yield srv


def drain(server: EventServer, count: int) -> list[Any]:
    events: list[Any] = []
    deadline = time.monotonic() + 5
    while len(events) < count and time.monotonic() < deadline:
        events.extend(server.drain())
        time.sleep(0.01)
    return events


def hello(boot: str, now: float) -> dict[str, Any]:
    """What a worker says first on its channel."""
    return {"pid": 4242, "host": "elsewhere", "python": "3.12.1", "boot": boot, "now": now}


def test_relay_writes_a_same_machine_workers_lines_unchanged(server: EventServer) -> None:
    """Same boot id: the lines go to the app's socket as they came, under the worker's id."""
    relay = Relay("gw3", server.path, server.token)
    relay.receive(hello(boot_id(), time.monotonic() - 500.0))
    event = start("t.py::a")
    relay.receive(encode(event))
    relay.receive(_END)
    (got,) = drain(server, 1)
    assert got == event and relay.offset == 0.0


def test_relay_moves_another_machines_times_onto_this_clock(server: EventServer) -> None:
    """A worker whose monotonic clock reads 1000 s less than ours (another boot): its events
    arrive with ``t`` moved by those 1000 s, give or take the hello's transit."""
    relay = Relay("gw0", server.path, server.token)
    theirs = time.monotonic() - 1000.0
    relay.receive(hello("another-boot", theirs))
    sent = TestStart("gw0", 1, theirs + 0.5, nodeid="t.py::a", path="t.py", line=1, domain="t")
    relay.receive(encode(sent) + encode(done("t.py::a")))
    got = drain(server, 2)
    assert [e.kind for e in got] == ["test_start", "test_done"]
    assert relay.offset == pytest.approx(1000.0, abs=1.0)
    assert got[0].t == pytest.approx(sent.t + relay.offset)
    assert got[0].nodeid == sent.nodeid and got[0].path == sent.path


def test_relay_keeps_a_kill_stack_for_a_worker_it_cannot_ask(server: EventServer) -> None:
    """The last stack before a hang kill names the crash of a worker with no local process
    (no fault directory to read); a hang's ordinary stack does not."""
    relay = Relay("gw0", server.path, server.token)
    relay.receive(hello(boot_id(), time.monotonic()))
    frame = '  File "t.py", line 3, in test_killed_things\n    time.sleep(30)\n'
    relay.receive(encode(HangStack("gw0", 1, 1.0, "t.py::test_killed_things", 1.0, frame)))
    assert relay.kill_note == ""

    class Node:
        class gateway:
            _io = None

    assert relay.crash_reason(Node(), "worker crashed") == "worker crashed"
    kill = "hung: killed after 3s\n" + frame
    relay.receive(encode(HangStack("gw0", 1, 2.0, "t.py::test_killed_things", 3.0, kill)))
    assert relay.crash_reason(Node(), "worker crashed") == kill.rstrip("\n")


def test_relay_without_the_app_drops_quietly(tmp_path: Any) -> None:
    """The app's socket is gone: the relay drops the worker's lines and raises nothing."""
    relay = Relay("gw0", os.path.join(str(tmp_path), "gone.sock"), "token")
    relay.receive(hello(boot_id(), time.monotonic()))
    relay.receive(encode(start("t.py::a")))
    relay.receive(_END)
    assert relay.batches == 1
