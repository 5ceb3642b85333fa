"""The longest-first xdist scheduler, on real ``pytest -n 2`` runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotlap.history.plan import (
    auto_workers,
    fixture_groups,
    read_schedule,
    schedule_payload,
    write_schedule,
)
from hotlap.history.store import FixtureRow

SUITE = {
    "test_a.py": """
    import time, pytest

    @pytest.mark.parametrize("i", range(6))
    def test_short(i):
        time.sleep(0.01)
    """,
    "test_z.py": """
    import time, pytest

    @pytest.mark.parametrize("t", [0.4, 0.5])
    def test_long(t):
        time.sleep(t)
    """,
}
DURATIONS = {
    **{f"test_a.py::test_short[{i}]": 0.01 for i in range(6)},
    "test_z.py::test_long[0.4]": 0.4,
    "test_z.py::test_long[0.5]": 0.5,
}


def _first_per_worker(report: Path) -> dict[str, str]:
    tests = json.loads(report.read_text())["tests"]
    first: dict[str, tuple[float, str]] = {}
    for t in tests:
        if t["worker"] not in first or t["start"] < first[t["worker"]][0]:
            first[t["worker"]] = (t["start"], t["nodeid"])
    return {w: nodeid for w, (_, nodeid) in first.items()}


@pytest.mark.parametrize("form", ["pytest-split", "hotlap"])
def test_longest_tests_start_first_on_separate_workers(tmp_path: Path, hh, form: str) -> None:
    """With a durations file, the two long tests (collected last) start first, one per worker."""
    proj = hh.project(tmp_path, SUITE)
    payload = DURATIONS if form == "pytest-split" else schedule_payload(DURATIONS)
    (proj / "d.json").write_text(json.dumps(payload))
    result = hh.pytest(proj, "-n", "2", "--hotlap-schedule=d.json", "--hotlap-json=r.json")
    assert result.code == 0, result.describe()
    assert sorted(_first_per_worker(proj / "r.json").values()) == [
        "test_z.py::test_long[0.4]",
        "test_z.py::test_long[0.5]",
    ]


def test_environment_variable_activates_it(tmp_path: Path, hh) -> None:
    """HOTLAP_SCHEDULE (what `hotlap run` sets) works like the option."""
    proj = hh.project(tmp_path, SUITE)
    (proj / "d.json").write_text(json.dumps(DURATIONS))
    env = {"HOTLAP_SCHEDULE": str(proj / "d.json")}
    result = hh.pytest(proj, "-n", "2", "--hotlap-json=r.json", env=env)
    assert result.code == 0, result.describe()
    assert all("test_long" in n for n in _first_per_worker(proj / "r.json").values())


def test_other_dist_modes_and_no_schedule_are_left_alone(tmp_path: Path, hh) -> None:
    """--dist loadfile keeps xdist's own scheduler: the first test module starts first."""
    proj = hh.project(tmp_path, SUITE)
    (proj / "d.json").write_text(json.dumps(DURATIONS))
    args = ("-n", "2", "--dist", "loadfile", "--hotlap-schedule=d.json", "--hotlap-json=r.json")
    result = hh.pytest(proj, *args)
    assert result.code == 0, result.describe()
    assert any("test_short" in n for n in _first_per_worker(proj / "r.json").values())


def test_grouped_tests_stay_on_one_worker(tmp_path: Path, hh) -> None:
    """Tests sharing an expensive module fixture (a group) all run on the same worker."""
    proj = hh.project(tmp_path, SUITE)
    groups = {f"test_a.py::test_short[{i}]": "test_a.py" for i in range(6)}
    write_schedule(proj / "d.json", schedule_payload(DURATIONS, groups))
    result = hh.pytest(proj, "-n", "2", "--hotlap-schedule=d.json", "--hotlap-json=r.json")
    assert result.code == 0, result.describe()
    tests = json.loads((proj / "r.json").read_text())["tests"]
    workers = {t["worker"] for t in tests if t["nodeid"].startswith("test_a.py")}
    assert len(workers) == 1 and len(tests) == 8


