"""Extension points of a run, so history and impact selection plug in without the CLI
knowing their internals.

The CLI builds a :class:`RunContext`, lets every :class:`RunHooks` ``prepare`` it (add
environment variables for the plugin, change the pytest arguments, supply expected
durations), runs pytest, then calls ``finish`` with the final state (through a
:class:`Finisher`, which may do it before pytest has quite exited).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

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


class RunHooks(Protocol):
    """What a subsystem does around a run. Both methods must never raise."""

    def prepare(self, ctx: RunContext) -> None: ...

    def finish(self, ctx: RunContext, state: RunState, meta: RunMeta) -> list[str]:
        """Called after the run; returns messages for the user (warnings, findings)."""
        ...


class Finisher:
    """Calls every hook's ``finish`` once per run, as soon as the run's outcome is known.

    A headless run calls :meth:`early` when pytest's session has ended (its last event):
    recording history and impact data then overlaps pytest's own shutdown (stopping the
    workers, the interpreter's exit), 0.3-0.7 s on a 2-core machine, instead of following
    it. :meth:`final` is called once pytest has exited. If the early call assumed another exit
    code than pytest exited with (a plugin failing after the session, a Ctrl-C in its last
    moments), hooks that have an ``amend`` method correct what they recorded.
    """

    def __init__(
        self,
        hooks: list[object],
        ctx: RunContext,
        make_meta: Callable[[RunState, int], RunMeta],
    ) -> None:
        self.hooks = hooks
        self.ctx = ctx
        self.make_meta = make_meta
        #: What the hooks said, for the user (printed after pytest's summary line).
        self.messages: list[str] = []
        self._done: RunMeta | None = None

    def early(self, state: RunState) -> None:
        from hotlap.model.run_state import RunPhase

        code = state.session.exitstatus
        if self._done is not None or code is None or state.phase is RunPhase.CANCELLED:
            return
        self._finish(state, self.make_meta(state, code))

    def final(self, state: RunState, code: int) -> RunMeta:
        """The run's metadata as pytest exited; finishes the hooks if :meth:`early` did not."""
        meta = self.make_meta(state, code)
        if self._done is None:
            self._finish(state, meta)
        elif (self._done.exit_code, self._done.cancelled) != (meta.exit_code, meta.cancelled):
            for hook in self.hooks:
                amend = getattr(hook, "amend", None)
                if amend is not None:
                    self.messages += amend(self.ctx, state, meta)
        return meta

    def _finish(self, state: RunState, meta: RunMeta) -> None:
        self._done = meta
        # History first: what it finds (regressions, flaky tests) belongs in the JSON report.
        for hook in self.hooks:
            self.messages += hook.finish(self.ctx, state, meta)  # type: ignore[attr-defined]

    @property
    def summary(self) -> dict[str, Any] | None:
        """History's findings for the JSON report, when a hook has them."""
        return next((s for h in self.hooks if (s := getattr(h, "summary", None)) is not None), None)
