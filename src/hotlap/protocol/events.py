"""Events: frozen dataclasses of builtin types, one per thing that happens in a run.

Every event carries where it comes from (``worker``: ``gw0``…, ``main`` for a run without
xdist, ``controller`` for the xdist controller, ``app`` for the app's own sampler), the
sending ``pid`` and ``t``, a ``time.monotonic()`` timestamp. On Linux and macOS the
monotonic clock is system-wide, so timestamps from different processes compare.

Nothing here may import pytest or Textual: both ends of the socket share this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

#: Bumped on any incompatible change of an event's fields or meaning (a new kind is not one:
#: the plugin and the app it talks to come from the same install). A new field with a default
#: is not one either: a line without it decodes to the default.
PROTOCOL_VERSION = 1


@dataclass(frozen=True, slots=True)
class Event:
    """Fields every event has."""

    kind: ClassVar[str] = "event"
    worker: str
    pid: int
    t: float


@dataclass(frozen=True, slots=True)
class SessionStart(Event):
    """The pytest session began (sent by the xdist controller or the single process)."""

    kind: ClassVar[str] = "session_start"
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


@dataclass(frozen=True, slots=True)
class WorkerStart(Event):
    """A process that runs tests is up (an xdist worker, or ``main`` without xdist).

    ``host`` and ``python`` (``3.12.1``) say where it runs: an xdist worker may run on another
    machine (``--tx ssh=…``, ``--tx socket=…``) or under another interpreter
    (``--tx popen//python=…``). Empty when not known.
    """

    kind: ClassVar[str] = "worker_start"
    wall: float
    host: str = ""
    python: str = ""


@dataclass(frozen=True, slots=True)
class CollectionFinish(Event):
    """A collecting process finished collection; every xdist worker sends one."""

    kind: ClassVar[str] = "collection_finish"
    count: int
    nodeids: list[str]
    deselected: int = 0


@dataclass(frozen=True, slots=True)
class CollectError(Event):
    """A collector (module, class, …) failed to collect."""

    kind: ClassVar[str] = "collect_error"
    nodeid: str
    longrepr: str


@dataclass(frozen=True, slots=True)
class CollectSkip(Event):
    """A collector was skipped (``pytest.importorskip`` or ``skip(allow_module_level=True)``
    at import): pytest counts it as one skipped."""

    kind: ClassVar[str] = "collect_skip"
    nodeid: str
    reason: str


@dataclass(frozen=True, slots=True)
class TestStart(Event):
    """A test's run protocol began (``pytest_runtest_logstart``); ``rss``: the worker's RSS
    in bytes before the test."""

    __test__: ClassVar[bool] = False
    kind: ClassVar[str] = "test_start"
    nodeid: str
    path: str
    line: int
    domain: str
    rss: int = 0


@dataclass(frozen=True, slots=True)
class TestReport(Event):
    """One phase of a test finished (``pytest_runtest_logreport``).

    ``category`` is what ``pytest_report_teststatus`` said (``passed``, ``failed``, ``error``,
    ``skipped``, ``xfailed``, ``xpassed``, ``rerun``, … or ``""`` for a phase pytest does not
    count), so hotlap's counts are pytest's own even with plugins that add categories.
    ``cpu`` is the worker's CPU seconds spent in the phase; ``rss`` its RSS after the teardown
    (0 for the other phases: reading it costs time on every test) and ``maxrss`` its peak RSS
    so far, in bytes.
    """

    __test__: ClassVar[bool] = False
    kind: ClassVar[str] = "test_report"
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


@dataclass(frozen=True, slots=True)
class TestDone(Event):
    """A test whose setup, call and teardown all passed quietly, in one event.

    The common case in a large suite, sent instead of three :class:`TestReport` events: its
    call counted as ``passed`` and no phase captured output. ``setup``, ``call`` and
    ``teardown`` are the phases' seconds; ``start``/``stop`` the wall-clock bounds of the
    whole test (setup start, teardown stop); ``cpu`` the worker's CPU seconds over the three
    phases; ``rss`` its RSS after the teardown and ``maxrss`` its peak so far, in bytes.
    Anything else (a failure, a skip, output, a plugin's own category) still travels as
    per-phase reports.
    """

    __test__: ClassVar[bool] = False
    kind: ClassVar[str] = "test_done"
    nodeid: str
    setup: float
    call: float
    teardown: float
    start: float
    stop: float
    cpu: float
    rss: int
    maxrss: int


@dataclass(frozen=True, slots=True)
class FixtureSetup(Event):
    """A fixture was really set up (cached values are not reported).

    ``duration`` is inclusive; ``own`` excludes fixtures set up from inside it (e.g. by
    ``request.getfixturevalue``). ``nodeid`` is the test that paid for the setup.
    """

    kind: ClassVar[str] = "fixture_setup"
    name: str
    scope: str
    location: str
    nodeid: str
    duration: float
    own: float
    failed: bool = False


@dataclass(frozen=True, slots=True)
class FixtureTeardown(Event):
    """A fixture's finalizers ran; ``nodeid`` is the test whose teardown paid for it."""

    kind: ClassVar[str] = "fixture_teardown"
    name: str
    scope: str
    location: str
    nodeid: str
    duration: float


@dataclass(frozen=True, slots=True)
class WorkerCrash(Event):
    """A worker died; ``nodeid`` is the test it was running ("" if none is known)."""

    kind: ClassVar[str] = "worker_crash"
    crashed_worker: str
    nodeid: str
    reason: str


@dataclass(frozen=True, slots=True)
class HangStack(Event):
    """The current Python stack of a worker whose test has run longer than the hang limit."""

    kind: ClassVar[str] = "hang_stack"
    nodeid: str
    elapsed: float
    stack: str


@dataclass(frozen=True, slots=True)
class SessionFinish(Event):
    """The session ended; ``stats`` are pytest's own summary counts by category."""

    kind: ClassVar[str] = "session_finish"
    exitstatus: int
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResourceSample(Event):
    """One sample of the test processes, taken by the app (``worker == "app"``).

    ``processes`` holds ``[pid, worker, cpu_percent, rss_bytes]`` rows, where ``worker`` is the
    lane the pid belongs to ("" for a process not known to be a worker). ``per_core`` is the
    machine's load per logical CPU in percent.
    """

    kind: ClassVar[str] = "resource_sample"
    processes: list[list[Any]]
    total_cpu: float
    total_rss: int
    per_core: list[float]
    mem_total: int
    mem_available: int
    effective_cores: float


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
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
        HangStack,
        SessionFinish,
        ResourceSample,
    )
}
