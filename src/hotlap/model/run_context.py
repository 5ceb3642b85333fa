"""One run being prepared, and what a subsystem (history, impact) does around it: the data
the CLI, the runner and the subsystems share (see :mod:`hotlap.runner.hooks`)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hotlap.export.report import RunMeta
    from hotlap.model.run_state import RunState


@dataclass
class RunContext:
    """One run being prepared: where, with which arguments, and what is known beforehand."""

    project: Path
    pytest_args: list[str]
    options: argparse.Namespace
    env: dict[str, str] = field(default_factory=dict)
    #: Expected seconds per nodeid (from history), for the ETA and scheduling.
    expected: dict[str, float] = field(default_factory=dict)
    #: Earlier durations per nodeid (from history), for live slow-regression checks.
    baseline: dict[str, list[float]] = field(default_factory=dict)
    #: The largest peak RSS in bytes a test process reached in recent runs (0: unknown).
    peak_rss: int = 0
    #: Human-readable notes to print before the run ("history: 3 runs", …).
    notes: list[str] = field(default_factory=list)
    #: Set by a hook to skip running pytest (e.g. ``--affected`` found nothing to run).
    skip_reason: str = ""
    #: hotlap exits as soon as the run ends (headless): background work a hook starts then
    #: is cut short, and done again next time.
    exits_after_run: bool = False
    #: This run's impact data is in the impact store already (merged as the run ended).
    impact_merged: bool = False


class RunHooks(Protocol):
    """What a subsystem does around a run. Both methods must never raise."""

    def prepare(self, ctx: RunContext) -> None: ...

    def finish(self, ctx: RunContext, state: RunState, meta: RunMeta) -> list[str]:
        """Called after the run; returns messages for the user (warnings, findings)."""
        ...


def pytest_started(hooks: Iterable[object], ctx: RunContext) -> None:
    """Tell the hooks that have a ``started(ctx)`` method that pytest has been started: work
    they deferred until then overlaps pytest's start-up instead of delaying it."""
    for hook in hooks:
        started = getattr(hook, "started", None)
        if started is not None:
            started(ctx)
