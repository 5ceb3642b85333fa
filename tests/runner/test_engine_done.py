"""One ``test_done`` event for a quiet passing test, per-phase reports for everything else.

The worker folds the three phase reports of a test that passed without output into one
event (streaming cost); anything that is not that case must still travel phase by phase, so
that output, failures, skips and plugin categories reach the app unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from hotlap.export.record import read_record
from hotlap.model.run_state import RunState

SUITE = {
    "test_kinds.py": """
        import logging

        import pytest


        @pytest.fixture
        def noisy():
            print("setup speaks")
            yield


        def test_quiet():
            assert True


        def test_quiet_with_fixture(tmp_path):
            assert tmp_path.exists()


        def test_prints_in_call():
            print("call speaks")


        def test_prints_in_setup(noisy):
            pass


        def test_logs():
            logging.getLogger("x").warning("logged")


        @pytest.mark.xfail(strict=False)
        def test_xpass():
            pass


        @pytest.mark.skip(reason="no")
        def test_skip():
            pass


        def test_fails():
            assert 0
    """,
}


def _plain_and_recorded(h, project: Path, workers: str, record: Path, *hotlap_args: str):  # type: ignore[no-untyped-def]
    """Plain pytest's result, and hotlap's with its event stream recorded to ``record``."""
    plain = h.run_pytest(project, "-n", workers, "-p", "no:cacheprovider")
    result = h.run_hotlap(
        project, "run", "--headless", "--record", str(record), "--no-history", "--no-impact",
        *hotlap_args, "--", "-n", workers, "-p", "no:cacheprovider",
    )  # fmt: skip
    return plain, result


QUIET = {"test_kinds.py::test_quiet", "test_kinds.py::test_quiet_with_fixture"}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_only_quiet_passes_are_folded(tmp_path: Path, h, workers: str) -> None:
    """Quiet passes arrive as exactly one test_done and no phase report; every other test
    arrives as its phase reports with its own phase's output; the counts are pytest's."""
    project = h.write_project(tmp_path / "p", SUITE)
    record = tmp_path / "events.jsonl"
    plain, result = _plain_and_recorded(h, project, workers, record)
    assert result.code == plain.code == 1, result.describe()
    kinds: dict[str, list[str]] = defaultdict(list)
    state = RunState()
    for event in read_record(record):
        state.apply(event)
        nodeid = getattr(event, "nodeid", "")
        if event.kind in ("test_done", "test_report"):
            kinds[nodeid].append(event.kind if event.kind == "test_done" else event.when)
    for nodeid in QUIET:
        assert kinds[nodeid] == ["test_done"], nodeid
    for nodeid in set(kinds) - QUIET:
        phases = (
            ["setup", "teardown"] if nodeid.endswith("test_skip") else ["setup", "call", "teardown"]
        )
        assert kinds[nodeid] == phases, nodeid
    assert len(kinds) == 8
    assert state.summary_counts() == h.counts_of(plain)
    assert state.tests["test_kinds.py::test_prints_in_call"].stdout.strip() == "call speaks"
    assert state.tests["test_kinds.py::test_prints_in_setup"].stdout.strip() == "setup speaks"
    assert "logged" in state.tests["test_kinds.py::test_logs"].log
    quiet = state.tests["test_kinds.py::test_quiet"]
    assert quiet.outcome == "passed" and quiet.started and quiet.finished
    assert quiet.rss_after > 0 and quiet.rss_peak > 0


STATUS_CONFTEST = """
    def pytest_report_teststatus(report, config):
        if report.when == "call" and report.passed and "custom" in report.nodeid:
            return "checked", "c", "CHECKED"
"""
STATUS_TESTS = """
    def test_custom():
        pass

    def test_plain():
        pass
