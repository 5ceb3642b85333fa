"""Entry markers compiled into the project's own code (the 3.10/3.11 collector).

Before ``sys.monitoring`` (3.12), every way Python offers to see function entries costs a
callback or a C profiler hook on *every* call, which doubles the time of call-heavy code. The
project's own functions are what impact selection needs, and hotlap sees their source before
Python compiles it; so each project function (and lambda) gets one statement at entry::

    if not HITS[K]:
        HITS[K] = 1
        DIRTY.append(K)

where ``HITS`` and ``DIRTY`` are not names but *constants* of the code object (put there when
the module is loaded): no name lookup, a specialised list read (~10 ns) once the function ran
in the current context, and nothing that can fail if the function is pickled by value into
another process. ``K`` indexes ``KEYS``, the code location ``(file, first line, False)`` of
that function. Switching context takes the keys listed in ``DIRTY`` and clears their entries,
so what ran is attributed to the test or fixture that was current, exactly like the profiler
did, at a cost that follows what ran, not how many functions the project has.

Modules are compiled through a meta path finder (the project's plain modules) and through
pytest's assertion rewriter (test modules and conftests). The compiled form holds
placeholders, so it is cached (apart from Python's and pytest's own caches, which are never
given instrumented code); :func:`relocate` gives each loaded copy its entries. Project code
that was compiled without markers (imported before recording started, or loaded by path with
``spec_from_file_location``) is reported by the collector as *unseen*: every test then
depends on that whole file.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import threading
from collections.abc import Callable, Sequence
from types import CodeType, ModuleType
from typing import Any

#: Code location: (absolute filename, first line, is module-level code).
CodeKey = tuple[str, int, bool]

HITS: list[int] = []
KEYS: list[CodeKey] = []
#: Indexes set in ``HITS`` since the last harvest (a marker appends its own, once).
DIRTY: list[int] = []
_register_lock = threading.Lock()

#: Compiled form: the module's table ``(LINES, first line of K=0, K=1, …)`` stands where
#: ``HITS`` will be, and ``PLACEHOLDER + K`` (K local to the module) where its index will be;
#: :func:`relocate` swaps them in when the module is loaded. The index is an int: the
#: compiler warns about a tuple constant read with a str (SyntaxWarning, shown to the user).
#: Only code objects that hold the table (marked functions) have their ints relocated, so an
#: int of the project's own could only clash inside a marked function, and only at this
#: value (about 6.8e18).
PLACEHOLDER = 0x5EED_1E57 << 32
LINES = "\0hotlap-lines"
#: Compiled form: the one-element tuple ``(DIRTY_MARK,)`` stands where ``DIRTY`` will be.
DIRTY_MARK = "\0hotlap-dirty"


def _format() -> str:
    """Names the bytecode caches: a digest of this module's source, so any change to how
    code is instrumented leaves the old caches unread (a stale cache once referenced a name
    that no longer existed: every test module failed to import)."""
    import hashlib

    try:
        with open(__file__, "rb") as f:
            return hashlib.blake2b(f.read(), digest_size=4).hexdigest()
    except OSError:
        return "0"


FORMAT = _format()
#: Ends the name of every cache file of instrumented code (hotlap's own and pytest's).
_CACHE_SUFFIX = f"-hotlap-{FORMAT}.pyc"

#: In an installed package (not the project's code).
SITE_PACKAGES = os.sep + "site-packages" + os.sep
_HOTLAP_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def harvest(into: set[CodeKey] | None) -> None:
    """Move what ran since the last call into ``into`` (``None``: drop it)."""
    dirty = DIRTY
    if not dirty:
        return
    # Another thread may append while this runs: take (and remove) only what is there now.
    n = len(dirty)
    ran = dirty[:n]
    del dirty[:n]
    hits = HITS
    for i in ran:
        hits[i] = 0
    if into is not None:
        into.update(map(KEYS.__getitem__, ran))


def _place(node: ast.AST, line: int, col: int = 0) -> None:
    """Give new nodes a definite one-line location (``copy_location`` would copy a missing
    end position, which ``fix_missing_locations`` then fills with the parent's, before the
    start: "line range is not valid")."""
    for sub in ast.walk(node):
        if "lineno" in sub._attributes:
            sub.lineno = sub.end_lineno = line  # type: ignore[attr-defined]
            sub.col_offset = sub.end_col_offset = col  # type: ignore[attr-defined]


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def instrument(tree: ast.Module) -> None:
    """Add entry markers to every function and lambda of ``tree`` (in place), and the
    statement ``TABLE.__class__`` to its module-level code: it keeps the table of marker
    lines in the module's constants, which also tells the collector the module was
    instrumented (after :func:`relocate` it reads ``HITS.__class__``: harmless)."""
    lines: list[int] = []
    marked: list[tuple[ast.AST, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            marked.append((node, len(lines)))
            lines.append(min([node.lineno, *(d.lineno for d in node.decorator_list)]))
        elif isinstance(node, ast.Lambda):
            marked.append((node, len(lines)))
            lines.append(node.lineno)
    table: Any = (LINES, *lines)  # a tuple constant: typeshed knows only scalars
    dirty: Any = (DIRTY_MARK,)
    for node, k in marked:
        index = ast.Constant(PLACEHOLDER + k)
        hit = ast.Subscript(value=ast.Constant(table), slice=index, ctx=ast.Load())
        set_hit = ast.Call(
            func=ast.Attribute(value=ast.Constant(table), attr="__setitem__", ctx=ast.Load()),
            args=[index, ast.Constant(1)],
            keywords=[],
        )
        note = ast.Call(
            func=ast.Attribute(value=ast.Constant(dirty), attr="append", ctx=ast.Load()),
            args=[index],
            keywords=[],
        )
        if isinstance(node, ast.Lambda):
            # ``((HITS[K] or HITS.__setitem__(K, 1) or DIRTY.append(K)) and None) or body``:
            # the calls return None, so the marker is always falsy. Set before append: a
            # harvest in between then finds the key on its next pass, never loses it.
            mark = ast.BoolOp(
                op=ast.And(),
                values=[ast.BoolOp(op=ast.Or(), values=[hit, set_hit, note]), ast.Constant(None)],
            )
            expr = node.body
            _place(mark, expr.lineno, expr.col_offset)
            node.body = ast.BoolOp(op=ast.Or(), values=[mark, expr])
            ast.copy_location(node.body, expr)
            continue
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        at = 1 if _is_docstring(node.body[0]) else 0  # the docstring stays first
        anchor = node.body[min(at, len(node.body) - 1)]  # where the line number comes from
        mark_stmt = ast.If(
            test=ast.UnaryOp(op=ast.Not(), operand=hit),
            body=[
                ast.Assign(
                    targets=[
                        ast.Subscript(value=ast.Constant(table), slice=index, ctx=ast.Store())
                    ],
                    value=ast.Constant(1),
                ),
                ast.Expr(note),
            ],
            orelse=[],
        )
        _place(mark_stmt, anchor.lineno, anchor.col_offset)
        node.body.insert(at, mark_stmt)
    body = tree.body
    at = 1 if body and _is_docstring(body[0]) else 0
    while at < len(body):
        stmt = body[at]
        if not (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"):
            break
        at += 1
    keep = ast.Expr(ast.Attribute(value=ast.Constant(table), attr="__class__", ctx=ast.Load()))
    _place(keep, body[min(at, len(body) - 1)].lineno if body else 1)
    body.insert(at, keep)


def _table(code: CodeType) -> tuple[Any, ...] | None:
    for const in code.co_consts:
        if type(const) is tuple and const and const[0] == LINES:
            return const
    return None


def is_instrumented(code: CodeType) -> bool:
    """Whether module-level ``code`` was compiled by :func:`instrument` (relocated or not)."""
    return any(const is HITS for const in code.co_consts) or _table(code) is not None


def relocate(code: CodeType) -> CodeType:
    """Give the markers of a module's compiled code their own ``HITS`` entries (a new copy
    each time a module is loaded); code without markers is returned as it is."""
    table = _table(code)
    if table is None:
        return code
    filename = code.co_filename
    with _register_lock:
        base = len(KEYS)
        KEYS.extend((filename, line, False) for line in table[1:])
        HITS.extend([0] * (len(table) - 1))
    end = PLACEHOLDER + len(table) - 1

    def fix(co: CodeType) -> CodeType:
        consts: list[Any] = []
        changed = False
        # A marked function holds the table; so does the module's own code (for
        # ``is_instrumented``), which has no marker index to relocate.
        marked = co is not code and any(
            type(c) is tuple and c and c[0] == LINES for c in co.co_consts
        )
        for const in co.co_consts:
            kind = type(const)
            if marked and kind is int and PLACEHOLDER <= const < end:
                const = base + (const - PLACEHOLDER)
                changed = True
            elif kind is tuple and const and const[0] == LINES:
                const = HITS
                changed = True
            elif kind is tuple and const == (DIRTY_MARK,):
                const = DIRTY
                changed = True
            elif kind is CodeType:
                new = fix(const)
                changed = changed or new is not const
                const = new
            consts.append(const)
        return co.replace(co_consts=tuple(consts)) if changed else co

    return fix(code)


class Instrumenter:
    """Installs the markers for one project root: a meta path finder and pytest's rewriter."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip(os.sep) + os.sep
        self.finder = _Finder(self)
        self._patched: list[tuple[ModuleType, str, object]] = []
        # Relocated code -> the code to cache (pytest writes what it executes).
        self._unrelocated: dict[int, tuple[CodeType, CodeType]] = {}
        #: Files loaded with markers in this process.
        self.marked: set[str] = set()
        self.installed = False

    def wants(self, filename: str) -> bool:
        """The project's own Python source (not installed packages, not hotlap)."""
        return (
            filename.endswith(".py")
            and filename.startswith(self.root)
            and SITE_PACKAGES not in filename
            and not filename.startswith(_HOTLAP_DIR)
        )

    def load(self, path: str) -> CodeType:
        """One project module's code with markers, from hotlap's own bytecode cache (keyed
        by the source's hash) or compiled now."""
        self.marked.add(path)
        with open(path, "rb") as f:
            source = f.read()
        digest = importlib.util.source_hash(source)
        header = importlib.util.MAGIC_NUMBER + b"\x03\x00\x00\x00" + digest
        cache = _cache_path(path)
        if cache is not None:
            try:
                with open(cache, "rb") as f:
                    data = f.read()
            except OSError:
                pass
            else:
                if data[:16] == header:
                    try:
                        code = marshal.loads(data[16:])
                    except (EOFError, ValueError, TypeError):
                        code = None
                    if isinstance(code, CodeType):
                        return relocate(code)
        tree = ast.parse(source, filename=path)
        try:
            instrument(tree)
            code = compile(tree, path, "exec", dont_inherit=True)
        except SyntaxError:
            raise
        except Exception:  # never break an import: unmarked means "unseen"
            self.marked.discard(path)
            return compile(source, path, "exec", dont_inherit=True)
        if cache is not None and not sys.dont_write_bytecode:
            _write_atomic(cache, header + marshal.dumps(code))
        return relocate(code)

    def install(self) -> None:
        """Start instrumenting modules imported from now on (raises when pytest's rewriter
        is not the one this was written for: the caller then uses the profiler instead)."""
        if self.installed:
            return
        from _pytest.assertion import rewrite

        for name in ("rewrite_asserts", "_read_pyc", "_write_pyc", "_rewrite_test"):
            if not callable(getattr(rewrite, name, None)):
                raise RuntimeError(f"pytest's assertion rewriter has no {name}")
        if not isinstance(getattr(rewrite, "PYC_TAIL", None), str):
            raise RuntimeError("pytest's assertion rewriter has no PYC_TAIL")
        wants = self.wants
        unrelocated = self._unrelocated
        marked = self.marked
        original_rewrite: Callable[..., None] = rewrite.rewrite_asserts
        original_read: Callable[..., Any] = rewrite._read_pyc
        original_write: Callable[..., Any] = rewrite._write_pyc
        original_test: Callable[..., Any] = rewrite._rewrite_test

        def rewrite_asserts(mod: ast.Module, source: bytes, *args: Any, **kwargs: Any) -> None:
            original_rewrite(mod, source, *args, **kwargs)
            path = args[0] if args else kwargs.get("module_path")
            if isinstance(path, str) and wants(path):
                try:
                    instrument(mod)
                except Exception:  # never break an import: unmarked means "unseen"
                    return
                marked.add(path)

        def read_pyc(source: Any, *args: Any, **kwargs: Any) -> Any:
            code = original_read(source, *args, **kwargs)
            if isinstance(code, CodeType):
                if is_instrumented(code):
                    marked.add(code.co_filename)
                elif wants(str(source)):
                    return None  # cached while the file was not the project's: redo
                return relocate(code)
            return code

        def rewrite_test(*args: Any, **kwargs: Any) -> Any:
            stamp, code = original_test(*args, **kwargs)
            moved = relocate(code)
            if moved is not code:
                unrelocated[id(moved)] = (moved, code)
            return stamp, moved

        def write_pyc(state: Any, co: CodeType, *args: Any, **kwargs: Any) -> Any:
            pair = unrelocated.pop(id(co), None)
            if pair is not None and pair[0] is co:
                co = pair[1]
            return original_write(state, co, *args, **kwargs)

        tail = rewrite.PYC_TAIL
        for name, new in (
            ("rewrite_asserts", rewrite_asserts),
            ("_read_pyc", read_pyc),
            ("_write_pyc", write_pyc),
            ("_rewrite_test", rewrite_test),
            # Instrumented test modules are cached apart from pytest's plain ones.
            ("PYC_TAIL", tail[: -len(".pyc")] + _CACHE_SUFFIX),
        ):
            self._patched.append((rewrite, name, getattr(rewrite, name)))
            setattr(rewrite, name, new)
        # After pytest's own import hook (it keeps test modules and conftests), before
        # the path finders and editable-install finders whose specs it adapts.
        at = 0
        for i, finder in enumerate(sys.meta_path):
            if type(finder).__name__ == "AssertionRewritingHook":
                at = i + 1
        sys.meta_path.insert(at, self.finder)
        self.installed = True

    def uninstall(self) -> None:
        """Stop instrumenting new imports (instrumented code keeps working)."""
        if not self.installed:
            return
        for module, name, original in reversed(self._patched):
            setattr(module, name, original)
        self._patched.clear()
        self._unrelocated.clear()
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        self.installed = False


