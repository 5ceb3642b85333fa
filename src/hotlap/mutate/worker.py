"""The process that tests mutants (run by file path: ``python worker.py``).

Standard library and pytest only, and never ``import hotlap``: pytest marks plugin packages
for assertion rewriting at start-up and warns about any already imported (a suite with
``filterwarnings = error`` would not start). Its two helpers, ``finder.py`` and
``operators.py``, are loaded by path under private names.

It imports pytest (and pytest's builtin plugins) as soon as it starts, while the app plans
the run, then waits for its first command: what to collect. After that, commands come as
JSON lines on stdin (``run`` a mutant's tests, or the tests alone for the baseline;
``cancel`` one), events go as JSON lines to stdout; stdin's end stops every child and the
process.

The worker runs pytest once to collect the tests, then serves: each command is a ``fork``
of the collected session, in one of two ways:

* a function's mutant replaces the code of the function objects it changes (``__code__``)
  and the tests run through pytest's own runtest protocol, the last with no next item so
  every fixture is torn down (teardown code is tested too). No start-up, no collection.
* code that runs at import (module-level code, a registering decorator, which the worker
  saw run while the tests were collected) is tested *fresh*: the child drops every module
  of the project from ``sys.modules`` and runs a new ``pytest.main`` on the tests, which
  imports the project anew through the mutant's import hook. pytest and the plugins are
  imported already (a cold ``python -m pytest`` costs 4-5 times more here).

Every child runs in its own process group (killed whole at its timeout), dies with its
parent (``PR_SET_PDEATHSIG`` on Linux), reads nothing, prints nothing, writes no bytecode,
and reports on its own pipe. Tests that start Python subprocesses get the mutant through
``HOTLAP_MUTANT`` and the ``sitecustomize`` on ``PYTHONPATH`` (see ``site/``).
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import io
import json
import os
import re
import signal
import sys
import time
from types import CodeType, FunctionType, ModuleType
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_hotlap_mutate_{name}", f"{HERE}/{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


forks = _load("forks")
Probe = forks.Probe
Server = forks.Server
_send = forks._send


# -- applying a mutant --------------------------------------------------------------------------
class Mutants:
    """Compiles mutants and puts them in place in a child."""

    def __init__(self, tmpdir: str) -> None:
        self.tmpdir = tmpdir
        self.operators = _load("operators")
        self.finder = _load("finder")

    def compile(self, spec: dict[str, Any]) -> tuple[CodeType, Any]:
        """(module code, outermost function node or None) of mutant ``spec``."""
        with open(spec["file"], encoding="utf-8") as f:
            source = f.read()
        import ast

        tree = ast.parse(source)
        outer = self.operators.outermost_function(tree, spec["block"])
        code = self.operators.compile_mutant(source, spec["file"], spec["block"], spec["index"])
        return code, outer

    def publish(self, spec: dict[str, Any], code: CodeType) -> None:
        """The mutant file for subprocesses, and the import hook here."""
        path = os.path.join(self.tmpdir, f"mutant-{os.getpid()}.bin")
        self.finder.write_mutant(path, spec["file"], code)
        os.environ[self.finder.ENV_MUTANT] = path
        self.finder.install(spec["file"], code)


def _find_code(code: CodeType, name: str, line: int) -> CodeType | None:
    stack = [code]
    while stack:
        current = stack.pop()
        for const in current.co_consts:
            if isinstance(const, CodeType):
                if const.co_name == name and const.co_firstlineno == line:
                    return const
                stack.append(const)
    return None


def _under(root: str, path: str) -> bool:
    return path.startswith(root) and os.sep + "site-packages" + os.sep not in path


# -- warm mode -------------------------------------------------------------------------------
class Host:
    """The warm server's pytest plugin: collect, then serve from ``pytest_runtestloop``."""

    def __init__(self, config: dict[str, Any], out_fd: int, profiler: Any) -> None:
        self.config = config
        self.out = out_fd
        self.root = os.path.realpath(config["root"]) + os.sep
        self.profiler = profiler
        self.items: dict[str, Any] = {}
        self.errors: list[str] = []
        self.import_time: list[list[Any]] = []
        self.functions: dict[tuple[str, int, str], list[FunctionType]] = {}
        self.loaded: set[str] = set()
        self.probe = Probe()
        self.mutants = Mutants(config["tmpdir"])
        self.started = time.monotonic()
        self.ready_sent = False

    def ready(self, **extra: Any) -> None:
        self.ready_sent = True
        _send(
            self.out,
            {
                "ev": "ready",
                "collected": list(self.items),
                "errors": self.errors,
                "import_time": self.import_time,
                "seconds": round(time.monotonic() - self.started, 4),
                **extra,
            },
        )

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed and self.probe.fd < 0:
            self.errors.append(report.nodeid)

    def pytest_collection_finish(self, session: Any) -> None:
        self.import_time = self.profiler.stop(self.root)
        self.items = {item.nodeid: item for item in session.items}

    def _index(self) -> None:
        real: dict[str, str] = {}

        def realpath(name: str) -> str:
            found = real.get(name)
            if found is None:
                found = real[name] = os.path.realpath(name)
            return found

        for obj in gc.get_objects():
            if type(obj) is FunctionType:
                code = obj.__code__
                if code.co_filename.startswith("<"):
                    continue
                path = realpath(code.co_filename)
                if _under(self.root, path):
                    key = (path, code.co_firstlineno, code.co_name)
                    self.functions.setdefault(key, []).append(obj)
        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str) and _under(self.root, realpath(filename)):
                self.loaded.add(realpath(filename))

    def pytest_runtestloop(self, session: Any) -> bool:
        self._index()
        # One base directory for ``tmp_path`` made now: the forks share it (each test still
        # gets its own directory in it) instead of each clearing and remaking it.
        factory = getattr(session.config, "_tmp_path_factory", None)
        with contextlib.suppress(Exception):
            factory.getbasetemp()  # type: ignore[union-attr]
        self.ready()
        session.config.pluginmanager.register(self.probe, "hotlap-mutate-probe")
        # What exists now is shared with every fork: out of the collector's reach, a fork's
        # collections do not walk (and copy, page by page) the collected session.
        gc.collect()
        gc.freeze()
        server = Server(self.config["in_fd"], self.out, self.run_child)
        server.feed(self.config.get("pending", b""))
        server.serve()
        return True

    def run_child(self, cmd: dict[str, Any], fd: int) -> None:
        probe = self.probe
        probe.fd = fd
        spec = cmd.get("mutant")
        if spec is not None and cmd.get("fresh"):
            self._run_fresh(cmd, spec, fd)
            return
        if spec is not None:
            code, outer = self.mutants.compile(spec)
            if not self._apply(spec, code, outer):
                probe.end("fresh")
                return
        items = [self.items[n] for n in cmd["tests"] if n in self.items]
        stop_first = bool(cmd.get("stop_first", True))
        for i, item in enumerate(items):
            nextitem = items[i + 1] if i + 1 < len(items) else None
            item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if stop_first and probe.failed:
                break
        probe.end("killed" if probe.failed else "survived")

    def _run_fresh(self, cmd: dict[str, Any], spec: dict[str, Any], fd: int) -> None:
        """The project imported anew, mutated: every module of the project (tests and
        conftests too) leaves ``sys.modules``, and a new pytest session in this process
        imports and collects the mutant's tests again, so import-time code runs mutated.
        What pytest and the installed plugins cost to import is already paid."""
        code, _outer = self.mutants.compile(spec)
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if name.startswith("_hotlap_mutate_") or not isinstance(path, str):
                continue
            if _under(self.root, os.path.realpath(path)):
                del sys.modules[name]
        self.mutants.publish(spec, code)
        import pytest

        probe = Probe()
        probe.fd = fd
        basetemp = os.path.join(self.config["tmpdir"], f"fresh-{os.getpid()}")
        args = [*self.config["args"], f"--basetemp={basetemp}", *cmd["tests"]]
        if cmd.get("stop_first", True):
            args.append("-x")
        probe.exit_at_finish = True  # the verdict is known: skip pytest's unconfigure
        err = io.StringIO()
        sys.stderr = err  # pytest names a conftest it could not import here
        pytest.main(args, plugins=[probe])
        # Still here: the session never finished. A conftest that imports the project
        # (``from pkg.registry import ...``) fails before any collection when the mutant
        # breaks its import: the worker's own session imported it unmutated, so the mutant
        # is what the tests noticed (before: an "error", never stored, re-run every time).
        found = re.search(r"while loading conftest '([^']+)'", err.getvalue())
        if found and not probe.failed:
            probe.failed.append(os.path.relpath(found.group(1), self.root))
        probe.end("killed" if probe.failed else ("survived" if probe.outcomes else "error"))

    def _apply(self, spec: dict[str, Any], code: CodeType, outer: Any) -> bool:
        """Put the mutant in place here; False when only a fresh process can test it."""
        path = os.path.realpath(spec["file"])
        self.mutants.publish(spec, code)  # lazy imports and subprocesses
        if path not in self.loaded:
            return True  # imported later, through the hook
        if outer is None:
            return False  # module-level code: it ran at import already
        line = min([outer.lineno, *(d.lineno for d in outer.decorator_list)])
        new = _find_code(code, outer.name, line)
        if new is None or not self.functions.get((path, line, outer.name)):
            return False
        # The outermost function, and every function already made from the code nested in it
        # (a closure the imports made: ``handler = make_handler(3)``) whose code changed.
        swaps = []
        stack = [new]
        while stack:
            current = stack.pop()
            stack.extend(c for c in current.co_consts if isinstance(c, CodeType))
            key = (path, current.co_firstlineno, current.co_name)
            for function in self.functions.get(key, ()):
                if function.__code__ != current:
                    swaps.append((function, current))
        try:
            for function, replacement in swaps:
                function.__code__ = replacement
        except ValueError:  # another closure (a removed call used a free variable)
            return False
        return True


