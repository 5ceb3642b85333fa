"""``hotlap run`` and ``hotlap demo``: prepare (history, impact), run pytest, show it, export."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hotlap.channel import ENV_LINGER
from hotlap.commands.options import parse_run_args

if TYPE_CHECKING:
    from hotlap.export.report import RunMeta
    from hotlap.model.run_context import RunContext
    from hotlap.model.run_state import RunState
    from hotlap.protocol import Event
    from hotlap.runner.command import WorkerChoice
    from hotlap.runner.headless import EtaFn, RegressionFn
    from hotlap.runner.session import RunSession


def _is_headless(ns: argparse.Namespace) -> bool:
    return bool(ns.headless or os.environ.get("CI") or not sys.stdout.isatty())


def _hooks(ctx: object) -> list[object]:
    found = []
    for name in ("hotlap.history.hooks", "hotlap.impact.hooks"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.append(module.make_hooks(ctx))
    return found


def run_main(
    ns: argparse.Namespace,
    pytest_args: list[str],
    *,
    cwd: Path | None = None,
    project: Path | None = None,
    title: str | None = None,
    display_args: list[str] | None = None,
) -> int:
    """``hotlap run``: prepare (history, impact), run pytest, show it, export, record."""
    # Only what starting pytest needs is imported before it starts; the rest (the model, the
    # protocol's classes, exports) loads while pytest does (0.5 s or more).
    from hotlap.model.run_context import RunContext
    from hotlap.resources.cores import effective_cores
    from hotlap.runner.command import choose_workers, pytest_command
    from hotlap.runner.session import RunSession

    cwd = cwd or Path.cwd()
    shuffle_env: dict[str, str] = {}
    if getattr(ns, "shuffle", False):
        from hotlap.commands.safety import shuffle_args

        pytest_args, shuffle_env = shuffle_args(ns, list(pytest_args), cwd)
    ctx = RunContext(project or cwd, list(pytest_args), ns)
    ctx.exits_after_run = _is_headless(ns) or not _ui_available()
    hooks = _hooks(ctx)
    for hook in hooks:
        hook.prepare(ctx)  # type: ignore[attr-defined]
    for note in ctx.notes:
        print(f"hotlap: {note}", file=sys.stderr)
    if ctx.skip_reason:
        print(f"hotlap: {ctx.skip_reason}; nothing to run")
        return 0
    shard_args, shard_file = _shard_args(ns, ctx)
    cores = effective_cores()
    # pytest chooses -n (hotlap.plugin.workers); the headless log prints its reason.
    choice = choose_workers(cap=_memory_cap(ctx, cores))
    env = {**ctx.env, **choice.env, **shuffle_env}
    if ns.hang_after:
        env["HOTLAP_HANG_AFTER"] = str(ns.hang_after)
    if ns.kill_after:
        env["HOTLAP_KILL_AFTER"] = str(ns.kill_after)
    if getattr(ns, "serial_marker", None):
        env["HOTLAP_SERIAL_MARKER"] = ns.serial_marker

    events: list[Event] = []
    hazards: list[Event] = []  # what tests left changed in their process (hotlap safety)
    keep_events = bool(ns.record)
    find_polluters = bool(getattr(ns, "find_polluters", False) or getattr(ns, "shuffle", False))
    if find_polluters:
        ctx.pytest_args = _with_randomly_seed(ctx.pytest_args, cwd)
        keep_events = True

    def on_drain(batch: list[Event]) -> None:
        if keep_events:
            events.extend(batch)
        hazards.extend(e for e in batch if e.kind == "hazard")

    def new_session(args: list[str], *, whole: bool = True) -> RunSession:
        events.clear()  # --record keeps the last run (the dashboard's r/f start new ones)
        hazards.clear()
        # The shard is of the whole suite: rerunning named (failed) tests runs them all.
        sharded = [*shard_args, *args] if whole else args
        return RunSession(
            args,
            cwd,
            env,
            command=pytest_command(sharded, choice, ctx.project),
            on_drain=on_drain,
        )

    try:
        started = time.time()

        def after_run(state: RunState) -> None:
            """Keep the hazards of a run that ran tests (not --collect-only, not -k none)."""
            ran = not state.session.dry_run and any(t.done for t in state.tests.values())
            if ran and not ns.no_history:
                from hotlap.commands.safety import record_hazards

                record_hazards(ctx.project, hazards, started)

        code = _run(
            ns, ctx, cwd, hooks, choice, cores, new_session, events, title, display_args,
            after_run,
        )  # fmt: skip
        if ns.json and hazards:
            from hotlap.commands.safety import add_to_report
            from hotlap.protocol import Hazard
            from hotlap.safety.hazards import linked, to_json

            found = linked([to_json(h) for h in hazards if isinstance(h, Hazard)])
            add_to_report(ns.json, "hazards", found)
        if find_polluters:
            from hotlap.commands.safety import report_polluters

            report_polluters(ns, ctx.pytest_args, cwd, events)
        return code
    finally:
        if shard_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(shard_file)


def headless_linger(interval: float) -> float:
    """How long a test process may hold quick tests' events in a headless run (seconds): a
    quarter of the log's progress interval, from the dashboard's 20 ms up to half a second.
    Failures, crashes and hangs are sent at once whatever this is."""
    return max(0.02, min(0.5, interval / 4))


def _run(
    ns: argparse.Namespace,
    ctx: RunContext,
    cwd: Path,
    hooks: list[object],
    choice: WorkerChoice,
    cores: float,
    new_session: Callable[..., RunSession],
    events: list[Event],
    title: str | None,
    display_args: list[str] | None,
    after_run: Callable[[RunState], None],
) -> int:
    """The run itself, shown and exported (the rest of :func:`run_main`)."""
    from hotlap.model.run_context import pytest_started
    from hotlap.runner.command import pytest_command, shell_command
    from hotlap.runner.hooks import Finisher
    from hotlap.runner.session import RunSession

    source = new_session(ctx.pytest_args)
    started_wall, started = time.time(), time.monotonic()
    headless = _is_headless(ns) or not _ui_available()
    interval = ns.progress_interval or (10.0 if os.environ.get("CI") else 2.0)
    if headless:
        _interrupt_on_termination()
        source.extra_env[ENV_LINGER] = str(headless_linger(interval))
    try:
        if headless:
            source.start()  # now: what follows overlaps pytest's start-up
            pytest_started(hooks, ctx)
        from hotlap.export.files import write_exports
        from hotlap.export.report import RunMeta
        from hotlap.model.run_state import RunState
    except BaseException:  # Ctrl-C here must not leave pytest running
        source.close()
        raise

    state = RunState()

    def make_meta(state: RunState, code: int) -> RunMeta:
        return RunMeta(
            argv=[*source.command[3:]],
            exit_code=code,
            workers=len(state.workers),
            effective_cores=cores,
            start=started_wall,
            wall_time=time.monotonic() - started,
            cancelled=source.cancelled,
            malformed_events=(source.server.malformed if source.server else 0),
        )

    finisher = Finisher(hooks, ctx, make_meta)
    exported: list[RunMeta] = []  # the metadata the exports were written with

    def export(meta: RunMeta) -> list[str]:
        """Write the exports asked for; what to tell the user."""
        exported[:] = [meta]
        try:
            written = write_exports(
                state,
                meta,
                json_path=ns.json,
                durations_path=ns.durations_file,
                record_path=ns.record,
                events=events,
                history=finisher.summary,
                durations_merge=not ns.durations_clean,
            )
        except OSError as exc:
            written = list(getattr(exc, "written", []))
            return [f"could not write an export: {exc}", *(f"wrote {p}" for p in written)]
        return [f"wrote {path}" for path in written]

    def session_end(state: RunState) -> list[str]:
        """As pytest's session ends, before its summary line is shown: history, impact and
        the exports, and what they have to say."""
        meta = finisher.early(state)
        if meta is None:
            return []
        lines = [*finisher.messages, *export(meta)]
        finisher.messages.clear()
        return [f"hotlap: {line}" for line in lines]

    eta = _eta_function()
    if headless:
        from hotlap.runner.headless import run_headless

        def debug_hint(nodeid: str) -> str:
            command = shell_command(debug_args(ctx.pytest_args, _here(nodeid, state, cwd), cwd))
            shuffled = getattr(ns, "shuffled", None)
            if shuffled:  # the test alone; its order is the seed's (a comment: still pastable)
                seed = shuffled["seed"]
                command += f"  # the shuffled order again: hotlap run --shuffle --seed {seed}"
            return command

        try:
            code = run_headless(
                source,
                state,
                expected=ctx.expected,
                eta=eta,
                interval=interval,
                regressions=_regression_function(ctx.baseline),
                on_session_end=session_end,
                debug_hint=debug_hint,
            )
        finally:
            source.close()
    else:
        from hotlap.runner.command import WorkerChoice
        from hotlap.runner.foreground import ForegroundSession
        from hotlap.runner.source import EventSource
        from hotlap.ui.app import run_dashboard

        def start_run(kind: str, nodeids: list[str]) -> RunSession:
            if kind == "all":
                return new_session(ctx.pytest_args)
            return new_session(_with_nodeids(ctx.pytest_args, nodeids), whole=False)

        def start_debug(nodeid: str, trace: bool) -> ForegroundSession:
            # Not the run's environment: no history or impact recording, whose timings
            # would include the time spent in pdb.
            args = debug_args(ctx.pytest_args, nodeid, cwd, trace=trace)
            return ForegroundSession(
                args, cwd, command=pytest_command(args, WorkerChoice([], -1, ""))
            )

        def find_polluters(shown: RunState, nodeid: str) -> str:
            from hotlap.commands.safety import polluter_line

            return polluter_line(shown, nodeid, ctx.pytest_args, cwd)

        def keep_last(last_state: RunState, last_source: EventSource) -> None:
            nonlocal state, source
            if isinstance(last_source, ForegroundSession):
                return  # a debug run: exports and history keep the run before it
            state = last_state
            if isinstance(last_source, RunSession):
                source = last_source

        pytest_started(hooks, ctx)  # the dashboard starts pytest as it opens
        try:
            code = run_dashboard(
                source,
                state,
                title=title or f"hotlap · {cwd.name}",
                pytest_args=display_args if display_args is not None else ctx.pytest_args,
                effective_cores=cores,
                expected=ctx.expected,
                slow_threshold=ns.slow_threshold or 1.0,
                start_run=start_run,
                on_exit=keep_last,
                regressions=_regression_function(ctx.baseline),
                start_debug=start_debug,
                find_polluters=find_polluters,
            )
        finally:
            source.close()
        if state.session.workers_reason:  # the headless log says it as the run starts
            print(f"hotlap: {state.session.workers_reason}", file=sys.stderr)
    for hook in hooks:
        settle = getattr(hook, "settle", None)
        if settle is not None:
            settle(0.1)  # what is left when hotlap exits is done next time
    after_run(state)
    # After a debug run (the exit code), the exports describe the run before it.
    meta = finisher.final(state, source.returncode if source.returncode is not None else code)
    for message in finisher.messages:
        print(f"hotlap: {message}", file=sys.stderr)
    if not state.session.hotlap_version and code in (0, 1, 2, 5) and not source.cancelled:
        # pytest ran its session, but hotlap's plugin never spoke: its tests are not in the
        # report, the durations or history.
        print(
            "hotlap: pytest sent no events: is hotlap's plugin disabled (-p no:hotlap)? "
            "Nothing of this run is in hotlap's report, durations or history.",
            file=sys.stderr,
        )
    if not exported:
        for line in export(meta):
            print(f"hotlap: {line}", file=sys.stderr)
    elif (exported[0].exit_code, exported[0].cancelled) != (meta.exit_code, meta.cancelled) or (
        ns.record and events
    ):
        # Written as the session ended: again, with how pytest exited and its last events.
        for line in export(meta):
            if not line.startswith("wrote "):
                print(f"hotlap: {line}", file=sys.stderr)
    return code


def _with_randomly_seed(args: list[str], cwd: Path) -> list[str]:
    """``args`` with a ``--randomly-seed`` when pytest-randomly runs without one: the reruns
    of a polluter search need the seed the run used (each test reseeds ``random`` with it)."""
    from hotlap.safety.polluters import randomly_active

    if not randomly_active(args, cwd) or any(
        "randomly-seed" in a or "randomly_seed" in a for a in args
    ):
        return args
    import random

    return [*args, f"--randomly-seed={random.randrange(2**32)}"]


def _shard_args(ns: argparse.Namespace, ctx: RunContext) -> tuple[list[str], str | None]:
    """The plugin's arguments for ``--shard K/N``, and a temporary file to remove after the
    run: the durations that balance the shards are the ``--durations-file`` (read before the
    run overwrites it), else what history expects, else none (balanced by count)."""
    shard = getattr(ns, "shard", None)
    if not shard:
        return [], None
    args = ["--hotlap-shard", shard]
    if getattr(ns, "durations_file", None):
        return [*args, "--hotlap-shard-durations", os.path.abspath(ns.durations_file)], None
    import json
    import tempfile

    fd, path = tempfile.mkstemp(prefix="hotlap-shard-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(ctx.expected, f)
    return [*args, "--hotlap-shard-durations", path], path


def _memory_cap(ctx: RunContext, cores: float) -> int:
    """At most this many workers when history says more would not fit in memory (0: none)."""
    if not ctx.peak_rss:
        return 0
    from hotlap.history.hooks import suggest_workers
    from hotlap.resources.cores import available_memory

    suggested = suggest_workers(ctx, cores, available_memory())
    return max(1, suggested) if suggested is not None else 0


def _interrupt_on_termination() -> None:
    """SIGTERM and SIGHUP (a CI timeout, a closed terminal) stop the run like Ctrl-C does, so
    pytest, which runs in its own process group, is never left behind."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, handler)


