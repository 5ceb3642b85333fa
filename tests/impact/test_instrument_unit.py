"""Entry markers (the 3.10/3.11 collector): what they record, and that code keeps its meaning."""

from __future__ import annotations

import ast
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import CodeType, ModuleType

import pytest

from hotlap.impact import instrument as ins

SOURCE = '''
"""Module doc."""
from __future__ import annotations

import functools


def deco(f):
    @functools.wraps(f)
    def wrapper(*a):
        return f(*a)

    return wrapper


@deco
def add(a: int, b: int) -> int:
    """Adds."""
    return a + b


key = lambda x: -x  # noqa: E731


class K:
    def m(self):
        return sorted([1, 2], key=key)

    async def co(self):
        return 5


def gen():
    yield 1
    yield 2


def unused():
    return 0
'''


@pytest.fixture(autouse=True)
def published() -> Iterator[None]:
    """The markers' lists in builtins, as while hotlap records."""
    ins.publish()
    yield
    ins.publish(False)


def first_lines(code: CodeType) -> dict[str, int]:
    """co_firstlineno of every function code object in ``code``, by name."""
    found: dict[str, int] = {}
    for const in code.co_consts:
        if isinstance(const, CodeType):
            found[const.co_name] = const.co_firstlineno
            found.update(first_lines(const))
    return found


def load(source: str, filename: str) -> tuple[ModuleType, CodeType]:
    """Instrument, compile, relocate and run ``source`` as a module."""
    tree = ast.parse(textwrap.dedent(source), filename=filename)
    ins.instrument(tree)
    code = ins.relocate(compile(tree, filename, "exec", dont_inherit=True))
    module = ModuleType("mod")
    exec(code, module.__dict__)
    return module, code


def ran(call: object) -> set[tuple[str, int, bool]]:
    """What the markers saw while ``call()`` ran."""
    ins.harvest(None)
    call()  # type: ignore[operator]
    seen: set[tuple[str, int, bool]] = set()
    ins.harvest(seen)
    return seen


def test_markers_name_each_function_by_its_code_objects_first_line() -> None:
    """A decorated function is keyed by its first decorator's line (what co_firstlineno
    says, and what the block table uses); only what ran is seen."""
    module, _code = load(SOURCE, "/p/mod.py")
    plain = first_lines(compile(textwrap.dedent(SOURCE), "/p/mod.py", "exec"))
    seen = ran(lambda: module.add(1, 2))
    assert seen == {("/p/mod.py", plain["add"], False), ("/p/mod.py", plain["wrapper"], False)}
    # A lambda has no marker of its own: it is part of the code it is written in.
    seen = ran(lambda: module.K().m())
    assert seen == {("/p/mod.py", plain["m"], False)}
    assert ran(lambda: None) == set()
    assert ("/p/mod.py", plain["unused"], False) not in ran(lambda: list(module.gen()))


def test_instrumented_code_means_what_it_meant() -> None:
    """Docstrings, __future__ imports, wraps, lambdas, generators and coroutines behave as
    without markers; line numbers in tracebacks are unchanged."""
    module, code = load(SOURCE, "/p/mod.py")
    assert module.__doc__ == "Module doc."
    assert module.add.__doc__ == "Adds."
    assert module.add.__annotations__ == {"a": "int", "b": "int", "return": "int"}
    assert module.add(2, 3) == 5
    assert module.key(3) == -3
    assert list(module.gen()) == [1, 2]
    coro = module.K().co()
    with pytest.raises(StopIteration) as stop:
        coro.send(None)
    assert stop.value.value == 5
    assert ins.is_instrumented(code)
    plain = compile(textwrap.dedent(SOURCE), "/p/mod.py", "exec")
    assert not ins.is_instrumented(plain)
    boom = "def f():\n    x = 1\n    raise ValueError(x)\n"
    mod2, _ = load(boom, "/p/boom.py")
    with pytest.raises(ValueError) as info:
        mod2.f()
    assert info.traceback[-1].lineno + 1 == 3


def test_marked_functions_survive_pickling_by_value() -> None:
    """A function rebuilt with other globals and builtins that lack hotlap's names (as
    cloudpickle does in another process) runs as if it had no markers: functions and
    lambdas alike."""
    import builtins
    import types

    module, _code = load(SOURCE, "/p/mod.py")
    plain = {k: v for k, v in vars(builtins).items() if not k.startswith("__hotlap")}
    lam = types.FunctionType(module.key.__code__, {"__builtins__": plain})
    bare = {"__builtins__": plain, "key": lam}  # nothing of hotlap's
    clone = types.FunctionType(module.K.m.__code__, bare)
    assert clone(None) == [2, 1]
    assert ins.relocate(module.K.m.__code__) is module.K.m.__code__


