"""Makespan of a skewed suite under xdist's schedulers and hotlap's longest-first schedule.

    .venv/bin/python bench/schedule.py [--workers 2] [--repeat 3] [--keep DIR]

Builds a suite of many short tests and a few long ones (collected last, as slow integration
tests often are), records its durations once, then runs it with ``pytest -n W``,
``pytest -n W --dist worksteal`` and ``pytest -n W --hotlap-schedule=durations``. For each run
it prints the makespan (first test start to last test end, from hotlap's JSON report, so
worker start-up is not counted) over the lower bound max(longest test, total / workers), both
from that run's own test durations; the median of ``--repeat`` runs is shown. Two more columns
split the distance to the bound: the imbalance of the workers' test seconds (what a scheduler
controls) and the mean gap between tests on a worker (per-test overhead, which the bound does
not include and which grows when the machine is loaded).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

LONG = (1.6, 1.3, 1.0, 0.8)
SHORT = 80
SHORT_RANGE = (0.02, 0.08)


def build_suite(root: Path, short: int = SHORT, seed: int = 1) -> None:
    """Short tests in four modules, then the long ones in a module collected last."""
    rng = random.Random(seed)
    for m in range(4):
        times = [round(rng.uniform(*SHORT_RANGE), 3) for _ in range(short // 4)]
        (root / f"test_a{m}_short.py").write_text(
            "import time, pytest\n\n"
            f"@pytest.mark.parametrize('t', {times!r})\n"
            "def test_short(t):\n    time.sleep(t)\n"
        )
    (root / "test_z_long.py").write_text(
        "import time, pytest\n\n"
        f"@pytest.mark.parametrize('t', {list(LONG)!r})\n"
        "def test_long(t):\n    time.sleep(t)\n"
    )
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -p no:randomly\n")


class Sample(NamedTuple):
    """One run: makespan and its lower bound, plus what separates them."""

    makespan: float
    bound: float
    imbalance: float  # busiest worker's test seconds minus the idlest's
    gap: float  # mean seconds between one test's end and the next one's start on a worker


def run(root: Path, args: list[str], report: Path) -> Sample:
    """Makespan, lower bound, imbalance and per-test gap of one ``pytest`` run."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "hotlap", "-W", "ignore",
           f"--hotlap-json={report}", *args]  # fmt: skip
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(report.read_text())
    tests = [t for t in data["tests"] if t["start"] is not None]
    first = min(t["start"] for t in tests)
    last = max(t["start"] + t["duration"] for t in tests)
    durations = [t["duration"] for t in tests]
    workers = max(1, len(data["run"]["worker_ids"]))
    lanes: dict[str, list[dict[str, float]]] = {}
    for t in tests:
        lanes.setdefault(t["worker"], []).append(t)
    busy = [sum(t["duration"] for t in lane) for lane in lanes.values()]
    gaps = []
    for lane in lanes.values():
        lane.sort(key=lambda t: t["start"])
        gaps += [b["start"] - a["start"] - a["duration"] for a, b in pairwise(lane)]
    return Sample(
        last - first,
        max(max(durations), sum(durations) / workers),
        max(busy) - min(busy) if len(busy) == workers else max(busy),
        statistics.mean(gaps) if gaps else 0.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--short", type=int, default=SHORT, help="number of short tests")
    parser.add_argument("--keep", metavar="DIR", help="build the suite in DIR and keep it")
    ns = parser.parse_args(argv)
    root = Path(ns.keep) if ns.keep else Path(tempfile.mkdtemp(prefix="hotlap-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    build_suite(root, ns.short)
    n = str(ns.workers)
    durations = root / "durations.json"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "hotlap", "-n", n,
         f"--hotlap-durations={durations}"],
        cwd=root, capture_output=True, check=True,
    )  # fmt: skip
    modes = {
        f"pytest -n {n}": ["-n", n],
        f"pytest -n {n} --dist worksteal": ["-n", n, "--dist", "worksteal"],
        f"hotlap schedule (-n {n})": ["-n", n, f"--hotlap-schedule={durations}"],
    }
    lo, hi = SHORT_RANGE
    total = sum(LONG) + (lo + hi) / 2 * ns.short
    print(
        f"suite: {ns.short} short tests ({lo * 1000:.0f}-{hi * 1000:.0f} ms) + long {list(LONG)} s,"
        f" ~{total:.1f} s of tests,"
    )
    print(f"{ns.workers} workers, median of {ns.repeat} runs; dir {root}")
    print(f"{'mode':36} {'makespan':>9} {'bound':>7} {'ratio':>6} {'imbalance':>9} {'gap/test':>8}")
    results = {}
    for m, (name, args) in enumerate(modes.items()):
        samples = [run(root, args, root / f"report-{m}-{i}.json") for i in range(ns.repeat)]
        ratio = statistics.median(s.makespan / s.bound for s in samples)
        results[name] = ratio
        print(
            f"{name:36} {statistics.median(s.makespan for s in samples):8.2f}s"
            f" {statistics.median(s.bound for s in samples):6.2f}s {ratio:6.3f}"
            f" {statistics.median(s.imbalance for s in samples):8.2f}s"
            f" {1000 * statistics.median(s.gap for s in samples):6.1f}ms"
        )
    ours = results[f"hotlap schedule (-n {n})"]
    best_xdist = min(v for k, v in results.items() if not k.startswith("hotlap"))
    verdict = "PASS" if ours <= 1.05 and ours < best_xdist else "FAIL"
    print(f"goal: hotlap <= 1.05 and better than both xdist modes: {verdict}")
    print(
        "imbalance: busiest minus idlest worker's test seconds (the scheduler's part);"
        " gap/test: time between tests on a worker (pytest/xdist/plugin overhead, grows with load)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
