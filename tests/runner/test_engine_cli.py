"""``hotlap`` argument handling: what goes to pytest, usage errors, and the ``-n`` it picks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

THREE = {
    "test_three.py": """
        def test_a():
            pass


        def test_b():
            pass


        def test_c():
            value = 1
            assert value == 2
    """,
}
THREE_COUNTS = {"failed": 1, "passed": 2}

THIRTY = {"test_thirty.py": "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(30))}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_pytest_options_after_double_dash_reach_pytest(h: Any, tmp_path: Path) -> None:
    """``hotlap run -- --tb=line -q``: pytest gets both (its argv, its one-line tracebacks)."""
    project = h.write_project(tmp_path / "proj", THREE)
    report_path = project / "report.json"
    hot = h.run_hotlap(
        project, "run", "--headless", "--json", str(report_path), "--", "--tb=line", "-q"
    )
    assert hot.code == 1, hot.describe()
    report = h.load_json(report_path)
    assert report["run"]["argv"][-2:] == ["--tb=line", "-q"]
    assert report["run"]["counts"] == THREE_COUNTS
    failed = [t for t in report["tests"] if t["outcome"] == "failed"]
    assert [t["nodeid"] for t in failed] == ["test_three.py::test_c"]
    # The default (auto) traceback shows the test's source; --tb=line does not.
    assert "value = 1" not in failed[0]["longrepr"], failed[0]["longrepr"]
    assert "assert" in failed[0]["longrepr"]


def test_default_traceback_shows_the_source(h: Any, tmp_path: Path) -> None:
    """Control for the test above: without --tb=line the longrepr holds the test's source."""
    project = h.write_project(tmp_path / "proj", THREE)
    report_path = project / "report.json"
    hot = h.run_hotlap(project, "run", "--headless", "--json", str(report_path), "--")
    assert hot.code == 1, hot.describe()
    failed = [t for t in h.load_json(report_path)["tests"] if t["outcome"] == "failed"]
    assert "value = 1" in failed[0]["longrepr"]


def test_unknown_option_is_pytest_usage_error(h: Any, tmp_path: Path) -> None:
    """``hotlap run --bogus``: hotlap does not know it, pytest rejects it: exit 4, pytest's
    "unrecognized arguments" line, no Python traceback."""
    project = h.write_project(tmp_path / "proj", THREE)
    hot = h.run_hotlap(project, "run", "--headless", "--bogus", "--")
    assert hot.code == 4, hot.describe()
    assert "unrecognized arguments: --bogus" in hot.stdout, hot.describe()
    assert "Traceback" not in hot.output


def test_missing_path_is_a_one_line_error(h: Any, tmp_path: Path) -> None:
    """A test path that does not exist: exit 4 and one line saying so, no traceback."""
    project = h.write_project(tmp_path / "proj", THREE)
    hot = h.run_hotlap(project, "run", "--headless", "--", "missing_dir/test_nope.py")
    assert hot.code == 4, hot.describe()
    lines = _lines(hot.stdout)
    assert len(lines) == 1, hot.describe()
    assert "not found: missing_dir/test_nope.py" in lines[0]
    assert "Traceback" not in hot.output


def test_double_dash_ends_hotlaps_options(h: Any, tmp_path: Path) -> None:
    """After ``--`` even hotlap's own ``--json`` goes to pytest (which rejects it)."""
    project = h.write_project(tmp_path / "proj", THREE)
    hot = h.run_hotlap(project, "run", "--headless", "--", "--json", "out.json")
    assert hot.code == 4, hot.describe()
    assert "unrecognized arguments: --json" in hot.stdout, hot.describe()
    assert not (project / "out.json").exists()


def test_no_subcommand_runs_the_suite_with_n0_for_three_tests(h: Any, tmp_path: Path) -> None:
    """Bare ``hotlap`` (no subcommand, no arguments) runs the suite like ``hotlap run``:
    headless without a TTY, -n 0 for 3 tests, pytest's exit code."""
    project = h.write_project(tmp_path / "proj", THREE)
    # No arguments at all: xdist is named through PYTEST_ADDOPTS instead (see FAST_ENV).
    env = {**h.FAST_ENV, "PYTEST_ADDOPTS": " ".join(h.FAST_ARGS)}
    hot = h.run_hotlap(project, env=env, fast=False)
    plain = h.run_pytest(project, "-q", env=env, fast=False)
    assert hot.code == plain.code == 1, hot.describe()
    assert re.search(r"hotlap: -n 0\b", hot.stderr), hot.describe()
    assert h.parse_counts(h.summary_line(_lines(hot.stdout)[-1])) == THREE_COUNTS


