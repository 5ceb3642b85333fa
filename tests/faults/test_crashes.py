"""Workers that die: ``os._exit``, a segfault, SIGKILL (what the OOM killer sends).

pytest-xdist survives these: it reports the test the worker died in as failed and starts a
replacement worker. hotlap must count exactly what pytest counts, keep running, name the test
by nodeid, say how the worker died (exit code or signal) and show what the test printed last.
"""

from __future__ import annotations

from typing import Any

import pytest

CRASHES = {
    "test_crash.py": """
        import ctypes
        import os
        import signal
        import subprocess
        import sys

        def test_before():
            pass

        def test_exit():
            print("about to exit", flush=True)
            os._exit(3)

        def test_segfault():
            print("about to segfault", flush=True)
            ctypes.string_at(0)

        def test_oom_killed():
            print("eating memory", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        def test_exit_leaving_a_child():
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            print(f"child {child.pid}", flush=True)
            os._exit(7)

        def test_after_1():
            pass

        def test_after_2():
            assert 0, "an ordinary failure still counts"
    """,
}

CRASHED = {
    "test_crash.py::test_exit": ("exit code 3", "about to exit"),
    "test_crash.py::test_segfault": ("SIGSEGV", "about to segfault"),
    "test_crash.py::test_oom_killed": ("SIGKILL", "eating memory"),
    "test_crash.py::test_exit_leaving_a_child": ("exit code 7", "child "),
}


@pytest.mark.slow
def test_crashes_counted_like_pytest_and_explained(hx: Any) -> None:
    """Counts and exit code equal ``pytest -n 2``'s; each crash names its test, its exit code
    or signal and the tail of its output; the other tests still run; nothing is left over."""
    project = hx.project(CRASHES)
    plain = hx.pytest(project, "-n", "2")
    assert plain.counts == {"failed": 5, "passed": 2}, plain.describe()
    # Plain pytest orphans the child of the crashed worker: the check below can see one.
    assert hx.leftovers(settle=0), "the suite no longer leaves a child behind"
    hx.cleanup()
    hot = hx.plugin(project, "-n", "2")
    assert hot.code == plain.code == 1, hot.describe()
    assert hot.report["run"]["counts"] == plain.counts, hot.describe()
    for nodeid, (how, printed) in CRASHED.items():
        entry = hot.test(nodeid)
        assert entry["outcome"] == "failed" and entry["crashed"], entry
        assert how in entry["longrepr"], entry["longrepr"]
        assert printed in entry["longrepr"], entry["longrepr"]
    reasons = [crash["reason"] for crash in hot.report["crashes"]]
    assert len(reasons) == 4, reasons
    assert {crash["nodeid"] for crash in hot.report["crashes"]} == set(CRASHED)
    # Each crash brings a replacement worker (gw2, gw3, …) that shows as a lane.
    assert len(hot.report["run"]["worker_ids"]) == 2 + 4, hot.report["run"]["worker_ids"]
    assert not any("Not properly terminated" in reason for reason in reasons), reasons
    assert hot.test("test_crash.py::test_after_1")["outcome"] == "passed"
    assert hx.leftovers() == [], "a crashed worker's child outlived the run"


def test_crash_without_xdist_ends_the_run_with_the_signal(hx: Any) -> None:
    """Without xdist a segfault kills pytest itself: hotlap's exit code is the shell's
    (128 + SIGSEGV would be 139; a negative code from Python) like plain pytest's."""
    project = hx.project(
        {
            "test_one.py": """
                import ctypes

                def test_ok():
                    pass

                def test_segfault():
                    ctypes.string_at(0)
            """
        }
    )
    plain = hx.pytest(project, "-n", "0")
    hot = hx.pytest(project, "-n", "0", f"--hotlap-json={project / 'r.json'}")
    assert plain.code < 0 and hot.code == plain.code, hot.describe()
    assert "Segmentation fault" in hot.stderr, hot.describe()


def test_a_test_raising_keyboardinterrupt_is_no_worker_crash(hx: Any) -> None:
    """Under xdist a test that raises KeyboardInterrupt ends its worker's session (exit 2):
    the worker is alive, so no "CRASHED" line and no crash forensics (which waited 5 s for it
    to exit), and the test ends as xdist reports it, not left "running" by the phases the
    worker still held."""
    project = hx.project(
        {
            "test_kb.py": """
                def test_ok():
                    pass

                def test_kbint():
                    raise KeyboardInterrupt
            """
        }
    )
    hot = hx.hotlap(project, "-n", "2")
    assert hot.code == 2, hot.describe()
    assert "CRASHED" not in hot.output, hot.describe()
    assert hot.report["run"]["counts"] == hot.counts, hot.describe()
    kbint = hot.test("test_kb.py::test_kbint")
    assert kbint["outcome"] == "failed", hot.describe()


def test_quick_tests_just_before_a_crash_are_counted(hx: Any) -> None:
    """A worker sends its quick tests in batches (every 0.1 s); one that dies right after
    thirty quick tests takes their events with it. The xdist controller's copy of their
    reports fills the gap: the same counts and exit code as ``pytest -n 1``, every test in
    the report with pytest's outcome, the crash named."""
    body = "import os\n\ndef test_fails():\n    assert 0\n\n"
    body += "\n".join(f"def test_quick_{i}():\n    pass\n" for i in range(30))
    body += "\ndef test_zz_dies():\n    os._exit(3)\n"
    project = hx.project({"test_quick.py": body})
    plain = hx.pytest(project, "-n", "1", "-p", "no:randomly")
    assert plain.counts == {"failed": 2, "passed": 30}, plain.describe()
    for run in (hx.hotlap, hx.plugin):
        hot = run(project, "-n", "1")
        assert hot.code == plain.code == 1, hot.describe()
        assert hot.report["run"]["counts"] == plain.counts, hot.describe()
        outcomes = {t["nodeid"]: t["outcome"] for t in hot.report["tests"]}
        assert len(outcomes) == 32, hot.describe()
        assert outcomes["test_quick.py::test_fails"] == "failed"
        assert outcomes["test_quick.py::test_zz_dies"] == "failed"
        assert all(outcomes[f"test_quick.py::test_quick_{i}"] == "passed" for i in range(30))
        assert [c["nodeid"] for c in hot.report["crashes"]] == ["test_quick.py::test_zz_dies"]
