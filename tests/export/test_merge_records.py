"""``hotlap merge`` of CI shards' records and durations: one run that replays as a whole.

Two shards of a suite (``--hotlap-shard``, two xdist workers each) record their events; the
merged record's counts, collection and exit code equal one whole run's, every shard's worker
is a lane of its own (``s1/gw0``…), and the shards sit on one timeline by their wall-clock
starts. Durations of shards that merged into the file they started from come back together
with ``--base``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotlap.export.merge import MergeError, merge_durations, merge_files
from hotlap.export.record import read_record
from hotlap.export.record_merge import merge_records
from hotlap.model.run_state import RunState
from hotlap.protocol import ResourceSample, SessionStart, TestStart, WorkerStart

SUITE = {
    "test_a.py": """
        import time
        import pytest

        @pytest.fixture(scope="module")
        def shared():
            time.sleep(0.02)
            return 1

        @pytest.mark.parametrize("i", range(8))
        def test_param(shared, i):
            assert i != 5

        @pytest.mark.skip(reason="no")
        def test_skipped():
            pass
    """,
    "test_b.py": """
        import pytest

        def test_one():
            pass

        def test_two():
            pytest.xfail("known")

        def test_three():
            pass
    """,
}


def state_of(path: Path) -> RunState:
    state = RunState()
    for event in read_record(path):
        state.apply(event)
    return state


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, hh) -> Path:
    """The suite run whole, and as shards 1/2 and 2/2 (-n 2 each), all recorded."""
    proj = hh.project(tmp_path_factory.mktemp("records"), SUITE)
    for name, extra in (
        ("full", ()),
        ("s1", ("--hotlap-shard=1/2",)),
        ("s2", ("--hotlap-shard=2/2",)),
    ):
        result = hh.pytest(
            proj, "-n", "2", f"--hotlap-record={name}.jsonl", f"--hotlap-json={name}.json", *extra
        )
        assert result.code in (0, 1), result.describe()
    return proj


def test_merged_record_counts_like_the_whole_run(runs: Path, hh) -> None:
    """Counts, collection, exit code and fixture costs of the merged record are the whole
    run's; each shard's two workers are lanes s1/gw0, s1/gw1, s2/gw0, s2/gw1."""
    result = hh.hotlap(runs, "merge", "merged.jsonl", "s1.jsonl", "s2.jsonl")
    assert result.code == 0, result.describe()
    assert "lanes s1/gw0 s1/gw1 s2/gw0 s2/gw1" in result.stderr
    merged, whole = state_of(runs / "merged.jsonl"), state_of(runs / "full.jsonl")
    assert merged.summary_counts() == whole.summary_counts() == {
        "failed": 1, "passed": 9, "skipped": 1, "xfailed": 1,
    }  # fmt: skip
    assert sorted(merged.collected) == sorted(whole.collected)
    assert merged.session.exitstatus == 1
    assert merged.session.pytest_stats == whole.session.pytest_stats
    assert sorted(merged.workers) == ["s1/gw0", "s1/gw1", "s2/gw0", "s2/gw1"]
    assert {rec.outcome for rec in merged.tests.values()} == {
        rec.outcome for rec in whole.tests.values()
    }
    assert all(rec.worker.startswith(("s1/", "s2/")) for rec in merged.tests.values())
    assert sum(f.count for f in merged.fixtures.values()) >= 2  # each shard set up `shared`


def test_merged_record_puts_shards_on_one_timeline(runs: Path) -> None:
    """Shard 2 ran after shard 1: in the merged record its session starts after shard 1's by
    the difference of their wall clocks, and the run ends with the last shard's end."""
    s1, s2 = list(read_record(runs / "s1.jsonl")), list(read_record(runs / "s2.jsonl"))
    merged, _ = merge_records([("s1", s1), ("s2", s2)])
    start1 = next(e for e in s1 if isinstance(e, SessionStart))
    start2 = next(e for e in s2 if isinstance(e, SessionStart))
    gap = start2.wall - start1.wall
    assert gap > 0
    first_s2 = min(e.t for e in merged if isinstance(e, TestStart) and e.worker.startswith("s2/"))
    first_s2_own = min(e.t for e in s2 if isinstance(e, TestStart))
    assert first_s2 == pytest.approx(start1.t + gap + (first_s2_own - start2.t), abs=1e-6)
    assert merged[0].kind == "session_start" and merged[-1].kind == "session_finish"
    assert [e.t for e in merged] == sorted(e.t for e in merged)
    collection = next(i for i, e in enumerate(merged) if e.kind == "collection_finish")
    assert collection < min(i for i, e in enumerate(merged) if e.kind == "test_start")


def test_replay_of_the_merged_record_ends_like_pytest(runs: Path, hh) -> None:
    """``hotlap replay --headless`` of the merged record exits 1 with the whole run's counts."""
    assert hh.hotlap(runs, "merge", "m2.jsonl", "s2.jsonl", "s1.jsonl").code == 0
    result = hh.hotlap(runs, "replay", "--headless", "--speed", "0", "m2.jsonl")
    assert result.code == 1, result.describe()
    assert "1 failed, 9 passed, 1 skipped, 1 xfailed" in result.stdout, result.describe()


def test_a_test_in_two_records_is_refused_unless_allowed(runs: Path, hh) -> None:
    """The same shard twice: refused with the test named; --allow-duplicates keeps the later."""
    result = hh.hotlap(runs, "merge", "dup.jsonl", "s1.jsonl", "s1.jsonl")
    assert result.code == 1 and "ran in both s1.jsonl and s1.jsonl" in result.stderr
    allowed = hh.hotlap(runs, "merge", "--allow-duplicates", "dup.jsonl", "s1.jsonl", "s1.jsonl")
    assert allowed.code == 0, allowed.describe()
    assert (
        state_of(runs / "dup.jsonl").summary_counts()
        == state_of(runs / "s1.jsonl").summary_counts()
    )


