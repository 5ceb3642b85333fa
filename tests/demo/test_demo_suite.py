"""The bundled demo suite: what it reports, its fixture costs, and its independence of the cwd.

One real ``pytest -n 2 -p hotlap --hotlap-json=…`` run of the demo (≈10 s), started from a
directory whose own pytest configuration and conftest would break the run if pytest read them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hotlap.demo import EXPECTED_COUNTS, demo_pytest_args, suite_path

pytestmark = pytest.mark.slow


def make_hostile(cwd: Path) -> None:
    """Config files that would stop the demo early, or break it, if pytest read them."""
    (cwd / "pytest.ini").write_text("[pytest]\naddopts = -x --maxfail=1 -k nothing\n")
    (cwd / "conftest.py").write_text("raise RuntimeError('the caller conftest was loaded')\n")


def run_demo(cwd: Path) -> tuple[int, str, dict[str, Any]]:
    """Run the demo from a hostile cwd; return (exit code, stdout, the JSON report)."""
    make_hostile(cwd)
    report = cwd / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "-p",
            "hotlap",
            f"--hotlap-json={report}",
            *demo_pytest_args(),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, proc.stdout, json.loads(report.read_text())


def fixture(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [f for f in report["fixtures"] if f["name"] == name]
    assert len(found) == 1, [f["name"] for f in report["fixtures"]]
    return found[0]


def check_counts_are_the_designed_ones(demo_run: tuple[int, str, dict[str, Any]]) -> None:
    """Exit 1 (it has failures) and exactly the designed passed/failed/skipped/… counts."""
    code, stdout, report = demo_run
    assert code == 1, stdout[-3000:]
    assert report["run"]["counts"] == EXPECTED_COUNTS
    assert report["run"]["pytest_stats"] == EXPECTED_COUNTS
    assert "2 failed, 74 passed, 3 skipped, 1 xfailed, 1 xpassed, 1 error" in stdout
    assert report["run"]["collected"] == sum(EXPECTED_COUNTS.values())
    assert report["run"]["rootdir"] == str(suite_path())


def check_failures_carry_readable_messages_and_output(
    demo_run: tuple[int, str, dict[str, Any]],
) -> None:
    """Both failures have assertion text and captured stdout; the error is the fixture's."""
    tests = {t["nodeid"]: t for t in demo_run[2]["tests"]}
    totals = tests["test_inventory.py::test_totals"]
    assert totals["outcome"] == "failed"
    assert "should be 25.00 (tax included), got 24.50" in totals["longrepr"]
    assert "computed total: 24.50" in totals["stdout"]
    refund = tests["test_orders.py::test_refund_rounding"]
    assert refund["outcome"] == "failed"
    assert "refunding order 1 in three parts" in refund["stdout"]
    assert "refund parts may not add up" in refund["log"]
    gateway = tests["test_orders.py::test_payment_gateway"]
    assert gateway["outcome"] == "error"
    assert "payment sandbox unreachable" in gateway["longrepr"]
    assert tests["test_inventory.py::test_restock_known_bug"]["outcome"] == "xfailed"
    assert tests["test_inventory.py::test_discount_fixed_upstream"]["outcome"] == "xpassed"


def check_fixtures_have_real_setup_and_teardown_costs(
    demo_run: tuple[int, str, dict[str, Any]],
) -> None:
    """Session, module and function fixtures all report setup and teardown time > 0."""
    report = demo_run[2]
    database = fixture(report, "database")
    assert database["scope"] == "session"
    assert database["setup"] >= 0.8 * database["count"]  # 1.0 s slept per worker that used it
    assert database["teardown"] >= 0.4 * database["count"]  # 0.5 s slept
    for name in ("catalog", "order_book"):
        module_fixture = fixture(report, name)
        assert module_fixture["scope"] == "module"
        assert module_fixture["setup"] > 0 and module_fixture["teardown"] > 0
    sandbox = fixture(report, "sandbox")
    assert sandbox["scope"] == "function"
    assert sandbox["count"] == 31  # 20 inventory round trips + test_totals + 10 order tests
    assert sandbox["setup"] > 0 and sandbox["teardown"] > 0
    assert sandbox["suggest_scope"] == "module"
    assert sandbox["saving"] > 1.0
    assert fixture(report, "payment_gateway")["failed"] == 1


def check_has_cpu_and_memory_heavy_tests(demo_run: tuple[int, str, dict[str, Any]]) -> None:
    """The CPU-heavy test burns ~1.5 CPU-seconds; the memory-heavy one peaks ~200 MB up."""
    tests = {t["nodeid"]: t for t in demo_run[2]["tests"]}
    cpu = tests["test_slow.py::test_cpu_heavy_checksum"]
    assert cpu["cpu"] > 0.5  # a fixed amount of work, so CPU time does not depend on load
    memory = tests["test_slow.py::test_memory_heavy_import"]
    assert memory["rss_peak"] - memory["rss_before"] > 150 * 1024 * 1024


def test_demo_run_from_another_directory(tmp_path: Path) -> None:
    """One real -n 2 run of the demo (≈10 s, so it is shared by the checks below) proves
    the designed counts, messages, fixture costs and heavy tests, from a hostile cwd."""
    run = run_demo(tmp_path)
    check_counts_are_the_designed_ones(run)
    check_failures_carry_readable_messages_and_output(run)
    check_fixtures_have_real_setup_and_teardown_costs(run)
    check_has_cpu_and_memory_heavy_tests(run)


def test_demo_collects_the_same_tests_from_any_directory(tmp_path: Path) -> None:
    """Collection alone (fast): all designed tests, node ids relative to the suite, and the
    caller's pytest.ini (``-k nothing``) and conftest.py are ignored."""
    make_hostile(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *demo_pytest_args()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    total = sum(EXPECTED_COUNTS.values())
    assert f"{total} tests collected" in proc.stdout
    nodeids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert len(nodeids) == total
    assert "test_basics.py::TestParser::test_empty" in nodeids


def test_demo_suite_files_ship_with_the_package() -> None:
    """The suite and its ini file sit next to the package code, where the wheel picks them up."""
    names = {p.name for p in suite_path().iterdir()}
    assert {"pytest.ini", "conftest.py", "test_basics.py", "test_slow.py"} <= names
