"""hotlap alongside the plugins and options people already use.

Each case runs plain pytest and hotlap (its plugin, ``pytest --hotlap-json``, or the app,
``hotlap run --headless``) on the same small project and asserts the same exit code and the
same counts, plus what the plugin itself promises (same random values, same group, reruns
counted, coverage written). A plugin that is not installed skips its case.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest

BASIC = {
    "test_basic.py": """
        import pytest

        def test_a():
            pass

        @pytest.mark.slow
        def test_b():
            pass

        def test_c_fails():
            assert 0

        @pytest.mark.slow
        def test_d_fails():
            assert 0

        def test_e():
            pass
    """,
    "test_more.py": """
        import pytest

        @pytest.mark.xdist_group("db")
        def test_grouped_1():
            pass

        @pytest.mark.xdist_group("db")
        def test_grouped_2():
            pass

        class TestScope:
            def test_x(self):
                pass

            def test_y(self):
                pass
    """,
}
BASIC_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nmarkers =\n    slow: slow\n"


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


def _same(plain: Any, hot: Any) -> None:
    """hotlap's exit code, summary and report counts are plain pytest's."""
    assert hot.code == plain.code, f"{plain.describe()}\n\n{hot.describe()}"
    assert hot.counts == plain.counts, hot.describe()
    assert hot.report["run"]["counts"] == plain.counts, hot.describe()


#: What plain pytest says about BASIC whatever the distribution (checked below).
BASIC_COUNTS = {"failed": 2, "passed": 7}


@pytest.mark.parametrize(
    "args",
    [
        ("-n", "0", "-x"),
        ("-n", "0", "--maxfail=2", "-p", "no:cacheprovider"),
        ("-n", "2", "-k", "not c_fails", "-m", "slow"),
        ("-n", "2", "--dist", "loadfile"),
    ],
    ids=lambda args: " ".join(args),
)
def test_pytest_and_xdist_options(hx: Any, args: tuple[str, ...]) -> None:
    """Selection, stopping and distribution options give pytest's counts under the plugin."""
    project = hx.project(BASIC, ini=BASIC_INI)
    plain = hx.pytest(project, *args)
    hot = hx.plugin(project, *args)
    _same(plain, hot)
    if "--dist" in args:
        assert plain.counts == BASIC_COUNTS, plain.describe()


@pytest.mark.parametrize("dist", ["loadscope", "loadgroup", "worksteal"])
def test_dist_modes_under_the_app(hx: Any, dist: str) -> None:
    """``hotlap run -- -n 2 --dist MODE`` (with its own scheduling) keeps pytest's counts.

    Plain pytest's counts for BASIC do not depend on the distribution (the ``loadfile`` case
    above compares them), so each mode is compared with them without a second run.
    """
    project = hx.project(BASIC, ini=BASIC_INI)
    hot = hx.hotlap(project, "-n", "2", "--dist", dist, options=("--no-history",))
    assert hot.code == 1, hot.describe()
    assert hot.counts == hot.report["run"]["counts"] == BASIC_COUNTS, hot.describe()


def test_last_failed_and_failed_first(hx: Any) -> None:
    """``--lf`` and ``--ff`` read pytest's cache the same way under hotlap."""
    project = hx.project(BASIC, ini=BASIC_INI)
    hx.pytest(project, "-n", "0")  # fills .pytest_cache with the two failures
    for option in ("--lf", "--ff"):
        plain = hx.pytest(project, "-n", "0", option)
        hot = hx.plugin(project, "-n", "0", option)
        _same(plain, hot)
    assert hot.counts == {"failed": 2, "passed": 7} == BASIC_COUNTS


RANDOM = {
    "test_random.py": """
        import os
        import pathlib
        import random

        import pytest

        @pytest.mark.parametrize("i", range(6))
        def test_draw(i):
            out = pathlib.Path(os.environ["DRAWS"])
            (out / f"{i}.txt").write_text(repr(random.random()))
    """,
}


def test_randomly_seeds_across_workers(hx: Any) -> None:
    """``-p randomly --randomly-seed``: every test draws the same random numbers under hotlap
    (and its scheduler) as under plain pytest with the same seed, on any worker."""
    _needs("pytest_randomly")
    project = hx.project(RANDOM)
    draws = {}
    for name in ("plain", "hotlap"):
        out = hx.tmp_path / name
        out.mkdir()
        env = {"DRAWS": str(out)}
        args = ("-n", "2", "-p", "randomly", "--randomly-seed=1234")
        if name == "plain":
            result = hx.pytest(project, *args, env=env)
        else:
            result = hx.hotlap(project, *args, options=("--no-history",), env=env)
        assert result.code == 0 and result.counts == {"passed": 6}, result.describe()
        draws[name] = {p.name: p.read_text() for p in out.iterdir()}
    assert len(draws["plain"]) == 6
    assert draws["hotlap"] == draws["plain"]


