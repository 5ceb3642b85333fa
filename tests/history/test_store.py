"""The SQLite history store: recording, pruning, migrations, corruption and concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from hotlap.export.report import RunMeta
from hotlap.history.hooks import record
from hotlap.history.store import (
    DB_NAME,
    SCHEMA_VERSION,
    HistoryError,
    HistoryStore,
    RunRows,
    run_rows,
)


def _meta(exit_code: int = 0) -> RunMeta:
    return RunMeta(argv=["-n", "2"], exit_code=exit_code, workers=1, wall_time=1.0, start=1.7e9)


def test_record_and_read_back(tmp_path: Path, hh) -> None:
    """A recorded run comes back with its metadata, per-test phases/CPU/RSS and fixtures."""
    state = hh.make_state(
        {"t.py::a": ("passed", 0.5), "t.py::b": ("failed", 0.1)},
        fixtures={"db": ("module", 0.2)},
    )
    with HistoryStore.open(tmp_path) as store:
        run_id = store.record_run(state, _meta(1), fingerprint="fp")
        runs = store.runs()
        tests = store.tests()
        fixtures = store.fixtures()
    assert [r.id for r in runs] == [run_id]
    assert runs[0].exit_code == 1 and runs[0].fingerprint == "fp"
    assert runs[0].run["counts"] == {"failed": 1, "passed": 1}
    a = tests["t.py::a"][0]
    assert (a.outcome, a.call, a.cpu, a.rss_peak, a.deps) == ("passed", 0.5, 0.25, 2000, "fp")
    assert tests["t.py::b"][0].outcome == "failed"
    assert {(f.name, f.scope, f.count) for f in fixtures} == {("db", "module", 2)}
    assert fixtures[0].modules == ["t.py"]


def test_prune_keeps_newest_runs(tmp_path: Path, hh) -> None:
    """Only the newest ``keep`` runs survive, with their test rows; older rows are deleted."""
    with HistoryStore.open(tmp_path) as store:
        for i in range(5):
            store.record_run(hh.make_state({"t.py::a": ("passed", 0.1 * (i + 1))}), _meta(),
                             keep=3)  # fmt: skip
        assert store.run_count() == 3
        samples = store.duration_samples()["t.py::a"]
        assert samples == pytest.approx([0.3, 0.4, 0.5])
        left = store.conn.execute("SELECT count(*) FROM tests").fetchone()[0]
    assert left == 3


def test_expected_is_median_of_recent_runs(tmp_path: Path, hh) -> None:
    """Expected duration is the median of recent runs, so one outlier does not move it."""
    with HistoryStore.open(tmp_path) as store:
        for seconds in (0.2, 0.2, 5.0):
            store.record_run(hh.make_state({"t.py::a": ("passed", seconds)}), _meta())
        assert store.expected() == {"t.py::a": pytest.approx(0.2)}


def test_schema_version_and_wal(tmp_path: Path) -> None:
    """A new store is at the current ``user_version`` and in WAL mode."""
    HistoryStore.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_newer_schema_is_refused_not_destroyed(tmp_path: Path) -> None:
    """A store from a newer hotlap raises HistoryError and is left untouched."""
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(HistoryError):
        HistoryStore.open(tmp_path)
    assert (tmp_path / DB_NAME).exists()
    assert not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_file_is_moved_aside(tmp_path: Path, hh, damage: str) -> None:
    """A garbage or truncated store is moved aside with a warning and the run still recorded."""
    with HistoryStore.open(tmp_path) as store:
        for _ in range(30):
            store.record_run(hh.make_state({f"t.py::t{j}": ("passed", 0.1) for j in range(50)}),
                             _meta())  # fmt: skip
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = tmp_path / DB_NAME
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    else:
        path.write_bytes(data[: len(data) // 3])
    rows = run_rows(hh.make_state({"t.py::new": ("passed", 0.1)}), _meta())
    store, warnings = record(tmp_path, rows)
    assert store is not None, warnings
    with store:
        assert store.run_count() == 1
        assert list(store.tests()) == ["t.py::new"]
    assert any("moved to" in w for w in warnings), warnings
    assert len(list(tmp_path.glob(f"{DB_NAME}.corrupt-*"))) == 1


def _writer(directory: str, n: int) -> None:
    from hotlap.export.report import RunMeta
    from hotlap.history.store import HistoryStore
    from hotlap.model.run_state import RunState

    for _ in range(n):
        with HistoryStore.open(directory) as store:
            store.record_run(RunState(), RunMeta())


def test_concurrent_writers_do_not_corrupt(tmp_path: Path) -> None:
    """Four processes recording at once lose no run and leave a store that checks out."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 10)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with HistoryStore.open(tmp_path) as store:
        assert store.run_count() == 40
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_baseline_and_worker_suggestion(tmp_path: Path, hh) -> None:
    """Without history: empty baseline, no suggestion, nothing created; with it: what the
    run's context gets from one read of the store, and the workers that fit in memory."""
    import argparse

    from hotlap.history.hooks import HistoryHooks, suggest_workers
    from hotlap.model.run_context import RunContext

    def prepared() -> RunContext:
        ctx = RunContext(tmp_path, [], argparse.Namespace(schedule=False))
        HistoryHooks().prepare(ctx)
        return ctx

    ctx = RunContext(tmp_path, [], argparse.Namespace())
    assert ctx.baseline == {} and suggest_workers(ctx, 4.0, 1 << 30) is None
    assert not (tmp_path / ".hotlap").exists()
    with HistoryStore.open(tmp_path / ".hotlap") as store:
        state = hh.make_state({f"t.py::{i}": ("passed", 0.1) for i in range(8)})
        store.record_run(state, _meta())
        assert store.peak_rss() == 2000
    ctx = prepared()
    assert ctx.baseline["t.py::0"] == pytest.approx([0.1])
    assert ctx.expected["t.py::0"] == pytest.approx(0.1) and ctx.peak_rss == 2000
    assert suggest_workers(ctx, 4.0, 1 << 30) == 4
    assert suggest_workers(ctx, 4.0, 5000) == 2  # 80 % of 5000 B fits two 2000 B workers
    assert suggest_workers(ctx, 16.0, 1 << 30) == 8  # never more workers than tests


