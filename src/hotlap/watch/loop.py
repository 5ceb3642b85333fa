"""One watch cycle (select → run → record) and the headless watch loop."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from hotlap.export.report import RunMeta
from hotlap.impact.engine import apply_selection
from hotlap.impact.selection import Selection
from hotlap.model.run_context import RunContext, RunHooks, pytest_started
from hotlap.model.run_state import RunState
from hotlap.watch.watcher import ProjectWatchFeed

if TYPE_CHECKING:
    from hotlap.watch.spare import SparePytest


def make_run_hooks(ctx: RunContext) -> list[RunHooks]:
    """History (unless --no-history) and impact hooks for one cycle's run."""
    found: list[RunHooks] = []
    if not getattr(ctx.options, "no_history", True):
        try:
            from hotlap.history.hooks import make_hooks as history_hooks
        except ImportError:
            pass
        else:
            found.append(history_hooks(ctx))
    from hotlap.impact.hooks import make_hooks

    found.append(make_hooks(ctx, merge_now=True))
    return found


@dataclass
class CyclePlan:
    """What one cycle runs."""

    args: list[str]
    count: int  # tests/paths selected, -1 for all
    reason: str
    kind: str = "selection"  # or "all", "none"


def plan_cycle(selection: Selection, pytest_args: list[str], root: Path, cwd: Path) -> CyclePlan:
    """The pytest arguments for ``selection``."""
    if selection.full_run:
        return CyclePlan(list(pytest_args), -1, selection.reason, "all")
    if not selection.tests:
        return CyclePlan([], 0, selection.reason, "none")
    args, count = apply_selection(pytest_args, selection, root, cwd)
    if not count:
        return CyclePlan([], 0, "nothing selected under the given paths", "none")
    return CyclePlan(args, count, selection.reason)


class IdleWork(Protocol):
    """Work done between cycles (``hotlap watch --mutate``): started when a cycle ends,
    polled while waiting for changes, cancelled by the next change."""

    def cycle_done(self, exit_code: int | None, paths: list[str] | None = None) -> None: ...

    def poll(self) -> object: ...

    def changed(self, paths: list[str]) -> None: ...


@dataclass
class CycleResult:
    """How a cycle's run ended."""

    exit_code: int
    summary: str
    failed: list[str] = field(default_factory=list)
    cancelled: bool = False


def run_cycle(
    args: list[str],
    ns: argparse.Namespace,
    project: Path,
    cwd: Path,
    *,
    should_cancel: Callable[[], bool] = lambda: False,
    on_line: Callable[[str], None] | None = None,
    spare: SparePytest | None = None,
) -> tuple[CycleResult, list[str]]:
    """Run pytest once through the run engine, recording impact; (result, messages).

    ``on_line`` gets each failure ("FAILED nodeid") as it happens and pytest's summary line
    as soon as pytest prints it, before the run is wrapped up and recorded. pytest is
    ``spare`` when it fits; a new spare is started as soon as pytest has exited."""
    from hotlap.runner.command import choose_workers, pytest_command
    from hotlap.watch.spare import SpareSession

    ctx = RunContext(project, list(args), ns)
    hooks = make_run_hooks(ctx)
    for hook in hooks:
        hook.prepare(ctx)
    choice = choose_workers()
    # No resource sampling: nobody shows it headless, and it would cost CPU on every save.
    source = SpareSession(
        ctx.pytest_args,
        cwd,
        {**ctx.env, **choice.env},
        command=pytest_command(ctx.pytest_args, choice, ctx.project),
        sample=False,
        spare=spare,
    )
    state = RunState()
    started_wall, started = time.time(), time.monotonic()
    cancelled = False
    reported = 0
    summary_said = False

    def report() -> None:
        nonlocal reported, summary_said
        if on_line is None or cancelled:
            return
        while reported < len(state.failures):
            on_line(f"FAILED {state.failures[reported]}")
            reported += 1
        if source.summary_line and not summary_said:
            summary_said = True
            on_line(source.summary_line)

    source.start()
    pytest_started(hooks, ctx)
    try:
        while True:
            for event in source.drain():
                state.apply(event)
            report()
            code = source.poll()
            if code is not None:
                for event in source.drain():
                    state.apply(event)
                report()
                break
            if not cancelled and should_cancel():
                cancelled = True
                source.cancel()
            # Short: the summary line is shown on the next pass (a pass costs ~50 µs).
            time.sleep(0.01)
    finally:
        source.close()
        if spare is not None:
            spare.launch()  # while the run is recorded and the user edits
    meta = RunMeta(
        argv=list(ctx.pytest_args),
        exit_code=code,
        workers=len(state.workers),
        start=started_wall,
        wall_time=time.monotonic() - started,
        cancelled=cancelled,
    )
    messages = [*ctx.notes]
    for hook in hooks:
        messages.extend(hook.finish(ctx, state, meta))
    failed = [n for n, t in state.tests.items() if t.outcome in ("failed", "error") or t.crashed]
    summary = source.summary_line or f"no summary line (pytest exit code {code})"
    if on_line is not None and not cancelled and not summary_said:
        on_line(summary)
    return CycleResult(code, summary, failed, cancelled), messages


