"""How many events per second the dashboard absorbs, and how late they reach the screen.

    .venv/bin/python bench/ui_events.py [--tests 50000] [--workers 8] [--rate 20000]
        [--sort call] [--filter ":passed"] [--history] [--test-done]

A producer thread invents a run (every test: start, setup, call, teardown; fixtures; 1% of
tests fail with a traceback; a resource sample every 0.5 s) and pushes its events at
``--rate`` into a queue, as the event server's socket thread would. The app runs headless
at 160x48 and drains the queue on its 20 Hz timer. Lag is measured per refresh: from the
push of the oldest event in a drained batch to the moment the screen has been repainted
with it (``call_after_refresh``); the app thread's CPU time over the same span is its own
work, which other processes on the machine do not inflate. The app's RSS is read at the
end, with every test in the state and the tests table holding all rows.

``--sort`` and ``--filter`` set the tests table's view before the stream starts (a growing
filtered table changes its height every refresh). The events/s figure cannot exceed
``--rate``: the app keeps up when it is close to it and the largest drain (events waiting
at one refresh) stays near one refresh's worth.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Iterator

import psutil

from hotlap.model.run_state import RunState
from hotlap.protocol import (
    CollectionFinish,
    Event,
    FixtureSetup,
    FixtureTeardown,
    ResourceSample,
    SessionFinish,
    SessionStart,
    TestDone,
    TestReport,
    TestStart,
    WorkerStart,
)
from hotlap.ui.app import HotlapApp

TRACEBACK = "\n".join(
    ["    def test_x():", ">       assert compute() == 42", "E       assert 41 == 42"] * 5
)


def node_ids(tests: int) -> list[str]:
    """The invented run's node ids."""
    return [f"tests/test_mod{i // 100:03d}.py::test_case_{i}" for i in range(tests)]


