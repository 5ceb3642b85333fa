"""Tests that leave the process changed for the tests after them: hotlap must still count
what pytest counts and write valid exports.

* a test replaces ``json.dumps`` and never restores it: the events encoded after it, and a
  plain ``pytest -p hotlap`` run's exports, were that test's "garbage";
* a test forks and its child, instead of exiting, runs the rest of the session: the child's
  events counted every later test twice.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

JSON_LEAK = {
    "test_leak.py": """
        import json

        def test_a_leak():
            json.dumps = lambda *a, **k: "garbage"

        def test_b():
            pass

        def test_c():
            assert False, "fails after the leak"
    """,
}

FORK = {
    "test_fork.py": """
        import os

        def test_fork_no_exit():
            pid = os.fork()
            if pid:
                os.waitpid(pid, 0)

        def test_after_1():
            pass

        def test_after_2():
            assert 0
    """,
}

EXPECTED = {"failed": 1, "passed": 2}


def _outcomes(report: dict[str, Any]) -> list[str]:
    return sorted(t["outcome"] for t in report["tests"])


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_test_that_replaces_json_dumps(hx: Any, workers: str) -> None:
    """``hotlap run`` and a plain ``pytest --hotlap-json`` run count all three tests, decode
    every event and write valid JSON (every failure of this test read "garbage")."""
    project = hx.project(JSON_LEAK)
    hot = hx.hotlap(project, "-n", workers)
    assert hot.code == 1, hot.describe()
    assert hot.report["run"]["counts"] == EXPECTED, hot.describe()
    assert hot.report["run"]["malformed_events"] == 0, hot.describe()
    assert _outcomes(hot.report) == ["failed", "passed", "passed"], hot.describe()
    assert "CRASHED" not in hot.output, hot.describe()
    plugin = hx.plugin(project, "-n", workers)  # load_report: strict, ASCII JSON
    assert plugin.report["run"]["counts"] == EXPECTED, plugin.describe()


def test_a_forked_child_that_runs_on_is_not_counted(hx: Any) -> None:
    """A child that goes on running the session after a test forked it sends nothing: the
    counts stay pytest's (they were doubled), with the app and with the plugin alone."""
    project = hx.project(FORK)
    plain = hx.pytest(project, "-n", "0")
    assert plain.counts == EXPECTED, plain.describe()
    hot = hx.hotlap(project, "-n", "0")
    assert hot.code == 1, hot.describe()
    assert hot.report["run"]["counts"] == EXPECTED, hot.describe()
    assert [len(t["categories"]) for t in hot.report["tests"]] == [1, 1, 1], hot.describe()
    plugin = hx.plugin(project, "-n", "0")
    assert plugin.report["run"]["counts"] == EXPECTED, plugin.describe()


FORKS = {
    "test_forks.py": """
        import multiprocessing, os, time

        def test_a_runs_a_while():
            time.sleep(0.4)

        def test_forks():
            for _ in range(10):
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)

        def test_pool():
            with multiprocessing.get_context("fork").Pool(2) as pool:
                assert pool.map(abs, [-1, -2]) == [1, 2]

        def test_hangs_after():
            time.sleep(2.5)
    """,
}


def _summary(output: str) -> str:
    """pytest's last summary line, without its rule and time."""
    found = re.findall(r"^=*\s*(\d+ \w+.*?) in [\d.]+s", output, re.MULTILINE)
    return found[-1] if found else ""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.12 warns on fork with threads")
def test_a_test_that_forks_sees_no_thread_of_hotlaps(hx: Any) -> None:
    """Python 3.12+ warns when a process with other threads forks. A lone pytest has none;
    under hotlap the hang watch and the sink's flusher ran, and each fork of a test got a
    DeprecationWarning plain pytest did not give (12 more warnings in the summary). They
    step aside while the process forks, and the hang watch still works after the forks."""
    project = hx.project(FORKS)
    # pytest-rerunfailures, where installed, runs a thread of its own in every pytest.
    alone = ("-n", "0", "-p", "no:rerunfailures")
    plain = hx.pytest(project, *alone)
    assert plain.code == 0, plain.describe()
    hot = hx.hotlap(project, *alone, options=("--hang-after", "1"))
    assert hot.code == 0, hot.describe()
    assert _summary(hot.output) == _summary(plain.output) == "4 passed", hot.describe()
    assert "HANGING test_forks.py::test_hangs_after" in hot.output, hot.describe()


THREAD_NAMES = {
    "test_threads.py": """
        import os, pathlib, threading, time

        def test_a_runs_a_while():
            time.sleep(0.3)

        def test_lists_the_threads():
            names = sorted(t.name for t in threading.enumerate())
            with open(os.environ["THREADS_OUT"], "a") as out:
                out.write(f"{threading.active_count()} {' '.join(names)}\\n")
    """,
}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_test_sees_the_threads_plain_pytest_has(hx: Any, workers: str) -> None:
    """``threading.enumerate()`` and ``active_count()`` show a test what plain pytest shows:
    hotlap's hang watch and flusher were listed, so a fixture that joins every thread but the
    main one waited for them forever, and a check for leaked threads found two."""
    project = hx.project(THREAD_NAMES)
    seen = []
    for run in (hx.pytest, hx.hotlap):
        out = project / f"threads-{len(seen)}.txt"
        result = run(project, "-n", workers, env={"THREADS_OUT": str(out)})
        assert result.code == 0, result.describe()
        seen.append(out.read_text())
    assert seen[0] == seen[1], seen
