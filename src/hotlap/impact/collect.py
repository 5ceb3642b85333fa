"""Which code each test (and each fixture) ran, inside the pytest process.

Collectors of "functions entered", each attributing what it sees to the *current context*
(a test, or a fixture's setup/teardown):

* by default, entry markers compiled into the project's own functions
  (:mod:`hotlap.impact.instrument`), read and cleared at each context change; on 3.12+,
  project code loaded without markers is watched with ``sys.monitoring`` local events;
* ``sys.monitoring`` ``PY_START`` on all code (3.12+), each code object disabled after its
  first report and re-armed (``restart_events``) when the context changes;
* ``cProfile`` (C, on the main thread) on 3.10/3.11 when pytest's assertion rewriter
  cannot carry the markers.

An audit hook records data files opened and subprocesses started in the current context.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from hotlap.impact.instrument import SITE_PACKAGES, Instrumenter, harvest, is_instrumented

#: Where the app asks the plugin to write per-process dependency files (set by the app).
ENV_DIR = "HOTLAP_IMPACT_DIR"

#: What ``spawned`` holds for a fork (no new program: the child runs the parent's code).
FORK = "<fork>"

#: Code location: (absolute filename, first line, is module-level code).
CodeKey = tuple[str, int, bool]


class Context:
    """What ran while one context was current."""

    __slots__ = ("codes", "keys", "listed", "opened", "spawned")

    def __init__(self) -> None:
        self.codes: set[CodeType] = set()
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


def _claim_py_start(tracer: _Tracer) -> int:
    """A free ``sys.monitoring`` tool id whose PY_START callback adds the started code to
    ``tracer``'s current context, then disables that event for the code until re-armed."""
    mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
    for tool in (4, 3, 2, 1):
        try:
            mon.use_tool_id(tool, "hotlap-impact")
        except ValueError:
            continue
        break
    else:
        raise RuntimeError("no free sys.monitoring tool id")
    disable = mon.DISABLE

    def on_start(code: CodeType, offset: int) -> Any:
        ctx = tracer.current
        if ctx is not None:
            ctx.codes.add(code)
        return disable

    mon.register_callback(tool, mon.events.PY_START, on_start)
    return tool


class MonitoringTracer(_Tracer):
    """``sys.monitoring`` PY_START, disabled per code after the first hit (3.12+)."""

    def __init__(self) -> None:
        super().__init__()
        self.tool: int | None = None

    def start(self) -> None:
        self.tool = _claim_py_start(self)
        mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        mon.set_events(self.tool, mon.events.PY_START)

    def switch(self, context: Context | None, rearm: bool = True) -> None:
        self.current = context
        if rearm:
            # Re-arm every disabled code so the new context sees what it runs (this is the
            # costly part: every code object run afterwards is instrumented again).
            sys.monitoring.restart_events()  # type: ignore[attr-defined,unused-ignore]

    def stop(self) -> None:
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        mon.set_events(self.tool, 0)
        mon.register_callback(self.tool, mon.events.PY_START, None)
        mon.free_tool_id(self.tool)
        self.tool = None


class ProfileTracer(_Tracer):
    """cProfile on the main thread, flushed into the context at each switch (3.10/3.11)."""

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


class _UnmarkedMonitor:
    """``sys.monitoring`` PY_START as *local* events on the project code that carries no
    markers (3.12+): modules imported before recording started or executed by path. Only
    those code objects are instrumented, so the rest of the process pays nothing."""

    def __init__(self, tracer: MarkerTracer) -> None:
        self.tracer = tracer
        self.tool: int | None = None
        self.files: set[str] = set()
        self._seen: dict[int, CodeType] = {}  # by identity, kept alive (no reused ids)

    def start(self) -> None:
        self.tool = _claim_py_start(self.tracer)  # local events only: see watch()

    def watch(self, code: CodeType) -> None:
        """Report ``code`` and every code object nested in it when they start."""
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        stack = [code]
        while stack:
            co = stack.pop()
            if id(co) in self._seen:
                continue
            self._seen[id(co)] = co
            mon.set_local_events(self.tool, co, mon.events.PY_START)
            self.files.add(co.co_filename)
            stack.extend(c for c in co.co_consts if isinstance(c, CodeType))

    def rearm(self) -> None:
        if self.files:
            sys.monitoring.restart_events()  # type: ignore[attr-defined,unused-ignore]

    def stop(self) -> None:
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        mon.register_callback(self.tool, mon.events.PY_START, None)
        mon.free_tool_id(self.tool)
        self.tool = None


