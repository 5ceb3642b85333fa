"""Merging CI shards' event records (``--record``) into one run that replays as a whole.

Each shard's record is a run of its own: its own session start and end, worker ids that the
other shards reuse (``gw0``), times on its own machine's monotonic clock. The merged record
has one session (started when the first shard started, ended when the last one ended, with
pytest's counts summed), one collection (every shard's tests), each shard's workers renamed
``s1/gw0``… when shards share ids (as ``hotlap merge`` does in reports), and every event moved
onto one timeline by the shards' wall-clock starts. Resource samples of the shards' machines
add up into samples of all of them together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import msgspec

from hotlap.protocol import (
    CollectionFinish,
    Event,
    HangStack,
    ResourceSample,
    SessionFinish,
    SessionStart,
    TestDone,
    TestReport,
    TestStart,
    WorkerCrash,
    WorkerStart,
)

#: Senders that are not lanes: their names stay as they are.
_NOT_LANES = frozenset(("controller", "app"))
#: Senders whose collection's deselected count is the run's.
_NOT_XDIST = frozenset(("main", "controller"))
#: Events that belong to one test's run (dropped from the earlier of two shards that ran it).
_TEST_EVENTS = (TestStart, TestReport, TestDone, HangStack)


class RecordMergeError(Exception):
    """Records that cannot be merged; the message is one line for the user."""


@dataclasses.dataclass
class _Shard:
    name: str
    events: list[Event]
    start: SessionStart | None
    finish: SessionFinish | None
    #: (monotonic t, wall clock) of one moment of the shard: its start.
    anchor: tuple[float, float] | None
    collected: list[str]
    deselected: int | None


def _shard(name: str, events: list[Event]) -> _Shard:
    start = next((e for e in events if isinstance(e, SessionStart)), None)
    finish = next((e for e in reversed(events) if isinstance(e, SessionFinish)), None)
    anchor: tuple[float, float] | None = None
    if start is not None:
        anchor = (start.t, start.wall)
    else:
        first = next((e for e in events if isinstance(e, WorkerStart)), None)
        if first is not None:
            anchor = (first.t, first.wall)
    collection = next((e for e in events if isinstance(e, CollectionFinish) and e.nodeids), None)
    # Like RunState: only a single process's deselected count is the run's (xdist workers'
    # are not shown, as pytest's summary under xdist does not show them).
    single = next(
        (e for e in events if isinstance(e, CollectionFinish) and e.worker in _NOT_XDIST), None
    )
    return _Shard(
        name,
        events,
        start,
        finish,
        anchor,
        list(collection.nodeids) if collection else [],
        single.deselected if single is not None else None,
    )


def _exit_status(codes: list[int]) -> int:
    """The worst of the shards' exit codes, as pytest ranks them (5 only if all found none)."""
    worst = [c for c in codes if c not in (0, 1, 5)]
    if worst:
        return max(worst)
    if 1 in codes:
        return 1
    return 5 if codes and all(c == 5 for c in codes) else 0


def unshard_deselected(total: int, shards: int, tests: int) -> int:
    """The deselected count of the whole run from the sum of the shards' own.

    Every shard deselects the tests the others run, plus what the user's ``-k``/``-m``
    deselected (D) in each: the sum is ``shards * D + (shards - 1) * tests``.
    """
    left = total - (shards - 1) * tests
    return max(0, round(left / shards)) if shards else 0


