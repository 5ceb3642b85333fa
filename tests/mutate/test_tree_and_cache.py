"""The project is never written (after a run, Ctrl-C, SIGKILL), verdicts are reused while
nothing they depend on changes, and the JSON report, ``--fail-under`` and ``hotlap report``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from mutate_helpers import Project, by_change, clean_env, tree_digest

SLOW_SUITE = {
    "src/pkg/slow.py": """
        import time

        START = 0

        def wait(n):
            time.sleep(0.4)
            total = START
            for i in range(n):
                total += i
            return total
        """,
    "tests/test_slow.py": """
        from pkg.slow import wait

        def test_wait():
            assert wait(3) == 3

        def test_wait_more():
            assert wait(4) == 6

        def test_wait_again():
            assert wait(2) == 1
        """,
}


def _slow_project(project: Project) -> None:
    for rel, text in SLOW_SUITE.items():
        project.write(rel, text)
    # Bytecode may be written: a mutation run still must not write any.
    project.env = {"PYTHONDONTWRITEBYTECODE": ""}
    project.record()


def _start_mutate(project: Project) -> subprocess.Popen[str]:
    env = {k: v for k, v in {**clean_env(), **project.env}.items() if v != ""}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.Popen(
        project.command("mutate", "--headless", "--progress-interval", "0.2"),
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # As from a terminal: a run started from a background shell job inherits SIGINT
        # ignored, and Python then keeps it ignored (Ctrl-C would do nothing).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_progress(proc: subprocess.Popen[str]) -> str:
    """Read until the first verdict is counted (the run is well under way)."""
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if "killed" in line or "survived" in line:
            return seen
        assert line, seen
    raise AssertionError(seen)


def _no_workers_left(project: Project) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return not [
        line
        for line in out.splitlines()
        if "mutate/worker.py" in line and str(project.root) in line
    ]


def test_tree_unchanged_after_a_run(project: Project) -> None:
    """With bytecode writing on, a full mutation run leaves every file and directory of the
    project (``.hotlap/`` aside) byte-identical: no mutants/ copy, no pytest cache (the
    module-level mutants run whole pytest sessions, which write one), no pyc."""
    _slow_project(project)
    before = tree_digest(project.root)
    proc = _start_mutate(project)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "score" in out
    assert tree_digest(project.root) == before


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_tree_unchanged_after_a_kill_mid_run(project: Project, sig: signal.Signals) -> None:
    """SIGKILL (or Ctrl-C) mid-run: the tree is byte-identical and no worker is left."""
    _slow_project(project)
    before = tree_digest(project.root)
    proc = _start_mutate(project)
    _wait_for_progress(proc)
    if sig == signal.SIGKILL:
        proc.kill()
    else:
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
    proc.wait(timeout=30)
    # Interrupted, not finished: each mutant takes over a second, the kill came after the first.
    assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 2)
    deadline = time.monotonic() + 10
    while not _no_workers_left(project) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _no_workers_left(project)
    assert tree_digest(project.root) == before


def test_json_report_fail_under_and_report_score(project: Project) -> None:
    """The ``--json`` schema of the issue; ``--fail-under`` above the score exits 1, at or
    below it 0; ``hotlap report`` shows the score of the last run."""
    project.write(
        "src/pkg/m.py", "def add(a, b):\n    return a + b\n\ndef unused(x):\n    return -x\n"
    )
    project.write(
        "tests/test_m.py", "from pkg.m import add\n\ndef test_add():\n    assert add(2, 2) >= 0\n"
    )
    project.record()
    data = project.mutate("--fail-under", "100", expect=1)
    assert set(data) == {"version", "score", "mutants", "out"}
    assert data["version"] == 1 and isinstance(data["score"], float)
    for mutant in data["mutants"]:
        assert set(mutant) == {
            "id",
            "file",
            "function",
            "line",
            "diff",
            "status",
            "killed_by",
            "tests_run",
        }
        assert mutant["status"] in ("killed", "survived", "timeout", "no_tests", "error")
        assert mutant["file"] == "src/pkg/m.py"
    statuses = {m["function"]: m["status"] for m in data["mutants"] if m["function"] == "unused"}
    assert statuses == {"unused": "no_tests"}
    assert 0 < data["score"] < 100
    assert "under --fail-under 100%" in data["out"]
    project.mutate("--fail-under", str(int(data["score"])))
    report = project.hotlap("report")
    assert report.returncode == 0, report.stderr
    assert f"mutation score {data['score']:.1f}%" in report.stdout
    as_json = json.loads(project.hotlap("report", "--json").stdout)
    assert as_json["mutation"]["score"] == data["score"]


def test_verdicts_reused_until_a_test_or_caller_changes(project: Project) -> None:
    """A second run reuses every verdict; changing the caller a test goes through re-checks
    the callee's mutants too; ``--changed`` mutates only the function changed since."""
    project.write(
        "src/pkg/calc.py",
        """
        def double(x):
            return x * 2


        def quadruple(x):
            return double(double(x))
        """,
    )
    project.write(
        "tests/test_calc.py",
        "from pkg.calc import quadruple\n\ndef test_q():\n    assert quadruple(1) == 4\n",
    )
    project.record()
    first = project.mutate()
    assert "from earlier runs" not in first["out"]
    again = project.mutate()
    assert f"({len(first['mutants'])} from earlier runs)" in again["out"]
    assert by_change(again) == by_change(first)

    project.edit("src/pkg/calc.py", "return double(double(x))", "return double(x) * 2")
    project.record()
    third = project.mutate()
    # double did not change, but the test that covers it goes through a changed caller.
    assert "from earlier runs" not in third["out"], third["out"]
    assert {m["function"] for m in third["mutants"]} == {"double", "quadruple"}

    project.edit("src/pkg/calc.py", "return x * 2", "return x + x")
    project.record()
    changed = project.mutate("--changed")
    assert {m["function"] for m in changed["mutants"]} == {"double"}


