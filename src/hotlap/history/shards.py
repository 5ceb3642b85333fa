"""Splitting a suite into N CI shards of about equal seconds (``--shard K/N``).

Every shard job collects the same tests and computes the same plan from the same durations,
then keeps its own part: no coordination between the jobs, so the plan must depend on nothing
but the collected test ids, their durations and N. Ties are broken by test id, never by
collection order (pytest-split's least-duration mode relies on every job collecting in the
same order).

The plan is longest-first (LPT): units (a test, or tests that must stay together) sorted by
expected seconds, each given to the shard with the least so far; then a few moves and swaps
between the heaviest and the lightest shard while they narrow the gap. A test without a known
duration weighs the mean of the known tests of its file, else the mean of all known tests of
this collection, else 1 (no durations at all: the shards are balanced by count).
"""

from __future__ import annotations

import bisect
import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: How often the heaviest and the lightest shard may trade units after LPT.
REFINE_ROUNDS = 64
#: Below this gain (seconds) a trade is not worth making.
_EPSILON = 1e-9

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardSpecError(ValueError):
    """A ``K/N`` that is not one; the message is one line for the user."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``: shard K (1-based) of N."""
    match = _SPEC.match(text or "")
    if match is None:
        raise ShardSpecError(f"--shard wants K/N (e.g. 2/4), not {text!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1:
        raise ShardSpecError(f"--shard {text}: N must be at least 1")
    if not 1 <= k <= n:
        raise ShardSpecError(f"--shard {text}: K must be between 1 and {n}")
    return k, n


@dataclass(frozen=True)
class ShardPlan:
    """Which shard runs which test: ``shards[i]`` holds indices into the collection, in
    collection order; ``seconds[i]`` is what shard ``i + 1`` is expected to take."""

    shards: tuple[tuple[int, ...], ...]
    seconds: tuple[float, ...]

    def shard_of(self) -> list[int]:
        """Per collected test, its shard's index (0-based)."""
        out = [0] * sum(len(s) for s in self.shards)
        for i, members in enumerate(self.shards):
            for index in members:
                out[index] = i
        return out


def file_of(nodeid: str) -> str:
    """The file part of a test id (``tests/test_a.py``)."""
    return nodeid.split("::", 1)[0]


def weights(nodeids: Sequence[str], durations: Mapping[str, float]) -> list[float]:
    """Expected seconds per test: known, else its file's mean, else the suite's mean, else 1.

    Only durations of tests in this collection count (like pytest-split): a file's deleted
    tests do not skew its mean.
    """
    known: dict[int, float] = {}
    by_file: dict[str, list[float]] = {}
    for i, nodeid in enumerate(nodeids):
        seconds = durations.get(nodeid)
        if seconds is None or seconds != seconds or seconds < 0:  # NaN or negative: unknown
            continue
        known[i] = float(seconds)
        by_file.setdefault(file_of(nodeid), []).append(float(seconds))
    suite = sum(known.values()) / len(known) if known else 1.0
    file_mean = {f: sum(v) / len(v) for f, v in by_file.items()}
    return [
        known[i] if i in known else file_mean.get(file_of(nodeid), suite)
        for i, nodeid in enumerate(nodeids)
    ]


def plan_shards(
    nodeids: Sequence[str],
    durations: Mapping[str, float],
    n: int,
    groups: Mapping[str, str] | None = None,
) -> ShardPlan:
    """Split ``nodeids`` into ``n`` shards of about equal expected seconds.

    ``groups`` maps a test id to a key; tests with the same key land in the same shard (an
    ``xdist_group``, a ``loadscope`` class). The result depends only on the set of test ids,
    their durations, the groups and ``n``.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    weight = weights(nodeids, durations)
    groups = groups or {}
    members: dict[str, list[int]] = {}
    for i, nodeid in enumerate(nodeids):
        key = groups.get(nodeid)
        members.setdefault(f"g\0{key}" if key is not None else f"t\0{nodeid}\0{i}", []).append(i)
    # Units in a canonical order: heaviest first, then by their first test id.
    units = sorted(
        (
            (sum(weight[i] for i in idx), min(nodeids[i] for i in idx), tuple(sorted(idx)))
            for idx in members.values()
        ),
        key=lambda u: (-u[0], u[1]),
    )
    load = [0.0] * n
    assigned: list[list[tuple[float, str, tuple[int, ...]]]] = [[] for _ in range(n)]
    heap = [(0.0, s) for s in range(n)]
    for unit in units:
        total, shard = heapq.heappop(heap)
        assigned[shard].append(unit)
        load[shard] = total + unit[0]
        heapq.heappush(heap, (load[shard], shard))
    _refine(assigned, load)
    shards = tuple(tuple(sorted(i for unit in a for i in unit[2])) for a in assigned)
    return ShardPlan(shards, tuple(load))


def _refine(assigned: list[list[tuple[float, str, tuple[int, ...]]]], load: list[float]) -> None:
    """Narrow the gap between the heaviest and the lightest shard by moving one unit across
    or swapping two, whichever helps most, while that helps (deterministic: ties by id)."""
    if len(load) < 2:
        return
    for _ in range(REFINE_ROUNDS):
        heavy = max(range(len(load)), key=lambda s: (load[s], -s))
        light = min(range(len(load)), key=lambda s: (load[s], s))
        gap = load[heavy] - load[light]
        if gap <= _EPSILON:
            return
        # A trade of d seconds (heavy gives d net) leaves a gap of |gap - 2d|: best d = gap/2.
        best: tuple[float, str, int, int] | None = None  # (new gap, tie key, heavy i, light i)
        lights = sorted(
            ((u[0], u[1], j) for j, u in enumerate(assigned[light])), key=lambda x: (x[0], x[1])
        )
        light_weights = [w for w, _, _ in lights]
        for i, (w, name, _) in enumerate(assigned[heavy]):
            # Move alone (d = w), or swap with a lighter unit v (d = w - v), v near w - gap/2.
            candidates: list[tuple[float, str, int]] = [(0.0, "", -1)]
            target = w - gap / 2
            at = bisect.bisect_left(light_weights, target)
            for k in (at - 1, at):
                if 0 <= k < len(lights) and lights[k][0] < w:
                    candidates.append(lights[k])
            for v, vname, j in candidates:
                d = w - v
                if d <= _EPSILON or d >= gap:
                    continue
                new_gap = abs(gap - 2 * d)
                key = (new_gap, f"{name}\0{vname}", i, j)
                if best is None or key < best:
                    best = key
        if best is None or best[0] >= gap - _EPSILON:
            return
        _, _, i, j = best
        unit = assigned[heavy].pop(i)
        assigned[light].append(unit)
        load[heavy] -= unit[0]
        load[light] += unit[0]
        if j >= 0:
            other = assigned[light].pop(j)
            assigned[heavy].append(other)
            load[light] -= other[0]
            load[heavy] += other[0]


def read_durations_any(path: str | Path) -> dict[str, float]:
    """Durations from a pytest-split ``.test_durations`` or a hotlap schedule file; {} when
    the file is missing or holds no durations (a first run: shards balanced by count)."""
    from hotlap.history.plan import read_schedule

    durations, _ = read_schedule(path)
    return durations


def history_durations(project: Path) -> dict[str, float]:
    """Expected seconds per test from ``project/.hotlap`` history; {} if there is none.

    Never creates the store: a plain ``pytest --hotlap-shard`` in a project without history
    leaves no ``.hotlap`` directory behind.
    """
    import sqlite3

    from hotlap.history.hooks import Prepared, history_dir, load_prepared
    from hotlap.history.store import DB_NAME, HistoryError, HistoryStore

    directory = history_dir(project)
    if not (directory / DB_NAME).exists():
        return {}
    known = load_prepared(directory)
    if known is None:
        try:
            with HistoryStore.open(directory) as store:
                known = Prepared.read(store)
        except (OSError, HistoryError, sqlite3.Error):
            return {}
    return dict(known.expected)
