"""AST blocks and checksums, invalidators and argument splitting, in-process."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

from hotlap.impact.blocks import MODULE, SYNTAX_ERROR, analyse_source
from hotlap.impact.fingerprint import changed, collection_options, split_args
from hotlap.impact.store import open_store

SOURCE = textwrap.dedent(
    """
    import functools

    LIMIT = 3

    @functools.lru_cache
    def cached(x, y=2):
        return x * y

    class Box:
        size: int = 3

        def area(self):
            return self.size ** 2

        def scale(self, k):
            f = lambda v: v * k
            return f(self.size)
    """
).encode()


def _info(text: bytes, conftest: bool = False):  # type: ignore[no-untyped-def]
    return analyse_source(text, is_conftest=conftest)


def test_formatting_and_comments_do_not_change_checksums() -> None:
    """Comments, blank lines and spacing leave every checksum as it was."""
    before = _info(SOURCE)
    noisy = SOURCE.replace(b"return x * y", b"return   x*y   # product\n\n")
    after = _info(noisy.replace(b"class Box:", b"# a class\nclass Box:"))
    assert {n: b.checksum for n, b in before.blocks.items()} == {
        n: b.checksum for n, b in after.blocks.items()
    }
    assert before.module == after.module


def test_body_change_changes_only_that_block() -> None:
    """A method body edit changes that method's checksum and not the module-level one."""
    before = _info(SOURCE)
    after = _info(SOURCE.replace(b"self.size ** 2", b"self.size ** 3"))
    diff = {n for n in before.blocks if before.checksum(n) != after.checksum(n)}
    assert diff == {"Box.area"}
    assert before.module == after.module


def test_import_time_code_changes_module_checksum() -> None:
    """Defaults, class attributes and constants are module-level code."""
    base = _info(SOURCE)
    for old, new in (
        (b"y=2", b"y=3"),
        (b"size: int = 3", b"size: int = 4"),
        (b"LIMIT = 3", b"LIMIT = 4"),
    ):
        assert _info(SOURCE.replace(old, new)).module != base.module, old


def test_block_lookup_by_code_first_line() -> None:
    """``co_firstlineno`` of a decorated function is its decorator line; a lambda belongs
    to the method that contains it."""
    info = _info(SOURCE)
    decorator_line = SOURCE.decode().splitlines().index("@functools.lru_cache") + 1
    assert info.block_at(decorator_line) == "cached"
    lambda_line = next(
        i + 1 for i, line in enumerate(SOURCE.decode().splitlines()) if "lambda" in line
    )
    assert info.block_at(lambda_line) == "Box.scale"
    assert info.block_at(2) == MODULE


def test_block_lookup_is_the_innermost_enclosing_block_on_every_line() -> None:
    """The memoized lookup answers what a scan of all blocks answers, for every line of a
    file with nested functions, methods and a redefinition, asked in any order and twice;
    outside every function, the name its statement binds (a lambda in ``KEY = …``)."""
    source = (
        SOURCE
        + textwrap.dedent(
            """
        def outer():
            def inner():
                return 1
            return inner

        def outer():
            return 2
        """
        ).encode()
    )
    info = _info(source)

    def scan(line: int) -> str:
        best = None
        for block in info.blocks.values():
            if block.start == line:
                return block.name
            if block.start <= line <= block.end and (best is None or block.start >= best.start):
                best = block
        if best is not None:
            return best.name
        bound = [name for start, end, name in info.ns["ranges"] if start <= line <= end]
        return bound[0] if bound else MODULE

    lines = list(range(0, source.count(b"\n") + 3))
    for line in [*reversed(lines), *lines]:
        assert info.block_at(line) == scan(line), line
    assert {info.block_at(line) for line in lines} >= {"outer", "outer.inner", "outer#2"}
    assert "=Box.size" in {info.block_at(line) for line in lines}


