"""Verdicts of real mutation runs: weak tests let mutants survive, strong ones kill them,
including code that only runs in fixture teardown, at import time or in a subprocess."""

from __future__ import annotations

from mutate_helpers import Project, by_change


def test_weak_test_lets_mutant_survive_strong_test_kills_it(project: Project) -> None:
    """``x < 5 -> x <= 5`` survives a test that only checks 1; a test of the boundary
    kills it, and is named as the killer. Adding that test re-checks the mutants it covers
    (the stored verdicts are keyed by the tests' dependencies)."""
    project.write(
        "src/pkg/size.py",
        """
        def is_small(x):
            return x < 5
        """,
    )
    project.write(
        "tests/test_size.py",
        """
        from pkg.size import is_small

        def test_small():
            assert is_small(1)
        """,
    )
    project.record()
    weak = by_change(project.mutate())
    assert weak["is_small: return x < 5 -> return x <= 5"]["status"] == "survived"
    assert weak["is_small: return x < 5 -> return None"]["status"] == "killed"
    survivor = weak["is_small: return x < 5 -> return x <= 5"]
    assert survivor["killed_by"] == [] and survivor["tests_run"] == 1

    project.edit(
        "tests/test_size.py",
        "assert is_small(1)",
        "assert is_small(1)\n\ndef test_boundary():\n    assert not is_small(5)",
    )
    project.record()
    strong = by_change(project.mutate())
    boundary = strong["is_small: return x < 5 -> return x <= 5"]
    assert boundary["status"] == "killed"
    assert boundary["killed_by"] == ["tests/test_size.py::test_boundary"]


def test_code_run_in_fixture_teardown_is_tested(project: Project) -> None:
    """A function that only runs in a fixture's teardown: its mutant is killed by the test
    that used the fixture (the teardown runs in the mutant's process, not skipped)."""
    project.write(
        "src/pkg/pool.py",
        """
        class Pool:
            def __init__(self):
                self.items = [1]

            def close(self):
                self.items.clear()
                return len(self.items)
        """,
    )
    project.write(
        "tests/test_pool.py",
        """
        import pytest
        from pkg.pool import Pool

        @pytest.fixture
        def pool():
            p = Pool()
            yield p
            assert p.close() == 0

        def test_uses_pool(pool):
            assert pool.items == [1]

        def test_other():
            assert True
        """,
    )
    project.record()
    found = by_change(project.mutate())
    removed = found["Pool.close: self.items.clear() -> pass"]
    assert removed["status"] == "killed", removed
    assert removed["killed_by"] == ["tests/test_pool.py::test_uses_pool"]
    assert found["Pool.close: return len(self.items) -> return None"]["status"] == "killed"


def test_import_time_code_is_tested_fresh(project: Project) -> None:
    """A registering decorator runs at import: its mutants are killed (the project is
    imported anew, mutated), and so are module-level constants and default arguments."""
    project.write(
        "src/pkg/registry.py",
        """
        HANDLERS = {}
        LIMIT = 10


        def register(name):
            def deco(fn):
                HANDLERS[name] = fn
                return fn
            return deco


        @register("double")
        def double(x, factor=2):
            return x * factor
        """,
    )
    project.write(
        "tests/test_registry.py",
        """
        from pkg.registry import HANDLERS, LIMIT

        def test_registered():
            assert HANDLERS["double"](3) == 6

        def test_limit():
            assert LIMIT == 10
        """,
    )
    project.record()
    found = by_change(project.mutate())
    assert found["register.deco: HANDLERS[name] = fn -> HANDLERS[name] = None"]["status"] == (
        "killed"
    )
    assert found["<module>: LIMIT = 10 -> LIMIT = 11"]["status"] == "killed"
    assert (
        found["<module>: def double(x, factor=2): -> def double(x, factor=3):"]["status"]
        == "killed"
    )
    assert found["<module>: @register(\"double\") -> @register('')"]["status"] == "killed"
    assert not [m for m in found.values() if m["status"] == "error"], found


def test_code_run_in_a_subprocess_is_tested(project: Project) -> None:
    """A function only a subprocess runs (``python -m pkg.cli``) is tested: the child Python
    imports the mutant too, so its mutants are killed, not "no tests"."""
    project.write(
        "src/pkg/cli.py",
        """
        import sys


        def shout(word):
            return word.upper() + "!"


        if __name__ == "__main__":
            print(shout(sys.argv[1]))
        """,
    )
    project.write(
        "tests/test_cli.py",
        """
        import os
        import subprocess
        import sys

        def test_cli():
            path = "src" + os.pathsep + os.environ.get("PYTHONPATH", "")
            env = {**os.environ, "PYTHONPATH": path}
            out = subprocess.run(
                [sys.executable, "-m", "pkg.cli", "hi"], capture_output=True, text=True, env=env
            )
            assert out.stdout == "HI!\\n"
        """,
    )
    project.record()
    found = by_change(project.mutate())
    shout = [m for k, m in found.items() if k.startswith("shout:")]
    assert shout and all(m["status"] == "killed" for m in shout), shout
    assert all(m["killed_by"] == ["tests/test_cli.py::test_cli"] for m in shout)


