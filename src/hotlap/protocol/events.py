"""Events: frozen msgspec Structs of builtin types, one per thing that happens in a run.

Every event carries where it comes from (``worker``: ``gw0``…, ``main`` for a run without
xdist, ``controller`` for the xdist controller, ``app`` for the app's own sampler), the
sending ``pid`` and ``t``, a ``time.monotonic()`` timestamp. On Linux and macOS the
monotonic clock is system-wide, so timestamps from different processes compare.

On the wire an event is one JSON object whose ``kind`` (the class name in snake case) says
which class it is; msgspec encodes and decodes it in C and checks every field's type, so a
worker pays about a microsecond per event and a test that patches ``json`` changes nothing.

Nothing here may import pytest or Textual: both ends of the socket share this module.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import msgspec

#: Bumped on any incompatible change of an event's fields or meaning (a new kind is not one:
#: the plugin and the app it talks to come from the same install). A new field with a default
#: is not one either: a line without it decodes to the default. It travels in a connection's
#: hello, not in every event. 2: msgspec, no ``v`` per event.
PROTOCOL_VERSION = 2


def _kind(name: str) -> str:
    """``TestDone`` -> ``test_done``: an event class's tag on the wire."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Event(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag=_kind):
    """Fields every event has."""

    kind: ClassVar[str] = "event"
    worker: str
    pid: int
    t: float


class SessionStart(Event, frozen=True):
    """The pytest session began (sent by the xdist controller or the single process)."""

    wall: float
    role: str
    argv: list[str]
    rootdir: str
    hotlap_version: str
    pytest_version: str
    xdist_version: str
    python_version: str
    numprocesses: int
    #: pytest only collects or plans (``--collect-only``, ``--setup-only``, ``--setup-plan``):
    #: its "passed" tests ran no test code, and their seconds measure nothing.
    dry_run: bool = False
    #: The host the session runs on (workers elsewhere say theirs in :class:`WorkerStart`).
    host: str = ""
    #: Why hotlap chose this ``numprocesses`` ("" when the user chose it): see
    #: ``hotlap.plugin.workers``.
    workers_reason: str = ""
    #: pytest's ``--capture`` method ("fd", "sys", "no", "tee-sys"; "" when not known).
    capture: str = ""


class WorkerStart(Event, frozen=True):
    """A process that runs tests is up (an xdist worker, or ``main`` without xdist).

    ``host`` and ``python`` (``3.12.1``) say where it runs: an xdist worker may run on another
    machine (``--tx ssh=…``, ``--tx socket=…``) or under another interpreter
    (``--tx popen//python=…``). Empty when not known.
    """

    wall: float
    host: str = ""
    python: str = ""


class CollectionFinish(Event, frozen=True):
    """A collecting process finished collection; every xdist worker sends one."""

    count: int
    nodeids: list[str]
    deselected: int = 0


class CollectError(Event, frozen=True):
    """A collector (module, class, …) failed to collect."""

    nodeid: str
    longrepr: str


class CollectSkip(Event, frozen=True):
    """A collector was skipped (``pytest.importorskip`` or ``skip(allow_module_level=True)``
    at import): pytest counts it as one skipped."""

    nodeid: str
    reason: str


class TestStart(Event, frozen=True):
    """A test's run protocol began (``pytest_runtest_logstart``); ``rss``: the worker's RSS
    in bytes before the test."""

    __test__: ClassVar[bool] = False
    nodeid: str
    path: str
    line: int
    domain: str
    rss: int = 0


class TestReport(Event, frozen=True):
    """One phase of a test finished (``pytest_runtest_logreport``).

    ``category`` is what ``pytest_report_teststatus`` said (``passed``, ``failed``, ``error``,
    ``skipped``, ``xfailed``, ``xpassed``, ``rerun``, … or ``""`` for a phase pytest does not
    count), so hotlap's counts are pytest's own even with plugins that add categories.
    ``cpu`` is the worker's CPU seconds spent in the phase; ``rss`` its RSS after the teardown
    (0 for the other phases: reading it costs time on every test) and ``maxrss`` its peak RSS
    so far, in bytes.
    """

    __test__: ClassVar[bool] = False
    nodeid: str
    when: str
    outcome: str
    category: str
    counts: bool
    duration: float
    start: float
    stop: float
    cpu: float
    rss: int
    maxrss: int
    longrepr: str = ""
    stdout: str = ""
    stderr: str = ""
    log: str = ""
    crash_path: str = ""
    crash_line: int = 0
    wasxfail: str = ""
    message: str = ""  # the failure's one-line message (what pytest's short summary shows)


