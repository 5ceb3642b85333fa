"""Each dependency kind testmon misses: fixtures, data files, resources, subprocesses,
conftest hooks, new and deleted code, and the full-run invalidators."""

from __future__ import annotations

import sys

import pytest
from impact_helpers import Project


def test_session_fixture_code_counts_for_every_user(project: Project) -> None:
    """A session fixture set up once (per worker) for two tests: a change in the code its
    setup ran selects both, with -n 2 (each worker's setup is recorded)."""
    project.write(
        "tests/conftest.py",
        """
        import pytest
        from pkg.mathx import scaled

        @pytest.fixture(scope="session")
        def big():
            yield scaled(5)
        """,
    )
    project.write(
        "tests/test_fx.py",
        """
        def test_fx_one(big):
            assert big == 10

        def test_fx_two(big):
            assert big > 0

        def test_fx_none():
            assert True
        """,
    )
    assert project.run("-n", "2").returncode == 0
    project.edit("src/pkg/mathx.py", "return x * FACTOR", "return x * FACTOR + 1")
    selected = project.selected()
    assert {"tests/test_fx.py::test_fx_one", "tests/test_fx.py::test_fx_two"} <= selected
    assert "tests/test_fx.py::test_fx_none" not in selected
    assert "tests/test_add.py::test_add" not in selected


def test_fixture_teardown_code_counts(project: Project) -> None:
    """Code a fixture runs at teardown (after ``yield``) is a dependency of its users."""
    project.write(
        "tests/test_td.py",
        """
        import pytest
        from pkg.mathx import mul

        @pytest.fixture
        def res():
            yield 1
            assert mul(2, 2) == 4

        def test_td(res):
            assert res == 1

        def test_plain():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.edit("src/pkg/mathx.py", "return a * b", "return a * b * 2")
    assert project.selected() == {"tests/test_td.py::test_td", "tests/test_mul.py::test_mul"}


def test_data_file_and_package_resource(project: Project) -> None:
    """A data file opened by a test and a package resource read through
    importlib.resources select exactly their readers, by content."""
    project.write("tests/data/expected.txt", "42\n")
    project.write("src/pkg/table.csv", "a,b\n")
    project.write(
        "tests/test_files.py",
        """
        import importlib.resources
        from pathlib import Path

        def test_reads_data():
            assert (Path(__file__).parent / "data" / "expected.txt").read_text() == "42\\n"

        def test_reads_resource():
            assert importlib.resources.files("pkg").joinpath("table.csv").read_text()

        def test_reads_nothing():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.write("tests/data/expected.txt", "43\n")
    assert project.selected() == {"tests/test_files.py::test_reads_data"}
    project.write("tests/data/expected.txt", "42\n")  # back to the recorded content
    project.write("src/pkg/table.csv", "a,b,c\n")
    assert project.selected() == {"tests/test_files.py::test_reads_resource"}


@pytest.mark.parametrize("launcher", ["module", "script"])
def test_code_run_in_a_subprocess(project: Project, launcher: str) -> None:
    """``python -m pkg.cli`` or a console script (a Python shebang launcher) started by a
    test: a change in a module the CLI imports selects that test, and only that one."""
    project.write(
        "src/pkg/cli.py",
        """
        from pkg.helper import greet

        def main():
            print(greet())

        if __name__ == "__main__":
            main()
        """,
    )
    project.write("src/pkg/helper.py", "def greet():\n    return 'hi'\n")
    script = project.write(
        "bin/mycli", f"#!{sys.executable}\nimport sys\nfrom pkg.cli import main\nmain()\n"
    )
    script.chmod(0o755)
    command = '[sys.executable, "-m", "pkg.cli"]' if launcher == "module" else f'["{script}"]'
    project.write(
        "tests/test_cli.py",
        f"""
        import os
        import subprocess
        import sys
        from pathlib import Path

        def test_cli():
            env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
            out = subprocess.run({command}, capture_output=True,
                                 text=True, env=env, check=True).stdout
            assert out.strip() == "hi"
        """,
    )
    assert project.run().returncode == 0
    project.edit("src/pkg/helper.py", "return 'hi'", "return 'hello'")
    assert project.selected() == {"tests/test_cli.py::test_cli"}
    # --why counts it among the tests that depend on whole files (what a child ran is unseen).
    notes = project.affected("--why")["notes"]
    fallback = next(n for n in notes if n.startswith("whole-file fallbacks:"))
    assert fallback.startswith("whole-file fallbacks: 1 of 5 recorded tests"), notes
    assert "src/pkg/helper.py (subprocess)" in fallback


def test_conftest_hook_change_selects_what_it_parametrized(project: Project) -> None:
    """A changed ``pytest_generate_tests`` that decides from argument names selects the test
    functions taking an argument it names, as whole functions (new ids included), not its
    directory; one that starts naming another argument selects the directory."""
    project.write(
        "tests/gen/conftest.py",
        """
        def pytest_generate_tests(metafunc):
            if "n" in metafunc.fixturenames:
                metafunc.parametrize("n", [1, 2])
        """,
    )
    project.write(
        "tests/gen/test_gen.py",
        "def test_n(n):\n    assert n < 3\n\ndef test_m(m):\n    assert m\n\n"
        "def test_plain():\n    assert True\n",
    )
    project.edit(
        "tests/gen/conftest.py",
        "[1, 2])",
        "[1, 2])\n    if 'm' in metafunc.fixturenames:\n        metafunc.parametrize('m', [1])",
    )
    assert project.run().returncode == 0
    project.edit("tests/gen/conftest.py", "[1, 2]", "[1, 2, 3]")
    data = project.affected()
    assert {t["nodeid"] for t in data["tests"]} == {
        "tests/gen/test_gen.py::test_n",
        "tests/gen/test_gen.py::test_m",
    }
    rerun = project.run("--affected")
    assert rerun.returncode == 1 and "1 failed, 3 passed" in rerun.stdout
    project.edit("tests/gen/conftest.py", "'m' in", "'x' in")
    assert [t["nodeid"] for t in project.affected()["tests"]] == ["tests/gen"]


def test_new_test_file_and_removed_function(project: Project) -> None:
    """A new test file is selected; removing a function that a test imports selects the
    importer (which now fails to collect)."""
    assert project.run().returncode == 0
    project.write("tests/test_new.py", "def test_new():\n    assert True\n")
    project.edit("src/pkg/mathx.py", "def add(a, b):\n    return a + b\n", "")
    selected = project.selected()
    assert "tests/test_new.py" in selected
    assert "tests/test_add.py::test_add" in selected
    assert "tests/test_other.py::test_alone" not in selected
    rerun = project.run("--affected")
    assert rerun.returncode != 0
    # The collection error keeps the file selected until it collects again.
    assert "tests/test_add.py" in project.selected()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("config", "pytest configuration changed (pyproject.toml)"),
        ("options", "pytest options that change collection changed"),
    ],
)
def test_full_run_invalidators(project: Project, change: str, reason: str) -> None:
    """pytest config and collection options force a full run and say which fired."""
    assert project.run().returncode == 0
    args: list[str] = []
    if change == "config":
        project.edit(
            "pyproject.toml", 'testpaths = ["tests"]', 'testpaths = ["tests"]\nxfail_strict = true'
        )
    else:
        args = ["-k", "add"]
    data = project.affected(*args)
    assert data["full_run"] is True
    assert data["reason"].startswith(reason)


