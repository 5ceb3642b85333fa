"""Building the pytest command line: pass the user's arguments through, pick ``-n``."""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from hotlap.resources.cores import effective_cores, worker_count

#: At most this many tests run in one process: xdist start-up (0.3-0.7 s) would cost more.
SMALL_RUN = 8

_NUMPROC_FLAGS = ("-n", "--numprocesses", "--tx")
_NO_XDIST = ("--pdb", "--trace", "--looponfail", "-f")
_TEST_DEF = re.compile(rb"^\s*(?:async\s+)?def\s+test", re.MULTILINE)


@dataclass
class WorkerChoice:
    """The ``-n`` hotlap chose (or left to the user) and why."""

    args: list[str]  # what to add to pytest's arguments
    workers: int  # 0 = no xdist
    reason: str


def _flag_given(args: list[str], flags: tuple[str, ...]) -> bool:
    for arg in args:
        if arg == "--":
            break
        for flag in flags:
            if (
                arg == flag
                or arg.startswith(flag + "=")
                or (len(flag) == 2 and arg.startswith(flag) and not arg.startswith("--"))
            ):
                return True
    return False


def _ini_addopts(cwd: Path) -> list[str]:
    """``addopts`` from the nearest pytest config file, if any (best effort)."""
    for directory in (cwd, *cwd.parents):
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            path = directory / name
            if not path.is_file():
                continue
            try:
                if name == "pyproject.toml":
                    if sys.version_info >= (3, 11):
                        import tomllib
                    else:  # pragma: no cover - 3.10
                        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
                    data = tomllib.loads(path.read_text(encoding="utf-8"))
                    ini = data.get("tool", {}).get("pytest", {})
                    opts = ini.get("ini_options", ini)
                    if not opts:
                        continue
                    addopts = opts.get("addopts", "")
                    return shlex.split(addopts) if isinstance(addopts, str) else list(addopts)
                parser = configparser.ConfigParser(interpolation=None)
                parser.read(path, encoding="utf-8")
                section = "tool:pytest" if name == "setup.cfg" else "pytest"
                if not parser.has_section(section):
                    continue
                return shlex.split(parser.get(section, "addopts", fallback=""))
            except (OSError, ValueError, configparser.Error, ImportError):
                return []
    return []


def _test_paths(args: list[str], cwd: Path) -> list[Path] | None:
    """Paths named on the command line, or None when there are none."""
    paths = []
    for arg in args:
        if arg.startswith("-"):
            continue
        candidate = cwd / arg.split("::", 1)[0]
        if candidate.exists():
            paths.append(candidate)
    return paths or None


def estimate_tests(args: list[str], cwd: Path, limit: int = SMALL_RUN + 1) -> int:
    """A cheap lower bound on how many tests would run: test ids named, or ``def test``
    lines in test files, counted up to ``limit`` (parametrization only adds)."""
    if any(a.startswith("-k") or a.startswith("-m") for a in args):
        return limit  # a filter may select anything: assume a real run
    named = [a for a in args if "::" in a and not a.startswith("-")]
    if named:
        return len(named)
    roots = _test_paths(args, cwd) or [cwd]
    count = 0
    for root in roots:
        files = [root] if root.is_file() else _walk_test_files(root)
        for path in files:
            try:
                count += len(_TEST_DEF.findall(path.read_bytes()))
            except OSError:
                continue
            if count >= limit:
                return count
    return count


def _walk_test_files(root: Path) -> list[Path]:
    # The directories impact selection and the watcher skip too (virtualenvs, caches, builds).
    from hotlap.paths import SKIP_DIRS

    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                found.append(Path(dirpath, name))
    return found


def _xdist_named(opts: list[str]) -> bool:
    """Whether ``opts`` or ``PYTEST_PLUGINS`` load xdist by name (``-p xdist[.plugin]``)."""
    if "xdist" in os.environ.get("PYTEST_PLUGINS", ""):
        return True
    for i, arg in enumerate(opts):
        if arg == "-p" and i + 1 < len(opts):
            name = opts[i + 1]
        elif arg.startswith("-p") and len(arg) > 2:
            name = arg[2:]
        else:
            continue
        if name in ("xdist", "xdist.plugin"):
            return True
    return False