TIMEOUTS = {
    "test_t.py": """
        import time

        def test_ok():
            pass

        def test_too_slow():
            print("still working", flush=True)
            time.sleep(30)
    """,
}


@pytest.mark.parametrize("method", ["signal", "thread"])
def test_pytest_timeout(hx: Any, method: str) -> None:
    """pytest-timeout's signal method fails the test; its thread method ends the worker
    (``os._exit(1)``), which hotlap reports as a crash with that exit code."""
    _needs("pytest_timeout")
    project = hx.project(TIMEOUTS)
    args = ("-n", "2", "--timeout=1", f"--timeout-method={method}")
    plain = hx.pytest(project, *args)
    hot = hx.plugin(project, *args)
    _same(plain, hot)
    assert hot.counts == {"failed": 1, "passed": 1}
    if method == "thread":
        assert "exit code 1" in hot.test("test_t.py::test_too_slow")["longrepr"]


FLAKY = {
    "test_flaky.py": """
        import os
        import pathlib

        def test_flaky():
            marker = pathlib.Path(os.environ["FLAKY"])
            runs = int(marker.read_text()) if marker.exists() else 0
            marker.write_text(str(runs + 1))
            assert runs >= 1

        def test_ok():
            pass
    """,
}


@pytest.mark.parametrize("workers", ["2"])
def test_rerunfailures(hx: Any, workers: str) -> None:
    """pytest-rerunfailures' ``--reruns``: the rerun is counted as pytest counts it."""
    _needs("pytest_rerunfailures")
    project = hx.project(FLAKY)
    plain = hx.pytest(project, "-n", workers, "--reruns=2", env={"FLAKY": str(hx.tmp_path / "a")})
    hot = hx.plugin(project, "-n", workers, "--reruns=2", env={"FLAKY": str(hx.tmp_path / "b")})
    _same(plain, hot)
    assert hot.counts == {"passed": 2, "rerun": 1}


def test_pytest_split_groups(hx: Any) -> None:
    """pytest-split's ``--splits 2 --group N``: each group runs the same tests as under pytest,
    and both groups together run everything."""
    _needs("pytest_split")
    project = hx.project(BASIC, ini=BASIC_INI)
    seen = 0
    for group in ("1", "2"):
        args = ("-n", "0", "--splits", "2", "--group", group)
        plain = hx.pytest(project, *args)
        hot = hx.plugin(project, *args)
        _same(plain, hot)
        seen += sum(v for k, v in hot.counts.items() if k != "deselected")
    assert seen == 9


def test_pytest_asyncio(hx: Any) -> None:
    """Async tests and fixtures under pytest-asyncio count the same."""
    _needs("pytest_asyncio")
    project = hx.project(
        {
            "test_async.py": """
                import asyncio

                import pytest
                import pytest_asyncio

                @pytest_asyncio.fixture
                async def value():
                    await asyncio.sleep(0)
                    return 3

                @pytest.mark.asyncio
                async def test_value(value):
                    assert value == 3

                @pytest.mark.asyncio
                async def test_fails():
                    await asyncio.sleep(0)
                    assert 0
            """
        }
    )
    plain = hx.pytest(project, "-n", "2")
    hot = hx.plugin(project, "-n", "2")
    _same(plain, hot)
    assert hot.counts == {"failed": 1, "passed": 1}


def test_pytest_cov(hx: Any) -> None:
    """pytest-cov with ``-n 2``: counts unchanged and the coverage data still written."""
    _needs("pytest_cov")
    project = hx.project(
        {
            "pkg/__init__.py": "def double(x):\n    return 2 * x\n",
            "tests/test_pkg.py": """
                from pkg import double

                def test_double():
                    assert double(2) == 4
            """,
        }
    )
    args = ("-n", "2", "--cov=pkg", "--cov-report=term", "-p", "no:cacheprovider")
    env = {"PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")])}
    plain = hx.pytest(project, *args, env=env)
    hot = hx.plugin(project, *args, env=env)
    _same(plain, hot)
    assert "pkg/__init__.py" in hot.stdout and "100%" in hot.stdout, hot.describe()
