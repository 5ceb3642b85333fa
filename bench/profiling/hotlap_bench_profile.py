"""cProfile in every pytest process of a run (controller, xdist workers, a lone pytest).

Loaded through ``PYTEST_PLUGINS=hotlap_bench_profile`` with this directory on ``PYTHONPATH``
(``bench/profile_tree.py`` sets both), so the suite's own configuration and hotlap's command
line are unchanged and xdist's workers, which inherit the environment, load it too. Inert
unless ``BENCH_PROFILE_DIR`` names a directory. The profiler starts when pytest imports this
module (while it reads its plugins, before collection) and stops at ``pytest_unconfigure``;
threads started after the import are profiled too, each with its own profiler, and merged.
Each process writes ``<role>-<pid>.prof`` (pstats) and ``<role>-<pid>.json`` (tests it saw,
its own CPU seconds) to that directory.
"""

from __future__ import annotations

import json
import os
import resource

import pytest
from hotlap_bench_threads import Profiles

_DIR = os.environ.get("BENCH_PROFILE_DIR")
_profiles = Profiles() if _DIR else None
_tests = 0
_reports = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Counts the tests this process ran (or, in the controller, heard of)."""
    global _tests, _reports
    _reports += 1
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _tests += 1


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _profiles is None or _DIR is None:
        return
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        role = str(workerinput.get("workerid", "worker"))
    elif getattr(config.option, "numprocesses", None) or getattr(config.option, "tx", None):
        role = "controller"
    else:
        role = "pytest"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    name = f"{role}-{os.getpid()}"
    _profiles.dump(os.path.join(_DIR, f"{name}.prof"))
    meta = {
        "role": role,
        "pid": os.getpid(),
        "tests": _tests,
        "reports": _reports,
        "cpu": usage.ru_utime + usage.ru_stime,
    }
    with open(os.path.join(_DIR, f"{name}.json"), "w") as f:
        json.dump(meta, f)
