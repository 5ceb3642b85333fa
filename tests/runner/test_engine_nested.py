"""A pytest started by a test (a subprocess, or pytester's inline run) is not part of the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FILES = {
    "inner/test_inner.py": """
        def test_a():
            pass

        def test_b():
            assert 0
        """,
    "test_outer.py": """
        import os
        import subprocess
        import sys

        pytest_plugins = ["pytester"]

        def test_subprocess_pytest():
            inner = os.path.join(os.path.dirname(__file__), "inner")
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", inner],
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 1, proc.stdout + proc.stderr

        def test_inline_pytest(pytester):
            pytester.makepyfile("def test_x():\\n    pass\\n\\ndef test_y():\\n    assert 0\\n")
            pytester.runpytest_inprocess().assert_outcomes(passed=1, failed=1)
        """,
}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_nested_sessions_stay_out_of_the_run(h: Any, tmp_path: Path, workers: str) -> None:
    """The report, the durations and the impact data hold the two outer tests only, with
    the plugin autoloaded in the inner sessions (as on a developer's machine)."""
    root = h.write_project(tmp_path / "proj", FILES)
    report, durations = tmp_path / "r.json", tmp_path / "d.json"
    result = h.run_hotlap(
        root,
        *h.hotlap_args(
            report, workers, "test_outer.py", extra=("--durations-file", str(durations))
        ),
        fast=False,
    )
    assert result.code == 0, result.describe()
    nodeids = sorted(t["nodeid"] for t in h.load_json(report)["tests"])
    assert nodeids == ["test_outer.py::test_inline_pytest", "test_outer.py::test_subprocess_pytest"]
    assert sorted(h.load_json(durations)) == nodeids
    assert "recorded dependencies of 2 tests" in result.stderr, result.describe()


def test_nested_sessions_stay_out_of_plugin_exports(h: Any, tmp_path: Path) -> None:
    """``pytest -p hotlap --hotlap-json`` with workers: the same."""
    root = h.write_project(tmp_path / "proj", FILES)
    report = tmp_path / "r.json"
    result = h.run_pytest(
        root, "-p", "hotlap", f"--hotlap-json={report}", "-n", "2", "test_outer.py", fast=False
    )
    assert result.code == 0, result.describe()
    nodeids = sorted(t["nodeid"] for t in h.load_json(report)["tests"])
    assert nodeids == ["test_outer.py::test_inline_pytest", "test_outer.py::test_subprocess_pytest"]
