"""Code under test never notices impact recording: the same outcomes, code objects, lines,
frames, warnings and coverage as under plain pytest (real pytest subprocesses, ``-n 2``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from impact_helpers import Project, clean_env

CORE = '''
import functools
import warnings


def add(a, b):
    return a + b


def square(x):
    """Squares."""
    return x * x


key = lambda x: -x  # noqa: E731


def warn_caller():
    warnings.warn("careful", UserWarning, stacklevel=2)


def boom():
    x = 1
    raise ValueError(x)


def gen():
    yield 1
    yield 2


class Shape:
    def area(self):
        return 4


@functools.lru_cache(maxsize=None)
def cached(n):
    return n * 2


def branchy(n):
    if n > 0:
        return "pos"
    return "neg"
'''

TESTS = '''
import gc
import inspect
import marshal
import subprocess
import sys
import traceback
import types
import warnings
import weakref
from pathlib import Path

import pytest

from pkg import core

FUNCS = [core.add, core.square, core.key, core.boom, core.gen, core.warn_caller,
         core.Shape.area, core.cached.__wrapped__, core.branchy]


def _line(text):
    lines = Path(core.__file__).read_text().splitlines()
    return lines.index(text) + 1


def test_code_objects_hash_weakref_and_key_caches():
    cache = weakref.WeakKeyDictionary()
    for f in FUNCS:
        code = f.__code__
        assert hash(code) == hash(code)
        assert weakref.ref(code)() is code
        cache[code] = f.__name__
        assert {code: 1}[code] == 1
    assert len(cache) == len(FUNCS)


def test_code_objects_marshal_round_trip():
    for f in FUNCS:
        assert marshal.loads(marshal.dumps(f.__code__)) == f.__code__


def test_a_function_rebuilt_in_another_process_runs():
    """As cloudpickle ships a function by value: its code, fresh globals, another Python."""
    for name, arg, expected in (("square", 7, "49"), ("key", 3, "-3"), ("add", 2, None)):
        code = getattr(core, name).__code__
        script = (
            "import marshal, sys, types\\n"
            "co = marshal.loads(sys.stdin.buffer.read())\\n"
            "f = types.FunctionType(co, {'__builtins__': __builtins__})\\n"
            f"print(f({arg}) if co.co_argcount == 1 else f({arg}, {arg}))\\n"
        )
        out = subprocess.run([sys.executable, "-c", script], input=marshal.dumps(code),
                             capture_output=True, check=True)
        assert out.stdout.decode().strip() == (expected or "4"), out.stderr


def test_lines_source_and_tracebacks():
    assert core.square.__code__.co_firstlineno == _line("def square(x):")
    assert inspect.getsource(core.square).startswith("def square(x):\\n")
    assert inspect.getsourcelines(core.Shape.area)[1] == _line("    def area(self):")
    with pytest.raises(ValueError) as info:
        core.boom()
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].lineno == _line("    raise ValueError(x)")
    assert frames[-1].line == "raise ValueError(x)"
    assert not any("hotlap" in f.filename for f in frames)


def test_warnings_stacklevel_points_at_the_caller():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        core.warn_caller(); here = inspect.currentframe().f_lineno
    assert seen[0].filename == __file__ and seen[0].lineno == here


def test_no_hotlap_frame_on_the_stack():
    stack = [f.filename for f in inspect.stack()]
    assert not any("/hotlap/" in name for name in stack), stack


def test_behaviour_unchanged():
    assert core.add(2, 3) == 5 and core.key(3) == -3 and list(core.gen()) == [1, 2]
    assert core.cached(4) == 8 and core.Shape().area() == 4
    assert core.branchy(1) == "pos" and core.branchy(-1) == "neg"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.10/3.11 compile markers in")
def test_bytecode_is_what_the_source_compiles_to():
    module = compile(Path(core.__file__).read_text(), core.__file__, "exec")
    compiled = {}
    stack = [module]
    while stack:
        co = stack.pop()
        compiled[(co.co_name, co.co_firstlineno)] = co
        stack.extend(c for c in co.co_consts if isinstance(c, types.CodeType))
    for f in FUNCS:
        code = f.__code__
        twin = compiled[(code.co_name, code.co_firstlineno)]
        assert code.co_code == twin.co_code and code.co_consts == twin.co_consts
        assert code.co_names == twin.co_names
'''


#: What the suite's summary says: the bytecode check runs on 3.12+ only.
EXPECTED = "8 passed" if sys.version_info >= (3, 12) else "7 passed, 1 skipped"


@pytest.fixture
def suite(tmp_path: Path) -> Project:
    proj = Project(tmp_path / "proj")
    proj.write(
        "pyproject.toml",
        """
        [tool.pytest.ini_options]
        pythonpath = ["src"]
        testpaths = ["tests"]
        """,
    )
    proj.write("src/pkg/__init__.py", "")
    proj.write("src/pkg/core.py", CORE)
    proj.write("tests/test_transparent.py", TESTS)
    return proj


def _counts(stdout: str) -> str:
    """The counts of pytest's summary line."""
    return stdout.strip().splitlines()[-1].split(" in ")[0].strip("= ")


