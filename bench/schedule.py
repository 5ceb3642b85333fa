"""Wall time of a suite with skewed durations: hotlap's longest-first order against plain
``pytest -n auto``.

    .venv/bin/python bench/schedule.py [--rounds 5] [--workers auto] [--keep DIR]

Builds a suite of many short tests and a few long ones (collected last, as slow integration
tests often are) and times, by wall clock and by the CPU of the whole process tree, rounds of

* ``plain``:    ``pytest -n auto``
* ``plain2``:   the same again: its ratio to ``plain`` is the noise floor of the machine
* ``schedule``: ``pytest -n auto -p hotlap --hotlap-schedule=DURATIONS`` (the scheduler alone)
* ``hotlap``:   ``hotlap run --headless -- -n auto`` with history (two warm-up runs first)

in an order rotated each round, so neither drift nor warm caches favour one. Each variant's
ratio is the median of its per-round ratios to that round's ``plain`` run. Goal (issue 15):
``hotlap`` and ``schedule`` <= 0.95x of ``plain``, beyond the noise floor.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LONG = (1.6, 1.3, 1.0, 0.8)
SHORT = 80
SHORT_RANGE = (0.02, 0.08)
VARIANTS = ("plain", "plain2", "schedule", "hotlap")
GOAL = 0.95


def build_suite(root: Path, short: int = SHORT, seed: int = 1) -> float:
    """Short tests in four modules, then the long ones in a module collected last; returns
    the suite's seconds of tests."""
    rng = random.Random(seed)
    total = sum(LONG)
    for m in range(4):
        times = [round(rng.uniform(*SHORT_RANGE), 3) for _ in range(short // 4)]
        total += sum(times)
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
    return total


def hotlap_exe() -> list[str]:
    exe = Path(sys.executable).with_name("hotlap")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hotlap"]


def commands(root: Path, workers: str) -> dict[str, list[str]]:
    py = sys.executable
    common = ["-q", "-n", workers]
    durations = root / "durations.json"
    return {
        "plain": [py, "-m", "pytest", *common],
        "plain2": [py, "-m", "pytest", *common],
        "schedule": [py, "-m", "pytest", "-p", "hotlap", f"--hotlap-schedule={durations}",
                     *common],
        "hotlap": [*hotlap_exe(), "run", "--headless", "--no-impact", "--", *common],
    }  # fmt: skip


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) of one run; exits on a failure."""
    cpu0, t0 = _children_cpu(), time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.monotonic() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", default="auto", help="pytest's -n (default auto)")
    parser.add_argument("--short", type=int, default=SHORT, help="number of short tests")
    parser.add_argument("--keep", metavar="DIR", help="build the suite in DIR and keep it")
    ns = parser.parse_args(argv)
    root = Path(ns.keep) if ns.keep else Path(tempfile.mkdtemp(prefix="hotlap-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    total = build_suite(root, ns.short)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "hotlap", "-n", ns.workers,
         f"--hotlap-durations={root / 'durations.json'}"],
        cwd=root, capture_output=True, check=True, env=env,
    )  # fmt: skip
    cmds = commands(root, ns.workers)
    for _ in range(2):  # history for hotlap's schedule (a first run is not typical)
        timed(cmds["hotlap"], root, env)
    lo, hi = SHORT_RANGE
    print(
        f"suite: {ns.short} short tests ({lo * 1000:.0f}-{hi * 1000:.0f} ms) + long {list(LONG)}"
        f" s collected last, {total:.1f} s of tests; -n {ns.workers}; {ns.rounds} rounds;"
        f" load {os.getloadavg()[0]:.2f}; dir {root}"
    )
    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpus: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(ns.rounds):
        order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
        for variant in order:
            wall, cpu = timed(cmds[variant], root, env)
            walls[variant].append(wall)
            cpus[variant].append(cpu)
        print(
            f"round {r + 1}: " + "  ".join(f"{v} {walls[v][-1]:.2f}s" for v in VARIANTS),
            flush=True,
        )
    print(f"\n{'variant':10} {'wall':>7} {'ratio':>6} {'cpu':>7} {'ratio':>6}")
    ratios = {}
    for v in VARIANTS:
        wall_ratio = statistics.median(w / p for w, p in zip(walls[v], walls["plain"], strict=True))
        cpu_ratio = statistics.median(c / p for c, p in zip(cpus[v], cpus["plain"], strict=True))
        ratios[v] = wall_ratio
        print(
            f"{v:10} {statistics.median(walls[v]):6.2f}s {wall_ratio:6.3f}"
            f" {statistics.median(cpus[v]):6.2f}s {cpu_ratio:6.3f}"
        )
    floor = abs(1 - ratios["plain2"])
    for v in ("schedule", "hotlap"):
        verdict = "PASS" if ratios[v] <= GOAL and ratios[v] < 1 - floor else "FAIL"
        print(f"goal: {v} <= {GOAL}x of plain -n {ns.workers}, beyond the noise floor"
              f" (+-{floor:.3f}): {ratios[v]:.3f} {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
