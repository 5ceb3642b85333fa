"""Fixture setup and teardown costs in the report match known sleeps, per use and per worker.

A module fixture sleeps 0.3 s in setup and 0.2 s in teardown; a function fixture 0.15 s and
0.1 s, used by three tests. The report must give each real setup's seconds (within 20%), the
worker it ran on and the test that paid for it, under ``-n 0`` and ``-n 2``.

The fixtures also note how long each sleep really took. When the machine is so loaded that a
sleep overran by more than 10%, that measured time replaces the nominal one as the reference:
hotlap cannot report a sleep shorter than the one that happened. The function fixture's
teardown was 0.05 s until a full-suite CI run measured 0.061 s for it: the fixture's own note
(a file append) falls inside the teardown hotlap times, and 20% of 0.05 s left it 10 ms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SUITE = {
    "test_fix.py": """
        import json
        import os
        import time
        from pathlib import Path

        import pytest

        SLEPT = Path(__file__).with_name("slept.jsonl")


        def sleep(fixture, phase, seconds):
            # The fixture notes how long its sleep really took: on a machine so busy that a
            # sleep overruns by more than 10%, that (not the nominal sleep) is the reference.
            start = time.perf_counter()
            time.sleep(seconds)
            took = time.perf_counter() - start
            test = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            with SLEPT.open("a") as f:
                f.write(json.dumps([fixture, phase, worker, test, took]) + "\\n")


        @pytest.fixture(scope="module")
        def slow_module():
            sleep("slow_module", "setup", 0.3)
            yield
            sleep("slow_module", "teardown", 0.2)


        @pytest.fixture
        def slow_function():
            sleep("slow_function", "setup", 0.15)
            yield
            sleep("slow_function", "teardown", 0.1)


        def test_a(slow_module, slow_function):
            pass


        def test_b(slow_module, slow_function):
            pass


        def test_c(slow_module, slow_function):
            pass
    """,
}


def _near(value: float | None, expected: float) -> bool:
    """Within 20% of the expected seconds (the issue's bound)."""
    return value is not None and abs(value - expected) <= 0.2 * expected


def _slept(project: Path) -> dict[tuple[str, str, str, str], float]:
    """(fixture, phase, worker, test) -> seconds the fixture's sleep really took."""
    rows = [json.loads(line) for line in (project / "slept.jsonl").read_text().splitlines()]
    return {(f, phase, w, t): took for f, phase, w, t, took in rows}


def _reference(took: float, nominal: float) -> float:
    """The known sleep, unless the machine could not keep it (overran by > 10%)."""
    return nominal if took <= 1.1 * nominal else took


@pytest.mark.parametrize("workers", ["0", "2"])
def test_fixture_costs_match_the_sleeps(h: Any, tmp_path: Path, workers: str) -> None:
    """Module fixture: one use per worker that ran the module, paid by that worker's first test
    and torn down by its last; function fixture: one use per test, on the test's worker; every
    setup and teardown within 20% of its sleep."""
    project = h.write_project(tmp_path / "proj", SUITE)
    report_path = project / "report.json"
    hot = h.run_hotlap(project, *h.hotlap_args(report_path, workers))
    assert hot.code == 0, hot.describe()
    report = h.load_json(report_path)
    slept = _slept(project)
    tests = {t["nodeid"]: t for t in report["tests"]}
    assert sorted(tests) == [f"test_fix.py::test_{x}" for x in "abc"]
    fixtures = {f["name"]: f for f in report["fixtures"]}
    assert set(fixtures) >= {"slow_module", "slow_function"}, sorted(fixtures)

    def check(
        fixture: str, phase: str, worker: str, test: str, nominal: float, got: float
    ) -> float:
        ref = _reference(slept[(fixture, phase, worker, test)], nominal)
        assert _near(got, ref), (fixture, phase, worker, test, got, ref)
        return ref

    # Tests of each worker in the order they ran: the first pays the module setup.
    by_worker: dict[str, list[str]] = {}
    for nodeid, test in sorted(tests.items(), key=lambda item: item[1]["start"]):
        by_worker.setdefault(test["worker"], []).append(nodeid)
    expected_workers = {"main"} if workers == "0" else {"gw0", "gw1"}
    assert set(by_worker) <= expected_workers, by_worker

    module = fixtures["slow_module"]
    assert module["scope"] == "module"
    assert module["location"].startswith("test_fix.py:")
    assert module["count"] == len(by_worker), module
    assert sorted(u["worker"] for u in module["uses"]) == sorted(by_worker)
    setups = teardowns = 0.0
    for use in module["uses"]:
        worker, ran = use["worker"], by_worker[use["worker"]]
        assert use["nodeid"] == ran[0], (use, ran)
        assert use["teardown_nodeid"] == ran[-1], (use, ran)
        setups += check("slow_module", "setup", worker, use["nodeid"], 0.3, use["setup"])
        teardowns += check(
            "slow_module", "teardown", worker, use["teardown_nodeid"], 0.2, use["teardown"]
        )
    assert _near(module["setup"], setups), module
    assert _near(module["teardown"], teardowns), module

    function = fixtures["slow_function"]
    assert function["scope"] == "function"
    assert function["count"] == 3, function
    assert sorted(u["nodeid"] for u in function["uses"]) == sorted(tests)
    setups = teardowns = 0.0
    for use in function["uses"]:
        worker, nodeid = use["worker"], use["nodeid"]
        assert worker == tests[nodeid]["worker"], use
        assert use["teardown_nodeid"] == nodeid, use
        setups += check("slow_function", "setup", worker, nodeid, 0.15, use["setup"])
        teardowns += check("slow_function", "teardown", worker, nodeid, 0.1, use["teardown"])
    assert _near(function["setup"], setups), function
    assert _near(function["teardown"], teardowns), function
    # Three uses in one module: module scope would save two of them.
    assert function["suggest_scope"] == "module"

    # Each test's own setup phase holds the fixture time it paid for.
    for nodeid, test in tests.items():
        paid = sum(
            u["setup"] for f in fixtures.values() for u in f["uses"] if u["nodeid"] == nodeid
        )
        assert test["setup"] >= paid * 0.95, (nodeid, test["setup"], paid)