class MarkerTracer(_Tracer):
    """Entry markers compiled into the project's functions; on 3.12+, ``sys.monitoring``
    local events for project code that was compiled without them."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.instrumenter = Instrumenter(root)
        self.monitor = _UnmarkedMonitor(self) if sys.version_info >= (3, 12) else None

    def start(self) -> None:
        self.instrumenter.install()
        if self.monitor is not None:
            try:
                self.monitor.start()
            except RuntimeError:  # every tool id taken: unmarked code counts as unseen
                self.monitor = None
            else:
                self.cover_loaded()
        harvest(None)  # marks hit before recording started belong to no context

    def cover_loaded(self) -> None:
        """Watch the functions of project modules loaded without markers (3.12+)."""
        if self.monitor is None or self.monitor.tool is None:
            return
        import gc
        from types import FunctionType

        wants, marked = self.instrumenter.wants, self.instrumenter.marked
        for obj in gc.get_objects():
            if type(obj) is FunctionType:
                code = obj.__code__
                name = code.co_filename
                if name not in marked and wants(name):
                    self.monitor.watch(code)
        # Their module-level code has run: what they can still run is watched now (a module
        # of constants has nothing to watch).
        self.monitor.files.update(self.unmarked_modules())

    def unmarked_modules(self) -> list[str]:
        """Files of the loaded project modules that were compiled without markers."""
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
        if rearm and self.monitor is not None:
            self.monitor.rearm()

    def stop(self) -> None:
        self.switch(None, rearm=False)
        if self.monitor is not None:
            self.monitor.stop()
        self.instrumenter.uninstall()


def make_tracer(root: str = "/") -> _Tracer:
    """The cheapest collector this Python has: entry markers (with ``sys.monitoring`` for
    unmarked project code on 3.12+). ``HOTLAP_IMPACT_TRACER`` = ``markers``,
    ``monitoring`` (PY_START on all code, 3.12+) or ``profile`` picks one, for comparisons."""
    choice = os.environ.get("HOTLAP_IMPACT_TRACER", "")
    if choice == "monitoring" and sys.version_info >= (3, 12):
        return MonitoringTracer()
    if choice != "profile":
        try:
            import _pytest.assertion.rewrite  # noqa: F401
        except ImportError:
            pass
        else:
            return MarkerTracer(root)
    if sys.version_info >= (3, 12):
        return MonitoringTracer()
    return ProfileTracer()


_STDLIB = os.path.dirname(os.__file__) + os.sep


def _called_by_user_code() -> bool:
    """Whether the listing comes from project code (not pytest's or importlib's own scans):
    the first caller outside the standard library decides."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen"):
            return False  # importlib's finders
        if not name.startswith(_STDLIB) or SITE_PACKAGES in name:
            return (
                os.sep + "_pytest" + os.sep not in name and os.sep + "pluggy" + os.sep not in name
            )
        frame = frame.f_back  # type: ignore[assignment]
    return False


