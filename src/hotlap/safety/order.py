"""The order each process ran its tests in, from a run's events.

A worker sends its events in the order they happen on one socket, so the first event that
names a test (its ``TestStart``, or a quick test's lone ``TestDone``, or its first
``TestReport``) comes after every event of the tests it ran before. Worker clocks are not
compared: ``began`` is monotonic, a report's ``start`` is wall-clock.
"""

from __future__ import annotations

from collections.abc import Iterable

from hotlap.protocol import Event, TestDone, TestReport, TestStart


def worker_orders(events: Iterable[Event]) -> dict[str, list[str]]:
    """``worker -> [nodeid, ...]`` in the order each worker ran them (each nodeid once)."""
    orders: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for e in events:
        if not isinstance(e, (TestStart, TestDone, TestReport)):
            continue
        key = (e.worker, e.nodeid)
        if key in seen:
            continue
        seen.add(key)
        orders.setdefault(e.worker, []).append(e.nodeid)
    return orders


def ran_before(orders: dict[str, list[str]], worker: str, nodeid: str) -> list[str]:
    """The tests ``worker`` ran before ``nodeid`` (empty when it did not run it)."""
    order = orders.get(worker, [])
    try:
        return order[: order.index(nodeid)]
    except ValueError:
        return []