def test_runtime_options_do_not_invalidate(project: Project) -> None:
    """-x, -q and -n do not change what is collected: no full run."""
    assert project.run("-x", "-n", "0").returncode == 0
    assert project.affected("-q")["full_run"] is False


def test_corrupt_database_is_rebuilt(project: Project) -> None:
    """A corrupt impact database is moved aside with a warning; the run still passes
    and the next selection works again."""
    assert project.run().returncode == 0
    db = project.root / ".hotlap" / "impact.sqlite3"
    for suffix in ("-wal", "-shm"):
        (project.root / ".hotlap" / f"impact.sqlite3{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    data = project.affected()
    assert data["full_run"] is True
    assert "moved it to" in data["stderr"]
    assert list((project.root / ".hotlap").glob("impact.sqlite3.bad-*"))
    assert project.run().returncode == 0
    assert project.selected() == set()


def test_no_impact_records_nothing(project: Project) -> None:
    """--no-impact: no database is written."""
    assert project.run("--no-impact").returncode == 0
    assert not (project.root / ".hotlap" / "impact.sqlite3").exists()


def test_decorator_body_run_at_import(project: Project) -> None:
    """A decorator's body runs at import (collection), in no test: changing it selects every
    test that imports its module, in each test file, and fails the right one."""
    project.write(
        "src/pkg/registry.py",
        """
        REGISTRY = []

        def register(f):
            REGISTRY.append(f.__name__)
            return f
        """,
    )
    project.write(
        "src/pkg/plugins.py",
        """
        from pkg.registry import register

        @register
        def alpha():
            return 1
        """,
    )
    project.write(
        "tests/test_reg.py",
        """
        import pkg.plugins
        from pkg.registry import REGISTRY

        def test_registered():
            assert REGISTRY == ["alpha"]
        """,
    )
    project.write(
        "tests/test_reg2.py",
        """
        import pkg.plugins

        def test_alpha():
            assert pkg.plugins.alpha() == 1
        """,
    )
    assert project.run("-n", "2").returncode == 0
    project.edit("src/pkg/registry.py", "f.__name__)", "f.__name__.upper())")
    selected = project.selected()
    assert {"tests/test_reg.py::test_registered", "tests/test_reg2.py::test_alpha"} <= selected
    assert "tests/test_other.py::test_alone" not in selected
    assert "tests/test_mul.py::test_mul" not in selected
    rerun = project.run("--affected")
    assert "1 failed" in rerun.stdout


def test_threads_forks_and_data_read_at_import(project: Project) -> None:
    """Code run in a thread, code run in a forked child, and a data file a module reads
    when imported are all dependencies of the tests concerned."""
    project.write("src/pkg/conf.json", '{"n": 1}')
    project.write(
        "src/pkg/settings.py",
        """
        import json
        import pathlib

        N = json.loads((pathlib.Path(__file__).parent / "conf.json").read_text())["n"]
        """,
    )
    project.write("src/pkg/work.py", "def job():\n    return 5\n\ndef forked():\n    return 7\n")
    project.write(
        "tests/test_conc.py",
        """
        import os
        import threading

        from pkg import work

        def test_thread():
            out = []
            t = threading.Thread(target=lambda: out.append(work.job()))
            t.start()
            t.join()
            assert out == [5]

        def test_fork():
            pid = os.fork()
            if pid == 0:
                os._exit(0 if work.forked() == 7 else 1)
            _, status = os.waitpid(pid, 0)
            assert status == 0
        """,
    )
    project.write(
        "tests/test_settings.py", "from pkg.settings import N\n\ndef test_n():\n    assert N == 1\n"
    )
    assert project.run().returncode == 0
    project.edit("src/pkg/work.py", "return 5", "return 6")
    assert "tests/test_conc.py::test_thread" in project.selected()
    project.edit("src/pkg/work.py", "return 6", "return 5")
    project.edit("src/pkg/work.py", "return 7", "return 8")
    selected = project.selected()
    assert "tests/test_conc.py::test_fork" in selected
    assert "tests/test_conc.py::test_thread" not in selected
    project.edit("src/pkg/work.py", "return 8", "return 7")
    project.write("src/pkg/conf.json", '{"n": 2}')
    # Read while tests/test_settings.py was collected (its import): that module is selected.
    assert project.selected() == {"tests/test_settings.py"}


def test_change_saved_during_the_run_is_not_lost(project: Project) -> None:
    """A module-level edit saved while the run is going on: the tests of that run are
    selected next time, though what was recorded already looks like the new file."""
    import subprocess
    import time

    from impact_helpers import clean_env

    marker = project.root.parent / "started"
    project.write(
        "tests/test_slow.py",
        f"""
        import pathlib
        import time
        from pkg.mathx import FACTOR

        def test_slow():
            pathlib.Path({str(marker)!r}).write_text("")
            time.sleep(1.5)
            assert FACTOR == 2
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--no-history", "-n", "0"],
        cwd=project.root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # wait until test_slow runs (collection is over)
        project.edit("src/pkg/mathx.py", "FACTOR = 2", "FACTOR = 3")
        assert proc.wait(timeout=60) == 0  # the run used the old value
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "tests/test_slow.py::test_slow" in project.selected()


def test_parametrize_from_data_selects_the_whole_module(project: Project) -> None:
    """Cases read at collection (a JSON file, a globbed directory) make test ids: editing
    the file or adding a case selects the test module as a whole, so the new ids run."""
    project.write("tests/cases/one.txt", "1")
    project.write("tests/cases.json", "[1, 2]")
    project.write(
        "tests/test_cases.py",
        """
        import json
        from pathlib import Path

        import pytest

        HERE = Path(__file__).parent
        FILES = sorted(p.name for p in (HERE / "cases").glob("*.txt"))
        NUMBERS = json.loads((HERE / "cases.json").read_text())

        @pytest.mark.parametrize("name", FILES)
        def test_file(name):
            assert (HERE / "cases" / name).read_text().isdigit()

        @pytest.mark.parametrize("n", NUMBERS)
        def test_number(n):
            assert n < 3
        """,
    )
    assert project.run().returncode == 0
    assert project.selected() == set()
    project.write("tests/cases/two.txt", "x")  # a new, failing case
    data = project.affected()
    assert [t["nodeid"] for t in data["tests"]] == ["tests/test_cases.py"]
    rerun = project.run("--affected")
    assert "1 failed, 3 passed" in rerun.stdout, rerun.stdout
    project.write("tests/cases/two.txt", "2")
    project.write("tests/cases.json", "[1, 2, 3]")
    assert project.selected() == {"tests/test_cases.py"}
    assert "tests/test_other.py::test_alone" not in project.selected()


def test_fixture_requested_at_run_time(project: Project) -> None:
    """A fixture the test asks for with ``request.getfixturevalue`` (and which uses another
    fixture) counts for the test like a declared one."""
    project.write(
        "tests/test_dyn.py",
        """
        import pytest
        from pkg.mathx import mul, scaled

        @pytest.fixture(scope="module")
        def base():
            return scaled(1)

        @pytest.fixture(scope="module")
        def product(base):
            return mul(base, 3)

        def test_first(request):
            assert request.getfixturevalue("product") == 6

        def test_second(request):
            assert request.getfixturevalue("product") == 6

        def test_plain():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.edit("src/pkg/mathx.py", "return x * FACTOR", "return x * FACTOR * 1")
    selected = project.selected()
    assert {"tests/test_dyn.py::test_first", "tests/test_dyn.py::test_second"} <= selected
    assert "tests/test_dyn.py::test_plain" not in selected
