"""How many events per second the dashboard absorbs, and how late they reach the screen.

    .venv/bin/python bench/ui_events.py [--tests 50000] [--workers 8] [--rate 10000]
        [--sort call] [--filter ":passed"] [--history] [--record RECORD.jsonl | --no-decode]

The whole path of a live run, from the moment an event is produced in a worker to the
repaint that shows it: ``--workers`` processes (bench/ui_producer.py) produce an invented
run on a schedule, ``--rate`` events per second in all, each event stamped ``t`` = the time
it was due on the machine's monotonic clock; each sends through the plugin's own
:class:`~hotlap.plugin.sink.SocketSink` (lazy events wait up to ``LINGER`` for a batch) to a
real :class:`~hotlap.runner.server.EventServer` in this process, whose thread decodes each
read into its queue; the dashboard (headless, 160x48) drains it on its refresh timer, with a
resource sample every 0.5 s as the app's sampler adds them.

Lag is measured per refresh: the moment the screen has been repainted (``call_after_refresh``)
minus the production time of the oldest event that refresh drew. Its parts, for that oldest
event: produced -> read by the server (the worker's batch wait, the socket, the server's
``COALESCE``), read -> drained by a tick (the wait for the tick), the tick, tick end ->
painted. The app thread's CPU time over the same span is its own work, which other
processes do not inflate. The workers print how long each event waited in the worker (due
-> the write of its batch) and what their sink's flusher thread cost.

Then, unless ``--no-decode``, the decode cost per event on a real recorded stream
(bench/decode_cost.py; ``--record`` gives the record, else a 2,000-test run is recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import psutil

from hotlap.model.run_state import RunState
from hotlap.plugin import sink as sink_module
from hotlap.protocol import (
    CollectionFinish,
    Event,
    ResourceSample,
    SessionFinish,
    SessionStart,
)
from hotlap.protocol.codec import encode_hello, encode_many
from hotlap.runner import server as server_module
from hotlap.runner.server import EventServer
from hotlap.ui import app as app_module
from hotlap.ui.app import HotlapApp

sys.path.insert(0, str(Path(__file__).parent))
import decode_cost
from ui_producer import node_ids, thread_cpu, total_events

PRODUCER = str(Path(__file__).with_name("ui_producer.py"))


def send_direct(server: EventServer, events: Iterable[Event]) -> None:
    """Send ``events`` on a connection of their own, as the xdist controller does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(server.path)
        s.sendall(encode_hello(server.token, "controller", os.getpid()) + encode_many(list(events)))


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values`` (0.99: the value 1 in 100 exceeds)."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, int(len(values) * q) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


class Batch(msgspec.Struct):
    """One drain: what the tick that made it drew."""

    drained: float  # when the tick drained it
    oldest: float  # production time of its oldest event
    arrived: float  # when the server read that event
    mean: float  # mean production time of its events
    events: int


