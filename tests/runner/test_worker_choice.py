"""hotlap's ``-n`` when the user gave none: chosen inside pytest, from what pytest's own parser
made of the command line, ``PYTEST_ADDOPTS`` and the ini ``addopts``.

Each test runs the real app on a temp project. A project of 300 trivial tests is "big" for a
first run (its ``def test`` lines alone say so); with history, the seconds of the tests the
arguments select decide.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hotlap.resources.cores import effective_cores, worker_count

WORKERS = worker_count(effective_cores())

pytestmark = pytest.mark.skipif(WORKERS < 2, reason="needs 2 effective cores")

BIG = {
    f"test_{m}.py": "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(100)) for m in "abc"
}


def _chosen(result: Any) -> tuple[int, str]:
    """The ``-n`` hotlap said it chose, and why."""
    found = re.search(r"^hotlap: -n (\d+): (.*)$", result.stderr, re.MULTILINE)
    assert found is not None, result.describe()
    return int(found.group(1)), found.group(2)


def _hotlap(h: Any, project: Path, *pytest_args: str, history: bool = False, **kw: Any) -> Any:
    options = () if history else ("--no-history",)
    return h.run_hotlap(
        project, "run", "--headless", "--no-impact", *options, "--", *pytest_args, **kw
    )


def test_a_deselected_test_id_is_not_a_named_test(h: Any, tmp_path: Path) -> None:
    """``--deselect a::b`` selects 299 tests, not one: workers, as for the whole suite (the
    arguments were hand-parsed, any ``::`` counted as a named test: ``-n 0 (~1 tests)``)."""
    project = h.write_project(tmp_path / "proj", BIG)
    hot = _hotlap(h, project, "--deselect", "test_a.py::test_0")
    assert hot.code == 0, hot.describe()
    assert _chosen(hot)[0] == WORKERS
    assert "299 passed" in hot.stdout


def test_named_test_ids_run_in_one_process(h: Any, tmp_path: Path) -> None:
    """Two test ids of a big suite: ``-n 0``, xdist's start-up would cost more."""
    project = h.write_project(tmp_path / "proj", BIG)
    hot = _hotlap(h, project, "test_a.py::test_1", "test_b.py::test_2")
    assert hot.code == 0, hot.describe()
    assert _chosen(hot)[0] == 0
    assert "collected 2 tests, one process" in hot.stdout, hot.describe()


def test_keyword_selection_is_judged_by_history(h: Any, tmp_path: Path) -> None:
    """With history, ``-k`` is matched against the known tests' names: 11 of 300 trivial
    tests run in one process (hotlap assumed any ``-k`` ran a real suite)."""
    project = h.write_project(tmp_path / "proj", BIG)
    first = _hotlap(h, project, history=True)
    assert first.code == 0, first.describe()
    hot = _hotlap(h, project, "-k", "test_a and test_1", history=True)
    assert hot.code == 0, hot.describe()
    n, why = _chosen(hot)
    assert n == 0 and "history" in why, hot.describe()
    assert "11 passed" in hot.stdout


@pytest.mark.parametrize("where", ["ini", "env"])
def test_n_in_addopts_is_the_users(h: Any, tmp_path: Path, where: str) -> None:
    """``-n 1`` in the ini ``addopts`` or in ``PYTEST_ADDOPTS`` is kept: no choice said."""
    project = h.write_project(tmp_path / "proj", BIG)
    env = {}
    if where == "ini":
        (project / "pytest.ini").write_text("[pytest]\naddopts = -n 1\n")
    else:
        env["PYTEST_ADDOPTS"] = "-n 1"
    report = project / "r.json"
    hot = _hotlap(h, project, env=env)
    hot = h.run_hotlap(
        project, "run", "--headless", "--no-history", "--json", str(report), "--", env=env
    )
    assert hot.code == 0, hot.describe()
    assert "hotlap: -n" not in hot.stderr, hot.describe()
    assert h.load_json(report)["run"]["worker_ids"] == ["gw0"]


def test_no_xdist_plugin_means_one_process(h: Any, tmp_path: Path) -> None:
    """``-p no:xdist``: pytest knows no ``-n``; hotlap adds none and the suite runs."""
    project = h.write_project(tmp_path / "proj", BIG)
    hot = h.run_hotlap(
        project, "run", "--headless", "--no-history", "--", "-p", "no:xdist", fast=False
    )
    assert hot.code == 0, hot.describe()
    assert "hotlap: -n" not in hot.stderr and "300 passed" in hot.stdout, hot.describe()


def test_pdb_runs_in_one_process(h: Any, tmp_path: Path) -> None:
    """``--pdb`` needs one process: ``-n 0`` and the reason."""
    project = h.write_project(tmp_path / "proj", BIG)
    hot = _hotlap(h, project, "--pdb")
    assert hot.code == 0, hot.describe()
    assert _chosen(hot) == (0, "--pdb needs one process")


def test_timed_runs_of_the_same_arguments_decide(h: Any, tmp_path: Path) -> None:
    """When earlier runs of the same arguments were timed with both ``-n 0`` and ``-n W``,
    the faster one is chosen, whatever the model would say (300 trivial tests: ``-n 0``),
    and the run's own time is added to them."""
    from hotlap.history.workers import selection_key

    project = h.write_project(tmp_path / "proj", BIG)
    first = _hotlap(h, project, history=True)
    assert first.code == 0, first.describe()
    assert not (project / ".hotlap" / "workers.json").exists()  # a first run is not timed
    key = selection_key(list(h.FAST_ARGS), {})
    walls = {"0": [9.0], str(WORKERS): [1.0]}
    seen = {"version": 1, "keys": {key: {"walls": walls, "tests": 300, "seconds": 0.1}}}
    (project / ".hotlap" / "workers.json").write_text(json.dumps(seen))
    hot = _hotlap(h, project, history=True)
    assert hot.code == 0, hot.describe()
    n, why = _chosen(hot)
    assert n == WORKERS and "faster than -n 0" in why and "(1.0s vs 9.0s)" in why, why
    entry = h.load_json(project / ".hotlap" / "workers.json")["keys"][key]
    assert len(entry["walls"][str(WORKERS)]) == 2 and entry["walls"]["0"] == [9.0]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_headless_says_what_it_runs_once_collected(h: Any, tmp_path: Path, workers: str) -> None:
    """The collected count and the workers come as soon as collection ends, while the first
    test still runs (it waits for that line), not at the first progress tick or the end."""
    import subprocess
    import sys

    go = tmp_path / "go"
    files = {
        "test_wait.py": f"""
            import pathlib, time

            def test_waits_for_the_line():
                deadline = time.monotonic() + 20
                while not pathlib.Path({str(go)!r}).exists():
                    assert time.monotonic() < deadline, "hotlap never said what it runs"
                    time.sleep(0.02)

            def test_other():
                pass
        """,
    }
    project = h.write_project(tmp_path / "proj", files)
    args = ["run", "--headless", "--no-history", "--progress-interval", "60", "--", "-n", workers]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotlap", *args],
        cwd=project,
        env=h.clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    go.write_text("")
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 0, first + rest
    where = "one process" if workers == "0" else "2 workers"
    assert re.fullmatch(rf"\[\d+\.\ds\] collected 2 tests, {where}\n", first), first + rest