def _plain(proj: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=proj.root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_instrumented_code_is_indistinguishable(suite: Project) -> None:
    """With impact recording on (hotlap's default), code objects stay hashable, weakly
    referenceable and marshal-safe, run in another process, keep their lines, source,
    tracebacks and warnings' stacklevel, and no hotlap frame is on a test's stack: every
    check passes as under plain pytest, twice (the second run loads hotlap's cache)."""
    plain = _plain(suite, "-n", "2", "-p", "no:cacheprovider")
    assert plain.returncode == 0, plain.stdout
    for _ in range(2):
        proc = suite.run("--", "-n", "2")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "impact: recorded dependencies of" in proc.stderr
        assert _counts(proc.stdout) == _counts(plain.stdout) == EXPECTED
    if sys.version_info < (3, 12):
        assert list((suite.root / ".hotlap" / "pycache").glob("core.*.pyc"))


def test_coverage_reports_the_same_lines_and_branches(suite: Project) -> None:
    """pytest-cov under hotlap (impact recording on) reports exactly the lines and
    branches plain pytest-cov does."""
    reports = {}
    for name in ("plain", "hotlap"):
        out = suite.root / f"cov-{name}.json"
        cov = ["--cov=pkg", "--cov-branch", f"--cov-report=json:{out}", "-n", "2"]
        proc = _plain(suite, *cov) if name == "plain" else suite.run("--", *cov)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        data = json.loads(out.read_text())
        reports[name] = {
            path.rsplit("/", 1)[-1]: (
                f["executed_lines"],
                f["missing_lines"],
                sorted(map(tuple, f.get("executed_branches", []))),
                sorted(map(tuple, f.get("missing_branches", []))),
            )
            for path, f in data["files"].items()
        }
    assert reports["hotlap"] == reports["plain"]
    assert reports["plain"]["core.py"][0]  # something was measured


def test_import_errors_show_no_hotlap_frame(suite: Project) -> None:
    """A project module that fails to import (a syntax error, an exception at import) and a
    test module that does not compile: the collection errors say what plain pytest says,
    with no hotlap frame in them."""
    suite.write("src/pkg/broken.py", "def f(:\n    pass\n")
    suite.write("src/pkg/raising.py", "X = 1\nraise RuntimeError('at import')\n")
    suite.write("tests/test_broken.py", "from pkg import broken\n\ndef test_b():\n    pass\n")
    suite.write("tests/test_raising.py", "from pkg import raising\n\ndef test_r():\n    pass\n")
    suite.write("tests/test_syntax.py", "def test_s(:\n    pass\n")
    files = ["tests/test_broken.py", "tests/test_raising.py", "tests/test_syntax.py"]
    plain = _plain(suite, "-p", "no:cacheprovider", *files)
    proc = suite.run("--", "-n", "0", *files)
    assert proc.returncode == plain.returncode == 2

    def errors(text: str) -> list[str]:
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if "ERRORS" in line)
        end = next(i for i, line in enumerate(lines) if "short test summary" in line)
        return lines[start:end]

    assert errors(proc.stdout) == errors(plain.stdout)
    assert "hotlap" not in "\n".join(errors(proc.stdout))


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="markers are compiled on 3.10/3.11")
def test_rewritten_test_modules_are_cached_by_hotlap_under_dont_write_bytecode(
    tmp_path: Path,
) -> None:
    """With ``PYTHONDONTWRITEBYTECODE=1`` pytest rewrites each test module in every run;
    hotlap keeps the rewritten, marked code in ``.hotlap/pycache`` (never a ``__pycache__``
    in the project). A later run that loads it still knows the module is marked (an edit of
    one test selects that test, not its whole file), and an edited module is rewritten."""
    from impact_helpers import BASE

    proj = Project(tmp_path / "proj")
    for rel, text in BASE.items():
        proj.write(rel, text)
    proj.write(
        "tests/test_two.py",
        """
        from pkg.mathx import add

        def test_one():
            assert add(1, 1) == 2

        def test_two():
            assert add(2, 2) == 4
        """,
    )
    proj.env = {"PYTHONDONTWRITEBYTECODE": "1"}
    assert proj.run("--", "-n", "2").returncode == 0
    cached = list((proj.root / ".hotlap" / "pycache").glob("test_two.*.rw.pyc"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = proj.run("--", "-n", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert cached[0].stat().st_mtime_ns == stamp  # loaded, not written again
    assert not list(proj.root.rglob("__pycache__"))
    proj.edit("tests/test_two.py", "assert add(2, 2) == 4", "assert add(2, 2) == 5")
    assert proj.selected() == {"tests/test_two.py::test_two"}
    edited = proj.run("--", "-n", "2")
    assert edited.returncode == 1 and "1 failed" in edited.stdout, edited.stdout


SET_ORDER = "S = {" + ", ".join(repr(f"v{i}.{j}") for i in range(30) for j in range(3)) + "}\n"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="markers are compiled on 3.10/3.11")
def test_a_module_runs_the_same_code_whether_compiled_or_loaded_from_the_cache(
    tmp_path: Path,
) -> None:
    """A marshal round trip reorders a set literal's iteration: the run that compiles a
    module (and fills hotlap's cache) must see the order the next runs load, in a test
    module and in a project module, or xdist workers collect parametrized tests in
    different orders. Each run writes the orders its test saw."""
    proj = Project(tmp_path / "proj")
    proj.write("pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    proj.write("src/pkg/__init__.py", "")
    proj.write("src/pkg/sets.py", SET_ORDER + "def order():\n    return list(S)\n")
    proj.write(
        "tests/test_sets.py",
        SET_ORDER
        + "import os\nfrom pkg.sets import order\n\n"
        + "def test_order():\n"
        + "    with open(os.environ['ORDER_OUT'], 'w') as f:\n"
        + "        f.write(repr((list(S), order())))\n",
    )
    seen = []
    for n in range(2):
        out = tmp_path / f"order{n}.txt"
        proj.env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "ORDER_OUT": str(out)}
        proc = proj.run("--", "-n", "0")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        seen.append(out.read_text())
    assert list((proj.root / ".hotlap" / "pycache").glob("test_sets.*.rw.pyc"))
    assert list((proj.root / ".hotlap" / "pycache").glob("sets.*.pyc"))
    assert seen[0] == seen[1]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="markers are compiled on 3.10/3.11")
def test_a_compiles_warnings_are_shown_in_every_run_as_without_hotlap(tmp_path: Path) -> None:
    """Under ``PYTHONDONTWRITEBYTECODE=1`` plain pytest compiles each module in every run,
    and every run shows what the compile warns: an invalid escape sequence in a project
    module, pytest's rewriter on an assert of a tuple. hotlap's cache must not hide them in
    a warm run: a module whose compile warns is compiled again each run, not cached."""
    proj = Project(tmp_path / "proj")
    proj.write("pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    proj.write("src/pkg/__init__.py", "")
    proj.write("src/pkg/esc.py", 'def pattern():\n    return "\\d+"\n')
    proj.write("src/pkg/quiet.py", "def one():\n    return 1\n")
    proj.write(
        "tests/test_esc.py",
        "from pkg.esc import pattern\nfrom pkg.quiet import one\n\n"
        "def test_tuple():\n    assert (pattern(), 'always true')\n\n"
        "def test_one():\n    assert one() == 1\n",
    )
    proj.env = {"PYTHONDONTWRITEBYTECODE": "1"}
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider"],
        cwd=proj.root, env={**clean_env(), **proj.env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stdout
    assert "warning" in _counts(plain.stdout)
    for _ in range(2):
        proc = proj.run("--", "-n", "2", "-p", "no:cacheprovider")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert _counts(proc.stdout) == _counts(plain.stdout)
        assert "invalid escape sequence" in proc.stdout
        assert "assertion is always true" in proc.stdout
    cached = {p.name.split(".")[0] for p in (proj.root / ".hotlap" / "pycache").glob("*.pyc")}
    assert "quiet" in cached
    assert not {"esc", "test_esc"} & cached