def _cache_path(path: str) -> str | None:
    """``__pycache__/name.cpython-311-hotlap-FORMAT.pyc`` (None: this Python caches
    nothing)."""
    try:
        standard = importlib.util.cache_from_source(path)
    except (NotImplementedError, ValueError):
        return None
    if not standard.endswith(".pyc"):
        return None
    return standard[: -len(".pyc")] + _CACHE_SUFFIX


def _write_atomic(path: str, data: bytes) -> None:
    """Write a cache file whole or not at all (concurrent workers write the same files)."""
    tmp = f"{path}.{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class _Finder:
    """Asks the finders after it for a spec; a project source file gets a marking loader."""

    def __init__(self, owner: Instrumenter) -> None:
        self.owner = owner
        self._local = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if getattr(self._local, "busy", False):
            return None
        meta_path = sys.meta_path
        try:
            after = meta_path[meta_path.index(self) + 1 :]  # type: ignore[arg-type,unused-ignore]
        except ValueError:
            return None
        self._local.busy = True
        try:
            spec = None
            for finder in after:
                find = getattr(finder, "find_spec", None)
                if find is None:
                    return None  # a legacy finder: leave the search to the import system
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._local.busy = False
        if spec is None:
            return None
        origin = spec.origin
        if (
            type(spec.loader) is importlib.machinery.SourceFileLoader
            and isinstance(origin, str)
            and self.owner.wants(origin)
        ):
            spec.loader = _Loader(fullname, origin, self.owner)
        return spec

    def invalidate_caches(self) -> None:
        """Nothing cached here (the finders after this one have their own)."""


class _Loader(importlib.machinery.SourceFileLoader):
    """Loads a project module with markers (hotlap's own bytecode cache, never Python's)."""

    def __init__(self, fullname: str, path: str, owner: Instrumenter) -> None:
        super().__init__(fullname, path)
        self._owner = owner

    def get_code(self, fullname: str) -> CodeType:
        return self._owner.load(self.get_filename(fullname))
