"""``.hotlap/workers.json``: how long runs of the same arguments took with each ``-n``."""

from __future__ import annotations

import json
from pathlib import Path

from hotlap.history.workers import KEEP_KEYS, KEEP_WALLS, record, seen_for, selection_key
from hotlap.plugin.workers import Seen


def test_same_arguments_same_key_and_addopts_count() -> None:
    """The key is the literal arguments and ``PYTEST_ADDOPTS``; a very long one (a watch
    cycle's node ids) is not kept."""
    assert selection_key(["-k", "a"], {}) == selection_key(["-k", "a"], {"OTHER": "1"})
    assert selection_key(["-k", "a"], {}) != selection_key(["-k", "a"], {"PYTEST_ADDOPTS": "-x"})
    assert selection_key([f"t.py::test_{i}" for i in range(500)], {}) is None


def test_walls_are_kept_per_n_with_their_age(tmp_path: Path) -> None:
    """The last KEEP_WALLS walls per -n, how many runs ago each -n was timed, and the last
    run's tests; what the plugin reads back is the same."""
    key = selection_key([], {})
    for wall in (1.0, 2.0, 3.0, 4.0):
        record(tmp_path, key, 2, wall, 100, 5.0)
    record(tmp_path, key, 0, 6.0, 101, 5.5)
    raw = seen_for(tmp_path, key)
    assert raw is not None
    seen = Seen.from_json(raw)
    assert seen.walls == {2: [2.0, 3.0, 4.0][-KEEP_WALLS:], 0: [6.0]}
    assert seen.age == {2: 1, 0: 0}
    assert (seen.tests, seen.seconds) == (101, 5.5)
    assert seen_for(tmp_path, selection_key(["-x"], {})) is None


def test_a_changed_suite_starts_afresh(tmp_path: Path) -> None:
    """The test count moved by more than 20 %: the timings of the smaller suite go."""
    key = selection_key([], {})
    record(tmp_path, key, 0, 1.0, 100, 1.0)
    record(tmp_path, key, 2, 3.0, 200, 9.0)
    raw = seen_for(tmp_path, key)
    assert raw is not None and Seen.from_json(raw).walls == {2: [3.0]}


def test_only_the_newest_keys_are_kept_and_bad_files_are_ignored(tmp_path: Path) -> None:
    """At most KEEP_KEYS argument lists; an unreadable file is started over, not an error."""
    (tmp_path / "workers.json").write_text("{not json")
    assert seen_for(tmp_path, "k") is None
    for i in range(KEEP_KEYS + 3):
        record(tmp_path, f"k{i}", 0, 1.0, 10, 0.1)
    keys = json.loads((tmp_path / "workers.json").read_text())["keys"]
    assert len(keys) == KEEP_KEYS and "k0" not in keys and f"k{KEEP_KEYS + 2}" in keys


def test_history_hands_the_timings_on_except_to_affected_runs(tmp_path: Path) -> None:
    """prepare() passes the timings of the run's arguments to the plugin; not for
    ``--affected``, whose tests are chosen afresh each time under the same command line."""
    import argparse
    import os

    from hotlap.channel import ENV_WORKERS_SEEN
    from hotlap.history.hooks import make_hooks
    from hotlap.model.run_context import RunContext

    (tmp_path / ".hotlap").mkdir()
    record(tmp_path / ".hotlap", selection_key([], os.environ), 0, 2.0, 50, 1.0)
    for affected, handed in ((False, True), (True, False)):
        opts = argparse.Namespace(no_history=False, schedule=True, affected=affected)
        ctx = RunContext(tmp_path, [], opts)
        make_hooks(ctx).prepare(ctx)
        assert (ENV_WORKERS_SEEN in ctx.env) is handed, (affected, ctx.notes)