def test_merging_kinds_together_is_refused(runs: Path) -> None:
    """A record and a report do not merge into anything."""
    with pytest.raises(MergeError, match="merge one kind"):
        merge_files([runs / "s1.jsonl", runs / "s2.json"])


def test_deselected_counts_once_with_k_in_every_shard(tmp_path: Path, hh) -> None:
    """Shards of a ``-k`` run each deselect the user's tests too: merged (records and
    reports), they are counted once, as in the whole run."""
    proj = hh.project(tmp_path / "p", SUITE)
    for name, extra in (
        ("full", ()),
        ("s1", ("--hotlap-shard=1/2",)),
        ("s2", ("--hotlap-shard=2/2",)),
    ):
        result = hh.pytest(
            proj, "-n", "0", "-k", "not test_one", f"--hotlap-record={name}.jsonl",
            f"--hotlap-json={name}.json", *extra,
        )  # fmt: skip
        assert result.code in (0, 1), result.describe()
    assert hh.hotlap(proj, "merge", "m.jsonl", "s1.jsonl", "s2.jsonl").code == 0
    assert hh.hotlap(proj, "merge", "m.json", "s1.json", "s2.json").code == 0
    whole = state_of(proj / "full.jsonl").summary_counts()
    assert whole["deselected"] == 1
    assert state_of(proj / "m.jsonl").summary_counts() == whole
    report = json.loads((proj / "m.json").read_text())
    assert report["run"]["counts"] == json.loads((proj / "full.json").read_text())["run"]["counts"]


def test_resource_samples_of_the_shards_add_up() -> None:
    """Two machines sampled at once are one sample of both: CPU, memory and cores add up, the
    processes keep their (renamed) lanes."""

    def shard(wall: float) -> list:
        def sample(t: float, cpu: float) -> ResourceSample:
            return ResourceSample(
                "app", 1, t, processes=[[10, "gw0", cpu, 100]], total_cpu=cpu, total_rss=100,
                per_core=[cpu], mem_total=1000, mem_available=500, effective_cores=1.0,
            )  # fmt: skip

        return [
            SessionStart(
                "controller",
                1,
                10.0,
                wall=wall,
                role="controller",
                argv=[],
                rootdir="/",
                hotlap_version="0",
                pytest_version="9",
                xdist_version="3",
                python_version="3.11.0",
                numprocesses=1,
            ),
            WorkerStart("gw0", 10, 10.0, wall=wall),
            sample(10.5, 50.0),
            sample(11.0, 70.0),
        ]

    merged, _ = merge_records([("a", shard(1000.0)), ("b", shard(1000.2))])
    samples = [e for e in merged if isinstance(e, ResourceSample)]
    last = samples[-1]
    assert last.total_cpu == 140.0 and last.effective_cores == 2.0 and last.mem_total == 2000
    assert sorted(row[1] for row in last.processes) == ["s1/gw0", "s2/gw0"]
    assert len(last.per_core) == 2


def test_durations_merged_over_the_base_they_started_from(tmp_path: Path, hh) -> None:
    """Each shard merged its seconds into the restored .test_durations (so each holds every
    test): with --base that file, each test gets the seconds of the shard that measured it,
    and a test two shards measured is a duplicate."""
    base = {"a": 1.0, "b": 2.0, "c": 3.0, "gone": 9.0}
    s1 = {**base, "a": 1.5, "new": 0.5}  # shard 1 ran a and a new test
    s2 = {**base, "b": 2.5, "c": 3.5}  # shard 2 ran b and c
    for name, data in (("base", base), ("s1", s1), ("s2", s2)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    result = hh.hotlap(tmp_path, "merge", "--base", "base.json", "out.json", "s1.json", "s2.json")
    assert result.code == 0, result.describe()
    out = json.loads((tmp_path / "out.json").read_text())
    assert out == {"a": 1.5, "b": 2.5, "c": 3.5, "gone": 9.0, "new": 0.5}
    without = hh.hotlap(tmp_path, "merge", "out2.json", "s1.json", "s2.json")
    assert without.code == 1 and "is in both" in without.stderr
    with pytest.raises(MergeError, match="in both"):
        merge_durations([("s1", s1), ("s2", {**s2, "a": 1.7})], base=base)


def test_merged_report_keeps_each_shards_regressions_and_flaky_tests(runs: Path) -> None:
    """Shards that compared their tests with history (``hotlap run`` with a restored
    ``.hotlap``) each carry regressions and flaky tests: the merged report has all of them,
    and still validates against the schema."""
    import jsonschema

    from hotlap.export.merge import merge_reports
    from hotlap.export.report import load_schema

    r1 = json.loads((runs / "s1.json").read_text())
    r2 = json.loads((runs / "s2.json").read_text())
    slow = {"nodeid": "test_b.py::test_one", "old": 0.1, "new": 0.5, "spread": 0.01, "runs": 5}
    r1["history"] = {"regressions": [slow], "flaky": []}
    flaky = {"nodeid": "test_a.py::test_param[1]", "runs": 5, "passes": 4, "pass_rate": 0.8,
             "reason": "passed on rerun"}  # fmt: skip
    r2["history"] = {"regressions": [], "flaky": [flaky]}
    merged, _ = merge_reports([("s1", r1), ("s2", r2)])
    assert merged["history"] == {"regressions": [slow], "flaky": [flaky]}
    jsonschema.validate(merged, load_schema())