class ServerSource:
    """An EventSource over a real event server fed by the producer processes."""

    def __init__(self, server: EventServer, workers: int, expected: int) -> None:
        self.server = server
        self.workers = workers
        #: Events the server will have received once the stream is all in (not the end).
        self.expected = expected
        #: When a tick drained the stream's last event.
        self.complete_at = 0.0
        #: The app process's and the server thread's CPU time then.
        self.complete_cpu = (0.0, 0.0)
        #: (time, events received so far) after each read that queued events (server thread).
        self.reads: list[tuple[float, int]] = []
        self.taken = 0
        self.batches: list[Batch] = []
        self.measure_from = float("inf")
        self.max_backlog = 0
        self.ended = threading.Event()
        self._next_sample = 0.0
        self._pid = os.getpid()

    def stamp(self) -> None:
        """The server's ``on_event``: runs on its thread after each read it queued."""
        self.reads.append((time.monotonic(), self.server.received))

    def arrival(self, index: int) -> float:
        """When the server read the ``index``-th event it queued (0-based)."""
        reads = self.reads
        i = bisect.bisect_right(reads, index, key=lambda r: r[1])
        return reads[i][0] if i < len(reads) else time.monotonic()

    def start(self) -> None:
        pass

    def drain(self) -> list[Event]:
        now = time.monotonic()
        events = self.server.drain()
        base, n = self.taken, len(events)
        self.taken += n
        if base < self.expected <= self.taken:
            self.complete_at = now
            self.complete_cpu = (time.process_time(), thread_cpu(self.server._thread.ident))
        if n and events[-1].t >= self.measure_from:
            ts = [e.t for e in events]
            oldest = min(range(n), key=ts.__getitem__)
            self.batches.append(Batch(now, ts[oldest], self.arrival(base + oldest), sum(ts) / n, n))
            self.max_backlog = max(self.max_backlog, n)
        if now >= self._next_sample:
            self._next_sample = now + 0.5
            procs = [[self._pid, f"gw{i}", 90.0, 50_000_000] for i in range(self.workers)]
            cores = [90.0] * (os.cpu_count() or 1)
            total = (90.0 * self.workers, 50_000_000 * self.workers)
            sample = ResourceSample(
                "app", self._pid, now, procs, *total, cores, 8 << 30, 4 << 30, self.workers
            )
            events.append(sample)
        return events

    def cancel(self) -> None:
        self.ended.set()

    def poll(self) -> int | None:
        server = self.server
        if self.ended.is_set() and not server.open_connections and server.received == self.taken:
            return 1
        return None

    summary_line = summary_text = output = ""
    output_cut = 0


class MeasuredApp(HotlapApp):
    """Notes, for every tick that drew stream events, when its picture was on screen."""

    #: Per measured refresh: (painted, tick start, tick end, app thread CPU, batch).
    refreshes: list[tuple[float, float, float, float, Batch]]

    def tick(self) -> int:
        source = self.source
        assert isinstance(source, ServerSource)
        before = len(source.batches)
        cpu = time.thread_time()
        started = time.monotonic()
        n = super().tick()
        ended = time.monotonic()
        if len(source.batches) > before:
            batch = source.batches[-1]

            def painted() -> None:
                work = time.thread_time() - cpu
                self.refreshes.append((time.monotonic(), started, ended, work, batch))

            self.call_after_refresh(painted)
        return n