class TestDone(Event, frozen=True):
    """A test whose setup, call and teardown all passed quietly, in one event.

    The common case in a large suite, sent instead of three :class:`TestReport` events: its
    call counted as ``passed`` and no phase captured output. ``setup``, ``call`` and
    ``teardown`` are the phases' seconds; ``start``/``stop`` the wall-clock bounds of the
    whole test (setup start, teardown stop); ``cpu`` the worker's CPU seconds over the three
    phases; ``rss`` its RSS after the teardown and ``maxrss`` its peak so far, in bytes.
    Anything else (a failure, a skip, output, a plugin's own category) still travels as
    per-phase reports.

    A quick test sends no :class:`TestStart` (one event per test is most of what streaming
    a large suite costs): ``began`` (its ``time.monotonic()`` at logstart), ``path``,
    ``line``, ``domain`` and ``rss_before`` then say what the start would have. They are
    zero/empty when a TestStart was sent (a test that ran past the sink's linger time).
    """

    __test__: ClassVar[bool] = False
    nodeid: str
    setup: float
    call: float
    teardown: float
    start: float
    stop: float
    cpu: float
    rss: int
    maxrss: int
    began: float = 0.0
    path: str = ""
    line: int = 0
    domain: str = ""
    rss_before: int = 0


class FixtureSetup(Event, frozen=True):
    """A fixture was really set up (cached values are not reported).

    ``duration`` is inclusive; ``own`` excludes fixtures set up from inside it (e.g. by
    ``request.getfixturevalue``). ``nodeid`` is the test that paid for the setup.
    """

    name: str
    scope: str
    location: str
    nodeid: str
    duration: float
    own: float
    failed: bool = False


class FixtureTeardown(Event, frozen=True):
    """A fixture's finalizers ran; ``nodeid`` is the test whose teardown paid for it."""

    name: str
    scope: str
    location: str
    nodeid: str
    duration: float


class WorkerCrash(Event, frozen=True):
    """A worker died; ``nodeid`` is the test it was running ("" if none is known)."""

    crashed_worker: str
    nodeid: str
    reason: str


class RecoveredReports(Event, frozen=True):
    """What the xdist controller knows of a dead worker's tests, sent when it died.

    A worker sends quick tests in batches (every 0.1 s), so one that dies may take its last
    tests' events with it; pytest still counts them, from the reports xdist relayed. Each row
    is ``[nodeid, when, outcome, category, counts, duration]``; the app applies the ones it
    has not seen.
    """

    crashed_worker: str
    reports: list[list[Any]]


class HangStack(Event, frozen=True):
    """The current Python stack of a worker whose test has run longer than the hang limit."""

    nodeid: str
    elapsed: float
    stack: str


class AssertDiff(Event, frozen=True):
    """A failed ``==`` in a test, explained as ``pytest -vv`` would (pytest's own lines:
    the summary, then the diff), whatever the run's verbosity. Sent when the assertion
    fails, before the test's report; a later one in the same test replaces it."""

    nodeid: str
    explanation: str


class Hazard(Event, frozen=True):
    """Something a test left changed in its process (``hotlap safety``): seen by comparing
    the process before its setup with after its teardown.

    ``hazard`` is ``env`` (``name`` the variable), ``cwd`` or ``sys.path``; ``before`` and
    ``after`` the values ("" for a variable that was not set / is gone), cut to 200 chars.
    """

    nodeid: str
    hazard: str
    name: str
    before: str
    after: str


class SessionFinish(Event, frozen=True):
    """The session ended; ``stats`` are pytest's own summary counts by category."""

    exitstatus: int
    stats: dict[str, int] = msgspec.field(default_factory=dict)


class ResourceSample(Event, frozen=True):
    """One sample of the test processes, taken by the app (``worker == "app"``).

    ``processes`` holds ``[pid, worker, cpu_percent, rss_bytes]`` rows, where ``worker`` is the
    lane the pid belongs to ("" for a process not known to be a worker). ``per_core`` is the
    machine's load per logical CPU in percent.
    """

    processes: list[list[Any]]
    total_cpu: float
    total_rss: int
    per_core: list[float]
    mem_total: int
    mem_available: int
    effective_cores: float


EVENT_TYPES: dict[str, type[Event]] = {
    _kind(cls.__name__): cls
    for cls in (
        SessionStart,
        WorkerStart,
        CollectionFinish,
        CollectError,
        CollectSkip,
        TestStart,
        TestReport,
        TestDone,
        FixtureSetup,
        FixtureTeardown,
        WorkerCrash,
        RecoveredReports,
        HangStack,
        AssertDiff,
        Hazard,
        SessionFinish,
        ResourceSample,
    )
}

for _name, _cls in EVENT_TYPES.items():
    _cls.kind = _name
