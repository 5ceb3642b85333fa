"""The serial hold-back of :mod:`hotlap.plugin.serial`, mixed into a load scheduler.

Both xdist's ``LoadScheduling`` and hotlap's ``LongestFirstScheduling`` fill
``self.pending`` by a slice assignment once the collection is known, hand tests out from it,
and call ``node.shutdown()`` when it is empty. So: ``pending`` becomes a list that keeps the
serial indices out of that first assignment; one node (the first) has its shutdown deferred
while serial tests are held; the others are shut down as usual; when they have completed
everything (their ``node2pending`` is empty or they are gone), the held tests are sent to the
kept node, which is then shut down too. The node runs what it had queued first, one test at
a time, while no other worker runs anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any


class _HeldBack(list):  # type: ignore[type-arg]
    """``pending``: the first slice assignment with the collection's order loses the serial
    indices to ``owner.held``."""

    def __init__(self, owner: Any) -> None:
        super().__init__()
        self.owner = owner

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, slice) and not self.owner.serial_read:
            value = self.owner.serial_hold(value)
        super().__setitem__(key, value)


class SerialMixin:
    """Mixed before the scheduler's own class (see :func:`hold_serial`)."""

    serial_path: str
    serial_say: Callable[[str], None]
    serial_read: bool
    held: list[int]
    kept: Any
    deferred: bool

    # What the scheduler classes have.
    collection: list[str] | None
    pending: list[int]
    node2pending: dict[Any, list[int]]
    nodes: list[Any]

    def serial_hold(self, indices: Iterable[int]) -> list[int]:
        self.serial_read = True
        try:
            with open(self.serial_path, encoding="utf-8") as f:
                marked = set(json.load(f))
        except (OSError, ValueError):
            marked = set()
        order = list(indices)
        collection = self.collection or []
        self.held = [i for i in order if collection[i] in marked]
        if self.held:
            self.kept = self.nodes[0]
            self.serial_say(
                f"{len(self.held)} serial test(s) held back: they run after the others, "
                f"alone, on {self.kept.gateway.id}"
            )
        return [i for i in order if collection[i] not in marked]

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
        real = node.shutdown
        node.shutdown = lambda: self.serial_shutdown(node, real)

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
    """Turn ``sched`` (a load scheduler before its first ``schedule()``) into one that holds
    the serial tests back."""
    base = type(sched)
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type(f"Serial{base.__name__}", (SerialMixin, base), {})
    sched.__class__ = cls
    sched.serial_path, sched.serial_say = path, say
    sched.serial_read, sched.held, sched.kept, sched.deferred = False, [], None, False
    pending = _HeldBack(sched)
    pending.extend(sched.pending)
    sched.pending = pending
