"""pytest plugins that only hotlap brought into the environment, left out of its runs.

Installing hotlap installs its dependencies, and two of them ship ``pytest11`` entry points
that pytest then loads in every process: anyio's (watchfiles needs anyio) and platformdirs'.
anyio's imports anyio and its backends: on jinja2 it cost 14 % of the CPU of a ``-n 2`` run
(``bench/suites.py``, ``inert``). A project that never had them gets nothing from them, so
``hotlap run`` passes ``-p no:NAME`` for each plugin whose distribution

* is required by hotlap, directly or through its dependencies, and by no installed
  distribution outside that set (the project's own, installed, or another plugin: anyone
  else who may rely on it keeps it), nor is hotlap's own, pytest's or xdist's;
* is not named by the project: no file of it (Python sources, pytest and packaging
  configuration, requirement lists) holds the distribution's or the plugin module's name;
* is not named by the user: not in the arguments, ``PYTEST_ADDOPTS`` or ``PYTEST_PLUGINS``
  (``-p anyio`` keeps it), and plugins are autoloaded at all.

The environment is read from the ``.dist-info`` directories themselves (importing
:mod:`importlib.metadata` alone takes ~35 ms of a start that must take less than 80).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from hotlap.paths import SKIP_DIRS

#: Never left out: hotlap's run needs them (and pytest has no entry point to leave out).
_NEEDED = frozenset({"hotlap", "pytest", "pytest-xdist"})
#: Files of the project that may name a plugin it relies on.
_SCANNED = (".py", ".toml", ".cfg", ".ini", ".txt", ".in")
_MAX_FILES = 5000
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def normalize(name: str) -> str:
    """A distribution's name as PEP 503 compares them (``re`` is not imported for it)."""
    out = name.lower().replace("_", "-").replace(".", "-")
    while "--" in out:
        out = out.replace("--", "-")
    return out


def _requirement_name(spec: str) -> str:
    """The distribution a ``Requires-Dist`` value names."""
    spec = spec.lstrip()
    end = 0
    while end < len(spec) and spec[end] in _NAME_CHARS:
        end += 1
    return spec[:end]


class _Dist:
    __slots__ = ("name", "plugins", "requires")

    def __init__(self, name: str, requires: list[tuple[str, bool]], plugins: list[str]):
        self.name = name
        self.requires = requires  # (name, only with an extra)
        self.plugins = plugins  # pytest11 entry points: (name) "name = module"


def _read_dist(path: str) -> _Dist | None:
    name = ""
    requires: list[tuple[str, bool]] = []
    try:
        with open(os.path.join(path, "METADATA"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # the headers end at the first empty line
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Requires-Dist:"):
                    spec = line[14:]
                    req = _requirement_name(spec)
                    if req:
                        requires.append((normalize(req), "extra" in spec.partition(";")[2]))
    except OSError:
        return None
    if not name:
        return None
    plugins: list[str] = []
    try:
        with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as f:
            section = ""
            for line in f:
                line = line.strip()
                if line.startswith("["):
                    section = line.strip("[]").strip()
                elif section == "pytest11" and "=" in line:
                    ep, _, target = line.partition("=")
                    plugins.append(f"{ep.strip()}={target.strip()}")
    except OSError:
        pass
    return _Dist(normalize(name), requires, plugins)


def _distributions(paths: Iterable[str]) -> dict[str, _Dist]:
    found: dict[str, _Dist] = {}
    for entry in paths:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for child in names:
            if not child.endswith(".dist-info"):
                continue
            dist = _read_dist(os.path.join(entry or ".", child))
            if dist is not None and dist.name not in found:  # the first on sys.path wins
                found[dist.name] = dist
    return found


def _hotlap_only(dists: dict[str, _Dist]) -> list[_Dist]:
    """Distributions with pytest plugins that only hotlap's requirements need."""
    if "hotlap" not in dists:
        return []
    closure: set[str] = set()
    todo = ["hotlap"]
    while todo:
        name = todo.pop()
        if name in closure or name not in dists:
            continue
        closure.add(name)
        todo.extend(req for req, extra in dists[name].requires if not extra)
    required_by: dict[str, set[str]] = {}
    for dist in dists.values():
        for req, _extra in dist.requires:  # an extra's requirement counts: it may be in use
            required_by.setdefault(req, set()).add(dist.name)
    return [
        dist
        for dist in dists.values()
        if dist.plugins
        and dist.name in closure
        and dist.name not in _NEEDED
        and required_by.get(dist.name, set()) <= closure
    ]


def _named_in(root: Path, needles: set[bytes]) -> set[bytes]:
    """Which of ``needles`` a file of the project holds (sources and configuration)."""
    found: set[bytes] = set()
    stack = [str(root)]
    seen = 0
    while stack and found != needles:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            continue
        with entries:
            for entry in entries:
                name = entry.name
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir:
                    if name not in SKIP_DIRS and not name.endswith(".egg-info"):
                        stack.append(entry.path)
                    continue
                if not name.endswith(_SCANNED):
                    continue
                seen += 1
                if seen > _MAX_FILES:
                    return needles  # too big to read at each start: leave everything on
                try:
                    with open(entry.path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                found.update(n for n in needles if n in data)
    return found


def left_out(root: Path, args: list[str], paths: Iterable[str] | None = None) -> list[str]:
    """``-p no:NAME`` arguments for the plugins only hotlap brought (see the module)."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return []
    candidates = _hotlap_only(_distributions(sys.path if paths is None else paths))
    if not candidates:
        return []
    user = " ".join(
        [*args, os.environ.get("PYTEST_ADDOPTS", ""), os.environ.get("PYTEST_PLUGINS", "")]
    )
    needles: dict[_Dist, set[bytes]] = {}
    for dist in candidates:
        words = {dist.name, dist.name.replace("-", "_")}
        for plugin in dist.plugins:
            ep, _, target = plugin.partition("=")
            words.add(ep)
            words.add(target.split(":", 1)[0].split(".", 1)[0])
        if any(w in user for w in words):
            continue
        needles[dist] = {w.encode() for w in words if len(w) >= 4}
    wanted: set[bytes] = set()
    for encoded in needles.values():
        wanted |= encoded
    named = _named_in(root, wanted) if wanted else set()
    out: list[str] = []
    for dist, said in needles.items():
        if not said or said & named:
            continue
        for plugin in dist.plugins:
            out += ["-p", f"no:{plugin.partition('=')[0]}"]
    return out
