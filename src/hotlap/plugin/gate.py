"""Whether this pytest process belongs to the run hotlap drives, or is one a test started.

hotlap activates its plugin through environment variables, which every process a test starts
inherits: a test that runs ``python -m pytest`` (or ``pytester.runpytest_subprocess``) would
otherwise stream its own session into the run. The app sets ``HOTLAP_APP_PID`` to its pid;
the pytest it starts (its parent is the app) sets ``HOTLAP_PARENT_PID`` to its own pid for its
xdist workers (their parent is that process). A process that matches neither drops hotlap's
variables before anything reads them; a process that runs tests makes sure its own children
match nothing. Sessions run inside a test's process (pytester's inline runs) are told apart
by :func:`owns`: only the first configured session of a process is hotlap's.
"""

from __future__ import annotations

import os

import pytest

ENV_APP_PID = "HOTLAP_APP_PID"
ENV_PARENT_PID = "HOTLAP_PARENT_PID"
#: Kept whoever the process is: the watchdog's mark on a test's children (hang.py) and a
#: collector override used by benchmarks.
_KEEP = frozenset({"HOTLAP_TEST_OWNER", "HOTLAP_IMPACT_TRACER"})
_NOBODY = "-"

_adopted: tuple[str, str] | None = None
_owner: pytest.Config | None = None


def _activation() -> list[str]:
    return [k for k in os.environ if k.startswith("HOTLAP_") and k not in _KEEP]


def adopt_environment() -> None:
    """Keep hotlap's variables if this process is part of the run, else drop them
    (idempotent: what was decided for an environment stays decided)."""
    global _adopted
    names = _activation()
    if not names:
        return
    app, parent = os.environ.get(ENV_APP_PID), os.environ.get(ENV_PARENT_PID)
    key = (app or "", os.environ.get("HOTLAP_TOKEN", ""))
    if _adopted == key:
        return
    ppid = str(os.getppid())
    if app is not None and ppid == app:
        os.environ[ENV_PARENT_PID] = str(os.getpid())  # for this process's xdist workers
    elif parent is not None and ppid == parent:
        os.environ[ENV_PARENT_PID] = _NOBODY  # a worker: what its tests start is not
    elif app is None and parent is None:
        pass  # activated by hand (no app): nothing to tell apart
    else:
        for name in names:
            del os.environ[name]
        return
    _adopted = key


def runs_tests_here(config: pytest.Config) -> None:
    """This process runs tests and starts no workers of the run: its children are not."""
    if os.environ.get(ENV_PARENT_PID) == str(os.getpid()):
        os.environ[ENV_PARENT_PID] = _NOBODY


def owns(config: pytest.Config) -> bool:
    """Whether ``config`` is this process's hotlap session (the first one configured and
    not yet unconfigured); a session run inside a test is not."""
    global _owner
    if _owner is None:
        _owner = config
    return _owner is config


def session_running() -> bool:
    """Whether this process's hotlap session is configured (a new one would be nested)."""
    return _owner is not None


def release(config: pytest.Config) -> None:
    """``config`` is done: a later session of this process may be hotlap's again."""
    global _owner
    if _owner is config:
        _owner = None
