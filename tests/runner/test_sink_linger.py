"""How long a test process holds quick tests' events, and which thread sends them.

Every write to the app's socket that finds the app's reader waiting wakes it, and on a
machine of two cores that wake-up is paid by the tests; so is every wake of the sink's
flusher thread, which takes the GIL from the thread that runs them. A headless run lets
events wait longer (the app says how long, ``HOTLAP_LINGER``), and a busy process sends its
batches itself instead of waking the flusher for them.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hotlap.channel import ENV_LINGER
from hotlap.commands.run import headless_linger
from hotlap.plugin import sink as sink_module
from hotlap.plugin.sink import LINGER, BatchingSink, linger_from_env
from hotlap.protocol import TestDone, WorkerCrash


class RecordingSink(BatchingSink):
    """Keeps each batch it would write, with the thread that wrote it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[int, bytes]] = []

    def _write(self, data: bytes) -> bool:
        self.batches.append((threading.get_ident(), data))
        return True


def _done(n: int) -> TestDone:
    return TestDone(
        "gw0", os.getpid(), time.monotonic(), nodeid=f"t.py::test_{n}",
        setup=0.0, call=0.0, teardown=0.0, start=0.0, stop=0.0, cpu=0.0, rss=0, maxrss=0,
    )  # fmt: skip


def _send_quick_tests(sink: BatchingSink, seconds: float, every: float) -> int:
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sink.send(_done(n))
        n += 1
        time.sleep(every)
    return n


def test_the_app_can_ask_a_sink_to_hold_quick_events_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``HOTLAP_LINGER=1.5`` quick tests' events sent over 0.3 s stay in the process
    (the dashboard's 20 ms would have sent them in batches); a crash goes at once and takes
    them along, in order."""
    monkeypatch.setenv(ENV_LINGER, "1.5")
    sink = RecordingSink()
    try:
        sent = _send_quick_tests(sink, seconds=0.3, every=0.01)
        assert sink.batches == []
        sink.send(WorkerCrash("gw0", os.getpid(), time.monotonic(), "gw1", "", "gone"))
        assert len(sink.batches) == 1
        lines = sink.batches[0][1].splitlines()
        assert len(lines) == sent + 1
        assert b"test_0" in lines[0] and b"worker_crash" in lines[-1]
    finally:
        sink.close()


def test_a_busy_process_sends_its_batches_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events sent steadily leave every ``linger`` seconds from the thread that sends them:
    the flusher thread (made to sleep here) is not woken for them."""
    monkeypatch.delenv(ENV_LINGER, raising=False)
    monkeypatch.setattr(sink_module, "TICK", 30.0)
    sink = RecordingSink()
    try:
        sent = _send_quick_tests(sink, seconds=0.4, every=0.005)
        senders = {ident for ident, _ in sink.batches}
        assert senders == {threading.get_ident()}, "a batch left from another thread"
        assert len(sink.batches) >= 4  # 0.4 s at 20 ms, with room for a slow machine
        held = sum(len(data.splitlines()) for _, data in sink.batches)
        assert 0 < sent - held <= sent // 2  # the newest still wait for company
    finally:
        sink.close()


def test_a_quiet_process_still_sends_what_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that goes quiet (a worker waiting for its next tests) has its last events
    sent by the flusher thread, within a tick."""
    monkeypatch.setenv(ENV_LINGER, "0.05")
    sink = RecordingSink()
    try:
        sink.send(_done(0))
        deadline = time.monotonic() + 5.0
        while not sink.batches and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(sink.batches) == 1
        assert sink.batches[0][0] != threading.get_ident()
    finally:
        sink.close()


@pytest.mark.parametrize(
    ("asked", "linger"),
    [("", LINGER), ("0.5", 0.5), ("nan", LINGER), ("0.001", LINGER), ("99", LINGER), ("x", LINGER)],
)
def test_only_a_sane_linger_is_taken(
    monkeypatch: pytest.MonkeyPatch, asked: str, linger: float
) -> None:
    monkeypatch.setenv(ENV_LINGER, asked)
    assert linger_from_env() == linger


def test_headless_runs_hold_events_a_quarter_of_the_progress_interval() -> None:
    assert headless_linger(2.0) == 0.5  # the default interval
    assert headless_linger(10.0) == 0.5  # CI's: half a second at most
    assert headless_linger(0.2) == 0.05
    assert headless_linger(0.01) == LINGER  # never shorter than the dashboard's


CONFTEST = """
    import os


    def pytest_configure(config):
        if hasattr(config, "workerinput") or not os.environ.get("PYTEST_XDIST_WORKER"):
            with open(os.environ["LINGER_SEEN"], "a") as f:
                f.write(os.environ.get("HOTLAP_LINGER", "-") + "\\n")
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_headless_run_tells_its_test_processes(tmp_path: Path, h: Any, workers: str) -> None:
    """``hotlap run --headless`` gives every process that runs tests its linger (from
    ``--progress-interval``)."""
    project = h.write_project(
        tmp_path / "p", {"conftest.py": CONFTEST, "test_a.py": "def test_a():\n    pass\n"}
    )
    seen = tmp_path / "seen.txt"
    result = h.run_hotlap(
        project, "run", "--headless", "--no-history", "--no-impact", "--progress-interval",
        "0.4", "--", "-n", workers, "-p", "no:cacheprovider",
        env={"LINGER_SEEN": str(seen)},
    )  # fmt: skip
    assert result.code == 0, result.describe()
    values = seen.read_text().split()
    assert values and set(values) == {"0.1"}, values
