"""Entry markers compiled into the project's own code (the 3.10/3.11 collector).

Before ``sys.monitoring`` (3.12, where :mod:`hotlap.impact.collect` changes no bytecode at
all), every way Python offers to see function entries costs a callback or a C profiler hook
on *every* call, which doubles the time of call-heavy code. The project's own functions are
what impact selection needs, and hotlap sees their source before Python compiles it; so each
project function gets one statement at entry, on the line of its first statement::

    try:
        if not __hotlap_hits__[K]:
            __hotlap_hits__[K] = 1
            __hotlap_dirty__.append(K)
    except (NameError, IndexError):
        pass

A lambda gets none: it counts as part of the function (or module-level code) it is written
in, which is the block a change to it changes. ``__hotlap_hits__`` and ``__hotlap_dirty__``
are lists put in :mod:`builtins` while recording, so the marked code's constants hold only
ints: its code objects stay hashable,
weak-referenceable, marshal- and pickle-safe, and a function pickled by value into a process
without hotlap runs as if unmarked (the names are missing there). A marker costs a
specialised global read and a list read (~10 ns) once its function ran in the current
context. ``K`` indexes :data:`KEYS`, the location ``(file, co_firstlineno, False)`` of the
function. Switching context takes the keys listed in ``__hotlap_dirty__`` and clears their
entries, so what ran is attributed to the test or fixture that was current.

What a bytecode reader sees (numba, ``executing``, tracers): those extra instructions and an
exception-table entry at the top of each function; line numbers, ``co_firstlineno``,
tracebacks, ``inspect.getsource`` and coverage's lines are unchanged. Functions decorated
with a JIT compiler's decorator (``jit``, ``njit``, ``vectorize``, ``compile``, …) are left
unmarked, and ``[tool.hotlap] impact-exclude`` globs leave whole modules unmarked; code
without markers counts as *unseen* (every test depends on its whole file).

Modules are compiled through :class:`importlib.machinery.SourceFileLoader` (every project
module, however it is found or loaded by path) and pytest's assertion rewriter (test modules
and conftests). The compiled form holds placeholders, so it is cached in hotlap's own
directory (``.hotlap/pycache``, kept whatever ``PYTHONDONTWRITEBYTECODE`` says: it is not the
user's tree) and never in Python's or pytest's plain caches; :func:`relocate` gives each
loaded copy its entries.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import fnmatch
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import threading
from collections.abc import Callable, Iterable
from types import CodeType
from typing import Any, TypeVar

from hotlap.impact.pending import alive
from hotlap.real import real

#: Code location: (absolute filename, first line, is module-level code).
CodeKey = tuple[str, int, bool]

#: The names the markers read; they live in :mod:`builtins` while recording.
HITS_NAME = "__hotlap_hits__"
DIRTY_NAME = "__hotlap_dirty__"

HITS: list[int] = []
KEYS: list[CodeKey] = []
#: Indexes set in ``HITS`` since the last harvest (a marker appends its own, once).
DIRTY: list[int] = []
_register_lock = threading.Lock()

#: Compiled form: ``PLACEHOLDER + K`` (K local to the module) where a marker's index will be;
#: :func:`relocate` swaps in the global index when the module is loaded. Only the ints of
#: code objects that read :data:`HITS_NAME` are relocated, so an int of the project's own
#: could only clash inside a marked function, and only at this value (about 6.8e18).
PLACEHOLDER = 0x5EED_1E57 << 32
_SPAN = 1 << 24

#: Decorators of JIT compilers and tracers that read a function's bytecode: such a function
#: keeps its bytecode as written (its file then counts as unseen).
JIT_DECORATORS = frozenset(
    {"jit", "njit", "vectorize", "guvectorize", "cfunc", "stencil", "generated_jit"}
    | {"compile", "script", "trace", "jit_module", "overload", "intrinsic"}
)


def _format() -> str:
    """Names the bytecode caches: a digest of this module's source, so any change to how
    code is instrumented leaves the old caches unread."""
    import hashlib

    try:
        with open(__file__, "rb") as f:
            return hashlib.blake2b(f.read(), digest_size=4).hexdigest()
    except OSError:
        return "0"


FORMAT = _format()
#: Ends the name of every cache file of instrumented code pytest writes (test modules).
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


def publish(on: bool = True) -> None:
    """Put the markers' lists in :mod:`builtins` (``on=False``: take them out)."""
    for name, value in ((HITS_NAME, HITS), (DIRTY_NAME, DIRTY)):
        if on:
            builtins.__dict__[name] = value
        else:
            builtins.__dict__.pop(name, None)


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


