"""The records a :class:`~hotlap.model.run_state.RunState` holds: tests, lanes, fixtures.

Plain data with a few derived values; only the reducer in ``run_state`` changes them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: How many resource samples a lane keeps for its sparklines.
LANE_HISTORY = 120


@dataclass
class TestRecord:
    """One test (one nodeid) and what happened to it."""

    __test__ = False

    nodeid: str
    worker: str = ""
    path: str = ""
    line: int = 0
    started: float | None = None
    finished: float | None = None
    phase: str = ""  # the phase running now: setup / call / teardown; "" when not running
    setup: float = 0.0
    call: float = 0.0
    teardown: float = 0.0
    cpu: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    rss_peak: int = 0
    outcome: str = ""  # "" while queued or running
    categories: list[str] = field(default_factory=list)
    longrepr: str = ""
    stdout: str = ""
    stderr: str = ""
    log: str = ""
    crash_path: str = ""
    crash_line: int = 0
    message: str = ""
    wasxfail: str = ""
    crashed: bool = False
    hang_stack: str = ""
    #: Seconds of fixtures wider than the function (module, session, …) set up or torn down
    #: during this test: whichever test comes first (or last) on a worker pays them.
    shared: float = 0.0
    hang_elapsed: float = 0.0
    #: Initials of the phases reported so far ("s", "c", "t"), to apply a dead worker's
    #: recovered reports only once.
    phases: str = ""
    #: pytest's ``-vv`` explanation of the last failed ``==`` in the test (see AssertDiff).
    diff: str = ""
    #: What the test left changed or touched outside its temporary directories (Hazard
    #: events: "env NAME", "file PATH", "port tcp/N", ...), each once.
    hazards: list[str] = field(default_factory=list)
    #: What a polluter search said about this failed test (the dashboard's ``p``).
    polluters: str = ""

    @property
    def duration(self) -> float:
        """Setup + call + teardown seconds (what pytest-split records)."""
        return self.setup + self.call + self.teardown

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def rss_delta(self) -> int:
        return self.rss_after - self.rss_before if self.rss_before and self.rss_after else 0


@dataclass
class WorkerLane:
    """One process that runs tests: an xdist worker, or ``main``."""

    id: str
    pid: int = 0
    started: float = 0.0
    current: str = ""  # nodeid running now
    phase: str = ""
    since: float = 0.0  # when ``current`` started
    tests_done: int = 0
    cpu_percent: float = 0.0
    rss: int = 0
    cpu_history: deque[float] = field(default_factory=lambda: deque(maxlen=LANE_HISTORY))
    rss_history: deque[int] = field(default_factory=lambda: deque(maxlen=LANE_HISTORY))
    crashed: bool = False
    crashed_in: str = ""
    crash_reason: str = ""
    finished: bool = False
    host: str = ""  # where it runs ("" when it did not say)
    python: str = ""  # its Python version

    @property
    def state(self) -> str:
        if self.crashed:
            return "crashed"
        if self.current:
            return "running"
        return "done" if self.finished else "idle"


@dataclass
class FixtureUse:
    """One real setup of a fixture (and its teardown, once seen)."""

    worker: str
    nodeid: str
    setup: float
    teardown: float | None = None
    teardown_nodeid: str = ""


@dataclass
class FixtureCost:
    """All setups of one fixture definition (name, scope, where it is defined)."""

    name: str
    scope: str
    location: str
    uses: list[FixtureUse] = field(default_factory=list)
    setup_total: float = 0.0
    teardown_total: float = 0.0
    failed: int = 0

    @property
    def count(self) -> int:
        return len(self.uses)

    @property
    def total(self) -> float:
        return self.setup_total + self.teardown_total

    @property
    def per_use(self) -> float:
        return self.total / self.count if self.uses else 0.0

    @property
    def modules(self) -> int:
        """Distinct test modules that paid for a setup."""
        return len({use.nodeid.split("::", 1)[0] for use in self.uses})

    def wider_scope_saving(self) -> tuple[str, float] | None:
        """(scope, seconds saved) if this function-scoped fixture were module-scoped.

        Module scope sets it up once per module instead of once per test, so the saving is the
        cost of all uses beyond the first in each module. Returns None for other scopes or when
        nothing would be saved.
        """
        if self.scope != "function" or self.count < 2:
            return None
        saving = self.total - self.per_use * self.modules
        return ("module", saving) if saving > 0 else None


@dataclass
class ResourcePoint:
    """Totals of one resource sample, kept for the run's charts and the report."""

    t: float
    total_cpu: float
    total_rss: int
    mem_available: int


@dataclass
class SessionInfo:
    """What the controller (or the single process) said about the session."""

    wall: float = 0.0
    start: float = 0.0
    #: The process that started the session: the xdist controller, or the single process.
    pid: int = 0
    argv: list[str] = field(default_factory=list)
    rootdir: str = ""
    hotlap_version: str = ""
    pytest_version: str = ""
    xdist_version: str = ""
    python_version: str = ""
    numprocesses: int = 0
    dry_run: bool = False
    host: str = ""
    workers_reason: str = ""  # why hotlap chose numprocesses ("" if the user did)
    capture: str = ""  # pytest's --capture method
    exitstatus: int | None = None
    finished: float | None = None
    pytest_stats: dict[str, int] = field(default_factory=dict)
