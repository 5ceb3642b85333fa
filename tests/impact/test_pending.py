"""Runs recorded but not merged yet (hotlap exited or was killed before its background merge
ended) are merged by the next command that needs them: nothing recorded is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from impact_helpers import Project, clean_env

from hotlap.impact import pending


def _record_without_merging(project: Project, name: str) -> Path:
    """A run's directory as ``hotlap run`` leaves it when it exits before merging: the
    plugin's per-process files (a real ``-n 2`` run) and the run's info."""
    directory = pending.base_dir(project.root) / name
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hotlap", f"--hotlap-impact-dir={directory}",
         "-p", "no:cacheprovider", "-q", "-n", "2"],
        cwd=project.root, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list(directory.glob("*.json"))) == 2  # one file per worker
    outcomes = {
        "tests/test_add.py::test_add": "passed",
        "tests/test_mul.py::test_mul": "passed",
        "tests/test_box.py::test_box_default": "passed",
        "tests/test_other.py::test_alone": "passed",
    }
    pending.mark_ready(directory, outcomes, [], [])
    return directory


def test_a_run_left_unmerged_is_merged_by_the_next_command(project: Project) -> None:
    """No store yet, one run waiting: ``hotlap affected`` merges it first, and selects by
    what it recorded; the run's directory is gone afterwards. A file edited before the
    merge counts as changed during the run (the run's version of it is gone): every test
    that ran its code is selected, never fewer."""
    directory = _record_without_merging(project, "left")
    assert not (project.root / ".hotlap" / "impact.sqlite3").exists()
    assert project.selected() == set()
    assert not directory.exists()
    project.edit("src/pkg/mathx.py", "return a * b", "return a * b + 0")
    assert project.selected() == {"tests/test_mul.py::test_mul"}

    _record_without_merging(project, "again")
    project.edit("src/pkg/mathx.py", "return a * b + 0", "return a * b + 1")
    assert project.selected() == {"tests/test_mul.py::test_mul", "tests/test_add.py::test_add"}


def test_claims_keep_two_merges_apart_and_dead_claims_are_taken_over(project: Project) -> None:
    """A run claimed by a live hotlap process is left to it; one claimed by a process that
    is gone is merged; an unfinished run (no info file: still running) is left alone."""
    ours = _record_without_merging(project, "a")
    live = ours.with_name(f"a.merging-{os.getppid()}")  # the test runner: alive
    ours.rename(live)
    dead = _record_without_merging(project, "b")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    abandoned = dead.with_name(f"b.merging-{gone.stdout.strip()}")
    dead.rename(abandoned)
    running = pending.base_dir(project.root) / "c"
    running.mkdir()
    assert pending.merge_pending(project.root) == ["impact: recorded dependencies of 4 tests"]
    assert live.exists() and running.exists() and not abandoned.exists()
    assert (project.root / ".hotlap" / "impact.sqlite3").exists()


def test_a_long_merge_waits_for_the_next_start_and_loses_nothing(project: Project) -> None:
    """A headless hotlap exits within 0.1 s of pytest: a run whose last merge took longer
    than that leaves its data to the next start (no merge cut short and redone), which
    merges it once its pytest runs; selection then sees every run."""
    base = pending.base_dir(project.root)
    first = project.run("--", "-n", "2", settle=False)
    assert first.returncode == 0, first.stdout + first.stderr
    pending.settle(0)
    (base / "merge-cost").write_text("9.0\n")  # as if merging one run took 9 s of CPU
    second = project.run("--", "-n", "2", settle=False)
    assert second.returncode == 0, second.stdout + second.stderr
    left = [d for d in base.iterdir() if (d / "run.info").exists()]
    assert len(left) == 1  # the second run, waiting
    third = project.run("--", "-n", "2", settle=False)
    assert third.returncode == 0, third.stdout + third.stderr
    assert not left[0].exists()  # merged by the third, once its pytest had started
    project.edit("src/pkg/mathx.py", "return a * b", "return a * b + 1")
    assert project.selected() == {"tests/test_mul.py::test_mul"}


def test_a_first_run_too_big_to_merge_before_hotlap_exits_is_merged_at_the_next_start(
    tmp_path: Path,
) -> None:
    """No merge measured yet, and a run whose files are large (a big module, 400 tests): a
    headless run expects its merge to outlast pytest's shutdown (a first run analyses every
    source file it ran), so it leaves the run waiting instead of starting a merge that
    hotlap's exit would cut short; the next command merges it, and an edit then selects only
    the test that ran the edited function."""
    from impact_helpers import Project

    from hotlap.impact import pending

    proj = Project(tmp_path / "proj")
    proj.write("pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    proj.write("src/pkg/__init__.py", "")
    many = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(400))
    proj.write(
        "src/pkg/ops.py",
        "def inc(x):\n    return x + 1\n\ndef dec(x):\n    return x - 1\n\n" + many,
    )
    proj.write(
        "tests/test_ops.py",
        "import pytest\nfrom pkg.ops import dec, inc\n\n"
        "@pytest.mark.parametrize('n', range(399))\n"
        "def test_inc(n):\n    from pkg import ops\n\n"
        "    assert inc(n) == n + 1\n"
        "    assert [getattr(ops, f'f{i}')(0) for i in range(n)] == list(range(n))\n\n"
        "def test_dec():\n    assert dec(1) == 0\n",
    )
    proc = proj.run("--", "-n", "2", settle=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "400 passed" in proc.stdout
    assert pending.last_merge_cost(proj.root) == 0.0  # no merge ran
    waiting = pending._claimable(pending.base_dir(proj.root))
    assert waiting  # the run waits, ready
    assert not [p for p in waiting if pending._CLAIM in p.name]  # no merge was started
    assert proj.selected() == set()  # the next command merges it: nothing changed
    assert pending.last_merge_cost(proj.root) > 0.0
    assert not pending._claimable(pending.base_dir(proj.root))
    proj.edit("src/pkg/ops.py", "return x - 1", "return x - 2")
    assert proj.selected() == {"tests/test_ops.py::test_dec"}
