"""The serial hold-back of :mod:`hotlap.plugin.serial`, mixed into a load scheduler.

Both xdist's ``LoadScheduling`` and hotlap's ``LongestFirstScheduling`` fill
``self.pending`` by a slice assignment once the collection is known, hand tests out from it,
and call ``node.shutdown()`` when it is empty. So: ``pending`` becomes a list that reads the
marked tests at that first assignment; without any, nothing else changes (the scheduler
keeps its class and its nodes their ``shutdown``: a run without serial tests is scheduled
exactly as before). With some, it keeps their indices out and the scheduler becomes a serial
one: one node (the first) has its shutdown deferred while serial tests are held; the others
are shut down as usual; when they have completed everything (their ``node2pending`` is empty
or they are gone), the held tests are sent to the kept node, which is then shut down too.
The node runs what it had queued first, one test at a time, while no other worker runs
anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class _HeldBack(list):  # type: ignore[type-arg]
    """``pending``: its first slice assignment (the collection's order) reads the marked
    tests; when there are some, it keeps them out and turns the scheduler into one that
    holds them back. Without serial tests the scheduler is left exactly as it was."""

    def __init__(self, sched: Any, path: str, say: Callable[[str], None]) -> None:
        super().__init__()
        self.sched, self.path, self.say = sched, path, say
        self.read = False

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, slice) and not self.read:
            self.read = True
            value = self._hold(list(value))
        super().__setitem__(key, value)

    def _hold(self, order: list[int]) -> list[int]:
        try:
            with open(self.path, encoding="utf-8") as f:
                marked = set(json.load(f))
        except (OSError, ValueError):
            return order
        collection = self.sched.collection or []
        held = [i for i in order if collection[i] in marked]
        if not held:
            return order
        _become_serial(self.sched, held, self.say)
        return [i for i in order if collection[i] not in marked]


class SerialMixin:
    """Mixed before the scheduler's own class (see :func:`hold_serial`)."""

    serial_say: Callable[[str], None]
    held: list[int]
    kept: Any
    deferred: bool

    # What the scheduler classes have.
    collection: list[str] | None
    pending: list[int]
    node2pending: dict[Any, list[int]]
    nodes: list[Any]

    def serial_shutdown(self, node: Any, real: Callable[[], None]) -> None:
        """``node.shutdown()`` while serial tests are held: deferred for the kept node."""
        if self.held and node is self.kept:
            self.deferred = True
            self.serial_release()
            return
        real()

    def serial_release(self) -> None:
        """Send the held tests to the kept node once every other node is done."""
        if not self.held or self.pending or not self.deferred:
            return
        if self.kept not in self.node2pending:
            alive = [n for n in self.nodes if n in self.node2pending]
            if not alive:
                return
            self.kept = alive[0]
        others = [n for n in self.node2pending if n is not self.kept]
        if any(self.node2pending[n] for n in others):
            return
        held, self.held = self.held, []
        self.node2pending[self.kept].extend(held)
        self.kept.send_runtest_some(held)
        self.serial_say(f"running {len(held)} serial test(s) alone on {self.kept.gateway.id}")
        self.kept.shutdown()

    def add_node(self, node: Any) -> None:
        super().add_node(node)  # type: ignore[misc]
        _wrap_shutdown(self, node)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        super().mark_test_complete(node, item_index, duration)  # type: ignore[misc]
        self.serial_release()

    def remove_node(self, node: Any) -> str | None:
        crashitem: str | None = super().remove_node(node)  # type: ignore[misc]
        if node is self.kept and self.held:
            self.deferred = True  # the next node alive takes them
        self.serial_release()
        return crashitem


_CLASSES: dict[type, type] = {}


def hold_serial(sched: Any, path: str, say: Callable[[str], None]) -> None:
    """Let ``sched`` (a load scheduler before its first ``schedule()``) hold the serial tests
    back once it knows the collection (``path``: the marked nodeids the workers wrote)."""
    pending = _HeldBack(sched, path, say)
    pending.extend(sched.pending)
    sched.pending = pending


def _become_serial(sched: Any, held: list[int], say: Callable[[str], None]) -> None:
    base = type(sched)
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type(f"Serial{base.__name__}", (SerialMixin, base), {})
    sched.__class__ = cls
    sched.serial_say, sched.held, sched.deferred = say, held, False
    sched.kept = sched.nodes[0]
    for node in sched.nodes:
        _wrap_shutdown(sched, node)
    say(
        f"{len(held)} serial test(s) held back: they run after the others, alone, on "
        f"{sched.kept.gateway.id}"
    )


def _wrap_shutdown(sched: Any, node: Any) -> None:
    real = node.shutdown
    node.shutdown = lambda: sched.serial_shutdown(node, real)
