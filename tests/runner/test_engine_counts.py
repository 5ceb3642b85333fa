"""hotlap's counts and exit codes are plain pytest's, for every kind of outcome.

Each suite runs twice: under plain ``pytest`` and under ``hotlap run --headless --json``, with
``-n 0`` and ``-n 2``. hotlap's exit code, its report's ``run.counts`` and its headless
summary line must say what pytest says, and each test's outcome must be the expected one.

To keep the module within its time budget (a ``-n 2`` comparison costs ~3 s of CPU), outcomes
that share an exit code share a suite: "passing" holds a pass, skips (one of a whole module
at import), an xfail and a non-strict xpass (exit 0); "failing" holds a pass, a failure, a
setup error, a teardown error after a passing call and a strict xpass (exit 1). Per-test
outcomes are checked in the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

WORKERS = ["0", "2"]

SUITES: dict[str, dict[str, str]] = {
    "passing": {
        "test_passing.py": """
            import pytest


            def test_ok():
                assert 1 + 1 == 2


            @pytest.mark.skip(reason="not today")
            def test_skip_mark():
                pass


            def test_skip_inside():
                pytest.skip("inside")


            @pytest.mark.xfail(reason="known")
            def test_xfail():
                assert 0


            @pytest.mark.xfail(reason="fixed already")
            def test_xpass():
                pass
        """,
        "test_module_skip.py": """
            import pytest

            pytest.importorskip("no_such_module_for_hotlap")


            def test_never():
                pass
        """,
    },
    "failing": {
        "test_failing.py": """
            import pytest


            @pytest.fixture
            def broken_setup():
                raise RuntimeError("setup broke")


            @pytest.fixture
            def broken_teardown():
                yield
                raise RuntimeError("teardown broke")


            def test_ok():
                pass


            def test_fails():
                assert 1 == 2


            def test_setup_error(broken_setup):
                pass


            def test_teardown_error(broken_teardown):
                pass  # passes its call, then errors: "1 passed, 1 error" for this one test


            @pytest.mark.xfail(reason="fixed already", strict=True)
            def test_strict_xpass():
                pass
        """,
    },
    "collection_error": {
        "test_good.py": """
            def test_ok():
                pass
        """,
        "test_broken.py": """
            import no_such_module_anywhere


            def test_never():
                pass
        """,
    },
    "no_tests": {
        "test_empty.py": """
            def helper():
                return 1
        """,
    },
}

#: What each suite is for: pytest's exit code and counts (the suites must keep testing this).
EXPECTED: dict[str, tuple[int, dict[str, int]]] = {
    "passing": (0, {"passed": 1, "skipped": 3, "xfailed": 1, "xpassed": 1}),
    "failing": (1, {"failed": 2, "passed": 2, "error": 2}),
    "collection_error": (2, {"error": 1}),
    "no_tests": (5, {}),
}

#: Where xdist differs: a collection error does not stop an xdist run, the other module runs.
EXPECTED_XDIST = {**EXPECTED, "collection_error": (1, {"passed": 1, "error": 1})}

#: Each test's outcome and pytest's categories for its phases, as the report gives them.
OUTCOMES: dict[str, dict[str, tuple[str, list[str]]]] = {
    "passing": {
        "test_ok": ("passed", ["passed"]),
        "test_skip_mark": ("skipped", ["skipped"]),
        "test_skip_inside": ("skipped", ["skipped"]),
        "test_xfail": ("xfailed", ["xfailed"]),
        "test_xpass": ("xpassed", ["xpassed"]),
    },
    "failing": {
        "test_ok": ("passed", ["passed"]),
        "test_fails": ("failed", ["failed"]),
        "test_setup_error": ("error", ["error"]),
        "test_teardown_error": ("error", ["passed", "error"]),
        "test_strict_xpass": ("failed", ["failed"]),
    },
}


def _compare(
    h: Any, project: Path, workers: str, *pytest_args: str, fast: bool = True
) -> tuple[Any, Any, dict[str, Any]]:
    """Run plain pytest and hotlap on ``project``; return both results and hotlap's report."""
    plain = h.run_pytest(project, "-n", workers, "-q", *pytest_args, fast=fast)
    report_path = project / "report.json"
    hot = h.run_hotlap(project, *h.hotlap_args(report_path, workers, *pytest_args), fast=fast)
    assert report_path.exists(), hot.describe()
    return plain, hot, h.load_json(report_path)