"""


# "sub": a conftest pytest loads only while collecting sub/ (after the worker's first look at
# the hook's implementations). Only without xdist: under -n 2 the controller, which counts,
# never loads it (plain pytest then says "2 passed" while the workers' hook says "checked").
@pytest.mark.parametrize(("workers", "where"), [("0", "sub"), ("0", ""), ("2", "")])
def test_a_conftest_status_is_asked_not_assumed(
    tmp_path: Path, h, workers: str, where: str
) -> None:
    """A conftest that gives passed tests its own word: the worker does not take "passed"
    for granted, so that test arrives phase by phase with the conftest's category, and
    pytest's counts (which include the new word) are the app's."""
    prefix = f"{where}/" if where else ""
    suite = {f"{prefix}conftest.py": STATUS_CONFTEST, f"{prefix}test_status.py": STATUS_TESTS}
    project = h.write_project(tmp_path / "p", suite)
    record = tmp_path / "events.jsonl"
    plain, result = _plain_and_recorded(h, project, workers, record)
    assert result.code == plain.code == 0, result.describe()
    state = RunState()
    calls = {}
    for event in read_record(record):
        state.apply(event)
        if event.kind == "test_report" and event.when == "call":
            calls[event.nodeid] = event.category
    assert calls == {f"{prefix}test_status.py::test_custom": "checked"}, calls
    assert state.summary_counts() == h.counts_of(plain) == {"checked": 1, "passed": 1}


LONG_CALL = {
    "test_long.py": """
        import time


        def test_long_call():
            time.sleep(0.8)


        def test_quick():
            pass
    """,
}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_long_call_shows_its_phase_while_it_runs(tmp_path: Path, h, workers: str) -> None:
    """A quiet test whose call runs on is not held as one TestDone to its end: its setup
    report leaves while the call runs (the dashboard's lane said "setup" for the whole of a
    3 s call), so the app sees it in its call. A quick test still arrives as one TestDone.
    (A progress line every 0.4 s: the sink's flusher looks every 0.1 s, as the dashboard's
    does; the default headless log lets it look every 0.5 s.)"""
    project = h.write_project(tmp_path / "p", LONG_CALL)
    record = tmp_path / "events.jsonl"
    plain, result = _plain_and_recorded(h, project, workers, record, "--progress-interval", "0.4")
    assert result.code == plain.code == 0, result.describe()
    events = list(read_record(record))
    kinds = defaultdict(list)
    for event in events:
        if event.kind in ("test_done", "test_report"):
            kinds[event.nodeid].append(event)
    assert [e.kind for e in kinds["test_long.py::test_quick"]] == ["test_done"]
    long_call = kinds["test_long.py::test_long_call"]
    assert [getattr(e, "when", e.kind) for e in long_call] == ["setup", "call", "teardown"]
    setup, call = long_call[0], long_call[1]
    assert call.t - setup.t > 0.5  # sent while the 0.8 s call still ran
    state = RunState()
    for event in events:
        state.apply(event)
    assert state.summary_counts() == h.counts_of(plain) == {"passed": 2}


PAST_THE_BATCH = """
    import time


    def test_past_the_batch_wait():
        time.sleep({seconds})
"""


def test_a_quiet_test_longer_than_the_batch_wait_is_still_one_event(tmp_path: Path, h) -> None:
    """The sink's batch wait (LINGER: how late the dashboard sees an event) is not the time
    after which a running test is announced (ANNOUNCE_AFTER: how many events a test costs).
    A quiet test that runs through two batch waits still arrives as one TestDone, without a
    TestStart (under xdist)."""
    from hotlap.plugin.sink import LINGER
    from hotlap.plugin.worker import ANNOUNCE_AFTER

    seconds = 2.2 * LINGER
    assert seconds <= ANNOUNCE_AFTER / 2  # the premise: far from being announced
    project = h.write_project(
        tmp_path / "p", {"test_batch.py": PAST_THE_BATCH.format(seconds=seconds)}
    )
    record = tmp_path / "events.jsonl"
    # The dashboard's batch wait (a headless log's is a quarter of its progress interval).
    plain, result = _plain_and_recorded(h, project, "2", record, "--progress-interval", "0.08")
    assert result.code == plain.code == 0, result.describe()
    kinds = [
        e.kind
        for e in read_record(record)
        if getattr(e, "nodeid", "") == "test_batch.py::test_past_the_batch_wait"
        and e.kind in ("test_start", "test_done", "test_report")
    ]
    assert kinds == ["test_done"], kinds
