"""Which code each test (and each fixture) ran, inside the pytest process.

Collectors of "functions entered", each attributing what it sees to the *current context*
(a test, or a fixture's setup/teardown):

* on 3.12+, ``sys.monitoring`` ``PY_START`` as local events on the project's own code
  objects only (no bytecode changes), each disabled after its first report and re-armed
  when the context changes;
* on 3.10/3.11, entry markers compiled into the project's own functions
  (:mod:`hotlap.impact.instrument`), read and cleared at each context change;
* ``cProfile`` (C, on the main thread) on 3.10/3.11 when pytest's assertion rewriter
  cannot carry the markers.

An audit hook records data files opened and subprocesses started in the current context.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from hotlap.channel import ENV_IMPACT_EXCLUDE as ENV_EXCLUDE
from hotlap.channel import ENV_PYCACHE
from hotlap.impact.instrument import (
    _HOTLAP_DIR,
    SITE_PACKAGES,
    Instrumenter,
    harvest,
    is_instrumented,
)
from hotlap.real import real


def settings_from_env() -> tuple[list[str], str | None]:
    """(exclusion globs, marker cache directory) as the app gave them."""
    exclude = [g for g in os.environ.get(ENV_EXCLUDE, "").split(os.pathsep) if g]
    return exclude, os.environ.get(ENV_PYCACHE) or None


#: What ``spawned`` holds for a fork (no new program: the child runs the parent's code).
FORK = "<fork>"

#: Code location: (absolute filename, first line, is module-level code).
CodeKey = tuple[str, int, bool]


class Context:
    """What ran while one context was current."""

    __slots__ = ("codes", "keys", "listed", "opened", "ran", "spawned")

    def __init__(self) -> None:
        self.codes: set[CodeType] = set()
        #: What sys.monitoring saw start (3.12+): (co_filename, first line, module code), not
        #: the code objects, which a test may expect to be freed once it drops them.
        self.ran: set[CodeKey] = set()
        self.keys: set[CodeKey] = set()  # what the entry markers saw
        self.opened: set[str] = set()
        self.listed: set[str] = set()
        self.spawned: list[list[str]] = []


class _Tracer:
    """Base: attributes entered code objects to ``self.current``."""

    def __init__(self) -> None:
        self.current: Context | None = None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def switch(self, context: Context | None, rearm: bool = True) -> None:
        self.current = context


def _claim_tool(name: str) -> int:
    """A free ``sys.monitoring`` tool id: the optimizer's first (CPython runs none), then the
    two free for any tool (a test may claim one), then the profiler's and coverage's own."""
    mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
    for tool in (5, 4, 3, 2, 1):
        try:
            mon.use_tool_id(tool, name)
        except ValueError:
            continue
        return tool
    raise RuntimeError("no free sys.monitoring tool id")


_CO_NEWLOCALS = 0x2  # inspect.CO_NEWLOCALS: set on functions, not on module or class code


class LocalMonitorTracer(_Tracer):
    """``sys.monitoring`` PY_START as *local* events on the project's own code (3.12+).

    No bytecode of the project changes, and code that is not the project's pays nothing.
    Each code object is reported once per context: the callback answers DISABLE, and a
    context switch re-arms just the code objects that reported since the last one.
    """

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root
        self.tool: int | None = None
        #: Files whose code is watched (module code seen at exec, or functions found loaded).
        self.files: set[str] = set()
        #: Watched code, by identity; weakly held: a test may check that code it dropped is
        #: freed (an entry leaves with its code, before its id can be reused).
        self._seen: weakref.WeakValueDictionary[int, CodeType] = weakref.WeakValueDictionary()
        #: Reported (and disabled) since the last switch, weakly held too.
        self._fired: list[weakref.ref[CodeType]] = []

    def wants(self, filename: str) -> bool:
        return (
            filename.endswith(".py")
            and filename.startswith(self.root)
            and SITE_PACKAGES not in filename
            and not filename.startswith(_HOTLAP_DIR)
        )

    def start(self) -> None:
        mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        self.tool = _claim_tool("hotlap-impact")
        disable = mon.DISABLE
        fired = self._fired
        ref = weakref.ref

        def on_start(code: CodeType, offset: int) -> Any:
            ctx = self.current
            if ctx is not None:
                ctx.ran.add((code.co_filename, code.co_firstlineno, code.co_name == "<module>"))
            fired.append(ref(code))
            return disable

        mon.register_callback(self.tool, mon.events.PY_START, on_start)
        self.cover_loaded()

    def watch(self, code: CodeType) -> None:
        """Report ``code`` and every code object nested in it when they start."""
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        event = mon.events.PY_START
        seen = self._seen
        stack = [code]
        while stack:
            co = stack.pop()
            if id(co) in seen:
                continue
            seen[id(co)] = co
            if co.co_flags & _CO_NEWLOCALS:
                # Functions (lambdas, generator expressions): module code is noted when it
                # is executed (_module_run), and a class body runs once, at import, as
                # part of its module: as on 3.10/3.11, where only functions get markers.
                mon.set_local_events(self.tool, co, event)
            stack.extend(c for c in co.co_consts if isinstance(c, CodeType))
        self.files.add(code.co_filename)

    def cover_loaded(self) -> None:
        """Watch the functions of project modules loaded before recording started."""
        import gc
        from types import FunctionType

        wants = self.wants
        for obj in gc.get_objects():
            if type(obj) is FunctionType:
                code = obj.__code__
                if wants(code.co_filename):
                    self.watch(code)
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and wants(path):
                self.files.add(path)

    def switch(self, context: Context | None, rearm: bool = True) -> None:
        self.current = context
        fired = self._fired
        if rearm and fired and self.tool is not None:
            # Setting a code's events again re-instruments it: its DISABLE is undone. Only
            # what ran since the last switch was disabled, so only that is re-armed.
            mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
            tool, event = self.tool, mon.events.PY_START
            for code in fired:
                co = code()
                if co is not None:
                    mon.set_local_events(tool, co, 0)
                    mon.set_local_events(tool, co, event)
            fired.clear()

    def stop(self) -> None:
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        for co in list(self._seen.values()):
            mon.set_local_events(self.tool, co, 0)
        mon.register_callback(self.tool, mon.events.PY_START, None)
        mon.free_tool_id(self.tool)
        self.tool = None


class ProfileTracer(_Tracer):
    """cProfile on the main thread, flushed into the context at each switch (3.10/3.11,
    when pytest's assertion rewriter cannot carry markers)."""

    def __init__(self) -> None:
        super().__init__()
        import cProfile

        self.profile = cProfile.Profile()
        self.running = False

    def _flush(self) -> None:
        if not self.running:
            return
        self.profile.disable()
        ctx = self.current
        if ctx is not None:
            for entry in self.profile.getstats():
                code = entry.code
                if isinstance(code, CodeType):
                    ctx.codes.add(code)
        self.profile.clear()

    def _thread_profile(self, frame: FrameType, event: str, arg: object) -> None:
        # Threads other than the main one: a Python-level profile function (cProfile covers
        # only the thread that enabled it). Costly per call, but only in those threads.
        if event == "call":
            ctx = self.current
            if ctx is not None:
                ctx.codes.add(frame.f_code)

    def start(self) -> None:
        self.profile.enable(subcalls=False, builtins=False)
        threading.setprofile(self._thread_profile)
        self.running = True

    def switch(self, context: Context | None, rearm: bool = True) -> None:
        self._flush()
        self.current = context
        if self.running:
            self.profile.enable(subcalls=False, builtins=False)

    def stop(self) -> None:
        self._flush()
        threading.setprofile(None)
        self.running = False


class MarkerTracer(_Tracer):
    """Entry markers compiled into the project's functions (3.10/3.11)."""

    def __init__(self, root: str, exclude: list[str], cache_dir: str | None) -> None:
        super().__init__()
        self.instrumenter = Instrumenter(root, exclude, cache_dir)

    def start(self) -> None:
        self.instrumenter.install()
        harvest(None)  # marks hit before recording started belong to no context

    def unmarked_modules(self) -> list[str]:
        """Files of the loaded project modules that were compiled without markers on every
        function (imported before recording started, excluded, or JIT-decorated)."""
        wants, marked = self.instrumenter.wants, self.instrumenter.marked
        found = []
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and path not in marked and wants(path):
                found.append(path)
        return found

    def switch(self, context: Context | None, rearm: bool = True) -> None:
        ctx = self.current
        harvest(ctx.keys if ctx is not None else None)
        self.current = context

    def stop(self) -> None:
        self.switch(None, rearm=False)
        self.instrumenter.uninstall()


def make_tracer(
    root: str = "/", exclude: list[str] | None = None, cache_dir: str | None = None
) -> _Tracer:
    """The cheapest collector this Python has: ``sys.monitoring`` local events on 3.12+
    (no bytecode change), entry markers on 3.10/3.11. ``HOTLAP_IMPACT_TRACER=profile``
    picks the profiler, for comparisons."""
    choice = os.environ.get("HOTLAP_IMPACT_TRACER", "")
    if choice != "profile" and sys.version_info >= (3, 12):
        return LocalMonitorTracer(root)
    if choice != "profile":
        try:
            import _pytest.assertion.rewrite  # noqa: F401
        except ImportError:
            pass
        else:
            return MarkerTracer(root, exclude or [], cache_dir)
    return ProfileTracer()


_STDLIB = os.path.dirname(os.__file__) + os.sep
#: ``open`` flags that write (the audit event's third argument).
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _called_by_user_code() -> bool:
    """Whether the listing comes from project code (not pytest's or importlib's own scans):
    the first caller outside the standard library decides."""
    frame = sys._getframe(3)  # past this function, on_listdir and the audit hook
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen"):
            return False  # importlib's finders
        if name.startswith(_HOTLAP_DIR):
            frame = frame.f_back  # type: ignore[assignment]
            continue
        if not name.startswith(_STDLIB) or SITE_PACKAGES in name:
            return (
                os.sep + "_pytest" + os.sep not in name and os.sep + "pluggy" + os.sep not in name
            )
        frame = frame.f_back  # type: ignore[assignment]
    return False


class Collector:
    """Contexts, the tracer and the audit hook of one pytest process."""

    def __init__(
        self, root: str, exclude: list[str] | None = None, cache_dir: str | None = None
    ) -> None:
        self._root = root.rstrip(os.sep) + os.sep
        self._project_files: dict[str, bool] = {}  # in_project, per file name
        self.tracer = make_tracer(self._root, exclude, cache_dir)
        self.contexts: dict[str, Context] = {}
        self.stack: list[str] = []
        self.active = False
        self._audit_installed = False
        #: Project files whose code ran without entry markers (see MarkerTracer): what
        #: they ran is unknown, so every test of this process depends on all of them.
        self.unseen: set[str] = set()
        #: Files this process opened for writing while collecting (absolute paths): the
        #: run's own writes, which watch and history do not take for edits.
        self.written: set[str] = set()

    @property
    def root(self) -> str:
        return self._root

    @root.setter
    def root(self, root: str) -> None:
        self._root = root.rstrip(os.sep) + os.sep
        self._project_files = {}
        tracer = self.tracer
        if isinstance(tracer, MarkerTracer):
            tracer.instrumenter.root = self._root
        elif isinstance(tracer, LocalMonitorTracer):
            tracer.root = self._root
            if self.active:
                tracer.cover_loaded()

    def start(self) -> None:
        """Start collecting (the audit hook cannot be removed: it goes quiet instead)."""
        if self.active:
            return
        self.tracer.start()
        self.active = True
        if not self._audit_installed:
            sys.addaudithook(self._make_audit_hook())
            self._audit_installed = True

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        self.tracer.stop()

    def context(self, key: str) -> Context:
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = self.contexts[key] = Context()
        return ctx

    def push(self, key: str) -> None:
        """Make ``key`` the current context."""
        self.stack.append(key)
        # Import-time contexts are merged by file, not by context: no need to re-arm.
        self.tracer.switch(self.context(key), rearm=not key.startswith(("m:", "c:")))

    def pop(self, key: str) -> None:
        """Leave ``key`` (tolerates a pop without its push: finalizers can run twice)."""
        if key not in self.stack:
            return
        while self.stack:
            if self.stack.pop() == key:
                break
        top_key = self.stack[-1] if self.stack else ""
        top = self.context(top_key) if top_key else None
        # Back in a test: what the inner fixture ran counts for the test through the fixture
        # (every test lists the fixtures it used). Back in a fixture (one requested another
        # dynamically): re-arm, so the outer fixture sees everything it runs itself.
        self.tracer.switch(top, rearm=top_key.startswith("f:"))

    @staticmethod
    def listing_contexts(key: str) -> bool:
        """Directory listings matter where they can create tests: while a module is collected."""
        return key.startswith("m:")

    def _current(self) -> Context | None:
        return self.contexts.get(self.stack[-1]) if self.stack and self.active else None

    def unseen_files(self) -> list[str]:
        """Project files whose code may have run without markers: those seen running
        unmarked, and every loaded project module that was not compiled with markers
        (imported before recording started, or before the root was known)."""
        found = set(self.unseen)
        if isinstance(self.tracer, MarkerTracer):
            found.update(self.tracer.unmarked_modules())
        return sorted(found)

    def _module_run(self, code: object) -> None:
        """Module-level code ran (an import, ``runpy``, ``exec``): a module-level key for
        the current context; its functions are watched (3.12+), or the file counts as unseen
        when it was compiled without markers (3.10/3.11)."""
        tracer = self.tracer
        if not isinstance(code, CodeType) or code.co_name != "<module>":
            return
        name = code.co_filename
        if isinstance(tracer, LocalMonitorTracer):
            if not tracer.wants(name):
                return
            tracer.watch(code)
        elif isinstance(tracer, MarkerTracer):
            if not tracer.instrumenter.wants(name):
                return
            if not is_instrumented(code):
                self.unseen.add(name)
        else:
            return
        ctx = self._current()
        if ctx is not None:
            ctx.keys.add((name, code.co_firstlineno, True))

    def _make_audit_hook(self) -> Callable[[str, tuple[Any, ...]], None]:
        # Called for every audited event of the process (pytest's own file opens included):
        # one dict lookup decides, and only the events below do any work.
        isabs, abspath, fsdecode = real.isabs, real.abspath, real.fsdecode

        def on_exec(args: tuple[Any, ...]) -> None:
            if self.active and args:
                self._module_run(args[0])

        def on_open(args: tuple[Any, ...]) -> None:
            path = args[0]
            if (
                self.active
                and len(args) > 2
                and isinstance(args[2], int)
                and args[2] & _WRITE_FLAGS
                and isinstance(path, (str, bytes))
            ):
                # The run's own writes: not edits for watch nor for history (issue 16).
                name = fsdecode(path)
                self.written.add(name if isabs(name) else abspath(name))
            ctx = self._current()
            if ctx is None:
                return
            if isinstance(path, bytes):
                path = fsdecode(path)
            if isinstance(path, str) and not path.endswith((".py", ".pyc")):
                ctx.opened.add(path if isabs(path) else abspath(path))

        def on_spawn(args: tuple[Any, ...]) -> None:
            ctx = self._current()
            if ctx is None:
                return
            argv = args[1]
            if isinstance(argv, (str, bytes)):
                argv = [argv]
            with contextlib.suppress(TypeError):
                ctx.spawned.append([fsdecode(a) for a in argv])

        def on_system(args: tuple[Any, ...]) -> None:
            ctx = self._current()
            if ctx is not None:
                ctx.spawned.append(["sh", "-c", fsdecode(args[0])])

        def on_fork(args: tuple[Any, ...]) -> None:
            # A forked child runs code we never see: the whole static closure of the test
            # (or fixture) counts instead.
            ctx = self._current()
            if ctx is not None and [FORK] not in ctx.spawned:
                ctx.spawned.append([FORK])

        def on_listdir(args: tuple[Any, ...]) -> None:
            ctx = self._current()
            if ctx is None or not self.listing_contexts(self.stack[-1]):
                return
            path = args[0] if args else None
            if path is None:
                path = "."
            if isinstance(path, (str, bytes)) and _called_by_user_code():
                path = fsdecode(path)
                ctx.listed.add(path if isabs(path) else abspath(path))

        def on_sqlite(args: tuple[Any, ...]) -> None:
            ctx = self._current()
            path = args[0] if args else None
            if ctx is not None and isinstance(path, (str, bytes)) and path != ":memory:":
                path = fsdecode(path)
                ctx.opened.add(path if isabs(path) else abspath(path))

        handlers: dict[str, Callable[[tuple[Any, ...]], None]] = {
            "exec": on_exec,
            "open": on_open,
            "subprocess.Popen": on_spawn,
            "os.posix_spawn": on_spawn,
            "os.exec": on_spawn,
            "os.system": on_system,
            "os.fork": on_fork,
            "os.listdir": on_listdir,
            "os.scandir": on_listdir,
            "sqlite3.connect": on_sqlite,
        }
        get = handlers.get

        def hook(event: str, args: tuple[Any, ...]) -> None:
            handler = get(event)
            if handler is not None:
                try:  # noqa: SIM105 - cheaper than contextlib.suppress on every event
                    handler(args)
                except Exception:  # the audited call is the test's: it must go on as it would
                    pass  # (abspath of a relative path raises once the cwd is removed)

        return hook

    def code_indexes(self, ctx: Context, table: dict[CodeKey, int]) -> list[int]:
        """The project's code locations a context ran (installed packages are left out:
        their versions are a full-run invalidator), as sorted indexes into ``table``, where
        a location seen for the first time gets the next index."""
        # Called for every context as the process ends, ~60 locations per test (150,000 on
        # click's suite): one lookup for a location already in the table (in_project judges
        # each file once).
        found: set[int] = set()
        get = table.get
        for key in ctx.keys:
            index = get(key)
            if index is None:
                if not self.in_project(key[0]):
                    continue
                index = table[key] = len(table)
            found.add(index)
        ran = {(c.co_filename, c.co_firstlineno, c.co_name == "<module>") for c in ctx.codes}
        for name, line, module in ran | ctx.ran:
            if name.startswith("<"):
                continue
            if not os.path.isabs(name):
                name = os.path.abspath(name)
            if self.in_project(name):
                key = (name, line, module)
                index = get(key)
                if index is None:
                    index = table[key] = len(table)
                found.add(index)
        return sorted(found)

    def in_project(self, filename: str) -> bool:
        """Under the root and not an installed package (their versions are a full-run
        invalidator, not a dependency)."""
        found = self._project_files.get(filename)
        if found is None:
            root = self._root
            found = filename.startswith(root) and SITE_PACKAGES not in filename
            self._project_files[filename] = found
        return found
