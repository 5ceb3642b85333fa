"""Bad usage of ``hotlap run``: each mistake gets pytest's exit code and a clear message,
never a Python traceback."""

from __future__ import annotations

from typing import Any

import pytest

ONE_TEST = {"test_one.py": "def test_ok():\n    pass\n"}


def _no_traceback(result: Any) -> None:
    assert "Traceback" not in result.output, result.describe()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--no-such-hotlap-option",), 4, "unrecognized arguments"),
        (("-n", "0", "missing_dir"), 4, "not found"),
        (("-n", "0", "-k", "matches_nothing"), 5, "deselected"),
    ],
    ids=["unknown-option", "missing-path", "no-tests"],
)
def test_usage_errors_exit_like_pytest(
    hx: Any, args: tuple[str, ...], code: int, message: str
) -> None:
    """The same exit code as plain pytest, the cause in the output, no traceback."""
    project = hx.project(ONE_TEST)
    plain = hx.pytest(project, *args)
    hot = hx.hotlap(project, *args, options=("--no-history",))
    assert plain.code == code, plain.describe()
    assert hot.code == code, hot.describe()
    assert message in hot.output, hot.describe()
    _no_traceback(hot)


def test_not_a_pytest_project(hx: Any) -> None:
    """An empty directory: "no tests ran", exit 5 like pytest."""
    project = hx.project({})
    hot = hx.hotlap(project, "-n", "0", options=("--no-history",))
    assert hot.code == 5, hot.describe()
    _no_traceback(hot)


def test_history_dir_unusable_still_runs(hx: Any) -> None:
    """``.hotlap`` cannot be made a directory (a file is in the way; as root a read-only
    directory cannot be simulated): the run still happens, history is off, with a warning."""
    project = hx.project(ONE_TEST)
    (project / ".hotlap").write_text("in the way")
    hot = hx.hotlap(project, "-n", "0")
    assert hot.code == 0, hot.describe()
    assert "history off" in hot.output, hot.describe()
    assert hot.report["run"]["counts"] == {"passed": 1}
    _no_traceback(hot)


def test_unusable_temp_dir_for_the_socket(hx: Any) -> None:
    """TMPDIR that is not a directory: hotlap still runs (or says why in one line)."""
    project = hx.project(ONE_TEST)
    not_a_dir = hx.tmp_path / "file"
    not_a_dir.write_text("")
    hot = hx.hotlap(project, "-n", "0", options=("--no-history",), env={"TMPDIR": str(not_a_dir)})
    _no_traceback(hot)
    assert hot.code == 0 or hot.output.strip().splitlines()[-1].startswith("hotlap:"), (
        hot.describe()
    )