def test_hook_bodies_are_module_level() -> None:
    """A ``pytest_*`` hook body (run at collection) counts as module-level code, in a
    conftest and in a test module alike; an ordinary function body does not."""
    src = b"def pytest_generate_tests(metafunc):\n    pass\n\ndef helper():\n    pass\n"
    hook_edit = src.replace(b"pass", b"return None", 1)
    helper_edit = src.replace(b"    pass\n", b"    return 1\n").replace(b"return 1", b"pass", 1)
    assert _info(src, conftest=True).module != _info(hook_edit, conftest=True).module
    assert _info(src).module != _info(hook_edit).module
    assert _info(src).module == _info(helper_edit).module


def test_syntax_error_changes_everything() -> None:
    """A file that does not parse reports every block as changed."""
    info = _info(b"def broken(:\n")
    assert info.error and info.checksum("anything") == SYNTAX_ERROR


def test_split_args_and_collection_options(tmp_path: Path) -> None:
    """Test paths are told from option values; runtime options do not count."""
    (tmp_path / "tests").mkdir()
    args = ["-x", "-k", "tests", "tests", "-n", "2", "-m", "slow", "-q", "tests::t"]
    _options, paths = split_args(args, tmp_path)
    assert paths == ["tests", "tests::t"]
    assert collection_options(args, tmp_path) == ["-k", "tests", "-m", "slow"]


def test_changed_names_the_invalidator() -> None:
    """The first differing fingerprint entry is reported in words."""
    old = {"python": "3.11", "config:pyproject.toml": "a", "options": "[]"}
    assert changed(old, dict(old)) is None
    assert changed(None, old) == "no impact data recorded yet"
    assert changed(old, {**old, "python": "3.12"}) == "the Python version changed"
    new = {**old, "config:pyproject.toml": "b"}
    assert changed(old, new) == "pytest configuration changed (pyproject.toml)"


def test_store_moves_a_corrupt_file_aside(tmp_path: Path) -> None:
    """A file that is not SQLite is moved aside with a warning and a fresh store works."""
    (tmp_path / ".hotlap").mkdir()
    (tmp_path / ".hotlap" / "impact.sqlite3").write_bytes(b"garbage" * 1000)
    store = open_store(tmp_path)
    try:
        assert store.warnings and "moved it to" in store.warnings[0]
        assert store.tests() == {}
    finally:
        store.close()
    assert list((tmp_path / ".hotlap").glob("impact.sqlite3.bad-*"))


def test_store_schema_version_mismatch_rebuilds(tmp_path: Path) -> None:
    """A database of another schema version is set aside, not misread."""
    (tmp_path / ".hotlap").mkdir()
    conn = sqlite3.connect(tmp_path / ".hotlap" / "impact.sqlite3")
    conn.execute("CREATE TABLE tests (x)")
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    store = open_store(tmp_path)
    try:
        assert "schema version 99" in store.warnings[0]
    finally:
        store.close()


def test_store_prunes_dead_groups_once_they_outnumber_the_tests(tmp_path: Path) -> None:
    """Groups no test refers to stay while they are few (finding them reads every row) and
    go, with their items, once the groups outnumber twice the tests, or when forced; groups
    in use are never dropped."""
    from hotlap.impact.store import TestRow

    store = open_store(tmp_path)
    try:
        store.begin()
        item = store.item_id("a.py", "f", "c1")
        live = store.group_id({item})
        store.put_test(TestRow("a.py::t", "a.py", "passed", False, [live]))
        dead = [store.group_id({store.item_id("a.py", f"g{i}", "c")}) for i in range(60)]
        store.prune()
        assert set(store.groups()) == {live, *dead}  # 61 groups <= 2 * 1 + 64: kept
        more = [store.group_id({store.item_id("b.py", f"h{i}", "c")}) for i in range(10)]
        store.prune()  # 71 groups > 66: pruned
        assert set(store.groups()) == {live}
        assert set(store.items()) == {item}
        extra = store.group_id({store.item_id("c.py", "k", "c")})
        store.prune(force=True)
        store.commit()
        assert set(store.groups()) == {live} and extra not in store.groups() and more
    finally:
        store.close()


