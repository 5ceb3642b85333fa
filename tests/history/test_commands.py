"""`hotlap report`, `export` and `replay`, and the replay source behind the last."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotlap.commands.history import export_main, replay_main, report_main
from hotlap.export.record import read_record
from hotlap.export.report import RunMeta
from hotlap.history.hooks import save_last_report
from hotlap.history.store import HistoryStore
from hotlap.model.run_state import RunState
from hotlap.runner.replay import ReplaySource

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
def project(tmp_path: Path, hh, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with five recorded runs (t.py::a got slower in the last two) as the cwd."""
    with HistoryStore.open(tmp_path / ".hotlap") as store:
        for seconds in (0.1, 0.1, 0.1, 0.9, 0.9):
            state = hh.make_state(
                {"t.py::a": ("passed", seconds), "u.py::b": ("passed", 0.25)},
                fixtures={"db": ("module", 0.2)},
            )
            store.record_run(state, RunMeta(exit_code=0, workers=1, wall_time=1.0))
    save_last_report(tmp_path / ".hotlap", state, RunMeta(exit_code=0))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_report_json_has_every_section(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json lists slowest tests and files, fixtures, regressions, CPU-bound and waiting."""
    assert report_main(["--json", "--last", "5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"] == 5
    assert [t["nodeid"] for t in data["slowest_tests"]] == ["t.py::a", "u.py::b"]
    assert [f["path"] for f in data["files"]] == ["t.py", "u.py"]
    assert data["slowest_fixtures"][0]["name"] == "db"
    assert data["regressions"][0]["nodeid"] == "t.py::a"
    assert data["regressions"][0]["new"] == pytest.approx(0.9)
    # make_state spends half of each test's seconds on CPU: neither bound nor waiting.
    assert data["cpu_bound"] == [] and data["waiting"] == []
    assert data["flaky"] == []


def test_report_text_is_readable(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The terminal report names the sections and the slower test with old and new seconds."""
    assert report_main([]) == 0
    out = capsys.readouterr().out
    for title in ("Slowest tests", "Slowest fixtures", "Time per file", "Slower in the last run"):
        assert title in out
    assert "0.10s" in out and "0.90s" in out


def test_export_durations_averages_runs(project: Path) -> None:
    """--durations writes pytest-split's format, averaged over the last N runs."""
    assert export_main(["--durations", "d.json", "--last", "3"]) == 0
    text = (project / "d.json").read_text()
    assert json.loads(text) == {"t.py::a": pytest.approx(1.9 / 3), "u.py::b": pytest.approx(0.25)}
    assert text.startswith('{\n    "t.py::a"')


def test_export_json_copies_last_report(project: Path) -> None:
    """--json writes the last run's report."""
    assert export_main(["--json", "r.json"]) == 0
    report = json.loads((project / "r.json").read_text())
    assert report["report_version"] == 1 and len(report["tests"]) == 2


def test_commands_fail_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No history, nothing asked, unreadable record: one stderr line and a non-zero exit."""
    monkeypatch.chdir(tmp_path)
    cases = [
        (export_main, ["--durations", "d.json"], "no history in"),
        (export_main, ["--json", "r.json"], "no report of a last run"),
        (export_main, [], "nothing to export"),
        (replay_main, ["missing.jsonl"], "cannot read missing.jsonl"),
        (report_main, ["--last", "0"], "--last must be at least 1"),
    ]
    for main, argv, expected in cases:
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "empty.jsonl").write_text("not an event\n")
    assert replay_main(["empty.jsonl"]) == 1
    assert "holds no hotlap events" in capsys.readouterr().err


def test_replay_headless_reaches_the_recorded_end(capsys: pytest.CaptureFixture[str]) -> None:
    """Replaying a recorded -n 2 run at full speed prints its failures and pytest's summary."""
    record = DATA / "engine_n2.jsonl"
    final = RunState()
    for event in read_record(record):
        final.apply(event)
    code = replay_main([str(record), "--speed", "0", "--headless"])
    out = capsys.readouterr().out
    assert code == final.session.exitstatus
    assert " in " in out.strip().splitlines()[-1]
    for nodeid in final.failures:
        assert nodeid in out


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_replay_source_paces_by_event_time() -> None:
    """Events come out when their recorded offset / speed has passed, moved onto our clock."""
    events = list(read_record(DATA / "engine_n2.jsonl"))
    first = min(e.t for e in events)
    span = max(e.t for e in events) - first
    clock = FakeClock()
    source = ReplaySource(events, speed=2.0, clock=clock)
    assert source.drain() == []  # not started
    source.start()
    got = source.drain()
    assert all(e.t == pytest.approx(1000.0) for e in got)
    clock.now += span / 4  # half the recording at 2x
    got += source.drain()
    assert 0 < len(got) < len(events) and source.poll() is None
    assert max(e.t for e in got) <= clock.now + 1e-9
    clock.now += span
    got += source.drain()
    assert len(got) == len(events)
    assert [e.kind for e in got] == [e.kind for e in sorted(events, key=lambda e: e.t)]
    assert source.poll() is not None and source.summary_line.endswith("s")


def test_replay_source_cancel() -> None:
    """Cancelling stops the stream and reports pytest's 'interrupted' code."""
    source = ReplaySource(list(read_record(DATA / "engine_n2.jsonl")), speed=1.0)
    source.start()
    source.cancel()
    assert source.drain() == [] and source.poll() == 2


def test_summary_line_reads_like_pytest() -> None:
    """The replay's closing line uses pytest's order and its plural of error."""
    from hotlap.runner.replay import summary_line

    assert summary_line({"passed": 3, "failed": 1}, 0.5) == "1 failed, 3 passed in 0.50s"
    assert summary_line({"error": 2, "passed": 1}, 1.0) == "1 passed, 2 errors in 1.00s"
    assert summary_line({}, 0.0) == "no tests ran in 0.00s"
