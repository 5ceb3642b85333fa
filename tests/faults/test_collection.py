"""Broken collection: a syntax error and a missing import.

pytest lists each error with its message and exits 2 (``-n 0``); with xdist the run goes on
with the other tests and exits 1. hotlap must list the same errors with their messages, count
them as pytest does and exit with pytest's code.
"""

from __future__ import annotations

from typing import Any

import pytest

BROKEN = {
    "test_syntax.py": """
        def test_never(:
            pass
    """,
    "test_import.py": """
        import module_that_does_not_exist

        def test_never():
            pass
    """,
    "test_fine.py": """
        def test_ok():
            pass
    """,
}


def _check_errors(report: dict[str, Any]) -> None:
    errors = {e["nodeid"]: e["longrepr"] for e in report["collect_errors"]}
    assert set(errors) == {"test_syntax.py", "test_import.py"}, errors
    assert "SyntaxError" in errors["test_syntax.py"]
    assert "module_that_does_not_exist" in errors["test_import.py"]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_collection_errors_like_pytest(hx: Any, workers: str) -> None:
    """Exit code (2 without xdist, 1 with) and counts are pytest's; both errors are listed
    with their messages, once each even though every xdist worker collects."""
    project = hx.project(BROKEN)
    plain = hx.pytest(project, "-n", workers)
    hot = hx.plugin(project, "-n", workers)
    assert plain.code == (2 if workers == "0" else 1), plain.describe()
    assert hot.code == plain.code, hot.describe()
    assert hot.report["run"]["counts"] == hot.counts == plain.counts, hot.describe()
    _check_errors(hot.report)


def test_collection_errors_under_the_app(hx: Any) -> None:
    """``hotlap run``: exit 2 like pytest, the errors in the report and named in the log."""
    project = hx.project(BROKEN)
    hot = hx.hotlap(project, "-n", "0", options=("--no-history",))
    assert hot.code == 2, hot.describe()
    assert hot.report["run"]["counts"] == {"error": 2}, hot.describe()
    _check_errors(hot.report)
    assert "SyntaxError" in hot.stdout and "module_that_does_not_exist" in hot.stdout