def test_a_changed_test_runs_alone(project: Project) -> None:
    """One of a function's two tests changes: the mutants the unchanged test killed stay
    killed without a run, and the survivors run only the changed test. The unchanged test
    does not run at all (not in the baseline either), and every verdict is what a run from
    scratch finds."""
    log = project.root.parent / "runs.log"
    project.env = {"RUNLOG": str(log)}
    project.write(
        "src/pkg/clamp.py",
        """
        def clamp(x, low=0, high=10):
            if x < low:
                return low
            if x > high:
                return high
            return x
        """,
    )
    project.write(
        "tests/test_clamp.py",
        """
        import os
        import time
        from pkg.clamp import clamp

        def note(name):
            with open(os.environ["RUNLOG"], "a") as f:
                f.write(name + "\\n")

        def test_strong():
            note("strong")
            assert clamp(-1) == 0 and clamp(11) == 10 and clamp(5) == 5

        def test_weak():
            note("weak")
            time.sleep(0.05)  # slower: the strong test runs first
            assert clamp(5) is not None
        """,
    )
    project.record()
    first = {k: m["status"] for k, m in by_change(project.mutate()).items()}
    assert {"killed", "survived"} <= set(first.values()), first
    project.edit("tests/test_clamp.py", "clamp(5) is not None", "clamp(6) is not None")
    project.record()
    log.write_text("")
    second = project.mutate()
    assert set(log.read_text().split()) == {"weak"}, second["out"]
    assert "from earlier runs" in second["out"]
    assert {k: m["status"] for k, m in by_change(second).items()} == first
    (project.root / ".hotlap" / "mutate.sqlite3").unlink()
    scratch = {k: m["status"] for k, m in by_change(project.mutate()).items()}
    assert scratch == first


def test_a_run_not_merged_yet_is_merged_before_mutating(project: Project) -> None:
    """``hotlap run`` may exit before its dependencies are merged (a background merge);
    ``hotlap mutate`` merges what waits before it plans, so it finds the tests."""
    import subprocess
    import sys

    from hotlap.impact import pending

    project.write("src/pkg/m.py", "def half(x):\n    return x / 2\n")
    project.write(
        "tests/test_m.py", "from pkg.m import half\n\ndef test_half():\n    assert half(4) == 2\n"
    )
    directory = pending.base_dir(project.root) / "left"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hotlap", f"--hotlap-impact-dir={directory}",
         "-p", "no:cacheprovider", "-q", "-n", "0"],
        cwd=project.root, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pending.mark_ready(directory, {"tests/test_m.py::test_half": "passed"}, [], [])
    assert not (project.root / ".hotlap" / "impact.sqlite3").exists()
    found = by_change(project.mutate())
    assert found["half: return x / 2 -> return x * 2"]["status"] == "killed"


def test_plugin_bytecode_is_kept_but_never_the_projects(project: Project) -> None:
    """The worker keeps the installed plugins' bytecode (pytest's rewritten modules of
    ``pytest11`` plugins such as xdist) in ``.hotlap/pycache/mutate`` for the next run,
    and none of the project's files, not even a project module loaded as a plugin (``-p``)
    before the window closes: a project file is never read from an old cache entry."""
    project.write(
        "pyproject.toml",
        """
        [tool.pytest.ini_options]
        pythonpath = ["src"]
        testpaths = ["tests"]
        addopts = "-p pkg.plug"
        """,
    )
    project.write("src/pkg/plug.py", "def pytest_report_header():\n    return 'plug'\n")
    project.write("src/pkg/m.py", "def half(x):\n    return x // 2\n")
    project.write(
        "tests/test_m.py", "from pkg.m import half\n\ndef test_half():\n    assert half(4) == 2\n"
    )
    project.env = {"PYTHONPATH": str(project.root / "src")}
    project.record()
    assert project.mutate()["mutants"]
    cache = project.root / ".hotlap" / "pycache" / "mutate"
    kept = [p.as_posix() for p in cache.rglob("*.pyc")]
    assert [p for p in kept if "/xdist/" in p and "-pytest-" in p], kept
    mirrored = cache / str(project.root.resolve()).lstrip("/")
    assert not [p for p in mirrored.rglob("*.pyc") if "site-packages" not in p.parts], kept
