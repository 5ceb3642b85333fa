"""Selection through each collector: entry markers (3.10/3.11), their caches, code they
cannot mark, and the profiler fallback."""

from __future__ import annotations

import sys

import pytest
from impact_helpers import Project

HELPERS = """
    def double(x):
        return 2 * x

    def test_uses_helper():
        assert double(2) == 4

    def test_no_helper():
        assert 3 == 3
    """


@pytest.mark.parametrize("workers", ["0", "2"])
def test_helper_in_a_test_module(project: Project, workers: str) -> None:
    """A helper function inside a test module (compiled by pytest's assertion rewriter)
    selects only the test that calls it."""
    project.write("tests/test_helpers.py", HELPERS)
    assert project.run("-n", workers).returncode == 0
    project.edit("tests/test_helpers.py", "return 2 * x", "return 2 * x + 1")
    assert project.selected() == {"tests/test_helpers.py::test_uses_helper"}


def test_cached_compiled_modules_still_record(project: Project) -> None:
    """With bytecode caches allowed, the second run loads instrumented code from hotlap's
    cache files and still records: an edit after it selects exactly the caller."""
    project.env = {"PYTHONDONTWRITEBYTECODE": ""}
    assert project.run().returncode == 0
    if sys.version_info < (3, 12):
        # Project modules in hotlap's own cache, test modules in pytest's (its own name).
        cached = list((project.root / ".hotlap" / "pycache").glob("*.pyc"))
        assert any(p.name.startswith("mathx.") for p in cached), cached
        rewritten = list(project.root.rglob("*-hotlap*.pyc"))
        assert any("test_mul" in p.name for p in rewritten), rewritten
    assert project.run().returncode == 0
    project.edit("src/pkg/mathx.py", "return a * b", "return a * b + 1")
    assert project.selected() == {"tests/test_mul.py::test_mul"}
    assert project.run("--affected").returncode == 1
    project.edit("src/pkg/mathx.py", "return a * b + 1", "return a * b")
    assert project.run("--affected").returncode == 0
    project.edit("src/pkg/mathx.py", "return a + b", "return a + b + 0 * 1")
    assert project.selected() == {"tests/test_add.py::test_add"}


def test_module_loaded_by_path_is_never_missed(project: Project) -> None:
    """A project module run without going through the import system
    (``spec_from_file_location`` in a conftest) cannot carry markers: a change in it still
    selects the test that calls it (3.10/3.11: every test of the process; 3.12+:
    ``sys.monitoring`` local events on its code, only the tests that ran it)."""
    project.write(
        "tools/gen.py",
        """
        def value():
            return 7
        """,
    )
    project.write(
        "tests/conftest.py",
        """
        import importlib.util
        import pathlib

        _path = pathlib.Path(__file__).parent.parent / "tools" / "gen.py"
        _spec = importlib.util.spec_from_file_location("gen_by_path", _path)
        gen = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(gen)
        """,
    )
    project.write(
        "tests/test_gen.py",
        """
        from conftest import gen

        def test_value():
            assert gen.value() == 7

        def test_unrelated():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.edit("tools/gen.py", "return 7", "return 8")
    selected = project.selected()
    assert "tests/test_gen.py::test_value" in selected
    if sys.version_info >= (3, 12):
        # sys.monitoring watches exactly that code: the test that did not run it stays out.
        assert "tests/test_gen.py::test_unrelated" not in selected


def test_profiler_fallback_selects_the_same(project: Project) -> None:
    """``HOTLAP_IMPACT_TRACER=profile`` (the collector used when pytest's rewriter cannot
    carry markers) records the same function-level dependencies."""
    project.env = {"HOTLAP_IMPACT_TRACER": "profile"}
    assert project.run("-n", "2").returncode == 0
    project.edit("src/pkg/mathx.py", "return a * b", "return a * b + 1")
    assert project.selected() == {"tests/test_mul.py::test_mul"}


def test_a_module_with_typing_overloads_is_selected_by_function(project: Project) -> None:
    """``@typing.overload`` stubs (bare, as typed code writes them) get markers like any
    function: only a JIT's ``@overload(...)``, called, keeps its bytecode. A module with
    overloads was counted as run without markers, so any edit in it selected every test
    that imported it (click's core, types, termui, decorators: most of its suite)."""
    project.write(
        "src/pkg/typed.py",
        """
        import typing as t
        from typing import overload

        @t.overload
        def parse(x: int) -> int: ...
        @overload
        def parse(x: str) -> str: ...
        def parse(x):
            return x

        def other(x):
            return x + 1
        """,
    )
    project.write(
        "tests/test_typed.py",
        """
        from pkg.typed import other, parse

        def test_parse():
            assert parse(3) == 3

        def test_other():
            assert other(1) == 2
        """,
    )
    assert project.run().returncode == 0
    project.edit("src/pkg/typed.py", "return x + 1", "return x + 2")
    assert project.selected() == {"tests/test_typed.py::test_other"}