class Collector:
    """Contexts, the tracer and the audit hook of one pytest process."""

    def __init__(self, root: str) -> None:
        self._root = root.rstrip(os.sep) + os.sep
        self.tracer = make_tracer(self._root)
        self.contexts: dict[str, Context] = {}
        self.stack: list[str] = []
        self.active = False
        self._audit_installed = False
        #: Project files whose code ran without entry markers (see MarkerTracer): what
        #: they ran is unknown, so every test of this process depends on all of them.
        self.unseen: set[str] = set()

    @property
    def root(self) -> str:
        return self._root

    @root.setter
    def root(self, root: str) -> None:
        self._root = root.rstrip(os.sep) + os.sep
        if isinstance(self.tracer, MarkerTracer):
            self.tracer.instrumenter.root = self._root
            if self.active:
                self.tracer.cover_loaded()

    def _markers(self) -> MarkerTracer | None:
        return self.tracer if isinstance(self.tracer, MarkerTracer) else None

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
        markers = self._markers()
        if markers is not None:
            watched = markers.monitor.files if markers.monitor is not None else set()
            found.update(f for f in markers.unmarked_modules() if f not in watched)
        return sorted(found)

    def _module_run(self, code: object) -> None:
        """Module-level code ran (an import, ``runpy``, ``exec``): a module-level key for
        the current context, and an unseen file when it was compiled without markers."""
        markers = self._markers()
        if (
            markers is None
            or not isinstance(code, CodeType)
            or code.co_name != "<module>"
            or not markers.instrumenter.wants(code.co_filename)
        ):
            return
        if not is_instrumented(code):
            monitor = markers.monitor
            if monitor is not None and monitor.tool is not None:
                monitor.watch(code)
            else:
                self.unseen.add(code.co_filename)
        ctx = self._current()
        if ctx is not None:
            ctx.keys.add((code.co_filename, code.co_firstlineno, True))

    def _make_audit_hook(self) -> Callable[[str, tuple[Any, ...]], None]:
        def hook(event: str, args: tuple[Any, ...]) -> None:
            if event == "exec":
                if self.active and args:
                    self._module_run(args[0])
            elif event == "open":
                ctx = self._current()
                if ctx is None:
                    return
                path = args[0]
                if isinstance(path, bytes):
                    path = os.fsdecode(path)
                if isinstance(path, str) and not path.endswith((".py", ".pyc")):
                    ctx.opened.add(path if os.path.isabs(path) else os.path.abspath(path))
            elif event in ("subprocess.Popen", "os.posix_spawn", "os.exec"):
                ctx = self._current()
                if ctx is None:
                    return
                argv = args[1]
                if isinstance(argv, (str, bytes)):
                    argv = [argv]
                with contextlib.suppress(TypeError):
                    ctx.spawned.append([os.fsdecode(a) for a in argv])
            elif event == "os.system":
                ctx = self._current()
                if ctx is not None:
                    ctx.spawned.append(["sh", "-c", os.fsdecode(args[0])])
            elif event == "os.fork":
                # A forked child runs code we never see: the whole static closure of the test
                # (or fixture) counts instead.
                ctx = self._current()
                if ctx is not None and [FORK] not in ctx.spawned:
                    ctx.spawned.append([FORK])
            elif event in ("os.listdir", "os.scandir"):
                ctx = self._current()
                if ctx is None or not self.listing_contexts(self.stack[-1]):
                    return
                path = args[0] if args else None
                if path is None:
                    path = "."
                if isinstance(path, (str, bytes)) and _called_by_user_code():
                    path = os.fsdecode(path)
                    ctx.listed.add(path if os.path.isabs(path) else os.path.abspath(path))
            elif event == "sqlite3.connect":
                ctx = self._current()
                path = args[0] if args else None
                if ctx is not None and isinstance(path, (str, bytes)) and path != ":memory:":
                    path = os.fsdecode(path)
                    ctx.opened.add(path if os.path.isabs(path) else os.path.abspath(path))

        return hook

    def code_keys(self, ctx: Context) -> list[CodeKey]:
        """The project's code locations a context ran (installed packages are left out:
        their versions are a full-run invalidator)."""
        keys: set[CodeKey] = {key for key in ctx.keys if self.in_project(key[0])}
        for code in ctx.codes:
            name = code.co_filename
            if name.startswith("<"):
                continue
            if not os.path.isabs(name):
                name = os.path.abspath(name)
            if self.in_project(name):
                keys.add((name, code.co_firstlineno, code.co_name == "<module>"))
        return sorted(keys)

    def in_project(self, filename: str) -> bool:
        """Under the root and not an installed package (their versions are a full-run
        invalidator, not a dependency)."""
        return filename.startswith(self.root) and SITE_PACKAGES not in filename
