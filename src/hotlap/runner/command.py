"""Building the pytest command line: pass the user's arguments through, let the plugin
pick ``-n``."""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hotlap.channel import ENV_WORKERS
from hotlap.resources.cores import effective_cores

#: ``WorkerChoice.workers`` when pytest chooses (``hotlap.plugin.workers``), told by the
#: ``SessionStart`` event.
IN_PYTEST = -2


@dataclass
class WorkerChoice:
    """The ``-n`` hotlap chose (or left to the user, or to its plugin in pytest) and why."""

    args: list[str]  # what to add to pytest's arguments
    workers: int  # 0 = no xdist; -1 = the user's own; IN_PYTEST = chosen inside pytest
    reason: str
    env: dict[str, str] = field(default_factory=dict)  # what to add to pytest's environment


def choose_workers(cap: int = 0) -> WorkerChoice:
    """Leave ``-n`` to hotlap's plugin: inside pytest, once pytest's own parser has read the
    command line, ``PYTEST_ADDOPTS`` and the ini ``addopts``, it keeps the user's ``-n`` or
    picks one from the effective cores (at most ``cap`` workers when ``cap``), history and
    the tests the arguments select. Parsing pytest's arguments here would take importing
    pytest (~130 ms before it can even start) or guessing (``--deselect a::b`` is no test id).
    """
    cores = effective_cores()
    payload = f'{{"cores": {cores!r}, "cap": {int(cap)}}}'
    return WorkerChoice([], IN_PYTEST, "", {ENV_WORKERS: payload})


def pytest_command(args: list[str], choice: WorkerChoice, root: Path | None = None) -> list[str]:
    """The full command: this Python, ``-m pytest``, the plugin, hotlap's -n, the user's args.
    With the project's ``root``, the plugins only hotlap brought into the environment are
    left out (:mod:`hotlap.runner.plugins`)."""
    blocked: list[str] = []
    if root is not None:
        from hotlap.runner.plugins import left_out

        blocked = left_out(root, args)
    return [sys.executable, "-m", "pytest", "-p", "hotlap", *blocked, *choice.args, *args]


# Only for the debug run's arguments (debug_arguments): whether pytest knows -n at all.
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
                import configparser  # here: a pyproject.toml project never needs it

                parser = configparser.ConfigParser(interpolation=None)
                try:
                    parser.read(path, encoding="utf-8")
                except configparser.Error:
                    return []
                section = "tool:pytest" if name == "setup.cfg" else "pytest"
                if not parser.has_section(section):
                    continue
                return shlex.split(parser.get(section, "addopts", fallback=""))
            except (OSError, ValueError, ImportError):
                return []
    return []


def plugin_options(opts: list[str]) -> list[str]:
    """The values of the ``-p NAME`` / ``-pNAME`` options in ``opts``, in order."""
    names = []
    for i, arg in enumerate(opts):
        if arg == "-p" and i + 1 < len(opts):
            names.append(opts[i + 1])
        elif arg.startswith("-p") and len(arg) > 2:
            names.append(arg[2:])
    return names


def _xdist_named(opts: list[str]) -> bool:
    """Whether ``opts`` or ``PYTEST_PLUGINS`` load xdist by name (``-p xdist[.plugin]``)."""
    if "xdist" in os.environ.get("PYTEST_PLUGINS", ""):
        return True
    return any(name in ("xdist", "xdist.plugin") for name in plugin_options(opts))


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
