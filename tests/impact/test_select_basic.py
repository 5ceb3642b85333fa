"""Function-level selection, formatting-only edits, module-level code, failed tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from impact_helpers import Project


@pytest.mark.parametrize("workers", ["0", "2"])
def test_function_change_selects_only_its_tests(project: Project, workers: str) -> None:
    """Changing ``mul``'s body selects the test calling it and no other; the mutated
    test really fails when the selection is run."""
    first = project.run("-n", workers)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "database is locked" not in first.stderr
    assert project.affected()["tests"] == []
    project.edit("src/pkg/mathx.py", "return a * b", "return a * b + 1")
    assert project.selected() == {"tests/test_mul.py::test_mul"}
    rerun = project.run("--affected")
    assert rerun.returncode == 1
    assert "1 failed" in rerun.stdout


def test_comment_and_formatting_select_nothing(project: Project) -> None:
    """Comments, blank lines and spacing do not change the AST checksums."""
    assert project.run().returncode == 0
    project.edit("src/pkg/mathx.py", "return a + b", "return (a  +  b)  # sum\n\n")
    project.edit("src/pkg/shapes.py", "@dataclass", "# a comment\n@dataclass")
    assert project.selected() == set()


def test_module_level_change_selects_importers(project: Project) -> None:
    """A dataclass default (class body, run at import) re-exported by ``__init__``
    selects the tests that import the package, not the unrelated one."""
    assert project.run().returncode == 0
    project.edit("src/pkg/shapes.py", "size: int = 3", "size: int = 4")
    selected = project.selected()
    assert "tests/test_box.py::test_box_default" in selected
    assert "tests/test_other.py::test_alone" not in selected


def test_constant_change_selects_only_its_readers(project: Project) -> None:
    """A module constant is a name: the tests whose code read it (directly, or through a
    function that ran and reads it) are selected, not every importer of the module."""
    project.write(
        "tests/test_factor.py",
        """
        from pkg.mathx import FACTOR, scaled

        def test_direct():
            assert FACTOR == 2

        def test_through_function():
            assert scaled(2) == 4
        """,
    )
    assert project.run().returncode == 0
    project.edit("src/pkg/mathx.py", "FACTOR = 2", "FACTOR = 3")
    assert project.selected() == {
        "tests/test_factor.py::test_direct",
        "tests/test_factor.py::test_through_function",
    }
    rerun = project.run("--affected")
    assert "2 failed" in rerun.stdout, rerun.stdout


def test_failed_tests_are_always_reselected(project: Project) -> None:
    """A test that failed stays selected until it passes, with nothing changed."""
    project.edit("tests/test_other.py", "1 + 1 == 2", "1 + 1 == 3")
    assert project.run().returncode == 1
    data = project.affected("--why")
    assert [t["nodeid"] for t in data["tests"]] == ["tests/test_other.py::test_alone"]
    assert "failed last run" in data["tests"][0]["reasons"]
    project.edit("tests/test_other.py", "1 + 1 == 3", "1 + 1 == 2")
    assert project.run("--affected").returncode == 0
    assert project.selected() == set()


def test_test_function_edit_selects_that_test(project: Project) -> None:
    """Editing one test's body selects that test only (not its file's neighbours)."""
    project.write(
        "tests/test_two.py",
        """
        def test_one():
            assert True

        def test_two():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.edit(
        "tests/test_two.py", "def test_two():\n    assert True", "def test_two():\n    assert 1"
    )
    assert project.selected() == {"tests/test_two.py::test_two"}


def test_plugin_without_the_app_writes_outcomes(project: Project, tmp_path: Path) -> None:
    """``pytest --hotlap-impact-dir`` alone (no app to supply outcomes) records each test's
    outcome in its process file; under the app the app's own outcomes are used instead."""
    import json
    import subprocess
    import sys

    from impact_helpers import clean_env

    project.write("tests/test_fails.py", "def test_fails():\n    assert 0\n")
    out = tmp_path / "impact"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hotlap", f"--hotlap-impact-dir={out}",
         "-p", "no:cacheprovider", "-q"],
        cwd=project.root, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (data,) = [json.loads(p.read_text()) for p in out.glob("*.json")]
    outcomes = {nodeid: test["outcome"] for nodeid, test in data["tests"].items()}
    assert outcomes["tests/test_fails.py::test_fails"] == "failed"
    assert outcomes["tests/test_add.py::test_add"] == "passed"
