"""``[tool.hotlap]`` in pyproject.toml: every run option's default, the command line wins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hotlap.commands.options import UsageError, parse_run_args
from hotlap.commands.watch import parse_watch_args


def _project(root: Path, table: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.hotlap]\n' + textwrap.dedent(table)
    )
    return root


def test_table_values_are_the_defaults(tmp_path: Path) -> None:
    """Limits, thresholds, history size, switches and exclusions come from the table."""
    project = _project(
        tmp_path,
        """
        hang-after = 120
        kill-after = 300.5
        slow-threshold = 0.5
        history-keep = 20
        no-schedule = true
        fail-unmarked-slow = true
        reruns = 2
        impact-exclude = ["src/pkg/jit_*.py", "*/generated/*"]
        """,
    )
    ns, rest = parse_run_args("hotlap run", ["-x"], config=project)
    assert (ns.hang_after, ns.kill_after, ns.slow_threshold) == (120.0, 300.5, 0.5)
    assert (ns.history_keep, ns.schedule, ns.fail_unmarked_slow, ns.reruns) == (20, False, True, 2)
    assert ns.impact_exclude == ["src/pkg/jit_*.py", "*/generated/*"]
    assert rest == ["-x"]


def test_the_command_line_wins(tmp_path: Path) -> None:
    """An option given on the command line beats the table."""
    project = _project(tmp_path, "hang-after = 120\nhistory-keep = 20\n")
    ns, _ = parse_run_args("hotlap run", ["--hang-after", "5", "--history-keep=3"], config=project)
    assert (ns.hang_after, ns.history_keep) == (5.0, 3)


def test_the_nearest_table_up_the_tree_applies(tmp_path: Path) -> None:
    """Run from a subdirectory: the project's pyproject.toml above it is read; none at all
    leaves the built-in defaults and no exclusions."""
    project = _project(tmp_path / "proj", "slow-threshold = 2\n")
    (project / "tests").mkdir()
    ns, _ = parse_run_args("hotlap run", [], config=project / "tests")
    assert ns.slow_threshold == 2.0
    ns, _ = parse_run_args("hotlap run", [], config=tmp_path)
    assert ns.hang_after == 60.0 and ns.impact_exclude == []


def test_unknown_keys_warn_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A key hotlap does not know: one line each, naming the file and the key (and the
    spelling meant, for an underscore), and the run goes on; watch's keys are known."""
    project = _project(tmp_path, "hang_after = 5\ncolour = true\ndebounce = 100\n")
    ns, _ = parse_run_args("hotlap run", [], config=project)
    assert ns.hang_after == 60.0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert "'hang_after'" in lines[0] and "did you mean 'hang-after'?" in lines[0]
    assert "'colour'" in lines[1] and "pyproject.toml" in lines[1]
    assert all(line.startswith("hotlap: warning: ") for line in lines)


def test_watch_reads_its_own_keys_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hotlap watch`` takes the run options and its own (debounce) from the same table."""
    _project(tmp_path, "debounce = 100\nno-impact = true\n")
    monkeypatch.chdir(tmp_path)
    ns, _ = parse_watch_args([])
    assert (ns.debounce, ns.no_impact) == (100, True)


@pytest.mark.parametrize(
    ("table", "words"),
    [("hang-after = 'soon'", "a number"), ("no-history = 1", "true or false"),
     ("impact-exclude = 'x.py'", "a list of strings"), ("history-keep = 2.5", "an integer")],
)  # fmt: skip
def test_a_wrong_type_is_a_usage_error(tmp_path: Path, table: str, words: str) -> None:
    """A value of the wrong type stops hotlap with one line, as a bad option would."""
    project = _project(tmp_path, table + "\n")
    with pytest.raises(UsageError, match=f"must be {words}"):
        parse_run_args("hotlap run", [], config=project)


def test_a_run_applies_the_table(tmp_path: Path) -> None:
    """End to end: ``slow-threshold`` and ``fail-unmarked-slow`` from the table make a run
    with an unmarked 0.3 s test fail, as the same options on the command line do; a broken
    table is one line and exit 4."""
    project = _project(tmp_path, "slow-threshold = 0.1\nfail-unmarked-slow = true\n")
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_s.py").write_text("import time\n\ndef test_slow():\n    time.sleep(0.3)\n")
    cmd = [sys.executable, "-m", "hotlap", "run", "--headless", "--no-history", "--no-impact"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLAP_", "PYTEST_"))}
    run = subprocess.run(
        [*cmd, "--", "-n", "0"], cwd=project, capture_output=True, text=True, env=env
    )
    assert run.returncode == 1, run.stdout + run.stderr
    (project / "pyproject.toml").write_text("[tool.hotlap]\nhang-after = [\n")
    bad = subprocess.run(
        [*cmd, "--", "-n", "0"], cwd=project, capture_output=True, text=True, env=env
    )
    assert bad.returncode == 4 and bad.stderr.count("\n") == 1, bad.stderr
    assert "not valid TOML" in bad.stderr
