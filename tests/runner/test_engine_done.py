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

QUIET = {"test_kinds.py::test_quiet", "test_kinds.py::test_quiet_with_fixture"}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_only_quiet_passes_are_folded(tmp_path: Path, h, workers: str) -> None:
    """Quiet passes arrive as exactly one test_done and no phase report; every other test
    arrives as its phase reports with its own phase's output; the counts are pytest's."""
    project = h.write_project(tmp_path / "p", SUITE)
    record = tmp_path / "events.jsonl"
    plain = h.run_pytest(project, "-n", workers, "-p", "no:cacheprovider")
    result = h.run_hotlap(
        project, "run", "--headless", "--record", str(record), "--no-history", "--no-impact",
        "--", "-n", workers, "-p", "no:cacheprovider",
    )  # fmt: skip
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