def test_endless_mutant_is_killed_by_timeout(project: Project) -> None:
    """``n -= 1 -> n += 1`` never ends: past 3x its test's time + 1 s it is stopped and
    counted as killed by timeout, naming the test that was running."""
    project.write(
        "src/pkg/count.py",
        """
        def countdown(n):
            while n > 0:
                n -= 1
            return n
        """,
    )
    project.write(
        "tests/test_count.py",
        "from pkg.count import countdown\n\ndef test_countdown():\n    assert countdown(3) == 0\n",
    )
    project.record()
    found = by_change(project.mutate())
    endless = found["countdown: n -= 1 -> n += 1"]
    assert endless["status"] == "timeout", endless
    assert endless["killed_by"] == ["tests/test_count.py::test_countdown"]
    assert found["countdown: return n -> return None"]["status"] == "killed"


def test_closure_made_at_import_is_mutated(project: Project) -> None:
    """``handler = make_handler(3)`` runs at import; the closure it made runs in the test.
    A mutant of the closure's body reaches that existing closure (not only closures made
    later), so it is killed."""
    project.write(
        "src/pkg/handlers.py",
        """
        def make_handler(step):
            def handle(x):
                return x + step
            return handle


        handler = make_handler(3)
        """,
    )
    project.write(
        "tests/test_handlers.py",
        "from pkg.handlers import handler\n\ndef test_handler():\n    assert handler(1) == 4\n",
    )
    project.record()
    found = by_change(project.mutate())
    assert found["make_handler.handle: return x + step -> return x - step"]["status"] == "killed"
    assert found["make_handler.handle: return x + step -> return None"]["status"] == "killed"


def test_import_time_code_a_conftest_imports_is_killed(project: Project) -> None:
    """A conftest imports the module whose import-time code is mutated: a mutant that breaks
    the import (``HANDLERS = None`` makes the decorator fail) stops pytest before it collects
    anything. That is the tests noticing: killed, naming the conftest, and stored (an "error"
    is re-run every time)."""
    project.write(
        "src/pkg/registry.py",
        """
        HANDLERS = {}


        def register(name):
            def deco(fn):
                HANDLERS[name] = fn
                return fn
            return deco


        @register("double")
        def double(x):
            return x * 2
        """,
    )
    project.write(
        "tests/conftest.py",
        """
        import pytest
        from pkg.registry import HANDLERS

        @pytest.fixture
        def handlers():
            return HANDLERS
        """,
    )
    project.write(
        "tests/test_registry.py",
        """
        def test_registered(handlers):
            assert handlers["double"](3) == 6
        """,
    )
    project.record()
    found = by_change(project.mutate())
    for change in (
        "<module>: HANDLERS = {} -> HANDLERS = None",
        "register: return deco -> return None",
    ):
        assert found[change]["status"] == "killed", found[change]
        assert found[change]["killed_by"] == ["tests/conftest.py"]
    assert not [m for m in found.values() if m["status"] == "error"], found


def test_a_timeout_is_confirmed_before_it_counts(project: Project) -> None:
    """A mutant's tests run past the timeout once (as under a load spike) and then pass: a
    second run, with twice the time, decides: survived, not killed by timeout."""
    log = project.root.parent / "runs.log"
    project.env = {"RUNLOG": str(log)}
    project.write("src/pkg/ident.py", "def ident(x):\n    return x\n")
    project.write(
        "tests/test_ident.py",
        """
        import os
        import time
        from pkg.ident import ident

        def test_ident():
            with open(os.environ["RUNLOG"], "a") as f:
                f.write("run\\n")
            with open(os.environ["RUNLOG"]) as f:
                runs = len(f.read().split())
            if runs == 2:  # the baseline was the first: the mutant's first run is slow
                time.sleep(8)
            ident(3)
        """,
    )
    project.record()
    log.write_text("")
    found = by_change(project.mutate("src/pkg/ident.py::ident"))
    assert found == {"ident: return x -> return None": found["ident: return x -> return None"]}
    assert found["ident: return x -> return None"]["status"] == "survived", found
    assert log.read_text().split() == ["run"] * 3
