"""The same faults through the app: ``hotlap run --headless -- -n 2 …`` as a subprocess.

hotlap's exit code must be pytest's, the counts in its ``--json`` report pytest's, each crash
and hang named, Ctrl-C during a hang must stop the run fast, and no process may be left.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest

CRASH_AND_HANG = {
    "test_mix.py": """
        import ctypes
        import os
        import time

        def test_ok():
            pass

        def test_exits():
            print("bye", flush=True)
            os._exit(9)

        def test_hangs():
            time.sleep(600)

        def test_segfaults():
            ctypes.string_at(0)

        def test_fails():
            assert 0
    """,
}


@pytest.mark.slow
def test_headless_crash_and_hang_kill(hx: Any) -> None:
    """``hotlap run --kill-after`` on a suite with crashes and a hang: exit code 1, counts
    equal pytest's own summary, a crash names its exit code or signal (a segfault also its
    Python stack), the hang its kill and stack, and no process is left over.
    """
    project = hx.project(CRASH_AND_HANG)
    hot = hx.hotlap(
        project, "-n", "2", options=("--no-history", "--hang-after=0.5", "--kill-after=1.5")
    )
    assert hot.code == 1, hot.describe()
    assert hot.report["run"]["counts"] == hot.counts == {"failed": 4, "passed": 1}, hot.describe()
    assert "exit code 9" in hot.test("test_mix.py::test_exits")["longrepr"]
    assert "bye" in hot.test("test_mix.py::test_exits")["longrepr"]
    segfault = hot.test("test_mix.py::test_segfaults")["longrepr"]
    assert "SIGSEGV" in segfault and "Fatal Python error" in segfault, segfault
    assert "in test_segfaults" in segfault, "faulthandler's stack should name the test"
    hung = hot.test("test_mix.py::test_hangs")["longrepr"]
    assert "hung: killed after 1.5s" in hung and "time.sleep(600)" in hung, hung
    assert "hung: killed after 1.5s" in hot.stdout, "the headless log should name the kill"
    assert "time.sleep(600)" in hot.test("test_mix.py::test_hangs")["hang_stack"]
    assert hx.leftovers() == []


def test_headless_surrogate_failure_is_not_lost(hx: Any) -> None:
    """Plain ``pytest -n 2`` drops a failure whose message holds a lone surrogate; ``hotlap
    run`` reports it: one failed test, exit code 1, the run finished."""
    project = hx.project(
        {
            "test_s.py": """
                def test_ok():
                    pass

                def test_surrogate():
                    assert 0, "lone \\udcff"
            """
        }
    )
    hot = hx.hotlap(project, "-n", "2", options=("--no-history",))
    assert hot.code == 1, hot.describe()
    assert hot.report["run"]["counts"] == {"failed": 1, "passed": 1}, hot.describe()
    assert "INTERNALERROR" not in hot.output


def test_ctrl_c_during_a_hang_stops_quickly(hx: Any) -> None:
    """SIGINT to ``hotlap run`` while a test hangs (in the test and in a child it started):
    hotlap exits within a few seconds (the issue asks for 1 s; measured and asserted with
    slack for a loaded machine) and leaves no process behind."""
    flag = hx.tmp_path / "hanging"
    project = hx.project(
        {
            "test_h.py": f"""
                import pathlib
                import subprocess
                import sys
                import time

                def test_hangs():
                    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
                    pathlib.Path({str(flag)!r}).write_text(str(child.pid))
                    time.sleep(600)
            """
        }
    )
    harness = sys.modules["hotlap_faults_harness"]
    args = [sys.executable, "-m", "hotlap", "run", "--headless", "--no-history", "--"]
    proc = subprocess.Popen(
        [*args, "-n", "2"],
        cwd=project,
        env=harness.clean_env(hx.mark),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # As from a terminal: a run started from a background shell job inherits SIGINT
        # ignored, and Python then keeps it ignored (Ctrl-C would do nothing).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert flag.exists(), proc.communicate(timeout=10)[0].decode(errors="replace")
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        took = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 5.0, f"cancel took {took:.1f}s\n{out.decode(errors='replace')}"
    assert proc.returncode != 0
    assert "Traceback" not in out.decode(errors="replace")
    assert hx.leftovers() == []


def test_single_process_exit_names_the_test(hx: Any) -> None:
    """Without xdist ``os._exit(3)`` ends pytest itself: hotlap exits 3 like pytest and
    reports the test it was running as crashed with that exit code."""
    project = hx.project(
        {
            "test_e.py": """
                import os

                def test_ok():
                    pass

                def test_exit():
                    os._exit(3)
            """
        }
    )
    plain = hx.pytest(project, "-n", "0")
    hot = hx.hotlap(project, "-n", "0", options=("--no-history",))
    assert plain.code == hot.code == 3, hot.describe()
    entry = hot.test("test_e.py::test_exit")
    assert entry["outcome"] == "failed" and entry["crashed"], entry
    assert "3" in hot.report["crashes"][0]["reason"], hot.report["crashes"]


def test_single_process_death_shows_pytests_last_words(hx: Any) -> None:
    """A pytest that dies before its report (pytest-timeout's thread method prints the stacks,
    then ends the process) printed why: the headless log shows it, as plain pytest's does."""
    project = hx.project(
        {
            "test_d.py": """
                import os

                def test_ok():
                    pass

                def test_dies(capsys):
                    with capsys.disabled():
                        print("++++ dying words: the stacks ++++", flush=True)
                        os._exit(1)  # as pytest-timeout's thread method does
            """
        }
    )
    plain = hx.pytest(project, "-n", "0")
    assert "dying words" in plain.stdout, plain.describe()
    hot = hx.hotlap(project, "-n", "0", options=("--no-history",))
    assert plain.code == hot.code == 1, hot.describe()
    assert "++++ dying words: the stacks ++++" in hot.stdout, hot.describe()
    assert "test session starts" not in hot.stdout, hot.describe()  # not the header again


