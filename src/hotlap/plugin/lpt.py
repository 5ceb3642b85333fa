"""The xdist scheduler behind :mod:`hotlap.plugin.schedule` (imported only when it is used).

It keeps xdist's ``LoadScheduling`` bookkeeping (``pending`` holds indices into the
collection, ``node2pending`` what each worker was sent, the first of which it runs now) and
changes only the order of ``pending`` and how much a worker is sent at a time.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScheduling

from hotlap.history.analysis import median
from hotlap.plugin.schedule import LOOKAHEAD

#: The least a test is assumed to take (seconds).
MIN_WEIGHT = 0.001
#: Tests shorter than this (seconds) may be queued two deep on a worker.
SHORT = 0.25
#: A unit goes ahead of pytest's order only when it takes at least this many seconds …
MOVE_MIN = 0.05
#: … and at least this fraction (1/MOVE_SHARE) of a worker's share of the suite: started last,
#: a shorter one stretches the run by less than that.
MOVE_SHARE = 20


class LongestFirstScheduling(LoadScheduling):  # type: ignore[misc]
    """LPT over the long units (single tests, or tests grouped around a shared expensive
    fixture); the others in pytest's order."""

    def __init__(
        self,
        config: pytest.Config,
        log: Any,
        durations: dict[str, float],
        groups: dict[str, str],
    ) -> None:
        super().__init__(config, log)
        self.durations = durations
        self.groups = groups
        self.weight: list[float] = []
        self.collection: list[str] | None = None
        #: Size of the unit that starts at a pending index (absent: a single test).
        self.unit_size: dict[int, int] = {}
        #: Expected seconds of everything sent to a node and not completed yet, kept as tests
        #: are sent and completed: summing a worker's queue on every completed test cost the
        #: controller O(queue) per test.
        self.queued: dict[Any, float] = {}

    # -- order --------------------------------------------------------------------------------
    def _plan(self, collection: list[str]) -> list[int]:
        known = [self.durations[n] for n in collection if n in self.durations]
        # Unknown tests weigh as a typical known one. A floor keeps zero-second tests from
        # looking free: a worker's queue is bounded by time, and load must grow per test.
        fill = median(known) if known else LOOKAHEAD
        self.weight = [max(MIN_WEIGHT, self.durations.get(n, fill)) for n in collection]
        units: dict[str, list[int]] = {}
        for i, nodeid in enumerate(collection):
            key = self.groups.get(nodeid)
            units.setdefault(f"group:{key}" if key else f"test:{i}", []).append(i)
        # Only units long enough to stretch the run if started late go first, longest first;
        # the others keep pytest's order (at their first test), as xdist would run them. A
        # suite whose quick tests depend on the order they run in keeps passing.
        cut = max(MOVE_MIN, sum(self.weight) / (max(1, self.numnodes) * MOVE_SHARE))
        sized = [(sum(self.weight[i] for i in unit), unit) for unit in units.values()]
        heavy = sorted((s for s in sized if s[0] >= cut), key=lambda s: (-s[0], s[1][0]))
        ordered = [unit for _, unit in heavy] + [unit for size, unit in sized if size < cut]
        pending: list[int] = []
        for unit in ordered:
            if len(unit) > 1:
                self.unit_size[unit[0]] = len(unit)
            pending.extend(unit)
        return pending

    # -- distribution ---------------------------------------------------------------------
    def _ahead(self, node: Any) -> float:
        """Expected seconds queued on ``node`` beyond the test it runs now."""
        pending: list[int] = self.node2pending[node]
        if not pending:
            return 0.0
        return max(0.0, self.queued.get(node, 0.0) - self.weight[pending[0]])

    def _take_unit(self) -> list[int]:
        size = self.unit_size.pop(self.pending[0], 1)
        unit: list[int] = self.pending[:size]
        del self.pending[:size]
        return unit

    def _send(self, node: Any, indices: list[int]) -> None:
        if indices:
            self.node2pending[node].extend(indices)
            self.queued[node] = self.queued.get(node, 0.0) + sum(self.weight[i] for i in indices)
            node.send_runtest_some(indices)

    def _fill(self, node: Any) -> None:
        batch: list[int] = []
        weight = 0.0
        while self.pending and self._needs_with(node, batch, weight):
            unit = self._take_unit()
            batch.extend(unit)
            weight += sum(self.weight[i] for i in unit)
        self._send(node, batch)

    def _needs_with(self, node: Any, batch: list[int], batch_weight: float) -> bool:
        """Whether ``node``, once sent ``batch`` (``batch_weight`` seconds), should get the
        next unit of the queue too."""
        pending = self.node2pending[node]
        count = len(pending) + len(batch)
        if count < 2:
            return True  # a worker runs a test only once it knows the next one
        ahead = self._ahead(node) + batch_weight
        if not pending:
            ahead -= self.weight[batch[0]]
        if ahead < LOOKAHEAD:
            return True
        # A second short test in reserve lets the worker go on while the controller answers;
        # a long one would be committed to this worker too early.
        return count < 3 and bool(self.pending) and self.weight[self.pending[0]] < SHORT

    def _hungry(self, node: Any) -> bool:
        """Whether a node that just completed a test is topped up now. Below two tests, always;
        short tests are topped up only once half the lookahead is gone, so that a worker
        running tiny tests gets them in batches, not one message per test."""
        return len(self.node2pending[node]) < 2 or self._ahead(node) < LOOKAHEAD / 2

    def _shutdown_if_done(self) -> None:
        if not self.pending:
            for node in self.nodes:
                if not node.shutting_down:
                    node.shutdown()

    def schedule(self) -> None:
        """First distribution: each unit, longest first, to the node with least expected work."""
        assert self.collection_is_completed
        if self.collection is not None:
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.node2collection.values())))
        if not self.collection:
            return
        self.pending[:] = self._plan(self.collection)
        assigned = {node: [] for node in self.nodes}  # type: dict[Any, list[int]]
        load = dict.fromkeys(self.nodes, 0.0)
        while self.pending:
            hungry = [
                n
                for n in self.nodes
                if self._needs_with(n, assigned[n], load[n]) and not n.shutting_down
            ]
            if not hungry:
                break
            node = min(hungry, key=lambda n: load[n])
            unit = self._take_unit()
            assigned[node].extend(unit)
            load[node] += sum(self.weight[i] for i in unit)
        for node, indices in assigned.items():
            self._send(node, indices)
        self._shutdown_if_done()

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        """A node finished a test: top it up from the head of the queue (the longest left)."""
        if node.shutting_down:
            return
        if self.pending and self._hungry(node):
            self._fill(node)
        self._shutdown_if_done()

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        left = self.queued.get(node, 0.0) - self.weight[item_index]
        # Float sums drift: an emptied queue is exactly empty.
        self.queued[node] = left if len(self.node2pending[node]) > 1 and left > 0 else 0.0
        super().mark_test_complete(node, item_index, duration)

    def remove_node(self, node: Any) -> str | None:
        self.queued.pop(node, None)
        crashitem: str | None = super().remove_node(node)
        return crashitem

    def mark_test_pending(self, item: str) -> None:
        assert self.collection is not None
        self.pending.insert(0, self.collection.index(item))
        for node in self.nodes:
            self.check_schedule(node)


def make_scheduler(
    config: pytest.Config, log: Any, durations: dict[str, float], groups: dict[str, str]
) -> LongestFirstScheduling:
    return LongestFirstScheduling(config, log, durations, groups)