def synthetic_run(tests: int, workers: int, test_done: bool = False) -> Iterator[Event]:
    """Events of an invented run; ``t`` is filled in by the producer at push time.

    ``test_done``: a passing test reports its three phases in one ``TestDone`` event, as
    the plugin sends them since protocol's ``test_done`` (failures still go phase by phase).
    """
    pid = os.getpid()
    names = node_ids(tests)
    lanes = [f"gw{i}" for i in range(workers)]
    yield SessionStart(
        "controller",
        pid,
        0.0,
        0.0,
        "controller",
        ["-n", str(workers)],
        "/p",
        "",
        "",
        "",
        "",
        workers,
    )
    for lane in lanes:
        yield WorkerStart(lane, pid, 0.0, 0.0)
    yield CollectionFinish(lanes[0], pid, 0.0, tests, names)
    for i, nodeid in enumerate(names):
        lane = lanes[i % workers]
        failed = i % 100 == 37
        yield TestStart(lane, pid, 0.0, nodeid, nodeid.split("::")[0], 10, nodeid)
        if i % 10 == 0:
            yield FixtureSetup(
                lane, pid, 0.0, "db", "function", "conftest.py:3", nodeid, 0.01, 0.01
            )
        if test_done and not failed:
            yield TestDone(
                lane, pid, 0.0, nodeid, 0.001, 0.001, 0.001, 0.0, 0.0, 0.001, 60_000_000, 60_000_000
            )
        for when in ("setup", "call", "teardown") if failed or not test_done else ():
            bad = failed and when == "call"
            yield TestReport(
                lane,
                pid,
                0.0,
                nodeid,
                when,
                "failed" if bad else "passed",
                ("failed" if bad else "passed") if when == "call" else "",
                when == "call",
                0.001,
                0.0,
                0.0,
                0.001,
                50_000_000,
                60_000_000,
                longrepr=TRACEBACK if bad else "",
            )
        if i % 10 == 0:
            yield FixtureTeardown(lane, pid, 0.0, "db", "function", "conftest.py:3", nodeid, 0.002)
    yield SessionFinish("controller", pid, 0.0, 1, {"passed": tests - tests // 100})


class PushSource:
    """An EventSource fed by a producer thread at a fixed rate (like the socket thread)."""

    def __init__(self, events: Iterator[Event], rate: float, workers: int) -> None:
        self.events = events
        self.rate = rate
        self.workers = workers
        self.queue: deque[tuple[float, Event]] = deque()
        self.pushed = 0
        self.done = False
        self.code: int | None = None
        self.batch_push_times: list[float] = []
        #: Per drained batch, the mean push time of its events (the oldest is in
        #: ``batch_push_times``): what an average event waited, for comparison.
        self.batch_mean_push: list[float] = []
        self.max_backlog = 0
        #: Per drained batch, how far behind its schedule the producer pushed the batch's
        #: latest-pushed event (push time minus due time): reporting only. An event pushed
        #: late is stamped late, so the wait before its push is not in the lag.
        self.batch_behind: list[float] = []
        self._behind = 0.0
        self.go = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _produce(self) -> None:
        import dataclasses

        # Start streaming once the app is up, so start-up is not measured as lag.
        self.go.wait()
        self.started = time.monotonic()
        step = 0.002
        next_sample = 0.0
        pid = os.getpid()
        for event in self.events:
            now = time.monotonic()
            due = (now - self.started) * self.rate
            while self.pushed >= due:  # ahead of schedule: wait for the clock
                time.sleep(step)
                now = time.monotonic()
                due = (now - self.started) * self.rate
            if now >= next_sample:
                next_sample = now + 0.5
                procs = [[pid, f"gw{i}", 90.0, 50_000_000] for i in range(self.workers)]
                sample = ResourceSample(
                    "app",
                    pid,
                    now,
                    procs,
                    90.0 * self.workers,
                    50_000_000 * self.workers,
                    [90.0] * (os.cpu_count() or 1),
                    8 << 30,
                    4 << 30,
                    float(self.workers),
                )
                self.queue.append((now, sample))
            self._behind = max(self._behind, now - self.started - self.pushed / self.rate)
            self.queue.append((now, dataclasses.replace(event, t=now)))
            self.pushed += 1
        self.done = True

    def drain(self) -> list[Event]:
        out: list[Event] = []
        queue = self.queue
        first = None
        total = 0.0
        while queue:
            pushed, event = queue.popleft()
            if first is None:
                first = pushed
            total += pushed
            out.append(event)
        if first is not None:
            self.batch_push_times.append(first)
            self.batch_mean_push.append(total / len(out))
            self.batch_behind.append(self._behind)
            self._behind = 0.0
        self.max_backlog = max(self.max_backlog, len(out))
        return out

    def cancel(self) -> None:
        self.done = True

    def poll(self) -> int | None:
        return 1 if self.done and not self.queue else None

    @property
    def summary_line(self) -> str:
        return ""

    @property
    def output(self) -> str:
        return ""


class MeasuredApp(HotlapApp):
    """Records, for every drained batch, when it was on screen."""

    lags: list[float]
    work: list[float]
    applied: int
    #: When the last tick that applied events ended (``time.monotonic``).
    last_applied: float
    #: Per measured refresh, where its lag went: (lag, waited before the tick, the tick,
    #: tick end to painted, events). Reporting only: ``lags`` is what the figures use.
    phases: list[tuple[float, float, float, float, int]]
    #: Per measured refresh, the lag of its batch's average event (reporting only).
    mean_lags: list[float]

    def tick(self) -> int:
        source = self.source
        assert isinstance(source, PushSource)
        before = len(source.batch_push_times)
        cpu = time.thread_time()
        started = time.monotonic()
        n = super().tick()
        ended = time.monotonic()
        self.applied = getattr(self, "applied", 0) + n
        if n:
            self.last_applied = ended
        if len(source.batch_push_times) > before:
            pushed = source.batch_push_times[-1]
            mean_pushed = source.batch_mean_push[-1]

            def painted() -> None:
                now = time.monotonic()
                self.lags.append(now - pushed)
                self.mean_lags.append(now - mean_pushed)
                # The app's own work for this batch (apply, refresh, paint), on this thread's
                # CPU clock: unlike the lag, it does not grow when other processes hold a core.
                self.work.append(time.thread_time() - cpu)
                self.phases.append(
                    (now - pushed, started - pushed, ended - started, now - ended, n)
                )

            self.call_after_refresh(painted)
        return n


async def run(
    tests: int,
    workers: int,
    rate: float,
    sort: str = "",
    text: str = "",
    history: bool = False,
    test_done: bool = False,
) -> None:
    source = PushSource(synthetic_run(tests, workers, test_done), rate, workers)
    app = MeasuredApp(
        source,
        RunState(),
        title="bench",
        pytest_args=["-n", str(workers)],
        effective_cores=float(workers),
        # With history the header shows an ETA computed from every test's expected time.
        expected=dict.fromkeys(node_ids(tests), 0.004) if history else {},
        slow_threshold=1.0,
        start_run=None,
    )
    app.lags = []
    app.last_applied = 0.0
    app.work = []
    app.phases = []
    app.mean_lags = []
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.5)
        if sort or text:
            app.tests.set_view(sort=sort or "order", text=text)
        source.go.set()
        start = time.monotonic()
        cpu_start = time.process_time()
        machine_start = psutil.cpu_times()
        scrolled = 0
        while app.active:
            await asyncio.sleep(0.25)
            # Scroll the tests table while the run streams, as a user would.
            await pilot.press("pagedown")
            scrolled += 1
        # The run's span ends when the app applied the last event, not when this loop (which
        # wakes every 0.25 s and presses a key) notices that the run is over.
        elapsed = app.last_applied - start
        cpu = time.process_time() - cpu_start
        machine = psutil.cpu_times()
        await pilot.pause(0.2)
        rows = len(app.tests.keys)
        rss = psutil.Process().memory_info().rss
    lags, work = sorted(app.lags), sorted(app.work)
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else 0.0
    work_p99 = work[int(len(work) * 0.99) - 1] if work else 0.0
    view = f"; sort {sort!r}, filter {text!r}" if sort or text else ""
    view += "; with history (ETA)" if history else ""
    view += "; passing tests in one test_done event" if test_done else ""
    print(f"tests {tests}, workers {workers}, target rate {rate:,.0f} events/s{view}")
    print(
        f"events applied: {app.applied:,} in {elapsed:.2f}s"
        f" -> {app.applied / elapsed:,.0f} events/s (wall clock, to the last event applied)"
        f"; largest drain {source.max_backlog:,} events"
    )
    print(
        f"lag event->screen: worst {lags[-1] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"median {lags[len(lags) // 2] * 1000:.0f} ms over {len(lags)} refreshes"
    )
    mean_lags = sorted(app.mean_lags)
    print(
        f"lag of a refresh's average event (the lag above is its oldest): median"
        f" {mean_lags[len(mean_lags) // 2] * 1000:.0f} ms, worst {mean_lags[-1] * 1000:.0f} ms"
    )
    print(
        f"app thread CPU drain->screen: worst {work[-1] * 1000:.0f} ms, p99 {work_p99 * 1000:.0f}"
        f" ms, median {work[len(work) // 2] * 1000:.0f} ms"
    )
    print(
        f"CPU (app + producer thread): {cpu:.2f}s -> {app.applied / cpu:,.0f} events per CPU-second"
        f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    # How much of the machine was not ours: CPU time the hypervisor took from this VM (steal)
    # and other processes' CPU time, as shares of the run's CPU capacity.
    capacity = elapsed * (os.cpu_count() or 1)
    steal = getattr(machine, "steal", 0.0) - getattr(machine_start, "steal", 0.0)
    busy = (machine.user + machine.system) - (machine_start.user + machine_start.system)
    print(
        f"machine during the run: steal {steal / capacity:.0%} of its CPU time,"
        f" other processes {max(0.0, busy - cpu) / capacity:.0%}"
    )
    behind = sorted(source.batch_behind)
    print(
        f"producer behind its schedule (push minus due time, per drained batch): median"
        f" {behind[len(behind) // 2] * 1000:.0f} ms, worst {behind[-1] * 1000:.0f} ms"
        " (an event pushed late is stamped late: its wait before the push is not in the lag)"
    )
    worst = sorted(app.phases, reverse=True)[:3]
    mid = len(app.phases) // 2
    waits, ticks, paints = (sorted(p[i] for p in app.phases) for i in (1, 2, 3))
    print(
        f"median wait for the tick {waits[mid] * 1000:.0f} ms, tick {ticks[mid] * 1000:.0f} ms,"
        f" tick end to painted {paints[mid] * 1000:.0f} ms"
    )
    print(
        "worst refreshes (waited for the tick + tick + tick end to painted, events): "
        + "; ".join(
            f"{lag * 1000:.0f} = {wait * 1000:.0f} + {tick * 1000:.0f} + {paint * 1000:.0f} ms"
            f" ({n:,})"
            for lag, wait, tick, paint, n in worst
        )
    )
    print(f"tests table rows: {rows:,}; page-downs while streaming: {scrolled}")
    print(f"app RSS at the end: {rss / 2**20:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--sort", default="", help="sort the tests table by this column")
    parser.add_argument("--filter", default="", help="filter the tests table (as typed after /)")
    parser.add_argument(
        "--history", action="store_true", help="expected durations for every test (an ETA)"
    )
    parser.add_argument(
        "--test-done",
        action="store_true",
        help="passing tests send start + test_done (2 events), not start + 3 reports",
    )
    ns = parser.parse_args()
    asyncio.run(run(ns.tests, ns.workers, ns.rate, ns.sort, ns.filter, ns.history, ns.test_done))


if __name__ == "__main__":
    main()