def _assert_same(h: Any, plain: Any, hot: Any, report: dict[str, Any]) -> dict[str, int]:
    """hotlap's exit code, report counts and last output line say what plain pytest said."""
    expected = h.counts_of(plain)
    both = f"{plain.describe()}\n\n{hot.describe()}"
    assert hot.code == plain.code, both
    assert report["run"]["exit_code"] == plain.code, both
    assert report["run"]["counts"] == expected, both
    last = [line for line in hot.stdout.splitlines() if line.strip()][-1]
    summary = h.summary_line(last)
    assert summary is not None, both
    assert h.parse_counts(summary) == expected, both
    return expected


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_counts_and_exit_code_match_pytest(
    h: Any, tmp_path: Path, suite: str, workers: str
) -> None:
    """Exit code, report counts and the headless summary line equal plain pytest's.

    The expected values are checked too, so a suite that stops producing its outcome (a
    teardown error must count as "1 passed, 1 error") fails here instead of passing vacuously.
    """
    project = h.write_project(tmp_path / "proj", SUITES[suite])
    plain, hot, report = _compare(h, project, workers)
    counts = _assert_same(h, plain, hot, report)
    expected = EXPECTED_XDIST if workers != "0" else EXPECTED
    assert (plain.code, counts) == expected[suite], plain.describe()
    outcomes = {
        t["nodeid"].split("::")[-1]: (t["outcome"], [c for c in t["categories"] if c])
        for t in report["tests"]
    }
    assert outcomes == OUTCOMES.get(suite, outcomes), hot.describe()


def test_counts_match_pytest_with_every_installed_plugin(h: Any, tmp_path: Path) -> None:
    """The same comparison in the user's real setup: all plugins auto-loaded, ``-n 2``.

    The other tests load only xdist to stay fast; this one proves nothing changes when every
    installed pytest plugin (asyncio and split from the test extras, whatever else is there)
    is loaded too.
    """
    files = {**SUITES["failing"], **SUITES["passing"]}
    project = h.write_project(tmp_path / "proj", files)
    plain, hot, report = _compare(h, project, "2", fast=False)
    counts = _assert_same(h, plain, hot, report)
    assert counts == {
        "failed": 2,
        "passed": 3,
        "skipped": 3,
        "xfailed": 1,
        "xpassed": 1,
        "error": 2,
    }


@pytest.mark.parametrize("workers", WORKERS)
def test_k_selecting_nothing_exits_5_like_pytest(h: Any, tmp_path: Path, workers: str) -> None:
    """``-k`` that matches no test: exit 5 and the same counts (deselected included) as pytest."""
    project = h.write_project(tmp_path / "proj", SUITES["passing"])
    plain, hot, report = _compare(h, project, workers, "-k", "nothing_matches_this")
    assert plain.code == 5
    assert hot.code == 5, hot.describe()
    assert report["run"]["counts"] == h.counts_of(plain), hot.describe()
    assert report["run"]["counts"].get("passed", 0) == 0


EXITFIRST = {
    "test_x.py": """
        def test_1_fails():
            assert 0

        def test_2():
            pass

        def test_3():
            pass

        def test_4():
            pass
    """,
}


@pytest.mark.parametrize("workers", WORKERS)
def test_exitfirst_matches_pytest(h: Any, tmp_path: Path, workers: str) -> None:
    """``-x``: the same exit code as pytest (1 without xdist, xdist's own with -n 2).

    Without xdist the counts are deterministic and compared with plain pytest's. With xdist how
    many tests the other worker finishes before the stop is a race, so the report is compared
    with the summary line of the same run instead, and the failure count with plain pytest's.
    """
    project = h.write_project(tmp_path / "proj", EXITFIRST)
    plain, hot, report = _compare(h, project, workers, "-x")
    assert hot.code == plain.code, f"{plain.describe()}\n\n{hot.describe()}"
    counts = report["run"]["counts"]
    if workers == "0":
        assert plain.code == 1
        assert counts == h.counts_of(plain) == {"failed": 1}
    else:
        assert counts == h.counts_of(hot), hot.describe()
        assert counts["failed"] == h.counts_of(plain)["failed"] == 1


CRASH = {
    "test_crash.py": """
        import os


        def test_ok_1():
            pass


        def test_dies():
            os._exit(3)


        def test_ok_2():
            pass


        def test_ok_3():
            pass
    """,
}


def test_worker_crash_is_counted_and_named(h: Any, tmp_path: Path) -> None:
    """A test that kills its xdist worker (``os._exit(3)``): the same counts and exit code as
    plain pytest, and the report names the crashed worker and the test, which failed."""
    project = h.write_project(tmp_path / "proj", CRASH)
    plain, hot, report = _compare(h, project, "2")
    counts = _assert_same(h, plain, hot, report)
    assert (plain.code, counts) == (1, {"failed": 1, "passed": 3})
    tests = {t["nodeid"]: t for t in report["tests"]}
    dead = tests["test_crash.py::test_dies"]
    assert dead["outcome"] == "failed"
    assert dead["crashed"] is True
    assert [(c["worker"], c["nodeid"]) for c in report["crashes"]] == [
        (dead["worker"], "test_crash.py::test_dies")
    ], report["crashes"]
    assert dead["worker"] in ("gw0", "gw1")
    assert all(t["outcome"] == "passed" for n, t in tests.items() if n != dead["nodeid"])
