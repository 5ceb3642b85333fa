"""Exports from plain pytest (``pytest -p hotlap --hotlap-json=… --hotlap-durations=…``).

No app runs: without xdist the events fold in-process, with xdist the controller opens the
socket itself. The report's counts must be pytest's own, also when xdist is loaded under a
name other than its entry point's (``-p xdist.plugin`` with plugin autoload disabled), where
the controller once mistook itself for a single process and counted every test twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SUITE = {
    "test_exp.py": """
        import pytest


        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("teardown")


        def test_passes():
            pass


        def test_fails():
            assert 1 == 2


        def test_teardown_error(broken_teardown):
            pass


        @pytest.mark.skip(reason="no")
        def test_skipped():
            pass
    """,
}
NODEIDS = sorted(
    f"test_exp.py::{name}"
    for name in ("test_passes", "test_fails", "test_teardown_error", "test_skipped")
)
COUNTS = {"failed": 1, "passed": 2, "skipped": 1, "error": 1}


@pytest.mark.parametrize(
    ("workers", "autoload"),
    [("0", True), ("2", True), ("2", False)],
    ids=["n0-autoload", "n2-autoload", "n2-named"],
)
def test_plain_pytest_exports_count_like_pytest(
    ph: Any, tmp_path: Path, workers: str, autoload: bool
) -> None:
    """The report's counts, exit code and tests equal pytest's summary; the durations file
    has every test; with ``-n 2`` the tests ran on the workers."""
    project = ph.write_project(tmp_path / "proj", SUITE)
    report_path, durations_path = project / "report.json", project / "durations.json"
    args = ["-q", "-n", workers, "-p", "hotlap"]
    env = None
    if not autoload:
        args = ["-p", "xdist.plugin", *args]
        env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = ph.run_pytest(
        project,
        *args,
        f"--hotlap-json={report_path}",
        f"--hotlap-durations={durations_path}",
        env=env,
    )
    assert run.code == 1, run.describe()
    assert run.counts == COUNTS, run.describe()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["run"]["counts"] == COUNTS, run.describe()
    assert report["run"]["exit_code"] == 1
    assert sorted(t["nodeid"] for t in report["tests"]) == NODEIDS
    expected_workers = {"main"} if workers == "0" else {"gw0", "gw1"}
    assert {t["worker"] for t in report["tests"]} <= expected_workers
    assert set(report["run"]["worker_ids"]) <= expected_workers
    durations = json.loads(durations_path.read_text(encoding="utf-8"))
    assert sorted(durations) == NODEIDS


def test_in_process_exports_send_a_quick_test_as_one_event(ph: Any, tmp_path: Path) -> None:
    """Without xdist and without the app, the events die with the process: a quick passing
    test is not announced as it starts (one TestDone instead of a TestStart and a TestDone),
    and the report still says where each test is and how it ended."""
    project = ph.write_project(tmp_path / "proj", SUITE)
    report_path, record = project / "report.json", project / "events.jsonl"
    run = ph.run_pytest(
        project, "-q", "-n", "0", "-p", "hotlap", f"--hotlap-json={report_path}",
        f"--hotlap-record={record}",
    )  # fmt: skip
    assert run.code == 1, run.describe()
    kinds: dict[str, list[str]] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        kinds.setdefault(event["kind"], []).append(event.get("nodeid", ""))
    assert kinds["test_done"] == ["test_exp.py::test_passes"]
    # Only the tests that are not one quiet event are announced (before their reports).
    assert sorted(kinds.get("test_start", [])) == sorted(
        n for n in NODEIDS if n != "test_exp.py::test_passes"
    )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["run"]["counts"] == COUNTS
    lines = {t["nodeid"]: (t["path"], t["line"], t["outcome"]) for t in report["tests"]}
    assert lines["test_exp.py::test_passes"] == ("test_exp.py", 11, "passed")
    assert lines["test_exp.py::test_fails"][2] == "failed"


THREADS_SUITE = {
    "test_threads.py": """
        import os
        import pathlib
        import sys


        def test_names_the_threads():
            # Every thread's functions (hotlap's threads are not in threading.enumerate()).
            names = set()
            for frame in sys._current_frames().values():
                while frame is not None:
                    names.add(frame.f_code.co_name)
                    frame = frame.f_back
            out = pathlib.Path(os.environ["THREADS_OUT"])
            out.write_text(" ".join(sorted(names)))
    """,
}


def test_exports_with_xdist_run_no_flusher_thread(ph: Any, hh: Any, tmp_path: Path) -> None:
    """Nothing shows a plain-pytest exports run live, so its workers run no flusher thread
    (it woke 50 times a second in each worker: bench/overhead.py); the app's workers do, and
    the report still has every test."""
    project = ph.write_project(tmp_path / "proj", THREADS_SUITE)
    plugin_out, app_out = tmp_path / "plugin.txt", tmp_path / "app.txt"
    report_path = tmp_path / "report.json"
    _plugin_then_app(
        ph, hh, project, f"--hotlap-json={report_path}", [],
        "THREADS_OUT", plugin_out, app_out,
    )  # fmt: skip
    assert "_flush_soon" not in plugin_out.read_text().split(), plugin_out.read_text()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert [t["nodeid"] for t in report["tests"]] == ["test_threads.py::test_names_the_threads"]
    assert report["tests"][0]["worker"].startswith("gw")
    assert "_flush_soon" in app_out.read_text().split(), app_out.read_text()


def _plugin_then_app(
    ph: Any,
    hh: Any,
    project: Path,
    export: str,
    app_args: list[str],
    out_var: str,
    plugin_out: Path,
    app_out: Path,
) -> None:
    """The project run by ``pytest -n 2 -p hotlap EXPORT`` with ``out_var`` naming
    ``plugin_out``, then by ``hotlap run --headless`` (no history, no impact) with it naming
    ``app_out``; both must pass."""
    run = ph.run_pytest(
        project, "-q", "-n", "2", "-p", "hotlap", export, env={out_var: str(plugin_out)}
    )
    assert run.code == 0, run.describe()
    app = hh.hotlap(
        project, "run", "--headless", "--no-history", "--no-impact", *app_args,
        "--", "-n", "2", env={out_var: str(app_out)},
    )  # fmt: skip
    assert app.code == 0, app.describe()


SUBTESTS_SUITE = {
    "test_sub.py": """
        import unittest


        class TestCase(unittest.TestCase):
            def test_many(self):
                for i in range(50):
                    with self.subTest(i=i):
                        self.assertLess(i, 100)


        def test_fixture(subtests):
            for i in range(50):
                with subtests.test(i=i):
                    assert i < 100


        def test_one_fails(subtests):
            for i in range(3):
                with subtests.test(i=i):
                    assert i < 2
    """
}


@pytest.mark.parametrize("verbose", [False, True])
def test_quiet_passed_subtests_send_nothing(ph: Any, tmp_path: Path, verbose: bool) -> None:
    """A passed subtest pytest neither counts nor shows (default verbosity) is not an event:
    a unittest suite with thousands of them paid one event and one report per subtest in
    the worker and the app. Shown ones (``-v``) and failed ones are still sent, and the
    counts are pytest's either way."""
    pytest.importorskip("_pytest.subtests")
    project = ph.write_project(tmp_path / "proj", SUBTESTS_SUITE)
    report_path, record = project / "report.json", project / "events.jsonl"
    extra = ["-v"] if verbose else []
    plain = ph.run_pytest(project, "-n", "2", *extra)
    run = ph.run_pytest(
        project, "-n", "2", "-p", "hotlap", f"--hotlap-json={report_path}",
        f"--hotlap-record={record}", *extra,
    )  # fmt: skip
    assert run.code == plain.code == 1, run.describe()
    reports: dict[str, int] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["kind"] == "test_report" and event.get("when") == "call":
            reports[event["nodeid"]] = reports.get(event["nodeid"], 0) + 1
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["run"]["counts"] == plain.counts == run.counts, (plain.describe(), run.describe())
    outcomes = {t["nodeid"]: t["outcome"] for t in report["tests"]}
    assert outcomes == {
        "test_sub.py::TestCase::test_many": "passed",
        "test_sub.py::test_fixture": "passed",
        "test_sub.py::test_one_fails": "failed",
    }
    if verbose:  # "subtests passed" counts: each is sent
        assert reports["test_sub.py::TestCase::test_many"] >= 50, reports
        assert reports["test_sub.py::test_fixture"] >= 50, reports
    else:  # the quick passing tests are one TestDone each; the failing one sends its failure
        assert "test_sub.py::TestCase::test_many" not in reports, reports
        assert "test_sub.py::test_fixture" not in reports, reports
        assert reports["test_sub.py::test_one_fails"] <= 3, reports