def headless_watch(
    feed: ProjectWatchFeed,
    ns: argparse.Namespace,
    project: Path,
    cwd: Path,
    pytest_args: list[str],
    out: TextIO,
    *,
    stop: threading.Event | None = None,
    interrupt: bool = False,
    spare: SparePytest | None = None,
    idle: IdleWork | None = None,
) -> int:
    """Watch until ``stop`` is set (or Ctrl-C): per cycle, print the changed files, how many
    tests were selected and why, and pytest's summary line. Runs use ``spare`` (a pytest
    started while idle) when it fits; ``idle`` works between a cycle and the next change."""
    from hotlap.impact.engine import compute_selection

    stop = stop or threading.Event()
    if spare is not None:
        spare.launch()

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    failed: list[str] = []
    root = feed.root
    warnings: list[str] = []
    if feed.no_impact:
        selection = Selection(True, "impact recording is off (--no-impact)")
    else:
        selection, warnings = compute_selection(project, pytest_args)
    for warning in warnings:
        say(f"hotlap watch: {warning}")
    say("hotlap watch: initial run")
    batch_paths: list[str] = []
    while not stop.is_set():
        plan = plan_cycle(selection, pytest_args, root, cwd)
        if plan.kind == "none":
            say(f"hotlap watch: 0 selected ({plan.reason})")
        else:
            label = "all tests" if plan.kind == "all" else str(plan.count)
            say(f"hotlap watch: {label} selected ({plan.reason})")
            result, messages = run_cycle(
                plan.args,
                ns,
                project,
                cwd,
                should_cancel=lambda: stop.is_set() or (interrupt and feed.has_pending()),
                on_line=say,
                spare=spare,
            )
            for message in messages:
                if message.startswith("impact: recorded"):
                    continue
                say(f"hotlap watch: {message}")
            if result.cancelled and not stop.is_set():
                say("hotlap watch: run cancelled by a new change; restarting with all changes")
                feed.requeue(batch_paths)
            else:
                failed = result.failed
                if idle is not None:
                    idle.cycle_done(result.exit_code, batch_paths)
        feed.wait_ready()
        say("hotlap watch: waiting for changes")
        batch = None
        while batch is None and not stop.is_set():
            feed.changed.wait(0.05)
            if idle is not None:
                idle.poll()
            batch = feed.take()
            if batch is None:
                time.sleep(0.02)
        if batch is None:
            break
        batch_paths = batch.paths
        if idle is not None:
            idle.changed(batch.paths)
        say(f"hotlap watch: changed: {', '.join(batch.paths)}")
        selection = feed.select(batch, failed)
    return 0
