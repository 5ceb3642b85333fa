"""``hotlap watch [HOTLAP OPTIONS] [PYTEST ARGS...]``: rerun what each save can affect."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from hotlap.export.report import RunMeta
from hotlap.model.run_context import RunContext, RunHooks
from hotlap.model.run_state import RunState
from hotlap.protocol import Event
from hotlap.watch.loop import headless_watch, make_run_hooks, plan_cycle
from hotlap.watch.spare import SparePytest, SpareSession
from hotlap.watch.watcher import ProjectWatchFeed

if TYPE_CHECKING:
    from hotlap.mutate.watching import MutationWatch


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def parse_watch_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """hotlap's run options plus the watch ones; the rest goes to pytest."""
    from hotlap.commands.options import UsageError, add_run_options, parse_with_config

    parser = _Parser(prog="hotlap watch", allow_abbrev=False)
    add_run_options(parser)
    group = parser.add_argument_group("watch")
    group.add_argument(
        "--debounce",
        type=int,
        default=300,
        metavar="MS",
        help="hold a burst of changes (it ends after a 20 ms pause) for at most MS "
        "milliseconds before running (default 300)",
    )
    group.add_argument(
        "--interrupt",
        action="store_true",
        help="a change during a run cancels it and restarts with all changes "
        "(default: the run finishes and the change is queued)",
    )
    group.add_argument(
        "--poll", action="store_true", help="poll for changes instead of OS notifications"
    )
    group.add_argument(
        "--mutate",
        action="store_true",
        help="after a cycle's tests pass, mutate the changed code in the idle time (see "
        "`hotlap mutate`); the next save cancels it",
    )
    group.add_argument(
        "--no-prestart",
        action="store_true",
        help="start each run's pytest only when it is needed (default: while idle, an "
        "interpreter is started that imports pytest and waits for the next run)",
    )
    try:
        return parse_with_config(parser, argv, Path.cwd(), ignored=("shard",))
    except UsageError as exc:
        raise _UsageError(str(exc)) from exc


