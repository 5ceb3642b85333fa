"""Extension points of a run, so history and impact selection plug in without the CLI
knowing their internals.

The CLI builds a :class:`RunContext`, lets every :class:`RunHooks` ``prepare`` it (add
environment variables for the plugin, change the pytest arguments, supply expected
durations), runs pytest, then calls ``finish`` with the final state (through a
:class:`Finisher`, which may do it before pytest has quite exited).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hotlap.model.run_context import RunContext, RunHooks

if TYPE_CHECKING:
    from hotlap.export.report import RunMeta
    from hotlap.model.run_state import RunState

__all__ = ["Finisher", "RunContext", "RunHooks"]


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

    def early(self, state: RunState) -> RunMeta | None:
        """Finish the hooks as pytest's session ended (its exit status is known); the run's
        metadata as assumed then (None when it cannot be finished yet)."""
        from hotlap.model.run_state import RunPhase

        code = state.session.exitstatus
        if self._done is not None or code is None or state.phase is RunPhase.CANCELLED:
            return None
        meta = self.make_meta(state, code)
        self._finish(state, meta)
        return meta

    @property
    def done(self) -> RunMeta | None:
        """The metadata the hooks were finished with (None: not yet)."""
        return self._done

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