def test_flaky_candidates_lose_no_flaky_test(tmp_path: Path) -> None:
    """``changing`` keeps every test ``find_flaky`` would report: over random histories of
    outcomes, reruns and dependency hashes, the flaky tests found among its candidates only are
    the flaky tests found among all tests (and its candidates are fewer than all)."""
    import random

    from hotlap.history.analysis import VERDICTS, find_flaky

    rng = random.Random(7)
    with HistoryStore.open(tmp_path / ".hotlap") as store:
        for run in range(1, 13):
            store.conn.execute("INSERT INTO runs VALUES (?, 0, 1, 0, 1, 0, '', '{}')", (run,))
            for i in range(60):
                outcome = rng.choice(["passed"] * 6 + ["failed", "error", "skipped", "xfailed"])
                if i % 3 == 0:
                    outcome = "passed"  # a third of the tests never change
                reruns = 1 if rng.random() < 0.03 else 0
                store.conn.execute(
                    "INSERT INTO tests VALUES (?, ?, ?, 0, 0.1, 0, 0, 0, 0, 'gw0', ?, ?)",
                    (run, f"t.py::{i}", outcome, reruns, rng.choice(["d1", "d1", "d2", ""])),
                )
        store.conn.commit()
        for last in (1, 5, 20):
            everything = find_flaky(store.tests(last))
            candidates = store.changing(last, VERDICTS)
            assert len(candidates) < 60
            assert find_flaky(store.tests(last, only=candidates)) == everything
        assert find_flaky(store.tests(20))  # the histories above do contain flaky tests


@pytest.mark.parametrize("keep", [50, 7, 1])
def test_flaky_tests_are_judged_before_the_run_is_stored_as_after(
    tmp_path: Path, keep: int
) -> None:
    """A headless run says which tests are flaky before pytest's summary line and stores the
    run after it: judged from what preparation read (and the store, for a test failing for
    the first time, or when another process recorded meanwhile), the flaky tests are those
    the store gives once the run is in it, over random histories of outcomes, reruns, deps
    and tests that come and go, whatever ``keep`` prunes."""
    import random

    from hotlap.history.analysis import VERDICTS, find_flaky
    from hotlap.history.hooks import FLAKY_RUNS, HistoryHooks, Prepared, _store_key

    rng = random.Random(keep)
    directory = tmp_path / ".hotlap"
    stale: Prepared | None = None
    found = 0
    for _ in range(30):
        tests = []
        for i in range(40):
            if i % 7 == 3 and rng.random() < 0.5:
                continue  # not in this run
            outcome = rng.choice(["passed"] * 8 + ["failed", "error", "skipped", "xfailed"])
            reruns = 1 if rng.random() < 0.03 else 0
            dep = rng.choice(["d1", "d1", "d1", "d2", ""])
            tests.append((f"t.py::{i}", outcome, 0, 0.1, 0, 0, 0, 0, "gw0", reruns, dep))
        rows = RunRows({"start": 1.0, "workers": 1}, _meta(), "", tests, [])
        judged = []
        with HistoryStore.open(directory) as store:
            known = Prepared.read(store)
        for prepared, key in ((None, None), (known, _store_key(directory)), (stale, [])):
            hooks = HistoryHooks()
            hooks._known, hooks._known_key = prepared, key
            judged.append(find_flaky(hooks._flaky_history(directory, rows, keep)))
        stale = known
        with HistoryStore.open(directory) as store:
            store.record_rows(rows, keep)
            ran = {t[0] for t in tests}
            candidates = store.changing(FLAKY_RUNS, VERDICTS) & ran
            expected = find_flaky(store.tests(FLAKY_RUNS, only=candidates))
        assert judged == [expected] * 3
        found += len(expected)
    assert found or keep == 1  # the histories above do contain flaky tests


def test_prepared_read_is_kept_until_the_store_changes(tmp_path: Path, hh) -> None:
    """What a run reads before pytest starts is saved after the run before it; it is used
    only while the store's files are as they were (any recorded run, a corrupt or foreign
    file, another Python: read the store again)."""
    from hotlap.history.hooks import PREPARED_FILE, Prepared, load_prepared, save_prepared

    state = hh.make_state({"t.py::a": ("passed", 0.5)}, fixtures={"db": ("module", 0.2)})
    with HistoryStore.open(tmp_path) as store:
        store.record_run(state, _meta())
        store.record_run(state, _meta())
        known = Prepared.read(store)
    assert known.runs == 2 and known.expected == {"t.py::a": pytest.approx(0.5)}
    assert known.fixtures and known.baseline["t.py::a"]
    save_prepared(tmp_path, known)
    assert load_prepared(tmp_path) == known
    with HistoryStore.open(tmp_path) as store:
        Prepared.read(store)
    assert load_prepared(tmp_path) == known  # a read leaves the files as they were
    with HistoryStore.open(tmp_path) as store:
        store.record_run(state, _meta())
    assert load_prepared(tmp_path) is None
    with HistoryStore.open(tmp_path) as store:
        save_prepared(tmp_path, Prepared.read(store))
    (tmp_path / PREPARED_FILE).write_bytes(b"\x00garbage")
    assert load_prepared(tmp_path) is None
    (tmp_path / PREPARED_FILE).unlink()
    assert load_prepared(tmp_path) is None