HAZARD_SUITE = {
    "conftest.py": """
        import os
        import pathlib


        def pytest_sessionfinish(session):
            if hasattr(session.config, "workerinput"):
                watched = session.config.pluginmanager.has_plugin("hotlap-hazards")
                out = pathlib.Path(os.environ["HAZARDS_OUT"]) / os.environ["PYTEST_XDIST_WORKER"]
                out.write_text(str(watched))
    """,
    "test_env.py": """
        import os


        def test_leaves_a_variable_set():
            os.environ["HOTLAP_TEST_LEFT_SET"] = "1"
    """,
}


def test_exports_with_xdist_watch_no_hazards(ph: Any, hh: Any, tmp_path: Path) -> None:
    """Hazards are the app's (``hotlap run``'s report, ``hotlap safety``); a plain-pytest
    exports run's workers do not watch for them, so they pay neither the per-test snapshots
    nor an audit hook called on every audit event. The app's workers still do, and report
    the variable the test left set."""
    project = ph.write_project(tmp_path / "proj", HAZARD_SUITE)
    plugin_out, app_out = tmp_path / "plugin", tmp_path / "app"
    plugin_out.mkdir()
    app_out.mkdir()
    record = tmp_path / "record.jsonl"
    _plugin_then_app(
        ph, hh, project, f"--hotlap-record={record}", ["--json", "r.json"],
        "HAZARDS_OUT", plugin_out, app_out,
    )  # fmt: skip
    assert {p.read_text() for p in plugin_out.iterdir()} == {"False"}
    kinds = {json.loads(line)["kind"] for line in record.read_text().splitlines()}
    assert "test_done" in kinds and "hazard" not in kinds, kinds
    assert {p.read_text() for p in app_out.iterdir()} == {"True"}
    hazards = json.loads((project / "r.json").read_text())["hazards"]
    assert [(h["hazard"], h["name"]) for h in hazards] == [("env", "HOTLAP_TEST_LEFT_SET")]
