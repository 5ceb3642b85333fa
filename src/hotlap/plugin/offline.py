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
from typing import Any

import pytest

from hotlap.plugin import sink as sink_module
from hotlap.plugin.role import Role

#: In a worker's ``workerinput``: no view shows this run while it runs.
WORKERINPUT_KEY = "hotlap_offline"
#: What ``PYTEST_ADDOPTS`` was before :func:`leave_out_for_workers` (``_UNSET``: not set).
ENV_ADDOPTS_WAS = "HOTLAP_ADDOPTS_WAS"
_UNSET = "-"


def offer(node: Any) -> None:
    """On the controller: tell ``node``'s worker that nothing watches the run live."""
    node.workerinput[WORKERINPUT_KEY] = 1


def configure(config: pytest.Config, role: Role) -> None:
    if role is Role.WORKER and getattr(config, "workerinput", {}).get(WORKERINPUT_KEY):
        sink_module.live_view = False


def leave_out_for_workers(config: pytest.Config) -> None:
    """On the controller, before the workers start: they leave out the pytest plugins that
    only hotlap's dependencies brought (:func:`hotlap.runner.plugins.left_out`, the rule
    ``hotlap run`` follows). anyio's (through watchfiles) imports asyncio and ssl, about 0.2 s
    of CPU in each process. This process has loaded them already; the workers are told through
    ``PYTEST_ADDOPTS``, which pytest reads before it loads plugins, and which each worker (and
    this process, once the workers run) puts back as it was before a test can see it
    (:func:`restore_addopts`)."""
    from hotlap.runner.plugins import left_out

    blocked = left_out(config.rootpath, [str(a) for a in config.invocation_params.args])
    if not blocked or ENV_ADDOPTS_WAS in os.environ:
        return
    was = os.environ.get("PYTEST_ADDOPTS")
    os.environ[ENV_ADDOPTS_WAS] = _UNSET if was is None else "=" + was
    os.environ["PYTEST_ADDOPTS"] = " ".join([*([was] if was else []), *blocked])


def restore_addopts() -> None:
    """Undo :func:`leave_out_for_workers` in this process's environment."""
    was = os.environ.pop(ENV_ADDOPTS_WAS, None)
    if was is None:
        return
    if was == _UNSET:
        os.environ.pop("PYTEST_ADDOPTS", None)
    else:
        os.environ["PYTEST_ADDOPTS"] = was[1:]
