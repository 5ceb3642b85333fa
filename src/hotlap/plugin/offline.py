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

from typing import Any

import pytest

from hotlap.plugin import sink as sink_module
from hotlap.plugin.role import Role

#: In a worker's ``workerinput``: no view shows this run while it runs.
WORKERINPUT_KEY = "hotlap_offline"


def offer(node: Any) -> None:
    """On the controller: tell ``node``'s worker that nothing watches the run live."""
    node.workerinput[WORKERINPUT_KEY] = 1


def configure(config: pytest.Config, role: Role) -> None:
    if role is Role.WORKER and getattr(config, "workerinput", {}).get(WORKERINPUT_KEY):
        sink_module.live_view = False
