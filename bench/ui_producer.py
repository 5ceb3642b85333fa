"""One worker of bench/ui_events.py: a process that produces its share of an invented run
on a schedule and sends it through the plugin's own :class:`~hotlap.plugin.sink.SocketSink`.

    python bench/ui_producer.py INDEX WORKERS TESTS RATE STEP LINGER   (by ui_events.py)

The run is the one a worker sends today: a quick passing test is one lazy ``TestDone``
carrying its start; 1 test in 100 fails (``TestStart`` and the failed call report go out at
once, its setup and teardown reports are lazy); 1 test in 10 has a function fixture (a lazy
``FixtureSetup`` and ``FixtureTeardown`` before its ``TestDone``). Events are numbered across
the whole run and event ``i`` is due at ``start + i / RATE``; test ``j`` runs on worker
``j % WORKERS``. Each event is built when it is due and stamped ``t`` = its due time on the
machine's monotonic clock (shared by every process), so a producer that falls behind (this
process not scheduled, ``STEP`` sleeps) counts in the lag the app measures.

The environment names the app's socket and token (``HOTLAP_SOCKET``/``HOTLAP_TOKEN``, as for
a pytest worker). The process says ``ready`` on stdout once connected, reads ``go START`` on
stdin, streams, closes the sink (its last batch goes out) and prints its figures as one JSON
line: per event the wait in this process (due time -> the sink's write of its batch), how far
behind its schedule each event was handed to the sink, the writes, and the CPU time of the
process and of the sink's flusher thread.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator

import msgspec

from hotlap.channel import ENV_SOCKET, ENV_TOKEN
from hotlap.plugin import sink as sink_module
from hotlap.plugin.sink import SocketSink
from hotlap.protocol import (
    Event,
    FixtureSetup,
    FixtureTeardown,
    TestDone,
    TestReport,
    TestStart,
)

TRACEBACK = "\n".join(
    ["    def test_x():", ">       assert compute() == 42", "E       assert 41 == 42"] * 5
)


def node_ids(tests: int) -> list[str]:
    """The invented run's node ids."""
    return [f"tests/test_mod{i // 100:03d}.py::test_case_{i}" for i in range(tests)]


def failing(i: int) -> bool:
    return i % 100 == 37


def with_fixture(i: int) -> bool:
    return i % 10 == 0


def events_of_test(i: int) -> int:
    """How many events test ``i`` sends."""
    return (4 if failing(i) else 1) + (2 if with_fixture(i) else 0)


def total_events(tests: int) -> int:
    return sum(events_of_test(i) for i in range(tests))


Build = Callable[[float], Event]


def worker_events(index: int, workers: int, tests: int) -> Iterator[tuple[int, Build]]:
    """``(global event number, build(t))`` of the tests that run on worker ``index``."""
    lane = f"gw{index}"
    pid = os.getpid()
    seq = 0
    for i, nodeid in enumerate(node_ids(tests)):
        n = events_of_test(i)
        if i % workers != index:
            seq += n
            continue
        path = nodeid.split("::")[0]
        fail = failing(i)
        if with_fixture(i):
            yield (
                seq,
                lambda t, n=nodeid: FixtureSetup(
                    lane, pid, t, "db", "function", "conftest.py:3", n, 0.01, 0.01
                ),
            )
            seq += 1
            yield (
                seq,
                lambda t, n=nodeid: FixtureTeardown(
                    lane, pid, t, "db", "function", "conftest.py:3", n, 0.002
                ),
            )
            seq += 1
        if not fail:
            yield seq, lambda t, n=nodeid, p=path: TestDone(
                lane, pid, t, n, 0.0002, 0.0005, 0.0002, t - 0.001, t, 0.001,
                60_000_000, 60_000_000, began=t - 0.001, path=p, line=10, domain=n.split("::")[1],
                rss_before=60_000_000,
            )  # fmt: skip
            seq += 1
            continue
        yield (
            seq,
            lambda t, n=nodeid, p=path: TestStart(
                lane, pid, t, n, p, 10, n.split("::")[1], 60_000_000
            ),
        )
        seq += 1
        for when in ("setup", "call", "teardown"):
            bad = when == "call"
            yield seq, lambda t, n=nodeid, w=when, b=bad: TestReport(
                lane, pid, t, n, w, "failed" if b else "passed",
                ("failed" if b else "passed") if w == "call" else "", w == "call",
                0.001, t - 0.001, t, 0.001, 60_000_000, 60_000_000,
                longrepr=TRACEBACK if b else "", message="assert 41 == 42" if b else "",
            )  # fmt: skip
            seq += 1


class TimedSink(SocketSink):
    """The plugin's socket sink, batching as it does, that also notes when each event left:
    the time of the write that carried it, minus the time it was due."""

    def __init__(self, path: str, token: str, worker: str) -> None:
        super().__init__(path, token, worker)
        self._dues: deque[float] = deque()
        self.waits: list[float] = []
        self.writes = 0

    def send(self, event: Event) -> None:
        self._dues.append(event.t)  # before the send: an urgent event is written inside it
        super().send(event)

    def _write(self, data: bytes) -> bool:
        ok = super()._write(data)
        now = time.monotonic()
        self.writes += 1
        dues, waits = self._dues, self.waits
        for _ in range(data.count(b"\n")):  # the batch is the oldest events not yet written
            waits.append(now - dues.popleft())
        return ok


def thread_cpu(ident: int | None) -> float:
    """CPU seconds of the thread ``ident`` (this process), 0.0 if it cannot be read."""
    if ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return 0.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except OSError:
        return 0.0


def main(argv: list[str]) -> int:
    index, workers, tests = int(argv[0]), int(argv[1]), int(argv[2])
    rate, step = float(argv[3]), float(argv[4])
    sink_module.LINGER = float(argv[5])  # the app's value (the bench may try another)
    from hotlap.protocol import WorkerStart

    lane = f"gw{index}"
    sink = TimedSink(os.environ[ENV_SOCKET], os.environ[ENV_TOKEN], lane)
    sink.send(WorkerStart(lane, os.getpid(), time.monotonic(), wall=time.time()))
    own = list(worker_events(index, workers, tests))
    print("ready", flush=True)
    line = sys.stdin.readline().split()
    start = float(line[1])
    behind: list[float] = []
    cpu0 = time.process_time()
    flusher = sink._flusher  # started by the first event (WorkerStart)
    flusher_cpu0 = thread_cpu(flusher._ident or None if flusher else None)
    monotonic, sleep, send = time.monotonic, time.sleep, sink.send
    for seq, build in own:
        due = start + seq / rate
        now = monotonic()
        if due > now:
            # Sleep at least STEP: a wake-up per event would cost more than a real worker's
            # sends; the events due meanwhile are then sent late, stamped with their due time.
            sleep(max(due - now, step))
            now = monotonic()
        behind.append(now - due)
        send(build(due))
    ended = monotonic()
    flusher_cpu = thread_cpu(flusher._ident or None if flusher else None) - flusher_cpu0
    sink.close()
    figures = {
        "worker": lane,
        "events": len(own),
        "waits": sink.waits[1:],  # not the WorkerStart
        "behind": behind,
        "writes": sink.writes,
        "seconds": ended - start,
        "cpu": time.process_time() - cpu0,
        "flusher_cpu": flusher_cpu,
    }
    sys.stdout.buffer.write(msgspec.json.encode(figures) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
