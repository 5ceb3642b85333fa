"""What sending events through the xdist controller costs against the app's socket.

Runs a suite of ``--tests`` trivial tests with ``-n 2`` three ways, ``--runs`` times each in
alternation: plain pytest, hotlap's plugin sending straight to the socket (the default), and
the same forced through the controller's channel (``HOTLAP_VIA_CONTROLLER=1``, the path of
``--tx ssh=``/``socket=`` workers). This process plays the app: it owns the event socket and
notes when each event arrives. Per path it prints the median wall time, the CPU of the whole
process tree (``RUSAGE_CHILDREN``), the extra CPU per event over plain pytest, and the latency
of test starts (sent at once, not batched) from the worker's clock to the socket's reader.

    .venv/bin/python bench/remote_events.py --tests 2000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hotlap.runner import server as server_module
from hotlap.runner.server import EventServer

SUITE = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_trivial(i):
    pass
"""


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS"))
    }


def run_once(project: Path, mode: str) -> dict[str, float]:
    """One run: wall seconds, CPU seconds of the tree, events, test-start latencies (ms)."""
    env = clean_env()
    # Only xdist and hotlap: other installed plugins would cost the same in every mode.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "xdist.plugin", "-p", "no:cacheprovider"]
    args += ["-n", "2", "test_suite.py"]
    arrivals: list[tuple[float, list[object]]] = []
    server = None
    if mode != "plain":
        args[4:4] = ["-p", "hotlap"]
        lock = threading.Lock()

        def on_event() -> None:
            # In the server's thread, right after a read decoded its lines.
            now = time.monotonic()
            with lock:
                arrivals.append((now, server.drain() if server is not None else []))

        server = EventServer(on_event=on_event).start()
        env.update(server.env())
        env["HOTLAP_APP_PID"] = str(os.getpid())
        if mode == "controller":
            env["HOTLAP_VIA_CONTROLLER"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(args, cwd=project, env=env, capture_output=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{mode}: pytest exited {proc.returncode}\n{proc.stdout.decode()[-2000:]}")
    events = 0
    latencies: list[float] = []
    if server is not None:
        server.wait_quiet(timeout=5.0)
        server.close()
        for now, batch in arrivals:
            for event in batch:
                events += 1
                if getattr(event, "kind", "") == "test_start":
                    latencies.append((now - event.t) * 1000)  # type: ignore[attr-defined]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "events": float(events),
        "p50": statistics.median(latencies) if latencies else 0.0,
        "p99": statistics.quantiles(latencies, n=100)[98] if len(latencies) > 100 else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # The reader's 10 ms pause after each read lets lines pile up (on purpose, in the app);
    # here it would hide the paths' own latency.
    server_module.COALESCE = 0.0
    modes = ("plain", "socket", "controller")
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="hotlap-bench-remote-") as tmp:
        project = Path(tmp)
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "test_suite.py").write_text(SUITE.format(n=args.tests))
        for _ in range(args.runs):
            for mode in modes:
                results[mode].append(run_once(project, mode))

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results[mode])

    plain_cpu = med("plain", "cpu")
    load = os.getloadavg()[0]
    print(f"{args.tests} trivial tests, -n 2, median of {args.runs} runs (load {load:.1f})")
    print(f"{'path':<11} {'wall s':>7} {'CPU s':>7} {'events':>7} {'+CPU/event':>11} "
          f"{'start p50':>10} {'p99':>8}")  # fmt: skip
    for mode in modes:
        events = med(mode, "events")
        extra = (med(mode, "cpu") - plain_cpu) / events * 1e6 if events else 0.0
        print(
            f"{mode:<11} {med(mode, 'wall'):7.2f} {med(mode, 'cpu'):7.2f} {events:7.0f} "
            + (f"{extra:8.0f} us {med(mode, 'p50'):7.2f} ms {med(mode, 'p99'):5.1f} ms"
               if mode != "plain" else "")
        )  # fmt: skip
    socket_extra = med("socket", "cpu") - plain_cpu
    channel_extra = med("controller", "cpu") - plain_cpu
    if socket_extra > 0:
        print(f"controller path / socket path, extra CPU over plain pytest: "
              f"{channel_extra / socket_extra:.2f}x")  # fmt: skip
    print(f"wall: socket {med('socket', 'wall') / med('plain', 'wall'):.2f}x plain, "
          f"controller {med('controller', 'wall') / med('plain', 'wall'):.2f}x plain")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