def merge_records(
    inputs: Sequence[tuple[str, list[Event]]], *, allow_duplicates: bool = False
) -> tuple[list[Event], list[str]]:
    """One record of the whole suite from the shards' records; (events, warnings)."""
    if not inputs:
        raise RecordMergeError("nothing to merge: give at least one record")
    warnings: list[str] = []
    shards = [_shard(name, list(events)) for name, events in inputs]
    for shard in shards:
        if shard.anchor is None:
            raise RecordMergeError(f"{shard.name} has no session or worker start: not a record")
    walls = [s.anchor[1] for s in shards if s.anchor is not None]
    wall0 = min(walls)
    first = min(shards, key=lambda s: s.anchor[1] if s.anchor else 0.0)
    assert first.anchor is not None
    base = first.anchor[0]
    # Lanes are renamed when shards share an id (always, under xdist): s1/gw0, s2/gw0.
    lanes = [{e.worker for e in s.events if isinstance(e, WorkerStart)} for s in shards]
    seen: set[str] = set()
    rename = False
    for ids in lanes:
        if ids & seen:
            rename = True
        seen |= ids
    # Which shard ran each test (the last one, when duplicates are allowed).
    owner: dict[str, int] = {}
    for i, shard in enumerate(shards):
        ran = {e.nodeid for e in shard.events if isinstance(e, (TestStart, TestDone))}
        for nodeid in sorted(ran):
            if nodeid in owner and not allow_duplicates:
                raise RecordMergeError(
                    f"{nodeid} ran in both {shards[owner[nodeid]].name} and {shard.name}"
                    " (use --allow-duplicates to keep the later one)"
                )
            if nodeid in owner:
                warnings.append(f"{nodeid} ran in more than one record; the later kept")
            owner[nodeid] = i
    merged: list[Event] = []
    samples: list[tuple[int, ResourceSample]] = []
    for i, shard in enumerate(shards):
        assert shard.anchor is not None
        shift = base - shard.anchor[0] + (shard.anchor[1] - wall0)
        prefix = f"s{i + 1}/" if rename else ""
        for event in shard.events:
            if isinstance(event, (SessionStart, SessionFinish, CollectionFinish)):
                continue  # one of each for the whole run, below
            if isinstance(event, _TEST_EVENTS) and owner.get(event.nodeid, i) != i:
                continue
            moved = _moved(event, shift, prefix)
            if isinstance(moved, ResourceSample):
                samples.append((i, moved))
            else:
                merged.append(moved)
    collected: list[str] = []
    listed: set[str] = set()
    for shard in shards:
        for nodeid in shard.collected:
            if nodeid not in listed:
                listed.add(nodeid)
                collected.append(nodeid)
    known = [s.deselected for s in shards if s.deselected is not None]
    deselected = 0
    if len(known) == len(shards):
        deselected = unshard_deselected(sum(known), len(shards), len(collected))
    times = [e.t for e in merged] or [base]
    start = _merged_start(shards, base, wall0)
    collection_t = min(
        (
            e.t + base - s.anchor[0] + (s.anchor[1] - wall0)
            for s in shards
            if s.anchor is not None
            for e in s.events
            if isinstance(e, CollectionFinish)
        ),
        default=start.t,
    )
    collection = CollectionFinish(
        "controller",
        start.pid,
        collection_t,
        count=len(collected),
        nodeids=collected,
        deselected=deselected,
    )
    finishes = [(s, s.finish) for s in shards if s.finish is not None]
    if len(finishes) < len(shards):
        warnings.append("a record has no session end (a cancelled or crashed shard)")
    tail: list[Event] = []
    if finishes:
        end = max(
            f.t + base - s.anchor[0] + (s.anchor[1] - wall0)
            for s, f in finishes
            if s.anchor is not None
        )
        stats: dict[str, int] = {}
        for _, f in finishes:
            for key, n in f.stats.items():
                stats[key] = stats.get(key, 0) + int(n)
        if "deselected" in stats:
            left = unshard_deselected(stats.pop("deselected"), len(finishes), len(collected))
            if left:
                stats["deselected"] = left
        codes = [f.exitstatus for _, f in finishes]
        if len(finishes) < len(shards):
            codes.append(2)  # a shard that never ended was interrupted
        last = max(end, max(times))
        tail.append(SessionFinish("controller", start.pid, last, _exit_status(codes), stats))
    # One timeline, in time order (the collection first among equals: tests follow it).
    body = sorted([collection, *merged, *_summed_samples(samples)], key=lambda e: e.t)
    return [start, *body, *tail], warnings


def _merged_start(shards: list[_Shard], base: float, wall0: float) -> SessionStart:
    starts = [s.start for s in shards if s.start is not None]
    numprocesses = sum(s.numprocesses for s in starts)
    if starts:
        first = min(starts, key=lambda s: s.wall)
        return msgspec.structs.replace(first, t=base, wall=wall0, numprocesses=numprocesses)
    return SessionStart(
        "controller", 0, base, wall=wall0, role="controller", argv=[], rootdir="",
        hotlap_version="", pytest_version="", xdist_version="", python_version="",
        numprocesses=0,
    )  # fmt: skip


def _lane(name: str, prefix: str) -> str:
    return name if not prefix or not name or name in _NOT_LANES else prefix + name


def _moved(event: Event, shift: float, prefix: str) -> Event:
    """``event`` on the merged timeline, its lanes renamed."""
    changes: dict[str, Any] = {"t": event.t + shift, "worker": _lane(event.worker, prefix)}
    if isinstance(event, WorkerCrash):
        changes["crashed_worker"] = _lane(event.crashed_worker, prefix)
    elif isinstance(event, ResourceSample):
        changes["processes"] = [
            [row[0], _lane(row[1], prefix), *row[2:]]
            if len(row) > 1 and isinstance(row[1], str)
            else row
            for row in event.processes
        ]
    return msgspec.structs.replace(event, **changes)


def _summed_samples(samples: list[tuple[int, ResourceSample]]) -> list[Event]:
    """The machines' samples as samples of all of them: at each sample's time, every shard
    that is sampling contributes its latest sample (CPU, memory and cores add up)."""
    if not samples:
        return []
    samples.sort(key=lambda s: s[1].t)
    bounds: dict[int, tuple[float, float]] = {}
    for shard, sample in samples:
        lo, hi = bounds.get(shard, (sample.t, sample.t))
        bounds[shard] = (min(lo, sample.t), max(hi, sample.t))
    latest: dict[int, ResourceSample] = {}
    out: list[Event] = []
    for shard, sample in samples:
        latest[shard] = sample
        live = [
            latest[s]
            for s in sorted(latest)
            if bounds[s][0] <= sample.t <= bounds[s][1] + 1.0  # a shard that stopped sampling
        ]
        out.append(
            ResourceSample(
                "app",
                sample.pid,
                sample.t,
                processes=[row for s in live for row in s.processes],
                total_cpu=sum(s.total_cpu for s in live),
                total_rss=sum(s.total_rss for s in live),
                per_core=[load for s in live for load in s.per_core],
                mem_total=sum(s.mem_total for s in live),
                mem_available=sum(s.mem_available for s in live),
                effective_cores=sum(s.effective_cores for s in live),
            )
        )
    return out