def _decorator_name(node: ast.expr) -> str:
    """``numba.njit(cache=True)`` -> ``njit``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


#: Names that are a JIT's only when called (``@overload(np.dot)``, numba): used bare they are
#: typing's (``@overload``, ``@t.overload``), whose stubs never run.
_CALLED_JIT = frozenset({"overload"})


def _reads_bytecode(decorator: ast.expr) -> bool:
    """Whether ``decorator`` is a JIT compiler's or tracer's (:data:`JIT_DECORATORS`)."""
    name = _decorator_name(decorator)
    if name in _CALLED_JIT:
        return isinstance(decorator, ast.Call)
    return name in JIT_DECORATORS


def _name(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _mark_parts(index: int) -> tuple[ast.expr, ast.expr]:
    """``HITS[K]`` and ``DIRTY.append(K)``."""
    k = ast.Constant(index)
    hit = ast.Subscript(value=_name(HITS_NAME), slice=k, ctx=ast.Load())
    note = ast.Call(
        func=ast.Attribute(value=_name(DIRTY_NAME), attr="append", ctx=ast.Load()),
        args=[k],
        keywords=[],
    )
    return hit, note


_FUNCTION_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
#: Fields of a statement that hold statements (a function is defined only by a statement:
#: expressions, most of a module's nodes, need no visit).
_BODIES = ("body", "orelse", "finalbody")


def _function_defs(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every ``def`` in ``tree``, nested ones included, visiting statements only."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    stack: list[list[ast.stmt]] = [tree.body]
    while stack:
        for node in stack.pop():
            if isinstance(node, _FUNCTION_DEFS):
                found.append(node)
            for field in _BODIES:
                body = getattr(node, field, None)
                if body:
                    stack.append(body)
            for handler in getattr(node, "handlers", ()):  # try / try*
                stack.append(handler.body)
            for case in getattr(node, "cases", ()):  # match
                stack.append(case.body)
    return found


def instrument(tree: ast.Module) -> bool:
    """Add entry markers to every function of ``tree`` (in place). Returns
    whether every function got one (False: some were left as written, see
    :data:`JIT_DECORATORS`)."""
    complete = True
    marked: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in _function_defs(tree):
        if any(_reads_bytecode(d) for d in node.decorator_list):
            complete = False
            continue
        marked.append(node)
    for k, node in enumerate(marked):
        hit, note = _mark_parts(PLACEHOLDER + k)
        at = 1 if _is_docstring(node.body[0]) else 0  # the docstring stays first
        anchor = node.body[min(at, len(node.body) - 1)]  # where the line number comes from
        store = ast.Subscript(value=_name(HITS_NAME), slice=ast.Constant(PLACEHOLDER + k))
        store.ctx = ast.Store()
        mark_stmt = ast.Try(
            body=[
                ast.If(
                    test=ast.UnaryOp(op=ast.Not(), operand=hit),
                    body=[ast.Assign(targets=[store], value=ast.Constant(1)), ast.Expr(note)],
                    orelse=[],
                )
            ],
            # NameError: run in a process without hotlap (pickled by value);
            # IndexError: a copy that was never relocated. Either way, no marker.
            handlers=[
                ast.ExceptHandler(
                    type=ast.Tuple(elts=[_name("NameError"), _name("IndexError")], ctx=ast.Load()),
                    name=None,
                    body=[ast.Pass()],
                )
            ],
            orelse=[],
            finalbody=[],
        )
        _place(mark_stmt, anchor.lineno, anchor.col_offset)
        node.body.insert(at, mark_stmt)
    return complete


def _walk(code: CodeType) -> Iterable[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _walk(const)


_CO_OPTIMIZED = 0x1
#: Function-like code objects that get no marker of their own: comprehensions run inside
#: their function, which has one; a lambda counts as part of the code it is written in.
_UNMARKED_NAMES = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>", "<lambda>"})


def _functions(code: CodeType) -> Iterable[CodeType]:
    """The code objects of the functions and lambdas in ``code`` (not class bodies or
    comprehensions)."""
    for co in _walk(code):
        if co is not code and co.co_flags & _CO_OPTIMIZED and co.co_name not in _UNMARKED_NAMES:
            yield co


def is_instrumented(code: CodeType) -> bool:
    """Whether module-level ``code`` can run no function unseen: every function in it
    carries a marker (a module without functions has nothing to mark)."""
    return all(HITS_NAME in co.co_names for co in _functions(code))


def relocate(code: CodeType) -> CodeType:
    """Give the markers of a module's compiled code their own :data:`HITS` entries (a new
    copy each time a module is loaded); code without markers is returned as it is."""
    filename = code.co_filename
    found: list[tuple[int, int]] = []  # (local index, first line) per marked function
    for co in _walk(code):
        if HITS_NAME in co.co_names:
            for const in co.co_consts:
                if type(const) is int and PLACEHOLDER <= const < PLACEHOLDER + _SPAN:
                    found.append((const - PLACEHOLDER, co.co_firstlineno))
                    break
    if not found:
        return code
    size = max(k for k, _ in found) + 1
    lines = [0] * size
    for k, line in found:
        lines[k] = line
    with _register_lock:
        base = len(KEYS)
        KEYS.extend((filename, line, False) for line in lines)
        HITS.extend([0] * size)

    def fix(co: CodeType) -> CodeType:
        consts: list[Any] = []
        changed = False
        marked = HITS_NAME in co.co_names
        for const in co.co_consts:
            if marked and type(const) is int and PLACEHOLDER <= const < PLACEHOLDER + _SPAN:
                const = base + (const - PLACEHOLDER)
                changed = True
            elif isinstance(const, CodeType):
                new = fix(const)
                changed = changed or new is not const
                const = new
            consts.append(const)
        return co.replace(co_consts=tuple(consts)) if changed else co

    return fix(code)


def _compile_marked(source: bytes, path: str) -> tuple[CodeType, bool]:
    """``source`` compiled with markers, and whether every function got one."""
    tree = ast.parse(source, filename=path)
    complete = instrument(tree)
    return compile(tree, path, "exec", dont_inherit=True), complete


class Instrumenter:
    """Installs the markers for one project root: :class:`SourceFileLoader` and pytest's
    assertion rewriter compile the project's files with them."""

    def __init__(
        self,
        root: str,
        exclude: Iterable[str] = (),
        cache_dir: str | None = None,
        *,
        mark: bool = True,
    ) -> None:
        self.root = root.rstrip(os.sep) + os.sep
        #: False: no markers, only pytest's rewrites kept in the cache (:func:`cache_rewrites`).
        self.mark = mark
        #: Globs (relative to the root, or absolute) of files left unmarked.
        self.exclude = [g for g in exclude if g]
        self.cache_dir = cache_dir
        self._patched: list[tuple[object, str, object]] = []
        # Relocated code -> the code to cache (pytest writes what it executes).
        self._unrelocated: dict[int, tuple[CodeType, CodeType]] = {}
        #: Files loaded with markers on every function in this process.
        self.marked: set[str] = set()
        self.installed = False
        #: pytest's rewriter as cached by hotlap (None: not installed, or not caching).
        self.rewriter: _RewriteCache | None = None
        #: The config's ``python_files`` (None: not known yet).
        self.test_patterns: list[str] | None = None
        #: Per directory, the files :meth:`_help` has not looked at yet.
        self._queues: dict[str, list[str]] = {}

    def wants(self, filename: str) -> bool:
        """The project's own Python source (not installed packages, not hotlap)."""
        return (
            filename.endswith(".py")
            and filename.startswith(self.root)
            and SITE_PACKAGES not in filename
            and not filename.startswith(_HOTLAP_DIR)
        )

    def excluded(self, filename: str) -> bool:
        """Left unmarked by ``[tool.hotlap] impact-exclude``."""
        if not self.exclude:
            return False
        rel = filename[len(self.root) :] if filename.startswith(self.root) else filename
        rel = rel.replace(os.sep, "/")
        return any(
            fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(filename, g) for g in self.exclude
        )

    def marks(self, filename: str) -> bool:
        return self.mark and self.wants(filename) and not self.excluded(filename)

    def load(self, path: str) -> CodeType | None:
        """One project module's code with markers, from hotlap's own cache (keyed by the
        source's hash) or compiled now; None when it should be compiled as written.

        xdist's workers import the same modules at about the same time: the first to miss
        the cache claims the compile (:func:`_claim`), and another that needs the module
        meanwhile compiles the modules beside it (:meth:`_help`) until the cache file is
        there, so a first run compiles each module once, not once per worker."""
        with open(path, "rb") as f:
            source = f.read()
        header = _header(source)
        cache = self._cache_path(path)
        found: tuple[CodeType, bool] | None = None
        claimed: bool | None = None
        if cache is not None:
            found, claimed = _share(
                cache, lambda: self._cached(cache, header), lambda: self._help(path)
            )
        if found is None:
            try:
                found = self._compile(path, source, header, cache)
            finally:
                if claimed:
                    _release(cache)  # type: ignore[arg-type]
            if found is None:
                return None
        code, complete = found
        if complete:
            self.marked.add(path)
        return relocate(code)

    @staticmethod
    def _cached(cache: str, header: bytes) -> tuple[CodeType, bool] | None:
        """The unrelocated code in ``cache`` and whether every function in it is marked, if
        that file holds this source's compiled form."""
        try:
            with open(cache, "rb") as f:
                data = f.read()
        except OSError:
            return None
        if data[:16] != header or len(data) <= 17:
            return None
        try:
            code = marshal.loads(data[17:])
        except (EOFError, ValueError, TypeError):
            return None
        return (code, data[16:17] == b"1") if isinstance(code, CodeType) else None

    @staticmethod
    def _compile(
        path: str, source: bytes, header: bytes, cache: str | None
    ) -> tuple[CodeType, bool] | None:
        """``source`` compiled with markers (unrelocated), written to ``cache`` unless the
        compile warned; None when it should be compiled as written."""
        try:
            if cache is None:
                code, complete = _compile_marked(source, path)
            else:
                (code, complete), clean = _recorded(lambda: _compile_marked(source, path))
                if not clean:
                    # An invalid escape sequence, say: Python warns each time it compiles the
                    # module, so it is compiled again, its warnings shown (or raised) as
                    # without hotlap, and not cached (a later run warns too).
                    cache = None
                    code, complete = _compile_marked(source, path)
        except SyntaxError:
            return None  # compiled as written, by the caller: Python's own error, frames
        except Exception:  # never break an import: unmarked means "unseen"
            return None
        if cache is not None:
            flag = b"1" if complete else b"0"
            code = _as_cached(code, lambda data: _write_atomic(cache, header + flag + data))
        return code, complete

    def _help(self, waiting_for: str) -> bool:
        """While another process compiles ``waiting_for``: compile into the cache one module
        beside it (same directory, sorted by name) that is not cached and that nobody is
        compiling. Whether it compiled one."""
        directory = os.path.dirname(waiting_for)
        queue = self._queues.get(directory)
        if queue is None:
            try:
                names = sorted(os.listdir(directory), reverse=True)
            except OSError:
                names = []
            queue = self._queues[directory] = [
                os.path.join(directory, n) for n in names if n.endswith(".py")
            ]
        while queue:
            path = queue.pop()
            if path != waiting_for and self._prepare(path):
                return True
        return False

    def _prepare(self, path: str) -> bool:
        """Compile module ``path`` into the cache, as a process that imports it will look
        for it, unless it is cached or claimed, is none this caches (not the project's, left
        unmarked, or a test module pytest would rewrite while this does not know how), or is
        larger than :data:`HELP_MAX_BYTES`. Whether it compiled it."""
        if not self.wants(path):
            return False
        rewriter = self.rewriter
        rewrites = rewriter is not None and rewriter.rewrites(path)
        if not rewrites and (not self.marks(path) or self.test_file(path)):
            return False
        try:
            if os.stat(path).st_size > HELP_MAX_BYTES:
                return False  # a waiting worker stays at most one small compile late
        except OSError:
            return False
        if rewriter is not None and rewrites:
            return rewriter.prepare(path)
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError:
            return False
        header = _header(source)
        cache = self._cache_path(path)
        if cache is None or not _claim_missing(cache, lambda: self._cached(cache, header)):
            return False
        try:
            compiled = _quiet(lambda: _compile_marked(source, path))
            if compiled is not None:
                code, complete = compiled
                flag = b"1" if complete else b"0"
                _write_atomic(cache, header + flag + marshal.dumps(code))
        finally:
            _release(cache)
        return True

    def test_file(self, path: str) -> bool:
        """Whether pytest's assertion rewriter takes ``path`` (a conftest, or a name that
        matches ``python_files``; the default patterns until a rewrite said the config's)."""
        name = os.path.basename(path)
        if name == "conftest.py":
            return True
        patterns = self.test_patterns
        if patterns is None:
            return fnmatch.fnmatchcase(name, "test_*.py") or fnmatch.fnmatchcase(name, "*_test.py")
        from _pytest.pathlib import fnmatch_ex

        return any(fnmatch_ex(pattern, path) for pattern in patterns)

    def _cache_path(self, path: str, kind: str = "") -> str | None:
        """``<cache_dir>/<name>.<digest of the path>.<FORMAT>[.<kind>].pyc``; with no cache
        directory (a plain ``pytest --hotlap-impact-dir`` run) ``__pycache__`` beside the
        source, as Python would (and not when it may not write bytecode, nor for ``kind``)."""
        if self.cache_dir:
            import hashlib

            tag = hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=6)
            name = os.path.basename(path)[:-3]
            kind = f".{kind}" if kind else ""
            return os.path.join(self.cache_dir, f"{name}.{tag.hexdigest()}.{FORMAT}{kind}.pyc")
        if sys.dont_write_bytecode or kind:
            return None
        try:
            standard = importlib.util.cache_from_source(path)
        except (NotImplementedError, ValueError):
            return None
        if not standard.endswith(".pyc"):
            return None
        return standard[: -len(".pyc")] + _CACHE_SUFFIX

    def install(self) -> None:
        """Start instrumenting modules imported from now on (raises when pytest's rewriter
        is not the one this was written for: the caller then uses the profiler instead)."""
        if self.installed:
            return
        from _pytest.assertion import rewrite

        if not self.mark:
            self._install_rewrites(rewrite)
            return
        stop_caching_rewrites()  # this caches them, with markers
        for name in ("rewrite_asserts", "_read_pyc", "_write_pyc", "_rewrite_test"):
            if not callable(getattr(rewrite, name, None)):
                raise RuntimeError(f"pytest's assertion rewriter has no {name}")
        if not isinstance(getattr(rewrite, "PYC_TAIL", None), str):
            raise RuntimeError("pytest's assertion rewriter has no PYC_TAIL")
        marks = self.marks
        unrelocated = self._unrelocated
        marked = self.marked
        load = self.load
        original_rewrite: Callable[..., None] = rewrite.rewrite_asserts
        original_read: Callable[..., Any] = rewrite._read_pyc
        original_write: Callable[..., Any] = rewrite._write_pyc
        original_test: Callable[..., Any] = rewrite._rewrite_test
        loader = importlib.machinery.SourceFileLoader
        original_get_code: Callable[..., Any] = loader.get_code

        # A loader class that makes its own source (source_to_code, get_data: a macro or
        # decrypting import hook) keeps it: its modules compile as it says, unmarked.
        get_code = _import_frame(
            "def get_code(self, fullname):\n"
            "    path = self.get_filename(fullname)\n"
            "    cls = type(self)\n"
            "    if (\n"
            "        isinstance(path, str)\n"
            "        and (\n"
            "            cls is loader\n"
            "            or (cls.source_to_code is code_of and cls.get_data is get)\n"
            "        )\n"
            "        and marks(path)\n"
            "    ):\n"
            "        try:\n"
            "            code = load(path)\n"
            "        except OSError:\n"
            "            code = None\n"
            "        if code is not None:\n"
            "            return code\n"
            "    return original_get_code(self, fullname)\n",
            "get_code",
            marks=marks,
            load=load,
            original_get_code=original_get_code,
            loader=loader,
            code_of=loader.source_to_code,
            get=loader.get_data,
        )

        def rewrite_asserts(mod: ast.Module, source: bytes, *args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            original_rewrite(mod, source, *args, **kwargs)
            path = args[0] if args else kwargs.get("module_path")
            path = str(path) if path is not None else ""
            if marks(path):
                try:
                    complete = instrument(mod)
                except Exception:  # never break an import: unmarked means "unseen"
                    return
                if complete:
                    marked.add(path)

        def read_pyc(source: Any, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            code = original_read(source, *args, **kwargs)
            if isinstance(code, CodeType):
                has = any(HITS_NAME in co.co_names for co in _walk(code))
                if not marks(code.co_filename):
                    return None if has else code  # cached before an exclusion: redo
                if not has and any(True for _ in _functions(code)):
                    return None  # cached unmarked (excluded then): redo
                if is_instrumented(code):
                    marked.add(code.co_filename)
                return relocate(code)
            return code

        rewritten = _RewriteCache(self, original_test)
        if rewritten.on:
            self.rewriter = rewritten

        def rewrite_test(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            stamp, code = rewritten(*args, **kwargs)
            moved = relocate(code)
            if moved is not code:
                unrelocated[id(moved)] = (moved, code)
            return stamp, moved

        def write_pyc(state: Any, co: CodeType, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            pair = unrelocated.pop(id(co), None)
            if pair is not None and pair[0] is co:
                co = pair[1]
            return original_write(state, co, *args, **kwargs)

        tail = rewrite.PYC_TAIL
        for owner, name, new in (
            (rewrite, "rewrite_asserts", rewrite_asserts),
            (rewrite, "_read_pyc", read_pyc),
            (rewrite, "_write_pyc", write_pyc),
            (rewrite, "_rewrite_test", rewrite_test),
            # Instrumented test modules are cached apart from pytest's plain ones.
            (rewrite, "PYC_TAIL", tail[: -len(".pyc")] + _CACHE_SUFFIX),
            (loader, "get_code", get_code),
        ):
            self._patched.append((owner, name, getattr(owner, name)))
            setattr(owner, name, new)
        publish()
        self.installed = True

    def _install_rewrites(self, rewrite: Any) -> None:
        """Only pytest's ``_rewrite_test``, through :class:`_RewriteCache` (no markers)."""
        if not callable(getattr(rewrite, "_rewrite_test", None)):
            raise RuntimeError("pytest's assertion rewriter has no _rewrite_test")
        rewritten = _RewriteCache(self, rewrite._rewrite_test)
        if rewritten.on:
            self.rewriter = rewritten
            self._patched.append((rewrite, "_rewrite_test", rewrite._rewrite_test))
            rewrite._rewrite_test = rewritten
        self.installed = True

    def uninstall(self) -> None:
        """Stop instrumenting new imports (instrumented code keeps working: its markers
        find nothing and do nothing)."""
        if not self.installed:
            return
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched.clear()
        self._unrelocated.clear()
        self.rewriter = None
        if self.mark:
            publish(False)
        self.installed = False


#: The instrumenter of :func:`cache_rewrites`, while installed.
_rewrites_only: Instrumenter | None = None


def cache_rewrites(root: str, cache_dir: str) -> Instrumenter | None:
    """Keep pytest's rewrites of the test modules and conftests under ``root`` in
    ``cache_dir`` where pytest keeps none (``PYTHONDONTWRITEBYTECODE``), with no markers: for
    a run hotlap is part of that records no impact data (plugin exports, ``--no-impact``,
    Python 3.12+). xdist's workers each collect the whole suite, so they share the first
    run's rewrites as they share marked compiles. The installed instrumenter, or None (pytest
    may write its own cache, this is installed already, or markers are, which cache the
    rewrites themselves)."""
    global _rewrites_only
    if not sys.dont_write_bytecode or _rewrites_only is not None or HITS_NAME in vars(builtins):
        return None
    owner = Instrumenter(root, cache_dir=cache_dir, mark=False)
    try:
        owner.install()
    except RuntimeError:  # a pytest this was not written for: it rewrites as it always did
        return None
    if owner.rewriter is None:
        owner.uninstall()
        return None
    _rewrites_only = owner
    return owner


def stop_caching_rewrites() -> None:
    """Undo :func:`cache_rewrites` (the process's session is over, or markers take over)."""
    global _rewrites_only
    owner, _rewrites_only = _rewrites_only, None
    if owner is not None:
        owner.uninstall()


class _RewriteCache:
    """pytest's ``_rewrite_test`` (read, rewrite the asserts, add markers, compile), kept in
    hotlap's own cache when pytest may not write its own (``PYTHONDONTWRITEBYTECODE``): a
    test module or conftest is then parsed and rewritten once, not in every process of every
    run. The entry is keyed by the source's hash, pytest's version, the option that changes
    the rewriting (``enable_assertion_pass_hook``) and whether the file gets markers. As
    for project modules (:meth:`Instrumenter.load`), one process compiles a module while
    the others that need it compile the ones beside it."""

    def __init__(self, owner: Instrumenter, original: Callable[..., Any]) -> None:
        self.owner = owner
        self.original = original
        self.on = owner.cache_dir is not None and sys.dont_write_bytecode
        # pytest >= 9.1 returns the source's hash beside the code, earlier ones its stat.
        returns = str(getattr(original, "__annotations__", {}).get("return", ""))
        self.returns_hash = "bytes" in returns
        #: The config of the last rewrite (what :meth:`prepare` rewrites with).
        self.config: Any = None
        #: The cache files' kind: rewrites with markers and without are kept apart, so
        #: runs with and without impact recording do not replace each other's.
        self.kind = "rw" if owner.mark else "rw0"

    def __call__(self, fn: Any, config: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        path = str(fn)
        if not self.on or not self.owner.wants(path):
            # Not the project's (a pytester run's files in a temporary directory): nothing
            # to keep for a later run.
            return self.original(fn, config, *args, **kwargs)
        self._seen(config)
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError:
            return self.original(fn, config, *args, **kwargs)
        header = _header(source) + self._tag(path, config)
        cache = self.owner._cache_path(path, kind=self.kind)
        code: CodeType | None = None
        claimed: bool | None = None
        if cache is not None:
            code, claimed = _share(
                cache, lambda: self._cached(cache, header), lambda: self.owner._help(path)
            )
        if code is None:
            try:
                target = cache
                if target is None:
                    first, code = self.original(fn, config, *args, **kwargs)
                else:
                    import warnings

                    # Inline, not through _recorded: no frame of hotlap's in the traceback
                    # of a test module's syntax error.
                    with warnings.catch_warnings(record=True) as seen:
                        warnings.simplefilter("always")
                        first, code = self.original(fn, config, *args, **kwargs)
                    if seen:  # pytest's rewrite, or the compile, warned: as _compile
                        target = None
                        first, code = self.original(fn, config, *args, **kwargs)
                if target is not None and isinstance(code, CodeType) and self._same(first, header):
                    code = _as_cached(code, lambda data: _write_atomic(target, header + data))
            finally:
                if claimed:
                    _release(cache)  # type: ignore[arg-type]
            return first, code
        # What the rewrite would have noted (rewrite_asserts marks the file complete).
        if self.owner.marks(path) and is_instrumented(code):
            self.owner.marked.add(path)
        return (header[8:16] if self.returns_hash else os.stat(path)), code

    def _seen(self, config: Any) -> None:
        if config is self.config:
            return
        self.config = config
        try:
            patterns = config.getini("python_files")
        except (AttributeError, ValueError):
            return
        if isinstance(patterns, list) and all(isinstance(p, str) for p in patterns):
            self.owner.test_patterns = patterns

    def _same(self, first: Any, header: bytes) -> bool:
        """Whether pytest rewrote the source ``header`` was made from (pytest >= 9.1 says
        which source it read; the file may have been saved again between the two reads)."""
        return not self.returns_hash or first == header[8:16]

    @staticmethod
    def _cached(cache: str, header: bytes) -> CodeType | None:
        try:
            with open(cache, "rb") as f:
                data = f.read()
        except OSError:
            return None
        if data[: len(header)] != header:
            return None
        with contextlib.suppress(EOFError, ValueError, TypeError):
            loaded = marshal.loads(data[len(header) :])
            return loaded if isinstance(loaded, CodeType) else None
        return None

    def rewrites(self, path: str) -> bool:
        """Whether this rewrites ``path`` when it is imported (as far as the config says)."""
        return self.config is not None and self.owner.test_file(path)

    def prepare(self, path: str) -> bool:
        """Rewrite test module ``path`` into the cache for the process that will import it,
        unless it is cached or claimed. Whether it rewrote it."""
        from pathlib import Path

        config = self.config
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError:
            return False
        header = _header(source) + self._tag(path, config)
        cache = self.owner._cache_path(path, kind=self.kind)
        if cache is None or not _claim_missing(cache, lambda: self._cached(cache, header)):
            return False
        marked = self.owner.marked
        was = path in marked  # the rewrite notes the file as loaded marked: it is not
        try:
            rewritten = _quiet(lambda: self.original(Path(path), config))
            if rewritten is not None:
                first, code = rewritten
                if isinstance(code, CodeType) and self._same(first, header):
                    _write_atomic(cache, header + marshal.dumps(code))
        finally:
            _release(cache)
            if not was:
                marked.discard(path)
        return True

    def _tag(self, path: str, config: Any) -> bytes:
        import hashlib

        import pytest

        try:
            hook = bool(config.getini("enable_assertion_pass_hook"))
        except (AttributeError, ValueError):
            hook = False
        text = f"{pytest.__version__}|{hook}|{self.owner.marks(path)}|{FORMAT}"
        return hashlib.blake2b(text.encode(), digest_size=8).digest()


def _recorded(work: Callable[[], _T]) -> tuple[_T, bool]:
    """``work()`` (a compile), and whether it warned nothing (its warnings are dropped)."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = work()
    return result, not seen


def _quiet(work: Callable[[], _T]) -> _T | None:
    """``work()``, a compile for a process that has not imported the module yet; None if it
    raised or warned (a syntax error, an invalid escape sequence, pytest's warning about an
    assert on a tuple): the importing process then compiles the module itself and reports
    it as it would without hotlap, where and when it imports it."""
    try:
        result, clean = _recorded(work)
    except Exception:
        return None
    return result if clean else None


def _header(source: bytes) -> bytes:
    """The first 16 bytes of a cache file of ``source``: Python's magic number, flags that
    say "checked by hash", and the source's hash."""
    return importlib.util.MAGIC_NUMBER + b"\x03\x00\x00\x00" + importlib.util.source_hash(source)


#: Modules larger than this are not compiled for another process (:meth:`Instrumenter._help`).
HELP_MAX_BYTES = 256 * 1024
#: A process that finds another compiling a module it needs waits this long at most for the
#: other's cache file, then compiles the module itself.
SHARE_WAIT = 10.0
#: A claim this old is a dead compile's, whatever process it names.
_STALE_CLAIM = 60.0
#: Unclaimed before this age, a claim that names no process may still be being written.
_UNNAMED_CLAIM = 5.0


def _claim(cache: str) -> bool | None:
    """Claim the compile of the module whose cache file is ``cache`` for this process.

    True: claimed (``<cache>.lock`` made, naming this process; :func:`_release` removes
    it once the cache file is written); False: a live process is compiling it; None: no
    claim can be made here (compile without one)."""
    lock = cache + ".lock"
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if not _stale(lock):
                return False
            with contextlib.suppress(OSError):
                os.unlink(lock)
            continue
        except FileNotFoundError:
            try:
                os.makedirs(os.path.dirname(lock), exist_ok=True)
            except OSError:
                return None
            continue
        except OSError:
            return None
        try:
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass
        finally:
            os.close(fd)
        return True
    return None


def _stale(lock: str) -> bool:
    """Whether the claim ``lock`` is no live compile's: its process is gone (or is this
    one, which compiles one module at a time), or it is older than :data:`_STALE_CLAIM`."""
    try:
        age = real.wall() - os.stat(lock).st_mtime
        with open(lock, "rb") as f:
            named = f.read(32)
    except FileNotFoundError:
        return True  # released meanwhile: claim it again
    except OSError:
        return False
    if age > _STALE_CLAIM:
        return True
    try:
        pid = int(named)
    except ValueError:
        return age > _UNNAMED_CLAIM
    return pid == os.getpid() or pid <= 0 or not alive(pid)


def _share(
    cache: str, ready: Callable[[], _T | None], work: Callable[[], bool]
) -> tuple[_T | None, bool | None]:
    """What ``ready`` finds in the cache file ``cache``, written by this process before or by
    another meanwhile (waiting for one that has claimed it, doing ``work`` while it waits);
    else None and the claim :func:`_claim` made: True (release it once the cache file is
    written), False or None (compile without one)."""
    found = ready()
    if found is not None:
        return found, None
    claimed = _claim(cache)
    if claimed is False:
        found = _await(cache, ready, work)
        if found is not None:
            return found, None
        claimed = _claim(cache)
    if claimed:  # written by another process since the miss above?
        found = ready()
        if found is not None:
            _release(cache)
            return found, None
    return None, claimed


def _claim_missing(cache: str, ready: Callable[[], object]) -> bool:
    """Claim ``cache`` if ``ready`` finds it missing, before and after the claim (another
    process may write it meanwhile). Whether it was claimed."""
    if ready() is not None or not _claim(cache):
        return False
    if ready() is not None:
        _release(cache)
        return False
    return True


def _release(cache: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(cache + ".lock")


_T = TypeVar("_T")


def _await(cache: str, ready: Callable[[], _T | None], work: Callable[[], bool]) -> _T | None:
    """Wait for the process that claimed ``cache`` to release it, doing ``work`` meanwhile
    (False: there was none), at most :data:`SHARE_WAIT` seconds; then what ``ready`` finds
    (None: the claim was given up, or failed: compile here)."""
    lock = cache + ".lock"
    deadline = real.monotonic() + SHARE_WAIT
    idle = 0
    while os.path.exists(lock) and real.monotonic() < deadline:
        if work():
            continue
        idle += 1
        if idle % 50 == 0 and _stale(lock):
            break
        real.sleep(0.002)
    return ready()


def _import_frame(source: str, name: str, **namespace: Any) -> Any:
    """Function ``name`` of ``source``, compiled as part of the import system.

    A module that fails to import shows a traceback from which Python removes the import
    system's own frames, up to the call that ran the module's code. A frame of hotlap's
    among them would keep them all, and itself, in the user's collection error; compiled
    under importlib's file name, the hook is removed with them and the error reads as
    without hotlap (pytest also hides frames of such generated code).
    """
    exec(compile(source, "<frozen importlib._bootstrap_external>", "exec"), namespace)
    return namespace[name]


def _as_cached(code: CodeType, write: Callable[[bytes], None]) -> CodeType:
    """``code`` as every later process will load it from the cache ``write`` fills.

    A marshal round trip can change the iteration order of a ``frozenset`` constant (a set
    literal): the process that compiled a module must run what the others load, or two
    xdist workers, one compiling and one loading, collect parametrized tests in different
    orders ("Different tests were collected between gw0 and gw1", seen on packaging).
    """
    data = marshal.dumps(code)
    write(data)
    loaded = marshal.loads(data)
    return loaded if isinstance(loaded, CodeType) else code


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