def test_users_n1_is_respected(h: Any, tmp_path: Path) -> None:
    """The user's ``-n 1`` is kept as is: no choice of hotlap's, one xdist worker."""
    project = h.write_project(tmp_path / "proj", THIRTY)
    report_path = project / "report.json"
    hot = h.run_hotlap(project, "run", "--headless", "--json", str(report_path), "--", "-n", "1")
    assert hot.code == 0, hot.describe()
    assert "hotlap: -n" not in hot.stderr, hot.describe()
    report = h.load_json(report_path)
    assert report["run"]["worker_ids"] == ["gw0"]
    argv = report["run"]["argv"]
    assert argv.count("-n") == 1 and argv[argv.index("-n") + 1] == "1", argv
    assert report["run"]["counts"] == {"passed": 30}


def test_autoload_disabled_without_xdist_runs_like_pytest(h: Any, tmp_path: Path) -> None:
    """With PYTEST_DISABLE_PLUGIN_AUTOLOAD and xdist not named by ``-p``, pytest knows no
    ``-n``: hotlap must not add one, and the run ends as plain pytest's does."""
    project = h.write_project(tmp_path / "proj", THREE)
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    report_path = project / "report.json"
    hot = h.run_hotlap(
        project, "run", "--headless", "--json", str(report_path), env=env, fast=False
    )
    plain = h.run_pytest(project, "-q", env=env, fast=False)
    assert hot.code == plain.code == 1, hot.describe()
    assert h.load_json(report_path)["run"]["counts"] == h.counts_of(plain) == THREE_COUNTS


def test_headless_prints_pytests_closing_sections(h: Any, tmp_path: Path) -> None:
    """A CI log gets pytest's failures with their tracebacks and its warnings summary, after
    hotlap's one line per failure and before the summary line, which stays last; pytest's
    own ``--tb=no`` leaves the tracebacks out, as it does for pytest."""
    files = {
        **THREE,
        "test_warns.py": """
            import warnings


            def test_warns():
                warnings.warn(UserWarning("careful here"))
        """,
    }
    project = h.write_project(tmp_path / "proj", files)
    hot = h.run_hotlap(project, "run", "--headless", "--", "-n", "2")
    assert hot.code == 1, hot.describe()
    lines = _lines(hot.stdout)
    summary = next(i for i, line in enumerate(lines) if h.summary_line(line))
    assert h.parse_counts(h.summary_line(lines[summary])) == {"failed": 1, "passed": 3}
    before = lines[:summary]
    assert any(line.startswith("FAILED test_three.py::test_c [gw") for line in before)
    failures = next(i for i, line in enumerate(before) if " FAILURES " in line)
    assert "E       assert 1 == 2" in before[failures:], hot.describe()
    assert any("UserWarning: careful here" in line for line in before[failures:])
    assert not any("test session starts" in line for line in lines)

    quiet = h.run_hotlap(project, "run", "--headless", "--", "-n", "2", "--tb=no")
    assert quiet.code == 1, quiet.describe()
    assert " FAILURES " not in quiet.stdout and "E       assert" not in quiet.stdout
    assert "UserWarning: careful here" in quiet.stdout  # the warnings summary still comes


_TIME = re.compile(r"in \d+\.\d+s")