def test_an_edit_inside_a_function_is_analysed_like_the_whole_file() -> None:
    """analyse_edit (only the edited function parsed again) gives what a full analysis
    gives, for edits that add, remove and change lines inside a body, and declines edits
    that reach a signature or module-level code."""
    from hotlap.impact.blocks import analyse_edit

    old = _info(SOURCE)
    edits = [
        (b"return x * y", b"return x * y + 1"),
        (b"return self.size ** 2", b"n = 2\n        return self.size ** n"),
        (b"        f = lambda v: v * k\n", b""),
    ]
    for before, after in edits:
        content = SOURCE.replace(before, after)
        fast, full = analyse_edit(old, content), _info(content)
        assert fast is not None, before
        assert (fast.sha, fast.module, fast.whole, fast.ns) == (
            full.sha, full.module, full.whole, full.ns
        )  # fmt: skip
        assert fast.blocks == full.blocks
    for before, after in [(b"y=2", b"y=3"), (b"LIMIT = 3", b"LIMIT = 4")]:
        assert analyse_edit(old, SOURCE.replace(before, after)) is None


def test_names_effects_and_bindings_of_a_module() -> None:
    """Top-level names, class-body names and the effect kinds a module's statements fall
    under (registration call, sys.path, __all__, star import, __getattr__, patching), and
    mutations of a module's own objects counted as their bindings."""
    source = textwrap.dedent(
        """
        import sys
        from pkg import helper
        from pkg.base import *

        REGISTRY = []
        REGISTRY.append(1)
        __all__ = ["REGISTRY"]
        sys.path.insert(0, "x")
        helper.patched = 1
        print("hello")

        def __getattr__(name):
            raise AttributeError(name)

        class Plain:
            level = 1

        if __name__ == "__main__":
            print("main")
        """
    ).encode()
    ns = _info(source).ns
    assert {"sys", "helper", "REGISTRY", "Plain", "Plain.level"} <= set(ns["names"])
    assert set(ns["effects"]) == {
        "call at import (registration, setup)",
        "sys.path change",
        "__all__",
        "star import",
        "module __getattr__/__dir__",
        "attribute or item assignment (patching)",
    }
    mutated = textwrap.dedent(source.decode()).replace("REGISTRY.append(1)", "REGISTRY.append(2)")
    assert _info(mutated.encode()).ns["names"]["REGISTRY"] != ns["names"]["REGISTRY"]
    assert _info(mutated.encode()).ns["effects"] == ns["effects"]


IMPORTS_EVERYWHERE = textwrap.dedent(
    """
    import a
    from . import b
    from ..c import d as e, f

    if a:
        import g
    else:
        from h import i
    try:
        import j
    except ImportError:
        import k
    else:
        import l
    finally:
        from m import n
    for x in a:
        import o
    else:
        import p
    while a:
        import q
    with a:
        import r
    match a:
        case 1:
            import s
        case _:
            from t import *

    class C:
        import u

        def method(self):
            import v

            def inner():
                from w.x import y

    async def coro():
        async with a:
            import z
        async for _ in a:
            import aa
    """
)


def test_imports_from_statements_alone_are_the_imports_of_the_whole_walk() -> None:
    """Imports are found in every place a statement can be (branches, handlers, match cases,
    class and function bodies, nested ones) and in ast.walk's order, without walking the
    expressions; with ``import_module`` or ``__import__`` in the text, the expressions are
    walked and those calls found."""
    import ast

    from hotlap.impact.blocks import _imports

    tree = ast.parse(IMPORTS_EVERYWHERE)
    found = _imports(tree, IMPORTS_EVERYWHERE)
    assert found == _imports(tree)  # no text: the whole walk
    names = {name for name, _level in found}
    # "" and "b": ``from . import b``; "c", "c.d", "c.f": ``from ..c import d as e, f``
    expected = [
        "a",
        "b",
        "c",
        "c.d",
        "c.f",
        "g",
        "h",
        "h.i",
        "j",
        "k",
        "l",
        "m",
        "m.n",
        "o",
        "p",
        "q",
        "r",
        "s",
        "t",
        "u",
        "v",
        "w.x",
        "w.x.y",
        "z",
        "aa",
    ]
    assert names == {"", *expected}
    dynamic = IMPORTS_EVERYWHERE + "\nimportlib.import_module('dyn')\n"
    tree = ast.parse(dynamic)
    assert ("dyn", 0) in _imports(tree, dynamic)
