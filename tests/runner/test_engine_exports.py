"""hotlap's export files: pytest-split's durations, the JSON report's schema, the raw record.

The durations file must be what pytest-split itself reads and writes; the report must be
valid JSON that matches its schema even when tests print bytes that are not UTF-8 or fail
with a lone surrogate; a record must replay to the report's counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hotlap.export.record import read_record
from hotlap.export.report import SCHEMA_PATH
from hotlap.model.run_state import RunState

WORKERS = ["0", "2"]

SPLIT_SUITE = {
    "test_split.py": """
        import time


        def test_slow():
            time.sleep(0.4)


        def test_fast_1():
            pass


        def test_fast_2():
            pass


        def test_fast_3():
            pass
    """,
}

#: Failures, a fixture, captured output, and output that is not valid UTF-8.
RICH_SUITE = {
    "test_rich.py": r"""
        import os
        import sys

        import pytest


        @pytest.fixture
        def resource():
            print("fixture says hi")
            yield "r"


        def test_prints(resource):
            print("hello from stdout")
            sys.stderr.write("hello from stderr\n")


        def test_raw_bytes():
            sys.stdout.flush()
            os.write(1, b"raw \xff\xfe bytes\n")
            sys.stdout.buffer.write(b"buffered \xc3\x28 bytes\n")
            print("lone \udcff surrogate printed")


        def test_surrogate_failure():
            assert False, "bad \udcff text"


        def test_plain_failure(resource):
            print("output of a failing test")
            assert 1 == 2
    """,
}
RICH_COUNTS = {"failed": 2, "passed": 2}


@pytest.mark.parametrize("workers", WORKERS)
def test_durations_file_is_accepted_by_pytest_split(h: Any, tmp_path: Path, workers: str) -> None:
    """``--durations-file`` writes ``{nodeid: seconds}`` as pytest-split does, and pytest-split
    uses it: its two groups partition the tests and the slow test gets a group to itself."""
    project = h.write_project(tmp_path / "proj", SPLIT_SUITE)
    durations_path = project / ".test_durations"
    report_path = project / "report.json"
    hot = h.run_hotlap(
        project,
        *h.hotlap_args(report_path, workers, extra=("--durations-file", str(durations_path))),
    )
    assert hot.code == 0, hot.describe()
    text = durations_path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    assert all(isinstance(k, str) and type(v) is float for k, v in data.items()), data
    nodeids = sorted(f"test_split.py::test_{n}" for n in ("slow", "fast_1", "fast_2", "fast_3"))
    assert sorted(data) == nodeids
    # pytest-split writes json.dump(..., sort_keys=True, indent=4) with no newline after it.
    assert text.rstrip("\n") == json.dumps(data, sort_keys=True, indent=4)
    assert text.endswith("}") or text.endswith("}\n")
    assert data["test_split.py::test_slow"] >= 0.4
    report_tests = {t["nodeid"]: t for t in h.load_json(report_path)["tests"]}
    for nodeid, seconds in data.items():
        assert seconds == pytest.approx(report_tests[nodeid]["duration"], abs=1e-5)

    groups = []
    for group in ("1", "2"):
        split = h.run_pytest(
            project,
            "-p",
            "pytest_split.plugin",
            "--collect-only",
            "-q",
            "--splits",
            "2",
            "--group",
            group,
            "--durations-path",
            str(durations_path),
        )
        assert split.code == 0, split.describe()
        assert "No test durations found" not in split.output, split.describe()
        groups.append({line.strip() for line in split.stdout.splitlines() if "::" in line})
    assert groups[0] and groups[1]
    assert not groups[0] & groups[1]
    assert sorted(groups[0] | groups[1]) == nodeids
    # Without the durations the split would be 2 + 2; with them the 0.4 s test stands alone.
    assert {"test_split.py::test_slow"} in groups, groups


RichRun = tuple[Any, str, Path]


@pytest.fixture(scope="module")
def rich_run(h: Any, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], RichRun]:
    """One hotlap run of the rich suite per ``-n``, shared by the report and record tests
    (when they land on the same xdist worker; otherwise each runs its own)."""
    runs: dict[str, RichRun] = {}

    def get(workers: str) -> RichRun:
        if workers not in runs:
            runs[workers] = _rich_run(h, tmp_path_factory.mktemp(f"rich{workers}"), workers)
        return runs[workers]

    return get


def _rich_run(h: Any, tmp_path: Path, workers: str) -> RichRun:
    """hotlap on the rich suite with ``--json`` and ``--record``: (result, report text, record)."""
    project = h.write_project(tmp_path / "proj", RICH_SUITE)
    report_path = project / "report.json"
    record_path = project / "events.jsonl"
    hot = h.run_hotlap(
        project, *h.hotlap_args(report_path, workers, extra=("--record", str(record_path)))
    )
    assert hot.code == 1, hot.describe()
    return hot, report_path.read_text(encoding="utf-8"), record_path


@pytest.mark.parametrize("workers", WORKERS)
def test_report_is_ascii_json_and_matches_its_schema(
    rich_run: Callable[[str], RichRun], workers: str
) -> None:
    """Failures, fixtures, captured output and non-UTF-8 output: the report is ASCII JSON
    (``ensure_ascii``), validates against report_schema.json and keeps what the tests said."""
    hot, text, _ = rich_run(workers)
    assert text.isascii()
    report = json.loads(text)
    assert report["run"]["counts"] == RICH_COUNTS, hot.describe()
    tests = {t["nodeid"].split("::")[-1]: t for t in report["tests"]}
    assert "hello from stdout" in tests["test_prints"]["stdout"]
    assert "hello from stderr" in tests["test_prints"]["stderr"]
    assert "fixture says hi" in tests["test_prints"]["stdout"]
    assert "raw" in tests["test_raw_bytes"]["stdout"]
    assert tests["test_raw_bytes"]["outcome"] == "passed"
    assert tests["test_surrogate_failure"]["outcome"] == "failed"
    assert "bad" in tests["test_surrogate_failure"]["longrepr"]
    assert "assert 1 == 2" in tests["test_plain_failure"]["longrepr"]
    assert "output of a failing test" in tests["test_plain_failure"]["stdout"]
    assert any(f["name"] == "resource" and f["count"] == 2 for f in report["fixtures"])

    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA_PATH.exists():
        pytest.skip(f"{SCHEMA_PATH.name} is not written yet")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(report), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


@pytest.mark.parametrize("workers", WORKERS)
def test_record_replays_to_the_report_counts(
    rich_run: Callable[[str], RichRun], workers: str
) -> None:
    """``--record`` then replay: every line decodes, and folding the events into a fresh
    RunState gives the report's counts and tests."""
    hot, text, record_path = rich_run(workers)
    report = json.loads(text)
    lines = [line for line in record_path.read_bytes().splitlines() if line.strip()]
    events = list(read_record(record_path))
    assert len(events) == len(lines) > 0  # read_record skips bad lines: there must be none
    kinds = {e.kind for e in events}
    assert {"session_start", "test_start", "test_report", "session_finish"} <= kinds, kinds
    state = RunState()
    for event in events:
        state.apply(event)
    assert state.summary_counts() == report["run"]["counts"] == RICH_COUNTS, hot.describe()
    assert sorted(state.tests) == sorted(t["nodeid"] for t in report["tests"])
    assert state.session.exitstatus == report["run"]["exit_code"] == 1


