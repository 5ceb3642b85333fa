"""Watch mode's decisions: batches queue while a run is active and are never dropped."""

from __future__ import annotations

from ui_helpers import FakeFeed

from hotlap.ui.watching import WatchControl, describe_paths
from hotlap.watch.feed import ChangeBatch


def test_a_batch_during_a_run_waits_and_merges_with_the_next() -> None:
    """Changes during a run are queued; both batches run together once it ends."""
    feed = FakeFeed()
    control = WatchControl(feed)
    feed.batches.append(ChangeBatch(["src/a.py"]))
    assert control.poll(active=True, failed=[]) is None
    feed.batches.append(ChangeBatch(["src/b.py", "src/a.py"]))
    assert control.poll(active=True, failed=[]) is None
    assert "queued" in control.status
    kind, nodeids = control.poll(active=False, failed=["tests/test_x.py::f"]) or ("", [])
    assert kind == "selection"
    assert sorted(nodeids) == ["tests/test_a.py::t", "tests/test_b.py::t"]
    assert feed.selected == [(["src/a.py", "src/b.py"], ["tests/test_x.py::f"])]
    assert "a.py, b.py" in control.status and "2 affected" in control.status
    assert control.poll(active=False, failed=[]) is None


def test_a_full_run_selection_runs_all() -> None:
    """When the feed says the change needs everything, the run kind is "all"."""
    feed = FakeFeed()
    feed.full = True
    control = WatchControl(feed)
    feed.batches.append(ChangeBatch(["conftest.py"]))
    assert control.poll(active=False, failed=[]) == ("all", [])
    assert "full run" in control.status


def test_pause_shows_in_the_status_and_stops_taking() -> None:
    """Paused: the feed is not drained and the status line says how to resume."""
    feed = FakeFeed()
    control = WatchControl(feed)
    control.toggle_pause()
    feed.batches.append(ChangeBatch(["src/a.py"]))
    assert control.poll(active=False, failed=[]) is None
    assert "paused" in control.status and feed.batches
    control.toggle_pause()
    assert control.poll(active=False, failed=[]) is not None


def test_describe_paths_is_short() -> None:
    """Many changed files read as "a, b, c and N more"."""
    assert describe_paths(["x/a.py"]) == "a.py"
    assert describe_paths([f"f{i}.py" for i in range(5)]) == "f0.py, f1.py, f2.py and 2 more"
