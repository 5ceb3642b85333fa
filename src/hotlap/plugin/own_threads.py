"""The threads hotlap runs in a test process (the hang watch, the sink's flusher).

What they do is not the running test's: the hazard recorder's audit hook sees every thread's
``open``, and the hang watch looks for its kill-request file five times a second, which made
each test that ran that long "read" the file (``hotlap safety`` listed it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: ``threading.get_ident()`` of each of hotlap's threads while it runs.
IDS: set[int] = set()


def own(target: Callable[[], None]) -> Callable[[], None]:
    """``target`` as a thread's body that counts as hotlap's own while it runs."""

    def run() -> None:
        ident = threading.get_ident()
        IDS.add(ident)
        try:
            target()
        finally:
            IDS.discard(ident)  # an ident may be reused by a thread a test starts

    return run