def test_fixture_groups_only_for_expensive_shared_fixtures() -> None:
    """A costly module fixture groups its module; a cheap one or a function fixture does not."""
    expected = {"m.py::a": 1.0, "m.py::b": 1.0, "n.py::a": 1.0, "n.py::b": 1.0, "big.py::x": 9.0}
    rows = [
        FixtureRow(1, "db", "module", "c.py:1", 2, 1.0, 0.2, ["m.py"]),
        FixtureRow(1, "cheap", "module", "c.py:5", 2, 0.01, 0.0, ["n.py"]),
        FixtureRow(1, "tmp", "function", "c.py:9", 4, 4.0, 0.0, ["n.py"]),
    ]
    assert fixture_groups(rows, expected, workers=2) == {"m.py::a": "m.py", "m.py::b": "m.py"}


def test_read_schedule_tolerates_bad_files(tmp_path: Path) -> None:
    """A missing, non-JSON or odd file gives no schedule rather than an error."""
    assert read_schedule(tmp_path / "missing.json") == ({}, {})
    (tmp_path / "bad.json").write_text("{")
    assert read_schedule(tmp_path / "bad.json") == ({}, {})
    (tmp_path / "odd.json").write_text('{"a": "x", "b": 1.5, "c": true}')
    assert read_schedule(tmp_path / "odd.json") == ({"b": 1.5}, {})


def test_auto_workers_respects_cores_and_memory() -> None:
    """One worker per effective core, fewer when their peak RSS would not fit in memory."""
    gib = 1 << 30
    assert auto_workers(4.0, 0, 0) == 4
    assert auto_workers(1.5, 0, 0) == 1
    assert auto_workers(8.0, 2 * gib, 5 * gib) == 2
    assert auto_workers(8.0, 20 * gib, 5 * gib) == 1
    assert auto_workers(8.0, 0, 0, tests=3) == 3


@pytest.mark.slow
def test_hotlap_run_schedules_from_history(tmp_path: Path, hh) -> None:
    """The second `hotlap run -n 2` starts the long tests first, learned from the first run."""
    proj = hh.project(tmp_path, SUITE)
    first = hh.hotlap(proj, "run", "--headless", "--no-impact", "--", "-n", "2")
    assert first.code == 0, first.describe()
    second = hh.hotlap(
        proj, "run", "--headless", "--no-impact", "--json", "r.json", "--", "-n", "2"
    )
    assert second.code == 0, second.describe()
    assert "history: 1 run" in second.stderr
    assert all("test_long" in n for n in _first_per_worker(proj / "r.json").values())
    assert not list((proj / ".hotlap").glob("schedule-*.json")), "schedule file left behind"


def test_prepare_sets_plugin_environment(tmp_path: Path, hh) -> None:
    """prepare() fills expected durations, writes the schedule and passes policy options on."""
    import argparse

    from hotlap.export.report import RunMeta
    from hotlap.history.hooks import make_hooks
    from hotlap.model.run_context import RunContext

    opts = argparse.Namespace(
        no_history=False, schedule=True, slow_threshold=0.5, fail_unmarked_slow=True, reruns=2,
        history_keep=5,
    )  # fmt: skip
    ctx = RunContext(tmp_path, [], opts)
    hooks = make_hooks(ctx)
    hooks.prepare(ctx)
    assert ctx.expected == {} and "HOTLAP_SCHEDULE" not in ctx.env
    assert ctx.env["HOTLAP_SLOW_THRESHOLD"] == "0.5"
    assert ctx.env["HOTLAP_FAIL_UNMARKED_SLOW"] == "1" and ctx.env["HOTLAP_RERUNS"] == "2"
    state = hh.make_state({"t.py::a": ("passed", 0.4)})
    assert hooks.finish(ctx, state, RunMeta()) == []

    ctx = RunContext(tmp_path, [], opts)
    hooks = make_hooks(ctx)
    hooks.prepare(ctx)
    assert ctx.expected == {"t.py::a": pytest.approx(0.4)}
    durations, _ = read_schedule(ctx.env["HOTLAP_SCHEDULE"])
    assert durations == ctx.expected
    hooks.finish(ctx, state, RunMeta())
    assert not Path(ctx.env["HOTLAP_SCHEDULE"]).exists()