def watch_main(argv: list[str]) -> int:
    """Entry point of ``hotlap watch``."""
    try:
        ns, pytest_args = parse_watch_args(argv)
    except _UsageError as exc:
        print(f"hotlap: error: {exc}", file=sys.stderr)
        return 4
    cwd = Path.cwd()
    project = cwd

    def notice(message: str) -> None:
        print(f"hotlap watch: {message}", file=sys.stderr, flush=True)

    feed = ProjectWatchFeed(
        project,
        pytest_args,
        debounce_ms=ns.debounce,
        notice=notice,
        force_polling=ns.poll,
        no_impact=ns.no_impact,
    )
    spare = None
    if not ns.no_prestart:
        from hotlap.runner.plugins import left_out

        # The runs' commands leave out the plugins only hotlap brought: so does the spare.
        spare = SparePytest(cwd, pytest_args=[*left_out(project, pytest_args), *pytest_args])
    stop = threading.Event()
    mutation = None
    if ns.mutate:
        from hotlap.mutate.watching import MutationWatch

        mutation = MutationWatch(project, say=notice)

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        headless = bool(ns.headless or os.environ.get("CI") or not sys.stdout.isatty())
        if not headless:
            try:
                return _dashboard(feed, ns, project, cwd, pytest_args, spare, mutation)
            except ImportError:
                notice("the dashboard is not available; watching headless")
        return headless_watch(
            feed,
            ns,
            project,
            cwd,
            pytest_args,
            sys.stdout,
            stop=stop,
            interrupt=ns.interrupt,
            spare=spare,
            idle=mutation,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        feed.close()
        if spare is not None:
            spare.close()
        if mutation is not None:
            mutation.close()


class RecordingSource:
    """A run for the dashboard that records impact data when it ends (an EventSource)."""

    def __init__(
        self,
        args: list[str],
        ns: argparse.Namespace,
        project: Path,
        cwd: Path,
        spare: SparePytest | None = None,
    ) -> None:
        from hotlap.runner.command import choose_workers, pytest_command

        self.ctx = RunContext(project, list(args), ns)
        self.hooks: list[RunHooks] = make_run_hooks(self.ctx)
        for hook in self.hooks:
            hook.prepare(self.ctx)
        choice = choose_workers()
        self.session = SpareSession(
            self.ctx.pytest_args,
            cwd,
            {**self.ctx.env, **choice.env},
            command=pytest_command(self.ctx.pytest_args, choice, self.ctx.project),
            spare=spare,
        )
        self.spare = spare
        self.state = RunState()
        self.started = time.monotonic()
        self.recorded = False

    def start(self) -> None:
        self.session.start()

    def drain(self) -> list[Event]:
        events = self.session.drain()
        for event in events:
            self.state.apply(event)
        return events

    def cancel(self) -> None:
        self.session.cancel()

    def poll(self) -> int | None:
        code = self.session.poll()
        if code is not None and not self.recorded:
            self.recorded = True
            if self.spare is not None:
                self.spare.launch()  # for the next run, while this one is recorded
            meta = RunMeta(
                argv=list(self.ctx.pytest_args),
                exit_code=code,
                wall_time=time.monotonic() - self.started,
                cancelled=self.session.cancelled,
            )
            for hook in self.hooks:
                hook.finish(self.ctx, self.state, meta)
        return code

    def close(self) -> None:
        self.session.close()

    @property
    def cancelled(self) -> bool:
        return self.session.cancelled

    @property
    def summary_line(self) -> str:
        return self.session.summary_line

    @property
    def summary_text(self) -> str:
        return self.session.summary_text

    @property
    def output(self) -> str:
        return self.session.output

    @property
    def output_cut(self) -> int:
        return self.session.output_cut

    def output_since(self, seen: int) -> tuple[list[str], int]:
        return self.session.output_since(seen)


def _dashboard(
    feed: ProjectWatchFeed,
    ns: argparse.Namespace,
    project: Path,
    cwd: Path,
    pytest_args: list[str],
    spare: SparePytest | None = None,
    mutation: MutationWatch | None = None,
) -> int:
    from hotlap.commands.run import debug_args
    from hotlap.impact.engine import compute_selection
    from hotlap.resources.cores import effective_cores
    from hotlap.runner.command import WorkerChoice, pytest_command
    from hotlap.runner.foreground import ForegroundSession
    from hotlap.ui.app import run_dashboard

    first_args = list(pytest_args)
    if not feed.no_impact:
        selection, _warnings = compute_selection(project, pytest_args)
        plan = plan_cycle(selection, pytest_args, feed.root, cwd)
        if plan.kind != "none":
            first_args = plan.args

    def start_run(kind: str, nodeids: list[str]) -> RecordingSource:
        if kind == "all" or not nodeids:
            args = list(pytest_args)
        else:
            from hotlap.impact.selection import Selection

            sel = Selection(False, kind, {n: [] for n in nodeids})
            args = plan_cycle(sel, pytest_args, feed.root, cwd).args
        return RecordingSource(args, ns, project, cwd, spare)

    def start_debug(nodeid: str, trace: bool) -> ForegroundSession:
        # Not a RecordingSource: a run under pdb records no impact data or history.
        args = debug_args(pytest_args, nodeid, cwd, trace=trace)
        return ForegroundSession(args, cwd, command=pytest_command(args, WorkerChoice([], -1, "")))

    state = RunState()
    return run_dashboard(
        RecordingSource(first_args, ns, project, cwd),
        state,
        title=f"hotlap watch · {cwd.name}",
        pytest_args=pytest_args,
        effective_cores=effective_cores(),
        expected={},
        slow_threshold=ns.slow_threshold or 1.0,
        start_run=start_run,
        watch=feed,
        start_debug=start_debug,
        mutation=mutation,
    )