class ImportProfile:
    """Which project functions run while pytest starts and collects (imports, decorators,
    parametrize helpers): their mutants need a fresh process."""

    def __init__(self) -> None:
        self.codes: set[CodeType] = set()
        self.tool: int | None = None
        self.profile: Any = None

    def start(self) -> None:
        if sys.version_info >= (3, 12):
            mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
            for tool in (5, 4, 3):
                try:
                    mon.use_tool_id(tool, "hotlap-mutate")
                except ValueError:
                    continue
                self.tool = tool
                break
            if self.tool is not None:
                codes = self.codes

                def on_start(code: CodeType, offset: int) -> Any:
                    codes.add(code)
                    return mon.DISABLE

                mon.register_callback(self.tool, mon.events.PY_START, on_start)
                mon.set_events(self.tool, mon.events.PY_START)
                return
        import cProfile

        self.profile = cProfile.Profile()
        self.profile.enable(subcalls=False, builtins=False)

    def stop(self, root: str) -> list[list[Any]]:
        if self.tool is not None:
            mon = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
            mon.set_events(self.tool, 0)
            mon.register_callback(self.tool, mon.events.PY_START, None)
            mon.free_tool_id(self.tool)
            self.tool = None
        elif self.profile is not None:
            self.profile.disable()
            for entry in self.profile.getstats():
                if isinstance(entry.code, CodeType):
                    self.codes.add(entry.code)
            self.profile = None
        found = set()
        for code in self.codes:
            if code.co_name == "<module>" or code.co_filename.startswith("<"):
                continue
            path = os.path.realpath(code.co_filename)
            if _under(root, path):
                found.add((path, code.co_firstlineno))
        self.codes = set()
        return sorted([p, line] for p, line in found)