@pytest.mark.parametrize("durations", [{"gone.py::x": 1.0}, dict.fromkeys(DURATIONS, 0.0)])
def test_unknown_or_zero_durations_still_use_both_workers(
    tmp_path: Path, hh, durations: dict[str, float]
) -> None:
    """Renamed tests (no match) or all-zero durations: work is still spread over the workers."""
    proj = hh.project(tmp_path, SUITE)
    (proj / "d.json").write_text(json.dumps(durations))
    result = hh.pytest(proj, "-n", "2", "--hotlap-schedule=d.json", "--hotlap-json=r.json")
    assert result.code == 0, result.describe()
    tests = json.loads((proj / "r.json").read_text())["tests"]
    assert len(tests) == 8 and len({t["worker"] for t in tests}) == 2


class _Config:
    """The two options xdist's LoadScheduling reads, for driving the scheduler by hand."""

    def getvalue(self, name: str) -> list[str]:
        return ["2*popen"]

    def getoption(self, name: str) -> None:
        return None


class _Node:
    """What the scheduler sees of a worker: a send method and a shutdown flag."""

    def __init__(self, name: str) -> None:
        self.gateway = type("Gateway", (), {"id": name})()
        self.shutting_down = False
        self.sends: list[list[int]] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sends.append(list(indices))

    def shutdown(self) -> None:
        self.shutting_down = True


@pytest.mark.parametrize("tiny", [True, False])
def test_lpt_bookkeeping_and_batches(tiny: bool) -> None:
    """Driving the scheduler by hand through a whole run: every test is sent exactly once,
    each node's queued seconds stay the sum of what it holds, both nodes shut down at the
    end; a suite of tiny tests goes out in batches (not one message per test), and a suite
    of mixed durations starts its longest tests first (collected last), each on its own
    node, while every other test keeps pytest's order."""
    import random

    from hotlap.plugin.lpt import LongestFirstScheduling

    rng = random.Random(3)
    collection = [f"t.py::test_{i}" for i in range(600)]
    durations = {n: (0.001 if tiny else rng.choice([0.001, 0.02, 0.3, 2.0])) for n in collection}
    if not tiny:
        durations[collection[590]] = durations[collection[595]] = 60.0
    sched = LongestFirstScheduling(_Config(), None, durations, {})  # type: ignore[arg-type]
    nodes = [_Node("gw0"), _Node("gw1")]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    if not tiny:
        firsts = [durations[collection[n.sends[0][0]]] for n in nodes]
        assert firsts == [60.0, 60.0]
    rest = list(sched.pending)  # what the first distribution left queued
    assert rest and rest == sorted(rest)
    assert tiny or not {590, 595} & set(rest)
    ran: list[int] = []
    while any(sched.node2pending[n] for n in nodes):
        node = rng.choice([n for n in nodes if sched.node2pending[n]])
        index = sched.node2pending[node][0]
        ran.append(index)
        sched.mark_test_complete(node, index)
        for n in nodes:
            held = sum(sched.weight[i] for i in sched.node2pending[n])
            assert sched.queued.get(n, 0.0) == pytest.approx(held, abs=1e-9)
    assert sorted(ran) == list(range(len(collection)))
    assert all(n.shutting_down for n in nodes)
    messages = sum(len(n.sends) for n in nodes)
    if tiny:
        assert messages < len(collection) / 10, messages


def test_quick_tests_keep_pytests_order(tmp_path: Path, hh) -> None:
    """Only a test long enough to matter goes first: quick tests that depend on running in
    pytest's order (state left by an earlier test) keep passing, even when history says the
    later one takes longer."""
    suite = {
        "test_order.py": """
        STATE = {}

        def test_sets():
            STATE["x"] = 1

        def test_reads():
            assert STATE.get("x") == 1

        def test_slow():
            pass
        """,
    }
    proj = hh.project(tmp_path, suite)
    durations = {
        "test_order.py::test_sets": 0.001,
        "test_order.py::test_reads": 0.03,
        "test_order.py::test_slow": 2.0,
    }
    (proj / "d.json").write_text(json.dumps(durations))
    result = hh.pytest(proj, "-n", "1", "--hotlap-schedule=d.json", "--hotlap-json=r.json")
    assert result.code == 0, result.describe()
    tests = sorted(json.loads((proj / "r.json").read_text())["tests"], key=lambda t: t["start"])
    assert [t["nodeid"].split("::")[1] for t in tests] == ["test_slow", "test_sets", "test_reads"]
