"""What the worker-side emitter costs per quick passing test, in a loop (no pytest run).

    .venv/bin/python bench/emitter_cost.py [--tests 2000] [--profile]

Builds real ``pytest.TestReport`` objects (setup, call, teardown of each test) and feeds
them to a :class:`~hotlap.plugin.worker.TestEmitter` the way a worker's hooks do: one
``pytest_runtest_logstart`` and three ``pytest_runtest_logreport`` calls per test, each
test going out as one ``TestDone`` through a batching sink whose writes go nowhere. Prints
the CPU time per test (best of 7 loops). The loop keeps the emitter's code and data in the
CPU's caches: a real worker, which runs pytest's own code between these calls, pays a few
times more. Read it to compare two versions of the emitter, not as the cost of a run (for
that: ``bench/overhead.py``, ``bench/profile_tree.py``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable

import _pytest.config
import pytest

from hotlap.plugin import sink as sink_module
from hotlap.plugin.role import Role
from hotlap.plugin.worker import TestEmitter


class _NullSink(sink_module.BatchingSink):
    def _write(self, data: bytes) -> bool:
        return True


def _config() -> pytest.Config:
    args = ["-p", "no:cacheprovider"]
    config = _pytest.config.get_config(args)
    parsed: pytest.Config = config.pluginmanager.hook.pytest_cmdline_parse(
        pluginmanager=config.pluginmanager, args=args
    )
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="also one cProfile'd loop")
    args = parser.parse_args()
    sink_module.live_view = False  # no flusher thread: an exports run's workers
    emitter = TestEmitter(_config(), _NullSink(), "gw0", Role.WORKER)
    tests = []
    for i in range(args.tests):
        nodeid, location = f"test_x.py::test_{i}", ("test_x.py", i, f"test_{i}")
        phases = [
            pytest.TestReport(nodeid, location, {}, "passed", None, when, [], 1e-4, 1.0, 1.0001)
            for when in ("setup", "call", "teardown")
        ]
        tests.append((nodeid, location, phases))

    def loop() -> None:
        for nodeid, location, phases in tests:
            emitter.pytest_runtest_logstart(nodeid, location)
            for report in phases:
                emitter.pytest_runtest_logreport(report)

    loop()  # warm-up
    best = min(_timed(loop) for _ in range(7))
    print(f"emitter: {best / args.tests * 1e6:.2f} us CPU per quick passing test (best of 7)")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        loop()
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


def _timed(work: Callable[[], None]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


if __name__ == "__main__":
    main()