class PluginBytecode:
    """Bytecode of the installed plugins, kept between runs in ``.hotlap/pycache/mutate``.

    The worker writes no bytecode (the project's tree stays as it was), so pytest parsed,
    assertion-rewrote and compiled every ``pytest11`` plugin module (and what those import)
    in every run: 0.3-0.5 s of a 0.55-0.8 s collection of two small test files with only
    xdist and anyio installed (load 11). While pytest loads its plugins, bytecode is read
    and written under a ``pycache_prefix`` of hotlap's own; the window closes before the
    first conftest, and whatever it wrote for files of the project (a ``-p`` plugin of the
    project's) is removed, so a project file is never read from an old cache entry."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.prefix = os.path.join(self.root, ".hotlap", "pycache", "mutate")
        self.open = False

    def start(self) -> None:
        if not os.path.isdir(os.path.join(self.root, ".hotlap")):
            return
        sys.pycache_prefix = self.prefix
        sys.dont_write_bytecode = False
        self.open = True

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        sys.pycache_prefix = None
        sys.dont_write_bytecode = True
        mirrored = os.path.join(self.prefix, self.root.lstrip(os.sep))
        for dirpath, dirnames, filenames in os.walk(mirrored):
            dirnames[:] = [d for d in dirnames if d != "site-packages"]
            for name in filenames:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))

    def plugin(self) -> object:
        """A pytest plugin that closes the window as the initial conftests load."""
        import pytest

        window = self

        class Window:
            @pytest.hookimpl(wrapper=True, tryfirst=True)
            def pytest_load_initial_conftests(self) -> Any:
                window.close()
                return (yield)

        return Window()


def warm_main(config: dict[str, Any], out_fd: int) -> int:
    import pytest

    profiler = ImportProfile()
    host = Host(config, out_fd, profiler)
    bytecode = PluginBytecode(config["root"])
    bytecode.start()
    profiler.start()
    try:
        args = [*config["args"], *config["collect"]]
        code = pytest.main(args, plugins=[host, bytecode.plugin()])
    finally:
        bytecode.close()
        profiler.stop(host.root)
    if not host.ready_sent:  # pytest stopped before its test loop (a usage error)
        host.ready(exit=int(code))
    return 0


def _builtin_plugins() -> list[str]:
    """The ``_pytest`` modules every pytest run imports (its default plugins)."""
    try:
        from _pytest.config import default_plugins
    except ImportError:  # pragma: no cover - a pytest without it
        return []
    return [f"_pytest.{name}" for name in default_plugins]


def _first_line(fd: int) -> tuple[bytes, bytes]:
    """(the first line on ``fd``, what came after it), blocking."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise SystemExit(0)  # closed unused (a spare that was not needed)
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line, rest


def main() -> int:
    """Import pytest while the app plans, then collect what the first command says."""
    # As ``python -m pytest`` has it (``python worker.py`` put this file's directory first,
    # where its siblings would shadow the project's modules).
    sys.path[0] = os.getcwd()
    sys.dont_write_bytecode = True
    # Commands and events on private descriptors: pytest's capture takes over 0, 1 and 2.
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the app stops us (stdin's end, or a kill)
    import pytest  # noqa: F401  (the slowest import of the run, done while the app plans)

    for name in _builtin_plugins():
        with contextlib.suppress(Exception):
            __import__(name)
    line, rest = _first_line(in_fd)
    config = json.loads(line)
    # Started in the directory hotlap was run from, before the rootdir was read: work there.
    root = config.get("root")
    if root and os.path.realpath(root) != os.path.realpath(os.getcwd()):
        os.chdir(root)
        sys.path[0] = os.getcwd()
    config["in_fd"] = in_fd
    config["pending"] = rest
    return warm_main(config, out_fd)


if __name__ == "__main__":
    sys.exit(main())
