"""The order each process ran its tests in, from a run's events.

A worker sends its events in the order they happen on one socket, so the first event that
names a test (its ``TestStart``, or a quick test's lone ``TestDone``, or its first
``TestReport``) comes after every event of the tests it ran before. Worker clocks are not
compared: ``began`` is monotonic, a report's ``start`` is wall-clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hotlap.model.records import TestRecord
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


def orders_of_records(tests: Mapping[str, TestRecord]) -> dict[str, list[str]]:
    """``worker -> [nodeid, ...]`` from a run's records (the dashboard keeps no events): by
    the time each test started, or finished when no start was seen (``time.monotonic``, one
    clock for the processes of a machine)."""
    orders: dict[str, list[tuple[float, int, str]]] = {}
    for i, (nodeid, rec) in enumerate(tests.items()):
        when = rec.started if rec.started is not None else rec.finished
        if rec.worker and when is not None:
            orders.setdefault(rec.worker, []).append((when, i, nodeid))
    return {w: [n for _t, _i, n in sorted(rows)] for w, rows in orders.items()}
