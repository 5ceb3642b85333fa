"""Building pytest's command line: argument split and hotlap's choice of ``-n``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotlap.commands.options import parse_run_args
from hotlap.resources.cores import effective_cores, worker_count
from hotlap.runner.command import SMALL_RUN, choose_workers, estimate_tests, pytest_command
from hotlap.runner.session import parse_summary_line


@pytest.fixture(autouse=True)
def _no_addopts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)


def _project(tmp_path: Path, tests: int) -> Path:
    body = "".join(f"def test_{i}():\n    pass\n" for i in range(tests))
    (tmp_path / "test_x.py").write_text(body)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def test_unknown_options_go_to_pytest_in_order() -> None:
    """hotlap keeps its own options and passes the rest, in order, after ``--`` too."""
    ns, rest = parse_run_args(
        "hotlap", ["-x", "--json", "r.json", "-k", "a or b", "--", "--json", "-q"]
    )
    assert ns.json == "r.json"
    assert rest == ["-x", "-k", "a or b", "--json", "-q"]


def test_no_abbreviations() -> None:
    """A prefix of a hotlap option is not taken as it (``--dur`` is pytest's business)."""
    ns, rest = parse_run_args("hotlap", ["--durations=5"])
    assert ns.durations_file is None and rest == ["--durations=5"]


def test_small_run_uses_one_process(tmp_path: Path) -> None:
    """A handful of tests runs without xdist (its start-up would cost more)."""
    choice = choose_workers([], _project(tmp_path, 3))
    assert choice.args == ["-n", "0"] and "small run" in choice.reason


def test_bigger_run_uses_the_effective_cores(tmp_path: Path) -> None:
    """Past the small-run limit hotlap uses one worker per effective core."""
    choice = choose_workers([], _project(tmp_path, SMALL_RUN + 5))
    workers = worker_count(effective_cores())
    expected = ["-n", str(workers)] if workers > 1 else ["-n", "0"]
    assert choice.args == expected


@pytest.mark.parametrize("args", [["-n", "3"], ["-n3"], ["--numprocesses=3"], ["--tx", "popen"]])
def test_users_n_is_kept(tmp_path: Path, args: list[str]) -> None:
    """A -n given by the user is never overridden."""
    assert choose_workers(args, _project(tmp_path, 50)).args == []


def test_n_from_ini_addopts_is_kept(tmp_path: Path) -> None:
    """A -n in the project's pytest addopts counts as the user's choice."""
    project = _project(tmp_path, 50)
    (project / "pytest.ini").write_text("[pytest]\naddopts = -n 4\n")
    choice = choose_workers([], project)
    assert choice.args == [] and "config" in choice.reason


def test_n_from_pyproject_addopts_is_kept(tmp_path: Path) -> None:
    """pyproject.toml's [tool.pytest.ini_options] addopts is read too."""
    project = _project(tmp_path, 50)
    (project / "pytest.ini").unlink()
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-n 2"\n')
    assert choose_workers([], project).args == []


def test_pdb_disables_xdist(tmp_path: Path) -> None:
    """--pdb needs one process: hotlap adds no -n."""
    assert choose_workers(["--pdb"], _project(tmp_path, 50)).args == []


def test_estimate_counts_named_nodeids(tmp_path: Path) -> None:
    """Named test ids are counted as they are."""
    assert estimate_tests(["a.py::t1", "a.py::t2"], tmp_path) == 2


def test_command_loads_the_plugin() -> None:
    """pytest runs with this interpreter and ``-p hotlap`` before the user's arguments."""
    from hotlap.runner.command import WorkerChoice

    cmd = pytest_command(["-x"], WorkerChoice(["-n", "2"], 2, ""))
    assert cmd[1:] == ["-m", "pytest", "-p", "hotlap", "-n", "2", "-x"]


@pytest.mark.parametrize(
    ("line", "summary"),
    [
        ("==== 1 failed, 2 passed in 0.12s ====", "1 failed, 2 passed in 0.12s"),
        ("1 passed in 0.01s", "1 passed in 0.01s"),
        ("===== no tests ran in 0.01s =====", "no tests ran in 0.01s"),
        (
            "=== 3 passed, 1 warning in 65.01s (0:01:05) ===",
            "3 passed, 1 warning in 65.01s (0:01:05)",
        ),
        ("==== test session starts ====", None),
        ("collected 3 items", None),
    ],
)
def test_summary_line_parsing(line: str, summary: str | None) -> None:
    """pytest's final line is recognised with and without ``=`` padding, and nothing else is."""
    assert parse_summary_line(line) == summary


def test_choosing_n_imports_neither_pytest_nor_xdist(tmp_path: Path) -> None:
    """Everything before pytest starts delays it: hotlap's -n choice finds xdist without
    importing it (``import xdist`` imports pytest, ~130 ms here)."""
    import subprocess
    import sys

    project = _project(tmp_path, SMALL_RUN + 5)
    code = (
        "import sys; from pathlib import Path; from hotlap.runner.command import choose_workers;"
        f"choice = choose_workers([], Path({str(project)!r}));"
        "print(choice.reason, '|', sorted(m for m in ('pytest', 'xdist') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    reason, _, imported = out.partition("|")
    assert "effective core" in reason, out
    assert imported.strip() == "[]", out
