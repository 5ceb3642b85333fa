"""Workers of a run nobody watches live: plain-pytest exports with xdist.

``pytest -n 2 -p hotlap --hotlap-json=…`` writes its exports when the run is over, so nothing
needs a worker's quick passing tests while it runs. :class:`~hotlap.plugin.local.LocalExports`
(on the controller) says so in each worker's ``workerinput``, and the worker's sinks then run
no flusher thread: quick tests go out in batches of :data:`~hotlap.plugin.sink.OFFLINE_BATCH`,
with the next urgent event (a failure, a hang's stack) or at the end. The thread woke 50 times
a second in each worker, and each batch woke the controller: on 2,000 trivial tests the exports
cost 1.170x the CPU of ``pytest -n 2`` with it and 1.121x without (10 alternating rounds). A
worker that dies takes its unsent quick tests with it; the controller files them from the
reports xdist relayed.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

import pytest

from hotlap.plugin import sink as sink_module
from hotlap.plugin.role import Role

#: In a worker's ``workerinput``: no view shows this run while it runs.
WORKERINPUT_KEY = "hotlap_offline"
#: What ``PYTEST_ADDOPTS`` was before :func:`leave_out_for_workers` (``_UNSET``: not set).
ENV_ADDOPTS_WAS = "HOTLAP_ADDOPTS_WAS"
_UNSET = "-"
#: The options (their ``dest``) that activate the plugin without the app: its exports.
EXPORT_DESTS = ("hotlap_json", "hotlap_durations", "hotlap_record")
_EXPORT_OPTIONS = tuple("--" + dest.replace("_", "-") for dest in EXPORT_DESTS)
#: The ``-p no:NAME`` arguments :func:`leave_out_here` chose (so the workers' are not sought
#: twice).
_LEFT_OUT = pytest.StashKey[list[str]]()


def offer(node: Any) -> None:
    """On the controller: tell ``node``'s worker that nothing watches the run live."""
    node.workerinput[WORKERINPUT_KEY] = 1


def unwatched(config: pytest.Config) -> bool:
    """Whether this is a worker of a run nobody watches live (plain-pytest exports)."""
    return bool(getattr(config, "workerinput", {}).get(WORKERINPUT_KEY))


def configure(config: pytest.Config, role: Role) -> None:
    if role is Role.WORKER and unwatched(config):
        sink_module.live_view = False


def leave_out_for_workers(config: pytest.Config) -> None:
    """On the controller, before the workers start: they leave out the pytest plugins that
    only hotlap's dependencies brought (:func:`hotlap.runner.plugins.left_out`, the rule
    ``hotlap run`` follows). anyio's (through watchfiles) imports asyncio and ssl, about 0.2 s
    of CPU in each process. This process has loaded them already; the workers are told through
    ``PYTEST_ADDOPTS``, which pytest reads before it loads plugins, and which each worker (and
    this process, once the workers run) puts back as it was before a test can see it
    (:func:`restore_addopts`)."""
    blocked = config.stash.get(_LEFT_OUT, None)
    if blocked is None:
        from hotlap.runner.plugins import left_out

        blocked = left_out(config.rootpath, [str(a) for a in config.invocation_params.args])
    if not blocked or ENV_ADDOPTS_WAS in os.environ:
        return
    was = os.environ.get("PYTEST_ADDOPTS")
    os.environ[ENV_ADDOPTS_WAS] = _UNSET if was is None else "=" + was
    os.environ["PYTEST_ADDOPTS"] = " ".join([*([was] if was else []), *blocked])


def leave_out_here(pluginmanager: pytest.PytestPluginManager) -> None:
    """With ``-p hotlap`` and an export asked for: this process, too, leaves out the pytest
    plugins only hotlap's dependencies brought (the rule of :func:`leave_out_for_workers`).
    ``-p`` plugins are registered before pytest loads the installed ones, so blocking them
    here spares their import (anyio's: about 0.2 s of CPU, on the controller of a ``-n 2``
    run). A plugin already loaded (hotlap itself autoloaded after it) is left as it is, and
    without an export option nothing is left out: the plugin stays inert."""
    if ENV_ADDOPTS_WAS in os.environ:
        return  # a worker: its controller chose, and PYTEST_ADDOPTS says it
    config = pluginmanager.get_plugin("pytestconfig")
    if not isinstance(config, pytest.Config) or _LEFT_OUT in config.stash:
        return
    args = early_args(config)
    if args is None or not exports_in(args):
        return
    from hotlap.runner.plugins import left_out

    blocked = config.stash[_LEFT_OUT] = left_out(config.rootpath, args)
    for name in blocked[1::2]:
        name = name.removeprefix("no:")
        if pluginmanager.get_plugin(name) is None:
            pluginmanager.set_blocked(name)


def early_args(config: pytest.Config) -> list[str] | None:
    """pytest's arguments as it reads them before its options are parsed (the command
    line, ``PYTEST_ADDOPTS``, the ini file's ``addopts``); None before pytest knows them."""
    try:
        return [
            *(str(a) for a in config.invocation_params.args),
            *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
            *(str(a) for a in config.getini("addopts")),
        ]
    except (AttributeError, ValueError):  # not this far into its start
        return None


def exports_in(args: list[str]) -> bool:
    """Whether ``args`` ask for an export (which activates the plugin without the app)."""
    return any(a.startswith(_EXPORT_OPTIONS) for a in args)


def restore_addopts() -> None:
    """Undo :func:`leave_out_for_workers` in this process's environment."""
    was = os.environ.pop(ENV_ADDOPTS_WAS, None)
    if was is None:
        return
    if was == _UNSET:
        os.environ.pop("PYTEST_ADDOPTS", None)
    else:
        os.environ["PYTEST_ADDOPTS"] = was[1:]