@pytest.mark.parametrize("args", [("-q",), ("-qq",), ("--color=yes",), ("--co", "-q")])
def test_headless_ends_with_pytests_own_last_line(
    h: Any, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """The log ends as pytest's output ends: ``-q``'s bare summary line, the ``=`` rule with
    its colours under ``--color=yes``, and no summary hotlap made up when ``-qq`` asked pytest
    for none."""
    project = h.write_project(tmp_path / "proj", THREE)
    plain = h.run_pytest(project, "-n", "0", *args)
    hot = h.run_hotlap(project, "run", "--headless", "--", "-n", "0", *args)
    assert hot.code == plain.code, hot.describe()
    plain_last, hot_last = _lines(plain.stdout)[-1], _lines(hot.stdout)[-1]
    assert _TIME.sub("in Ts", hot_last) == _TIME.sub("in Ts", plain_last), hot.describe()


def test_a_chatty_failure_keeps_the_other_tracebacks(h: Any, tmp_path: Path) -> None:
    """A failing test that printed 6,000 lines: pytest's FAILURES section is that long, and
    the log still shows every traceback (keeping 5,000 lines lost them all)."""
    project = h.write_project(
        tmp_path / "proj",
        {
            "test_chatty.py": """
                def test_fails_first():
                    value = 1
                    assert value == 2

                def test_chatty_fail():
                    for i in range(6000):
                        print("line", i)
                    assert False
            """
        },
    )
    hot = h.run_hotlap(project, "run", "--headless", "--", "-n", "2")
    assert hot.code == 1, hot.describe()
    assert "E       assert 1 == 2" in hot.stdout, hot.describe()
    assert " FAILURES " in hot.stdout, hot.describe()


def test_a_run_with_the_plugin_disabled_says_so(h: Any, tmp_path: Path) -> None:
    """``-p no:hotlap`` runs pytest's session without hotlap's plugin: pytest's exit code
    stands, and hotlap says why its report has no tests instead of writing an empty one
    silently."""
    project = h.write_project(tmp_path / "proj", THREE)
    hot = h.run_hotlap(project, "run", "--headless", "--", "-n", "0", "-p", "no:hotlap")
    assert hot.code == 1, hot.describe()
    assert "pytest sent no events" in hot.stderr, hot.describe()
    normal = h.run_hotlap(project, "run", "--headless", "--", "-n", "0")
    assert "pytest sent no events" not in normal.stderr, normal.describe()


def test_merged_log_ends_with_pytests_summary_line(h: Any, tmp_path: Path) -> None:
    """In a log where stderr goes to stdout (``2>&1``), pytest's summary line is the last
    line, as with plain pytest: hotlap's own closing lines (impact, history, the exports it
    wrote) come before it. The exports are whole by then."""
    import subprocess
    import sys

    project = h.write_project(tmp_path / "proj", THREE)
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--json", str(report), "--",
         "-n", "2", "-p", "no:randomly"],
        cwd=project, env=h.clean_env(None), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )  # fmt: skip
    lines = _lines(proc.stdout)
    assert proc.returncode == 1, proc.stdout
    assert h.summary_line(lines[-1]), proc.stdout
    hotlap_lines = [i for i, line in enumerate(lines) if line.startswith("hotlap: wrote ")]
    assert hotlap_lines and max(hotlap_lines) < len(lines) - 1, proc.stdout
    assert any("impact: recorded dependencies of 3 tests" in line for line in lines)
    assert json.loads(report.read_text())["run"]["exit_code"] == 1


@pytest.mark.parametrize("capture", [("-s",), ("--capture=tee-sys",)])
def test_output_a_test_prints_with_capture_off_is_shown_as_pytest_shows_it(
    h: Any, tmp_path: Path, capture: tuple[str, ...]
) -> None:
    """With pytest's capture off (``-s``) or teed, what a test prints reaches the log as it
    does with plain pytest: pytest's output is relayed as it comes, in its order, each of its
    lines once; hotlap's own progress and failure lines stay out of it; its notes come
    before the summary line, which stays last."""
    files = {
        "test_talk.py": """
            def test_a():
                print("HELLO FROM A")


            def test_b():
                print("HELLO FROM B")
                assert 1 == 2
        """
    }
    project = h.write_project(tmp_path / "proj", files)
    plain = h.run_pytest(project, "-n", "0", "-q", *capture)
    hot = h.run_hotlap(project, "run", "--headless", "--", "-n", "0", "-q", *capture)
    assert hot.code == plain.code == 1, hot.describe()
    want = [_TIME.sub("in Ts", line) for line in _lines(plain.stdout)]
    got = [_TIME.sub("in Ts", line) for line in _lines(hot.stdout)]
    assert got[-1] == want[-1], hot.describe()
    # pytest's lines, in pytest's order; hotlap's debug hint is the one line of its own.
    assert [line for line in got if not line.startswith("hotlap: ")] == want, hot.describe()
    assert "HELLO FROM A" in got and got.count("E       assert 1 == 2") == 1


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_test_whose_subtests_failed_is_failed_in_the_report(
    h: Any, tmp_path: Path, workers: str
) -> None:
    """pytest 9 fails a test whose own call passed when one of its subtests failed ("contains
    1 failed subtest"): its teststatus hook changes the report. The report's counts and the
    test's outcome are pytest's, not those of the call report as the worker first saw it."""
    pytest.importorskip("_pytest.subtests")
    files = {
        "test_sub.py": """
            def test_all_pass(subtests):
                for i in range(3):
                    with subtests.test(i=i):
                        assert i < 10


            def test_one_fails(subtests):
                for i in range(3):
                    with subtests.test(i=i):
                        assert i < 2
        """
    }
    project = h.write_project(tmp_path / "proj", files)
    plain = h.run_pytest(project, "-n", workers)
    report = tmp_path / "report.json"
    hot = h.run_hotlap(project, "run", "--headless", "--json", str(report), "--", "-n", workers)
    assert hot.code == plain.code == 1, hot.describe()
    counts = h.parse_counts(h.summary_line(_lines(plain.stdout)[-1]))
    data = h.load_json(report)
    assert data["run"]["counts"] == counts, (counts, hot.describe())
    outcomes = {t["nodeid"]: t["outcome"] for t in data["tests"]}
    assert outcomes == {
        "test_sub.py::test_all_pass": "passed",
        "test_sub.py::test_one_fails": "failed",
    }
