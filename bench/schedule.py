"""Makespan of a skewed suite under xdist's schedulers and hotlap's longest-first schedule.

    .venv/bin/python bench/schedule.py [--workers 2] [--repeat 3] [--keep DIR]

Builds a suite of many short tests and a few long ones (collected last, as slow integration
tests often are), records its durations once, then runs it with ``pytest -n W``,
``pytest -n W --dist worksteal`` and ``pytest -n W --hotlap-schedule=durations``. For each run
it prints the makespan (first test start to last test end, from hotlap's JSON report, so
worker start-up is not counted) over the lower bound max(longest test, total / workers), both
from that run's own test durations. The median of ``--repeat`` runs is shown.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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


def run(root: Path, args: list[str], report: Path) -> tuple[float, float]:
    """(makespan, lower bound) of one ``pytest`` run."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "hotlap",
        "-W",
        "ignore",
        f"--hotlap-json={report}",
        *args,
    ]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(report.read_text())
    tests = [t for t in data["tests"] if t["start"] is not None]
    first = min(t["start"] for t in tests)
    last = max(t["start"] + t["duration"] for t in tests)
    durations = [t["duration"] for t in tests]
    workers = max(1, len(data["run"]["worker_ids"]))
    return last - first, max(max(durations), sum(durations) / workers)


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
    print(f"{'mode':36} {'makespan':>9} {'bound':>7} {'ratio':>6}")
    results = {}
    for name, args in modes.items():
        samples = [run(root, args, root / f"report-{i}.json") for i in range(ns.repeat)]
        ratio = statistics.median(m / b for m, b in samples)
        makespan = statistics.median(m for m, _ in samples)
        bound = statistics.median(b for _, b in samples)
        results[name] = ratio
        print(f"{name:36} {makespan:8.2f}s {bound:6.2f}s {ratio:6.3f}")
    ours = results[f"hotlap schedule (-n {n})"]
    best_xdist = min(v for k, v in results.items() if not k.startswith("hotlap"))
    verdict = "PASS" if ours <= 1.05 and ours < best_xdist else "FAIL"
    print(f"goal: hotlap <= 1.05 and better than both xdist modes: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
