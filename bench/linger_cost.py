"""What the sink's batch wait (``LINGER``) costs the workers, per value tried.

    .venv/bin/python bench/linger_cost.py [--lingers 0.1,0.05,0.025,0.02,0.01] [--rounds 3]

A shorter wait shows events sooner (bench/ui_events.py) and wakes each worker's flusher
thread more often. Real ``pytest -p hotlap -n 2`` runs send to an event server in this
process (as the app's); a conftest sets ``LINGER`` in the workers (with ``--coupled`` also the
worker's ``ANNOUNCE_AFTER``, as when both were one constant; with ``--via-controller`` the
workers send through the xdist controller, as remote workers do). Three suites, the values
alternated in each round:

- idle: each worker runs one test that sleeps 4 s and measures its own process's CPU time
  meanwhile (the flusher's wake-ups; plain pytest for comparison): CPU per second per worker;
- trivial: ``--tests`` passing tests; the process tree's CPU (``RUSAGE_CHILDREN``) and the
  events the server received;
- 30 ms: 200 tests that sleep 30 ms: events per test (1 if each is one TestDone; with
  ``--coupled`` and a LINGER under 30 ms, a test is announced and sends its phases).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hotlap.runner.server import EventServer

CONFTEST = """
import os
linger = os.environ.get("BENCH_LINGER")
if linger:
    import hotlap.plugin.sink, hotlap.plugin.worker
    hotlap.plugin.sink.LINGER = float(linger)
    if os.environ.get("BENCH_COUPLED"):
        hotlap.plugin.worker.ANNOUNCE_AFTER = float(linger)
"""

IDLE = """
import os, time

def _idle(i):
    time.sleep(0.5)  # let the session's start-up settle
    cpu = time.process_time()
    time.sleep(4.0)
    cpu = time.process_time() - cpu
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.path.join(os.environ["BENCH_OUT"], f"{worker}-{i}"), "w") as f:
        f.write(repr(cpu / 4.0))

def test_idle_a():
    _idle(0)

def test_idle_b():
    _idle(1)
"""

TRIVIAL = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_trivial(i):
    pass
"""

SLEEPY = """
import time, pytest

@pytest.mark.parametrize("i", range(200))
def test_30ms(i):
    time.sleep(0.03)
"""


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "BENCH_"))
    }


def run_once(
    project: Path, suite: str, linger: float | None, coupled: bool = False, via: bool = False
) -> tuple[float, float, int]:
    """One run: (wall seconds, CPU seconds of the tree, events received); ``linger`` None:
    plain pytest."""
    env = clean_env()
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["BENCH_OUT"] = str(project / "out")
    args = [sys.executable, "-m", "pytest", "-q", "-p", "xdist.plugin", "-p", "no:cacheprovider"]
    args += ["-n", "2", suite]
    server = None
    if linger is not None:
        args[4:4] = ["-p", "hotlap"]
        server = EventServer().start()
        env.update(server.env())
        env["HOTLAP_APP_PID"] = str(os.getpid())
        env["BENCH_LINGER"] = repr(linger)
        if coupled:
            env["BENCH_COUPLED"] = "1"
        if via:
            env["HOTLAP_VIA_CONTROLLER"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(args, cwd=project, env=env, capture_output=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{suite}: pytest exited {proc.returncode}\n{proc.stdout.decode()[-2000:]}")
    events = 0
    if server is not None:
        server.wait_quiet(timeout=5.0)
        events = server.received
        server.close()
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, events


def idle_cpu(project: Path) -> list[float]:
    """Each idle test's CPU per second, from the files the last run wrote."""
    out = project / "out"
    values = [float(p.read_text()) for p in out.iterdir()]
    for p in out.iterdir():
        p.unlink()
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lingers", default="0.1,0.05,0.025,0.02,0.01")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tests", type=int, default=4000)
    parser.add_argument(
        "--coupled", action="store_true", help="ANNOUNCE_AFTER = LINGER (the old coupling)"
    )
    parser.add_argument(
        "--via-controller",
        action="store_true",
        help="workers send through the xdist controller (the path of remote workers)",
    )
    args = parser.parse_args()
    lingers: list[float | None] = [None, *map(float, args.lingers.split(","))]
    idle: dict[float | None, list[float]] = {v: [] for v in lingers}
    trivial: dict[float | None, list[tuple[float, float, int]]] = {v: [] for v in lingers}
    sleepy: dict[float | None, list[tuple[float, float, int]]] = {v: [] for v in lingers}
    with tempfile.TemporaryDirectory(prefix="hotlap-bench-linger-") as tmp:
        project = Path(tmp)
        (project / "out").mkdir()
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "conftest.py").write_text(CONFTEST)
        (project / "test_idle.py").write_text(IDLE)
        (project / "test_trivial.py").write_text(TRIVIAL.format(n=args.tests))
        (project / "test_sleepy.py").write_text(SLEEPY)
        for r in range(args.rounds):
            order = lingers[r % len(lingers) :] + lingers[: r % len(lingers)]
            for value in order:
                flags = (args.coupled, args.via_controller)
                run_once(project, "test_idle.py", value, *flags)
                idle[value] += idle_cpu(project)
                trivial[value].append(run_once(project, "test_trivial.py", value, *flags))
                sleepy[value].append(run_once(project, "test_sleepy.py", value, *flags))
    load = os.getloadavg()[0]
    how = "; ANNOUNCE_AFTER = LINGER" if args.coupled else ""
    how += "; through the xdist controller" if args.via_controller else ""
    print(f"-n 2, {args.rounds} rounds alternated{how}, load average {load:.1f} at the end")
    print(
        f"{'LINGER':>8} {'idle CPU/s per worker':>22} | {'trivial: CPU s':>14} {'events':>7} |"
        f" {'30 ms tests: CPU s':>18} {'events/test':>11}"
    )
    for value in lingers:
        med_idle = statistics.median(idle[value])
        t_cpu = statistics.median(c for _, c, _ in trivial[value])
        t_events = statistics.median(e for _, _, e in trivial[value])
        s_cpu = statistics.median(c for _, c, _ in sleepy[value])
        s_events = statistics.median(e for _, _, e in sleepy[value])
        name = "plain" if value is None else f"{value * 1000:g} ms"
        print(
            f"{name:>8} {med_idle:21.3%}  | {t_cpu:14.2f} {t_events:7.0f} |"
            f" {s_cpu:18.2f} {s_events / 200:11.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