def test_durations_file_merges_like_store_durations(h: Any, tmp_path: Path) -> None:
    """A run updates the tests it ran and keeps the others' seconds, as ``pytest
    --store-durations`` does; a ``--setup-plan`` run (no test code ran) changes nothing;
    ``--durations-clean`` keeps only this run's tests."""
    project = h.write_project(tmp_path / "proj", SPLIT_SUITE)
    path = project / ".test_durations"
    planted = {
        "test_split.py::test_slow": 7.0,
        "test_split.py::test_fast_1": 99.0,
        "gone.py::test_removed": 3.0,
    }
    path.write_text(json.dumps(planted))

    def hotlap(*args: str) -> None:
        hot = h.run_hotlap(project, "run", "--headless", "--durations-file", str(path), *args)
        assert hot.code == 0, hot.describe()

    hotlap("--", "-n", "2", "-k", "fast_1 or fast_2")
    merged = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(merged) == sorted([*planted, "test_split.py::test_fast_2"])
    assert merged["test_split.py::test_slow"] == 7.0
    assert merged["gone.py::test_removed"] == 3.0
    assert merged["test_split.py::test_fast_1"] < 1.0  # measured, not the planted 99

    before = path.read_text(encoding="utf-8")
    hotlap("--", "-n", "0", "--setup-plan")
    assert path.read_text(encoding="utf-8") == before

    hotlap("--durations-clean", "--", "-n", "0", "-k", "fast_1")
    assert list(json.loads(path.read_text(encoding="utf-8"))) == ["test_split.py::test_fast_1"]


def test_durations_file_that_is_not_one_is_left_alone(h: Any, tmp_path: Path) -> None:
    """A ``--durations-file`` that holds something else is not overwritten: a clear message,
    pytest's exit code, and the other exports are still written."""
    project = h.write_project(tmp_path / "proj", SPLIT_SUITE)
    path = project / "durations.json"
    path.write_text('["not", "durations"]')
    report_path = project / "report.json"
    hot = h.run_hotlap(
        project, *h.hotlap_args(report_path, "0", extra=("--durations-file", str(path)))
    )
    assert hot.code == 0, hot.describe()
    assert "could not write an export" in hot.stderr
    assert "not a durations file" in hot.stderr, hot.describe()
    assert path.read_text() == '["not", "durations"]'
    assert h.load_json(report_path)["run"]["counts"] == {"passed": 4}
