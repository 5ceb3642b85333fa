"""History with real ``hotlap run`` and pytest processes: flaky, slower, corrupt, empty."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

FLAKY = """
import os, pathlib

def test_flaky():
    # Fails on the first run only: the counter lives outside the project, so no source or
    # data file of the project changes between runs.
    counter = pathlib.Path(os.environ["COUNTER_FILE"])
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    assert n >= 1, "first run fails"

def test_steady():
    pass
"""

SLEEPER = """
import os, time

def test_sleep():
    time.sleep(float(os.environ.get("SLEEP", "0.05")))

def test_quick():
    pass
"""


def _run(hh, proj: Path, *args: str, env: dict[str, str] | None = None):
    return hh.hotlap(proj, "run", "--headless", *args, env=env)


@pytest.mark.slow
def test_flaky_test_is_reported_flaky(tmp_path: Path, hh) -> None:
    """Fails on run 1, passes on run 2 with no code change: run 2 and `report` call it flaky."""
    proj = hh.project(tmp_path / "proj", {"test_f.py": FLAKY})
    env = {"COUNTER_FILE": str(tmp_path / "counter")}
    first = _run(hh, proj, "--", "-n", "2", env=env)
    assert first.code == 1, first.describe()
    second = _run(hh, proj, "--", "-n", "0", env=env)
    assert second.code == 0, second.describe()
    assert "flaky: test_f.py::test_flaky (passed 1/2 runs, 50%" in second.stderr, second.describe()
    report = hh.hotlap(proj, "report", "--json")
    assert report.code == 0, report.describe()
    flaky = json.loads(report.stdout)["flaky"]
    assert [(f["nodeid"], f["pass_rate"]) for f in flaky] == [("test_f.py::test_flaky", 0.5)]
    text = hh.hotlap(proj, "report")
    assert "Flaky tests" in text.stdout and "test_f.py::test_flaky" in text.stdout


def test_reruns_turn_a_failure_into_flaky(tmp_path: Path, hh) -> None:
    """With --reruns 2 the first-run failure is retried, passes, and the run exits 0 as flaky."""
    proj = hh.project(tmp_path / "proj", {"test_f.py": FLAKY})
    env = {"COUNTER_FILE": str(tmp_path / "counter")}
    result = _run(hh, proj, "--reruns", "2", "--json", "r.json", "--", "-n", "2", env=env)
    assert result.code == 0, result.describe()
    assert "flaky: test_f.py::test_flaky" in result.stderr and "passed on rerun" in result.stderr
    test = next(t for t in json.loads((proj / "r.json").read_text())["tests"]
                if t["nodeid"] == "test_f.py::test_flaky")  # fmt: skip
    assert (test["outcome"], test["reruns"]) == ("passed", 1)


@pytest.mark.slow
def test_slower_test_is_flagged(tmp_path: Path, hh) -> None:
    """Three runs at 50 ms, then 0.6 s twice: the first slow run may be noise and is not
    flagged; the second names the test with old and new seconds."""
    proj = hh.project(tmp_path / "proj", {"test_s.py": SLEEPER})
    for sleep in ("0.05", "0.05", "0.05", "0.6"):
        steady = _run(hh, proj, "--", "-n", "0", env={"SLEEP": sleep})
        assert steady.code == 0, steady.describe()
        assert "slower:" not in steady.stderr and "SLOWER" not in steady.stdout, steady.describe()
    slow = _run(hh, proj, "--json", "r.json", "--", "-n", "0", env={"SLEEP": "0.6"})
    assert slow.code == 0, slow.describe()
    assert "SLOWER test_s.py::test_sleep" in slow.stdout, slow.describe()  # live, headless
    in_report = json.loads((proj / "r.json").read_text())["history"]["regressions"]
    assert [r["nodeid"] for r in in_report] == ["test_s.py::test_sleep"]
    line = next((ln for ln in slow.stderr.splitlines() if "slower:" in ln), "")
    assert re.search(r"slower: test_s.py::test_sleep 0\.0\ds -> 0\.[5-7]\ds$", line), (
        slow.describe()
    )
    assert "test_quick" not in line
    regressions = json.loads(hh.hotlap(proj, "report", "--json").stdout)["regressions"]
    assert [r["nodeid"] for r in regressions] == ["test_s.py::test_sleep"]
    assert 0.5 < regressions[0]["new"] < 0.75  # within 20 % of the known sleep


def test_garbage_history_is_recovered(tmp_path: Path, hh) -> None:
    """A garbage history file: the run works, warns, moves it aside and records afresh."""
    proj = hh.project(tmp_path / "proj", {"test_s.py": SLEEPER})
    (proj / ".hotlap").mkdir()
    (proj / ".hotlap" / "history.sqlite3").write_bytes(b"\x00garbage" * 500)
    result = _run(hh, proj, "--", "-n", "0")
    assert result.code == 0, result.describe()
    assert "moved to history.sqlite3.corrupt-" in result.stderr, result.describe()
    assert json.loads(hh.hotlap(proj, "report", "--json").stdout)["runs"] == 1


def test_unwritable_history_dir_turns_history_off(tmp_path: Path, hh) -> None:
    """When .hotlap cannot be a directory, the run still passes with a 'history off' note."""
    proj = hh.project(tmp_path / "proj", {"test_s.py": SLEEPER})
    (proj / ".hotlap").write_text("not a directory")
    result = _run(hh, proj, "--no-impact", "--", "-n", "0")
    assert result.code == 0, result.describe()
    assert "history off:" in result.stderr, result.describe()
    assert "Traceback" not in result.stderr


def test_report_on_empty_project_says_so(tmp_path: Path, hh) -> None:
    """`hotlap report` with no history says so plainly, exits 0, and creates nothing."""
    proj = hh.project(tmp_path / "proj", {"test_s.py": SLEEPER})
    result = hh.hotlap(proj, "report")
    assert result.code == 0, result.describe()
    assert result.stdout.startswith("No history yet"), result.describe()
    assert not (proj / ".hotlap").exists()
    assert json.loads(hh.hotlap(proj, "report", "--json").stdout)["runs"] == 0


@pytest.mark.parametrize("workers", ["0", "2"])
def test_unmarked_slow_test_fails_the_run(tmp_path: Path, hh, workers: str) -> None:
    """--slow-threshold with --fail-unmarked-slow fails an unmarked slow test by name and time."""
    proj = hh.project(
        tmp_path / "proj",
        {
            "test_p.py": """
            import time, pytest

            def test_unmarked():
                time.sleep(0.3)

            @pytest.mark.slow
            def test_marked():
                time.sleep(0.3)

            def test_fast():
                pass
            """
        },
    )
    args = ["--slow-threshold", "0.2", "--fail-unmarked-slow", "--json", "r.json"]
    result = _run(hh, proj, *args, "--", "-n", workers)
    assert result.code == 1, result.describe()
    outcomes = {t["nodeid"]: (t["outcome"], t["message"] or t["longrepr"])
                for t in json.loads((proj / "r.json").read_text())["tests"]}  # fmt: skip
    assert outcomes["test_p.py::test_marked"][0] == "passed"
    assert outcomes["test_p.py::test_fast"][0] == "passed"
    outcome, text = outcomes["test_p.py::test_unmarked"]
    assert outcome == "failed"
    assert "test_p.py::test_unmarked took 0.3" in text and "slow threshold of 0.20s" in text


@pytest.mark.parametrize(
    ("dry", "code"), [("--setup-plan", 0), ("--collect-only", 0), ("-knothing_matches", 5)]
)
def test_a_run_that_ran_no_test_code_records_nothing(
    tmp_path: Path, hh, dry: str, code: int
) -> None:
    """``--setup-plan`` "passes" every test without running it: history, the last report and
    impact data stay as the real run left them (no 0-second runs, no false flaky). A run that
    selected nothing records no run and does not talk of impact after pytest's message."""
    proj = hh.project(tmp_path / "proj", {"test_f.py": FLAKY})
    env = {"COUNTER_FILE": str(tmp_path / "counter")}
    assert _run(hh, proj, "--", "-n", "0", env=env).code == 1  # test_flaky fails on run 1
    store = proj / ".hotlap"
    before = {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()}
    dry_run = _run(hh, proj, "--", "-n", "0", dry, env=env)
    assert dry_run.code == code, dry_run.describe()
    assert "flaky" not in dry_run.stderr, dry_run.describe()
    assert "impact: recorded" not in dry_run.stderr, dry_run.describe()
    after = {p.name: p.read_bytes() for p in store.iterdir() if p.is_file()}
    if code == 0:  # the dry runs; -k nothing may note what pytest collected, impact-wise
        assert after == before
    assert after["last-report.json"] == before["last-report.json"]
    assert json.loads(hh.hotlap(proj, "report", "--json").stdout)["runs"] == 1