def choose_workers(args: list[str], cwd: Path, known_tests: int | None = None) -> WorkerChoice:
    """hotlap's ``-n``: the user's own if given anywhere, -n 0 for a small run, else the
    effective core count."""
    env_addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    cores = effective_cores()
    for source, opts in (
        ("command line", args),
        ("PYTEST_ADDOPTS", env_addopts),
        ("pytest config addopts", _ini_addopts(cwd)),
    ):
        if _flag_given(opts, _NUMPROC_FLAGS):
            return WorkerChoice([], -1, f"-n from the {source}")
    no_xdist = (
        any(a in _NO_XDIST for a in args)
        or any(a == "no:xdist" and i and args[i - 1] == "-p" for i, a in enumerate(args))
        or "-pno:xdist" in args
    )
    if no_xdist:
        return WorkerChoice([], 0, "no xdist: an option that needs one process was given")
    # Found, not imported: importing xdist imports pytest (~130 ms here), all before pytest
    # can even start.
    if importlib.util.find_spec("xdist") is None:  # pragma: no cover - xdist is a dependency
        return WorkerChoice([], 0, "pytest-xdist is not installed")
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and not _xdist_named(
        [*args, *env_addopts, *_ini_addopts(cwd)]
    ):
        # pytest would not know -n: "unrecognized arguments" for a run that works without us.
        return WorkerChoice([], 0, "no xdist: plugin autoload is disabled and no -p loads it")
    n_tests = known_tests if known_tests is not None else estimate_tests(args, cwd)
    if n_tests <= SMALL_RUN:
        return WorkerChoice(["-n", "0"], 0, f"-n 0: a small run (~{n_tests} tests)")
    workers = worker_count(cores)
    if workers <= 1:
        return WorkerChoice(["-n", "0"], 0, f"-n 0: {cores:g} effective core")
    return WorkerChoice(["-n", str(workers)], workers, f"-n {workers}: {cores:g} effective cores")


def pytest_command(args: list[str], choice: WorkerChoice) -> list[str]:
    """The full command: this Python, ``-m pytest``, the plugin, hotlap's -n, the user's args."""
    return [sys.executable, "-m", "pytest", "-p", "hotlap", *choice.args, *args]


def xdist_loaded(args: list[str], cwd: Path) -> bool:
    """Whether pytest started with ``args`` in ``cwd`` loads xdist (and so knows ``-n``)."""
    if "-pno:xdist" in args or any(
        a == "no:xdist" and i and args[i - 1] == "-p" for i, a in enumerate(args)
    ):
        return False
    if importlib.util.find_spec("xdist") is None:  # pragma: no cover - xdist is a dependency
        return False
    env_addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    return not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") or _xdist_named(
        [*args, *env_addopts, *_ini_addopts(cwd)]
    )


#: ``--pdbcls`` for debuggers that ``PYTHONBREAKPOINT`` names, so that a failure stops in the
#: same debugger as ``breakpoint()`` does (pdbpp replaces ``pdb`` itself: nothing to add).
PDB_CLASSES = {
    "ipdb": "IPython.terminal.debugger:TerminalPdb",
    "pudb": "pudb.debugger:Debugger",
}


def debug_arguments(
    options: list[str], nodeid: str, cwd: Path, *, trace: bool = False
) -> list[str]:
    """pytest arguments that run ``nodeid`` alone, in one process, under the debugger:
    ``--pdb`` stops at the failure, ``--trace`` at the test's first line.

    ``PYTHONBREAKPOINT`` naming another debugger than pdb (ipdb, pudb) adds ``-s``: pytest
    hands the terminal over only to pdb's ``set_trace``, and that debugger's
    ``breakpoint()`` would read pytest's captured stdin. It also picks the debugger of the
    failure (``--pdbcls``) unless the options name one.
    """
    args = _without_numprocesses(options)
    if xdist_loaded(options, cwd):
        args += ["-n", "0"]
    args.append("--trace" if trace else "--pdb")
    hook = os.environ.get("PYTHONBREAKPOINT", "")
    if hook and hook != "0" and not hook.startswith("pdb."):
        if "-s" not in options and not any(a.startswith("--capture") for a in options):
            args.append("-s")
        cls = PDB_CLASSES.get(hook.split(".", 1)[0])
        if cls and not any(a.startswith("--pdbcls") for a in options):
            args.append(f"--pdbcls={cls}")
    args.append(nodeid)
    return args


def _without_numprocesses(args: list[str]) -> list[str]:
    """``args`` without ``-n N`` / ``-nN`` / ``--numprocesses[=]N`` (the run's workers)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-n", "--numprocesses"):
            skip = True
        elif not arg.startswith("--numprocesses=") and not (
            arg.startswith("-n") and not arg.startswith("--")
        ):
            out.append(arg)
    return out


def shell_command(args: list[str]) -> str:
    """``python -m pytest ARGS`` as one line a shell runs: this Python, called ``python``
    when the ``python`` on ``PATH`` is in the same directory (the same virtualenv; symlinks
    are not followed, a virtualenv's python links to its base interpreter)."""
    import shutil

    python = sys.executable
    on_path = shutil.which("python")
    if on_path and os.path.dirname(os.path.abspath(on_path)) == os.path.dirname(
        os.path.abspath(python)
    ):
        python = "python"
    return shlex.join([python, "-m", "pytest", *args])