#: A worker's internal error, as python-dateutil's conftest gives one under
#: ``filterwarnings = error``: raised while the worker configures. (Raised later, from
#: ``pytest_collection_modifyitems``, the exit code depends on the order in which the controller
#: reads the workers' messages: xdist's 3 comes from a KeyError when a worker's
#: ``workerfinished`` follows its internal error. A hotlap run in CI once exited 0 there, with
#: "no tests ran"; 30 plain runs here all exited 3.)
INTERNAL = {
    "conftest.py": """
        def deep(n, cause):
            if n == 0:
                raise RuntimeError("the error it caused") from cause
            deep(n - 1, cause)


        def pytest_configure(config):
            if hasattr(config, "workerinput"):
                # The cause is printed first, a page above the end of the report (and its
                # text is not in the source line the traceback shows last).
                deep(20, ValueError("the root cause: " + "xyzzy"))
    """,
    "test_i.py": """
        def test_a():
            pass

        def test_b():
            pass
    """,
}


def test_an_internal_error_shows_pytests_whole_report(hx: Any) -> None:
    """A worker's internal error (a conftest that raises as the worker starts): exit 3 as
    plain pytest, the INTERNALERROR report from its first line, with the cause a page above
    its end (a 15-line tail showed none of it), and pytest's summary line last."""
    project = hx.project(INTERNAL)
    plain = hx.pytest(project, "-n", "2")
    hot = hx.hotlap(project, "-n", "2", options=("--no-history",))
    assert plain.code == hot.code == 3, hot.describe()
    assert "ValueError: the root cause: xyzzy" in plain.stdout
    assert "ValueError: the root cause: xyzzy" in hot.stdout, hot.describe()
    # (Which worker's error comes last, and so the report's end, varies from run to run in
    # plain pytest too.)
    last = [line for line in hot.stdout.splitlines() if line.strip()][-1]
    assert "no tests ran" in last, hot.describe()


def test_no_unclosed_file_is_left_to_say_so(hx: Any) -> None:
    """Where ResourceWarning is shown (``-X dev``, ``PYTHONWARNINGS``), hotlap's processes
    leave no file to be collected unclosed (the pipe of pytest's output in the app, the file
    of a worker's fatal-error dump): nothing after pytest's summary line says so."""
    passing = hx.project({"test_p.py": "def test_p():\n    pass\n"}, name="passing")
    failing = hx.project(INTERNAL, name="internal")
    env = {"PYTHONWARNINGS": "always::ResourceWarning"}
    for project, code in ((passing, 0), (failing, 3)):
        hot = hx.hotlap(project, "-n", "2", options=("--no-history",), env=env)
        assert hot.code == code, hot.describe()
        # (Other plugins' own leaks show too, as under plain pytest: pytest-rerunfailures'
        # socket in an xdist worker, on 3.10.)
        assert "unclosed file" not in hot.output, hot.describe()