def debug_args(args: list[str], nodeid: str, cwd: Path, *, trace: bool = False) -> list[str]:
    """``args``' options and ``nodeid`` alone, under pdb, in one process."""
    from hotlap.impact.fingerprint import split_args
    from hotlap.runner.command import debug_arguments

    options, _paths = split_args(args, cwd)
    return debug_arguments(options, nodeid, cwd, trace=trace)


def _here(nodeid: str, state: RunState, cwd: Path) -> str:
    """``nodeid`` as a pytest argument from this shell's directory (pytest ran in ``cwd``,
    node ids are relative to its rootdir): relative when below it, else absolute."""
    file, sep, rest = nodeid.partition("::")
    root = state.session.rootdir or str(cwd)
    path = os.path.join(root, file)
    local = os.path.relpath(path)
    return (path if local.startswith("..") else local) + sep + rest


def _with_nodeids(args: list[str], nodeids: list[str], cwd: Path | None = None) -> list[str]:
    """``args`` with its test paths replaced by ``nodeids``; options and their values kept."""
    from hotlap.impact.fingerprint import split_args

    options, _paths = split_args(args, cwd or Path.cwd())
    return [*options, *nodeids]


def _regression_function(baseline: dict[str, list[float]]) -> RegressionFn | None:
    """Live slow-regression checks against history's baseline, when there is one."""
    if not baseline:
        return None
    from hotlap.history.analysis import LiveRegressions, limits_of

    return LiveRegressions(limits_of(baseline))


def _eta_function() -> EtaFn | None:
    try:
        from hotlap.history.eta import LiveEta
    except ImportError:
        return None
    return LiveEta()


def _ui_available() -> bool:
    try:
        importlib.import_module("hotlap.ui.app")
    except ImportError:
        return False
    return True


def demo_main(argv: list[str]) -> int:
    """``hotlap demo``: the bundled demo suite, in the dashboard (headless without a TTY)."""
    from hotlap.demo import demo_pytest_args, suite_path

    ns, pytest_args = parse_run_args("hotlap demo", argv)
    state_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hotlap" / "demo"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        ns.no_history = True
    ns.no_impact = True
    return run_main(
        ns,
        [*demo_pytest_args(), *pytest_args],
        cwd=suite_path(),
        project=state_dir,
        title="hotlap demo",
        display_args=["(bundled demo suite)", *pytest_args],
    )


def run_command(argv: list[str]) -> int:
    """``hotlap run [HOTLAP OPTIONS] [PYTEST ARGS...]``."""
    ns, pytest_args = parse_run_args("hotlap run", argv, config=Path.cwd())
    return run_main(ns, pytest_args)
