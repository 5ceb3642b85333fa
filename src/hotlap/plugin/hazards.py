"""What a test leaves changed in its process: environment variables, the working directory,
``sys.path``; and the files and ports it touches outside its temporary directories
(:mod:`hotlap.plugin.hazard_io`) (``hotlap safety``). Each state is compared between the
test's logstart (before its setup) and its logfinish (after its teardown), so what
``monkeypatch`` restores is not a hazard; what a wider fixture sets and keeps for later tests
is, on the test that set it.

On the hot path: a copy of ``os.environ``'s underlying dict, ``os.getcwd()``, a copy of
``sys.path`` at logstart, and their comparisons at logfinish: about 3 us per test here
(50 variables). The audit hook of :mod:`.hazard_io` does work only for a few events
(``open``, ``socket.bind``, ...) during a test. Variable values are not sent (they may be
secrets): only the name and whether it was set, removed or changed.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from hotlap.plugin.hazard_io import TestIO, install
from hotlap.plugin.role import Role
from hotlap.real import real

#: pytest's own variable, set during a test and removed after it.
_IGNORED_ENV = frozenset({"PYTEST_CURRENT_TEST", b"PYTEST_CURRENT_TEST"})
#: Events of one kind per test at most (a test that rewrites the environment is one finding).
_MAX_PER_KIND = 5
_CUT = 200


#: Set (to anything) to leave hazards unrecorded: what bench/safety.py compares against.
ENV_NO_HAZARDS = "HOTLAP_NO_HAZARDS"


def configure(config: pytest.Config, role: Role) -> None:
    from hotlap.plugin.offline import unwatched
    from hotlap.plugin.sink import app_drives

    # Only the app files hazards (``hotlap run``'s report, ``hotlap safety``): the exports of
    # a plain pytest run hold none, so its workers watch nothing (the audit hook alone is a
    # Python call on each of the ~170,000 audit events of click's suite).
    if (
        role is not Role.CONTROLLER
        and app_drives()
        and not unwatched(config)
        and not os.environ.get(ENV_NO_HAZARDS)
    ):
        config.pluginmanager.register(HazardWatch(config), "hotlap-hazards")


def _environ() -> dict[Any, Any]:
    """os.environ's own dict (bytes on POSIX: no decoding per variable), else a copy."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environ)


def _cwd() -> str:
    try:
        return real.getcwd()
    except OSError:  # the directory was removed under the test
        return ""


def _text(value: Any) -> str:
    text = os.fsdecode(value) if isinstance(value, bytes) else str(value)
    return text[:_CUT]


class HazardWatch:
    """The process's state before each test, compared after it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.env: dict[Any, Any] = {}
        self.cwd = ""
        self.path: list[str] = []
        self.sink: Any = None
        self.worker = ""
        self.io = TestIO(str(config.rootpath), config.option.basetemp)
        install(self.io)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.env = _environ().copy()
        self.cwd = _cwd()
        self.path = list(sys.path)
        self.io.start(nodeid)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        env = _environ()
        found: list[tuple[str, str, str, str]] = []
        if env != self.env:
            found += self._env_changes(env)
        cwd = _cwd()
        if cwd != self.cwd:
            found.append(("cwd", "", self.cwd[:_CUT], cwd[:_CUT]))
        if sys.path != self.path:
            before, after = set(self.path), set(sys.path)
            added = [
                ("sys.path", _text(p), "absent", "present") for p in sys.path if p not in before
            ]
            gone = [
                ("sys.path", _text(p), "present", "absent") for p in self.path if p not in after
            ]
            found += (added + gone)[:_MAX_PER_KIND]
        found += self.io.finish()
        if found:
            self._send(nodeid, found)

    def _env_changes(self, env: dict[Any, Any]) -> list[tuple[str, str, str, str]]:
        before = self.env
        changes = []
        for key in before.keys() | env.keys():
            if key in _IGNORED_ENV or before.get(key) == env.get(key):
                continue
            was = "set" if key in before else "unset"
            now = "unset" if key not in env else ("changed" if key in before else "set")
            changes.append(("env", _text(key), was, now))
        return sorted(changes)[:_MAX_PER_KIND]

    def _send(self, nodeid: str, found: list[tuple[str, str, str, str]]) -> None:
        if self.sink is None:
            emitter = self.config.pluginmanager.get_plugin("hotlap-emitter")
            if emitter is None:
                return
            self.sink, self.worker = emitter.sink, emitter.worker
        from hotlap.protocol import Hazard

        pid, t = os.getpid(), real.monotonic()
        for hazard, name, before, after in found:
            self.sink.send(
                Hazard(
                    self.worker,
                    pid,
                    t,
                    nodeid=nodeid,
                    hazard=hazard,
                    name=name,
                    before=before,
                    after=after,
                )
            )
