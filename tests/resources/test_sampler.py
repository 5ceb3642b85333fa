"""The psutil sampler on a real process tree: lanes, RSS, CPU, vanishing processes, the thread."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from hotlap.protocol import ResourceSample, decode, encode
from hotlap.resources.sampler import ResourceSampler, SamplerThread, _procfs_children_supported

TREE_SCRIPT = r"""
import subprocess, sys, time

mode = sys.argv[1]
if mode == "root":
    burner_parent = subprocess.Popen(
        [sys.executable, __file__, "worker"], stdout=subprocess.PIPE, text=True
    )
    sleeper = subprocess.Popen([sys.executable, __file__, "sleep"])
    grandchild = burner_parent.stdout.readline().strip()
    print(burner_parent.pid, sleeper.pid, grandchild, flush=True)
    time.sleep(60)
elif mode == "worker":
    burner = subprocess.Popen([sys.executable, __file__, "burn"])
    print(burner.pid, flush=True)
    time.sleep(60)
elif mode == "burn":
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pass
else:
    time.sleep(60)
"""


@dataclass
class Tree:
    """Pids of the tree: root (like the xdist controller), two workers, one grandchild."""

    root: int
    worker_a: int  # its child ``burner`` burns CPU
    worker_b: int  # sleeps
    burner: int


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    """Start the tree in its own session; kill the whole group afterwards."""
    script = tmp_path / "tree.py"
    script.write_text(TREE_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), "root"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        worker_a, worker_b, burner = (int(x) for x in line.split())
        yield Tree(proc.pid, worker_a, worker_b, burner)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def rows_by_pid(sample: ResourceSample) -> dict[int, list[object]]:
    return {int(row[0]): row for row in sample.processes}


def lanes(tree: Tree) -> dict[int, str]:
    return {tree.worker_a: "gw0", tree.worker_b: "gw1"}


@pytest.mark.parametrize("procfs", [True, False], ids=["procfs-tree", "psutil-tree"])
def test_every_process_is_attributed_to_its_nearest_worker(tree: Tree, procfs: bool) -> None:
    """Workers get their lane, the burner grandchild its worker's lane, the root none —
    whether the tree is read from procfs children lists or from psutil's children()."""
    if procfs and not _procfs_children_supported():
        pytest.skip("no /proc/<pid>/task/<tid>/children here")
    sampler = ResourceSampler(tree.root)
    sampler._procfs = procfs
    sample = sampler.sample(lanes(tree))
    rows = rows_by_pid(sample)
    assert set(rows) == {tree.root, tree.worker_a, tree.worker_b, tree.burner}
    assert rows[tree.root][1] == ""
    assert rows[tree.worker_a][1] == "gw0"
    assert rows[tree.burner][1] == "gw0"
    assert rows[tree.worker_b][1] == "gw1"
    assert sample.worker == "app"
    assert sample.pid == os.getpid()


def test_rss_memory_and_cores_are_reported(tree: Tree) -> None:
    """Every process has RSS > 0, totals add up, and machine-wide figures are filled in."""
    sample = ResourceSampler(tree.root).sample(lanes(tree))
    assert all(int(row[3]) > 0 for row in sample.processes)
    assert sample.total_rss == sum(int(row[3]) for row in sample.processes)
    assert sample.mem_total > 0
    assert 0 < sample.mem_available <= sample.mem_total
    assert len(sample.per_core) == psutil.cpu_count()
    assert sample.effective_cores >= 1
    assert decode(encode(sample)) == sample  # it crosses the protocol unchanged


def test_first_reading_is_zero_and_the_second_shows_the_burner(tree: Tree) -> None:
    """A new process reports 0.0 first (psutil's first cpu_percent is meaningless), then > 0."""
    sampler = ResourceSampler(tree.root)
    first = sampler.sample(lanes(tree))
    assert all(row[2] == 0.0 for row in first.processes)
    time.sleep(0.4)
    second = rows_by_pid(sampler.sample(lanes(tree)))
    assert float(second[tree.burner][2]) > 0.0
    assert float(second[tree.burner][2]) > float(second[tree.worker_b][2])


@pytest.mark.parametrize("procfs", [True, False], ids=["procfs-tree", "psutil-tree"])
def test_a_process_that_exits_between_samples_is_dropped(tree: Tree, procfs: bool) -> None:
    """Killing a worker (and its child) between samples removes them without an exception."""
    sampler = ResourceSampler(tree.root)
    sampler._procfs = procfs and sampler._procfs
    sampler.sample(lanes(tree))
    os.kill(tree.burner, signal.SIGKILL)
    os.kill(tree.worker_a, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = rows_by_pid(sampler.sample(lanes(tree)))
        if tree.worker_a not in rows and tree.burner not in rows:
            break
        time.sleep(0.05)
    assert tree.worker_a not in rows
    assert tree.burner not in rows
    assert rows[tree.worker_b][1] == "gw1"


def test_a_process_that_vanishes_mid_sample_does_not_raise(tree: Tree) -> None:
    """A process psutil listed but that is dead by the time it is read is skipped."""
    doomed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    doomed_proc = psutil.Process(doomed.pid)
    doomed.kill()
    doomed.wait()

    class RacingSampler(ResourceSampler):
        def _tree(self) -> list[tuple[int, float, psutil.Process | None]]:
            return [*super()._tree(), (doomed.pid, 1.0, doomed_proc)]

    sample = RacingSampler(tree.root).sample(lanes(tree))
    rows = rows_by_pid(sample)
    assert doomed.pid not in rows
    assert tree.worker_a in rows


def test_a_root_that_is_gone_gives_an_empty_sample() -> None:
    """Sampling a pytest that already exited returns no processes but machine figures."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    sample = ResourceSampler(done.pid).sample({done.pid: "main"})
    assert sample.processes == []
    assert sample.total_cpu == 0.0
    assert sample.mem_total > 0


def test_a_reused_pid_starts_a_fresh_reading(tree: Tree) -> None:
    """A cached process whose create time no longer matches is replaced, not trusted."""
    sampler = ResourceSampler(tree.root)
    sampler.sample(lanes(tree))
    stale = sampler._tracked[tree.burner]
    stale.created -= 1000.0  # as if the pid now belonged to another, newer process
    time.sleep(0.2)
    rows = rows_by_pid(sampler.sample(lanes(tree)))
    assert sampler._tracked[tree.burner] is not stale
    assert rows[tree.burner][2] == 0.0  # its first reading again


def test_sampler_thread_delivers_samples_and_survives_errors(tree: Tree) -> None:
    """Errors in the callbacks skip a sample; the thread keeps going and stops promptly."""
    got: list[ResourceSample] = []
    calls = 0

    def workers() -> dict[int, str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the runner had no map yet")
        return lanes(tree)

    def on_sample(sample: ResourceSample) -> None:
        if len(got) == 0 and calls == 1:
            got.append(sample)
            raise ValueError("a view failed")
        got.append(sample)

    thread = SamplerThread(ResourceSampler(tree.root), workers, on_sample, interval=0.05)
    thread.start()
    deadline = time.monotonic() + 10
    while len(got) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    thread.stop()
    assert len(got) >= 4
    assert thread.errors >= 2
    assert not any(t.name == "hotlap-sampler" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize("interval", [0.5])
def test_sampler_thread_stops_within_one_interval(interval: float) -> None:
    """stop() returns well before a second interval elapses, even mid-wait."""
    thread = SamplerThread(ResourceSampler(os.getpid()), dict, lambda s: None, interval=interval)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    thread.stop()
    assert time.monotonic() - started < interval + 1.0
    assert not thread._thread.is_alive()