def start_producers(
    server: EventServer, workers: int, tests: int, rate: float, step: float
) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, **server.env()}
    linger = sink_module.LINGER
    procs = [
        subprocess.Popen(
            [sys.executable, PRODUCER, *map(str, (k, workers, tests, rate, step, linger))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for k in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise SystemExit("a producer did not start")
    return procs


def collect(
    procs: list[subprocess.Popen[bytes]],
    server: EventServer,
    source: ServerSource,
    out: list[dict[str, Any]],
) -> None:
    """Thread: each producer's figures once it is done; then the session's end."""
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        proc.wait()
        if line:
            out.append(msgspec.json.decode(line))
    send_direct(server, [SessionFinish("controller", os.getpid(), time.monotonic(), 1, {})])
    source.ended.set()


def machine_times() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq, getattr(t, "steal", 0.0)


async def run(ns: argparse.Namespace) -> None:
    tests, workers, rate = ns.tests, ns.workers, ns.rate
    server = EventServer()
    stream = total_events(tests)
    # SessionStart, a WorkerStart per worker, CollectionFinish, then the stream.
    source = ServerSource(server, workers, 2 + workers + stream)
    server._on_event = source.stamp  # the bench's own stamp of each read
    server.start()
    app = MeasuredApp(
        source,
        RunState(),
        title="bench",
        pytest_args=["-n", str(workers)],
        effective_cores=float(workers),
        # With history the header shows an ETA computed from every test's expected time.
        expected=dict.fromkeys(node_ids(tests), 0.004) if ns.history else {},
        slow_threshold=1.0,
        start_run=None,
        refresh_hz=ns.refresh_hz or app_module.REFRESH_HZ,
    )
    app.refreshes = []
    figures: list[dict[str, Any]] = []
    async with app.run_test(size=(160, 48)) as pilot:
        pid = os.getpid()
        send_direct(
            server,
            [SessionStart("controller", pid, time.monotonic(), 0.0, "controller",
                          ["-n", str(workers)], "/p", "", "", "", "", workers)],
        )  # fmt: skip
        procs = await asyncio.to_thread(start_producers, server, workers, tests, rate, ns.step)
        names = node_ids(tests)
        send_direct(server, [CollectionFinish("gw0", pid, time.monotonic(), tests, names)])
        await pilot.pause(0.5)
        if ns.sort or ns.filter:
            app.tests.set_view(sort=ns.sort or "order", text=ns.filter)
        await pilot.pause(0.3)
        load_before = os.getloadavg()[0]
        start = time.monotonic() + 0.1
        source.measure_from = start
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"go {start!r}\n".encode())
            proc.stdin.flush()
        threading.Thread(target=collect, args=(procs, server, source, figures), daemon=True).start()
        cpu_start = time.process_time()
        server_cpu_start = thread_cpu(server._thread.ident)
        machine_start = machine_times()
        scrolled = 0
        while app.active:
            await asyncio.sleep(0.25)
            # Scroll the tests table while the run streams, as a user would.
            await pilot.press("pagedown")
            scrolled += 1
        # The span ends when the app drained the stream's last event, not when this loop
        # notices (nor when the producers have exited and the session's end comes).
        elapsed = source.complete_at - start
        cpu = source.complete_cpu[0] - cpu_start
        server_cpu = source.complete_cpu[1] - server_cpu_start
        machine_end = machine_times()
        load_after = os.getloadavg()[0]
        await pilot.pause(0.2)
        rows = len(app.tests.keys)
        rss = psutil.Process().memory_info().rss
    server.close()
    report(ns, app, source, figures, elapsed, cpu, server_cpu, machine_start, machine_end)
    print(f"tests table rows: {rows:,}; page-downs while streaming: {scrolled}")
    print(f"app RSS at the end: {rss / 2**20:.0f} MB")
    print(f"load average {load_before:.1f} before, {load_after:.1f} after; {os.cpu_count()} CPUs")
    if server.received != source.expected + 1:  # and SessionFinish
        print(f"!! the server received {server.received:,} events, expected {source.expected:,}")


def report(
    ns: argparse.Namespace,
    app: MeasuredApp,
    source: ServerSource,
    figures: list[dict[str, Any]],
    elapsed: float,
    cpu: float,
    server_cpu: float,
    machine_start: tuple[float, float],
    machine_end: tuple[float, float],
) -> None:
    view = f"; sort {ns.sort!r}, filter {ns.filter!r}" if ns.sort or ns.filter else ""
    view += "; with history (ETA)" if ns.history else ""
    print(
        f"tests {ns.tests:,}, workers {ns.workers} (processes), target rate {ns.rate:,.0f}"
        f" events/s{view}; LINGER {sink_module.LINGER * 1000:g} ms, COALESCE"
        f" {server_module.COALESCE * 1000:g} ms, refresh {app.refresh_hz:g} Hz"
    )
    stream = sum(f["events"] for f in figures)
    print(
        f"events streamed: {stream:,} in {elapsed:.2f}s -> {stream / elapsed:,.0f} events/s"
        f" (wall clock, to the tick that drained the last one); largest drain"
        f" {source.max_backlog:,} events"
    )
    rows = app.refreshes
    lags = sorted(painted - b.oldest for painted, _, _, _, b in rows)
    print(
        f"lag production->screen: worst {ms(lags[-1])}, p99 {ms(pct(lags, 0.99))},"
        f" median {ms(lags[len(lags) // 2])} over {len(lags)} refreshes"
    )
    means = sorted(painted - b.mean for painted, _, _, _, b in rows)
    print(
        f"lag of a refresh's average event (the lag above is its oldest): median"
        f" {ms(means[len(means) // 2])}, worst {ms(means[-1])}"
    )
    waits = sorted(w for f in figures for w in f["waits"])
    behind = sorted(b for f in figures for b in f["behind"])
    writes = sum(f["writes"] for f in figures)
    seconds = max(f["seconds"] for f in figures)
    print(
        f"worker-side wait (due -> its batch written to the socket), over {len(waits):,}"
        f" events: median {ms(pct(waits, 0.5))}, p99 {ms(pct(waits, 0.99))}, worst"
        f" {ms(waits[-1])}; of which behind schedule (due -> handed to the sink): median"
        f" {ms(pct(behind, 0.5))}, p99 {ms(pct(behind, 0.99))}, worst {ms(behind[-1])}"
    )
    flusher = sum(f["flusher_cpu"] for f in figures) / len(figures) / seconds
    producer = sum(f["cpu"] for f in figures) / len(figures) / seconds
    print(
        f"per worker: {writes / len(figures) / seconds:.1f} writes/s; sink flusher thread"
        f" {flusher:.2%} of a CPU; the whole producer {producer:.1%}"
    )
    parts = [
        (painted - b.oldest, b.arrived - b.oldest, b.drained - b.arrived, end - begin,
         painted - end, b.events)
        for painted, begin, end, _, b in rows
    ]  # fmt: skip
    mid = len(parts) // 2
    cols = [sorted(p[i] for p in parts) for i in range(1, 5)]
    print(
        "oldest event's parts (median / p99): produced->read by the server"
        f" {ms(cols[0][mid])} / {ms(pct(cols[0], 0.99))}, read->drained by a tick"
        f" {ms(cols[1][mid])} / {ms(pct(cols[1], 0.99))}, tick {ms(cols[2][mid])} /"
        f" {ms(pct(cols[2], 0.99))}, tick end->painted {ms(cols[3][mid])} /"
        f" {ms(pct(cols[3], 0.99))}"
    )
    print(
        "worst refreshes (produced->read + read->tick + tick + painted, events): "
        + "; ".join(
            f"{ms(lag)} = {a * 1000:.0f} + {w * 1000:.0f} + {t * 1000:.0f} + {p * 1000:.0f} ({n:,})"
            for lag, a, w, t, p, n in sorted(parts, reverse=True)[:3]
        )
    )
    work = sorted(r[3] for r in rows)
    print(
        f"app thread CPU drain->screen: worst {ms(work[-1])}, p99 {ms(pct(work, 0.99))},"
        f" median {ms(work[len(work) // 2])}"
    )
    print(
        f"app process CPU: {cpu:.2f}s -> {stream / cpu:,.0f} events per CPU-second; of which"
        f" the server thread {server_cpu:.2f}s ({server_cpu / stream * 1e6:.1f} us per event:"
        " reads, decoding, queueing)"
    )
    busy = machine_end[0] - machine_start[0]
    steal = machine_end[1] - machine_start[1]
    capacity = elapsed * (os.cpu_count() or 1)
    producers = sum(f["cpu"] for f in figures)
    print(
        f"machine during the run: steal {steal / capacity:.0%} of its CPU time, other processes"
        f" {max(0.0, busy - cpu - producers) / capacity:.0%}, the producers"
        f" {producers / capacity:.0%}, the app {cpu / capacity:.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tests", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=8, help="producer processes")
    parser.add_argument("--rate", type=float, default=10_000, help="events per second in all")
    parser.add_argument(
        "--step", type=float, default=0.002, help="a producer's shortest sleep (seconds)"
    )
    parser.add_argument("--sort", default="", help="sort the tests table by this column")
    parser.add_argument("--filter", default="", help="filter the tests table (as typed after /)")
    parser.add_argument(
        "--history", action="store_true", help="expected durations for every test (an ETA)"
    )
    parser.add_argument("--refresh-hz", type=float, default=0.0, help="instead of REFRESH_HZ")
    parser.add_argument("--linger", type=float, default=0.0, help="instead of LINGER (seconds)")
    parser.add_argument("--coalesce", type=float, default=-1.0, help="instead of COALESCE")
    parser.add_argument("--record", default="", help="a record to measure decoding on")
    parser.add_argument("--no-decode", action="store_true", help="skip the decode measurement")
    ns = parser.parse_args()
    if ns.linger:
        sink_module.LINGER = ns.linger
    if ns.coalesce >= 0:
        server_module.COALESCE = ns.coalesce
    asyncio.run(run(ns))
    if not ns.no_decode:
        sys.stdout.flush()
        decode_cost.main([ns.record] if ns.record else [])


if __name__ == "__main__":
    main()
