"""What the resource sampler costs: CPU seconds it uses per second of sampling, as % of a core.

Starts a tree of python processes like an xdist run (a controller, workers, a test's
subprocess), samples it at ``--hz`` for ``--seconds`` and divides this process's CPU time spent
inside ``sample()`` (``time.process_time``) by the wall time. The goal is < 2 % of one core.

    .venv/bin/python bench/sampler_cost.py --workers 4 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from hotlap.resources.sampler import ResourceSampler

TREE = r"""
import subprocess, sys, time
n = int(sys.argv[1])
kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(n)]
print(" ".join(str(k.pid) for k in kids), flush=True)
time.sleep(600)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="child processes of the root")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hz", type=float, default=2.0)
    args = parser.parse_args()

    root = subprocess.Popen(
        [sys.executable, "-c", TREE, str(args.workers)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert root.stdout is not None
        pids = [int(p) for p in root.stdout.readline().split()]
        workers = {pid: f"gw{i}" for i, pid in enumerate(pids)}
        sampler = ResourceSampler(root.pid)
        interval = 1.0 / args.hz
        cpu_used = 0.0
        samples = 0
        start = time.monotonic()
        next_t = start
        while time.monotonic() - start < args.seconds:
            c0 = time.process_time()
            sample = sampler.sample(workers)
            cpu_used += time.process_time() - c0
            samples += 1
            next_t += interval
            time.sleep(max(0.0, next_t - time.monotonic()))
        wall = time.monotonic() - start
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        root.wait()
    procs = len(sample.processes)
    print(
        f"{samples} samples of {procs} processes in {wall:.1f} s at {args.hz:g} Hz: "
        f"{cpu_used / samples * 1000:.2f} ms CPU per sample, "
        f"{cpu_used / wall * 100:.3f} % of one core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