def test_each_load_gets_its_own_entries() -> None:
    """The compiled form is cacheable: relocating it twice gives two sets of entries."""
    tree = ast.parse("def f():\n    return 1\n")
    ins.instrument(tree)
    code = compile(tree, "/p/twice.py", "exec")
    first, second = ins.relocate(code), ins.relocate(code)
    g1: dict[str, object] = {}
    g2: dict[str, object] = {}
    exec(first, g1)
    exec(second, g2)
    ins.harvest(None)
    g2["f"]()  # type: ignore[operator]
    seen: set[tuple[str, int, bool]] = set()
    ins.harvest(seen)
    assert seen == {("/p/twice.py", 1, False)}
    assert (
        ins.relocate(compile("x = 1", "/p/x.py", "exec")).co_consts
        == compile("x = 1", "/p/x.py", "exec").co_consts
    )


def test_module_cache_is_keyed_by_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Instrumenter.load`` writes hotlap's own cache file (never Python's), reuses it while
    the source is unchanged and recompiles when it changes, even at the same size."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    src = tmp_path / "m.py"
    src.write_text("def f():\n    return 1\n")
    owner = ins.Instrumenter(str(tmp_path))
    assert owner.wants(str(src))
    owner.load(str(src))
    caches = sorted(p.name for p in (tmp_path / "__pycache__").iterdir())
    assert caches == [f"m.{sys.implementation.cache_tag}-hotlap-{ins.FORMAT}.pyc"]
    cache = tmp_path / "__pycache__" / caches[0]
    stamp = cache.stat().st_mtime_ns
    owner.load(str(src))
    assert cache.stat().st_mtime_ns == stamp
    src.write_text("def f():\n    return 2\n")
    code = owner.load(str(src))
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["f"]() == 2  # type: ignore[operator]


def test_wants_only_the_projects_own_source(tmp_path: Path) -> None:
    """Installed packages, hotlap itself and non-Python files are never instrumented."""
    owner = ins.Instrumenter(str(tmp_path))
    assert owner.wants(str(tmp_path / "pkg" / "a.py"))
    assert not owner.wants(str(tmp_path / ".venv/lib/python3.11/site-packages/x/a.py"))
    assert not owner.wants(str(tmp_path / "data.txt"))
    assert not owner.wants("/elsewhere/a.py")
    assert not ins.Instrumenter("/").wants(ins.__file__)


def test_instrumented_code_compiles_without_warnings() -> None:
    """The markers must not make Python warn about the user's module (a tuple constant read
    with a str index did: "SyntaxWarning: tuple indices must be integers")."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(SOURCE, "/p/warn.py")


def test_a_function_is_seen_in_every_context_it_runs_in() -> None:
    """A marker notes its function once per context however often it runs, and again in the
    next context; a harvest touches only what ran (the dirty list), and a project's integer
    that looks like a marker index outside a marked function is left alone."""
    lookalike = ins.PLACEHOLDER + 1
    source = f"number = {lookalike}\n\ndef f():\n    return 1\n\ndef g():\n    return f() + f()\n"
    source += "".join(f"\ndef unused_{i}():\n    return {i}\n" for i in range(200))
    module, _code = load(source, "/p/ctx.py")
    assert module.number == lookalike
    f_key, g_key = ("/p/ctx.py", 3, False), ("/p/ctx.py", 6, False)
    assert ran(lambda: [module.g() for _ in range(50)]) == {f_key, g_key}
    assert ins.DIRTY == []
    module.f()
    assert len(ins.DIRTY) == 1
    assert ran(module.f) == {f_key}
    assert ran(lambda: None) == set()


NESTED = """
import contextlib

def top():
    def inner():
        async def deeper():
            pass

class K:
    def method(self):
        pass

    class Inner:
        async def am(self):
            pass

if True:
    def in_if():
        pass
else:
    def in_else():
        pass

for _ in ():
    def in_for():
        pass
else:
    def in_for_else():
        pass

while False:
    def in_while():
        pass

try:
    def in_try():
        pass
except Exception:
    def in_except():
        pass
else:
    def in_try_else():
        pass
finally:
    def in_finally():
        pass

with contextlib.nullcontext():
    def in_with():
        pass

match 1:
    case 1:
        def in_case():
            pass

async def outer():
    async with contextlib.nullcontext():
        def in_async_with():
            pass
    async for _ in ():
        def in_async_for():
            pass

key = lambda x: x  # a lambda is no def
"""


def test_function_defs_finds_what_a_full_walk_finds() -> None:
    """The statement-only walk finds every ``def`` a walk of the whole tree finds, in
    every kind of block (and so every function gets its marker)."""
    tree = ast.parse(NESTED)
    walked = {
        n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    found = {n.name for n in ins._function_defs(tree)}
    assert found == walked
    assert len(walked) == 19
