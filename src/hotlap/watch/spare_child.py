"""The pre-started pytest interpreter (see :mod:`hotlap.watch.spare`), run by file path.

``python spare_child.py LAUNCHED_NS OPTIONS_JSON`` imports pytest and pytest's own builtin
plugins (those not blocked by ``-p no:NAME`` in the command line, exactly as pytest's
``get_config`` would import them) right away, plus ``OPTIONS_JSON["modules"]``; then waits
for one JSON line on stdin: the pytest command, its working directory and environment. It
runs that command as ``python -m pytest`` would: same ``sys.argv``, ``sys.path[0]``,
``__main__``, stdin (``/dev/null``), environment.

When anything it imported may differ from what a fresh interpreter would import now (a
module file changed or vanished, a new file would shadow a module, the environment outside
``HOTLAP_*`` differs) it ``exec``s the plain command instead: the same process, started cold.

Stdlib only, and it never imports hotlap nor any installed plugin: pytest marks plugin
packages (hotlap's too) for assertion rewriting at start-up and warns about any it finds
already imported.
"""

from __future__ import annotations

import contextlib
import os
import sys

#: A module file changed this long before the spare was launched may still have been
#: written after it was imported (file times come from a coarse clock): start cold then.
_MTIME_SLACK_NS = 1_000_000_000


def _mtime(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:  # gone, or not a plain file (zip import…): never trusted
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def _snapshot() -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every imported module's file and of every ``sys.path`` entry."""
    found: dict[str, tuple[int, int]] = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name != "__main__" and isinstance(path, str):
            found[path] = _mtime(path)
    for entry in sys.path:
        found[entry or "."] = _mtime(entry or ".")
    return found


def _stale(seen: dict[str, tuple[int, int]], launched_ns: int) -> str:
    """Why the imported modules may not be what a cold start would import ("" if they are)."""
    newest = launched_ns - _MTIME_SLACK_NS
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name == "__main__" or not isinstance(path, str) or path not in seen:
            continue  # (not in ``seen``: imported after the snapshot, so fresh)
        now = _mtime(path)
        if now == (-1, -1) or now != seen[path] or now[0] >= newest:
            return f"{path} changed"
    # A file added to a directory of sys.path since (``pluggy.py`` in the working directory,
    # say) would be imported instead by a cold start. Only when a directory changed (its
    # mtime) are the imported top-level modules looked up again (that costs ~6 ms).
    entries = [e or "." for e in sys.path]
    if all(_mtime(e) == seen.get(e) and seen[e][0] < newest for e in entries):
        return ""
    import importlib
    import importlib.machinery

    importlib.invalidate_caches()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if "." in name or name == "__main__" or not isinstance(path, str):
            continue
        spec = importlib.machinery.PathFinder.find_spec(name)
        if spec is not None and spec.origin not in (path, None, "built-in", "frozen"):
            return f"{name} would now come from {spec.origin}"
    return ""


def _builtin_plugins(blocked: list[str]) -> list[str]:
    """The ``_pytest`` plugin modules pytest's ``get_config`` imports on every run: its
    ``default_plugins`` less those blocked by ``-p no:NAME`` on the command line."""
    try:
        from _pytest.config import default_plugins
    except ImportError:  # pragma: no cover - a pytest without it: import pytest only
        return []
    skip = set(blocked)
    if "cacheprovider" in skip:  # pytest blocks stepwise along with it
        skip.add("stepwise")
    return [f"_pytest.{name}" for name in default_plugins if name not in skip]


def _read_request() -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return b""
        data += chunk
    return data


def main() -> None:
    had_annotations = "__annotations__" in globals()
    launched_ns = int(sys.argv[1])
    # What ``python -m pytest`` puts first on the path (``python FILE`` put this file's dir).
    sys.path[0] = os.getcwd()
    env0 = dict(os.environ)
    import json
    import runpy

    import pytest  # noqa: F401  (the point of the spare: the slowest import of a run)

    options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    for name in _builtin_plugins(options.get("blocked", [])) + options.get("modules", []):
        # On failure the run imports it again, and fails the way a cold start would.
        with contextlib.suppress(Exception):
            __import__(name)
    seen = _snapshot()

    raw = _read_request()
    if not raw:
        os._exit(0)  # the watcher closed us unused
    request = json.loads(raw)
    command: list[str] = request["command"]
    env: dict[str, str] = request["env"]
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    same_env = {k: v for k, v in env.items() if not k.startswith("HOTLAP_")} == {
        k: v for k, v in env0.items() if not k.startswith("HOTLAP_")
    }
    why = "" if same_env else "environment"
    why = why or ("working directory" if request["cwd"] != os.getcwd() else "")
    why = why or _stale(seen, launched_ns)
    if why:
        os.chdir(request["cwd"])
        os.execve(command[0], command, env)

    for key in [k for k in os.environ if k.startswith("HOTLAP_") and k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if key.startswith("HOTLAP_"):
            os.environ[key] = value
    # ``python -m pytest ARGS``: runpy sets argv[0] to pytest/__main__.py and runs it as
    # __main__, in the real __main__ module (as -m does); it exits through SystemExit.
    sys.argv = ["-m", *command[3:]]
    run_as_main = getattr(runpy, "_run_module_as_main", None)
    if run_as_main is not None:
        # __main__ is this file's module: leave pytest's __main__.py nothing of ours in it.
        namespace = globals()
        for name in [n for n in namespace if n != "__builtins__"]:
            del namespace[name]
        if had_annotations:  # as the interpreter's __main__ started (3.10-3.13)
            namespace["__annotations__"] = {}
        run_as_main("pytest", True)
    else:  # pragma: no cover - every CPython 3.10-3.13 has it
        runpy.run_module("pytest", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
