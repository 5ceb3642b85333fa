"""The ``hotlap`` command.

``hotlap [run] [HOTLAP OPTIONS] [PYTEST ARGS...]``: options hotlap does not know go to pytest
unchanged, and ``--`` ends hotlap's options. Other subcommands: demo, watch, affected, report,
export, merge, replay.
"""

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

from hotlap import __version__

if TYPE_CHECKING:
    from hotlap.protocol import Event
    from hotlap.runner.command import WorkerChoice
    from hotlap.runner.headless import EtaFn, RegressionFn
    from hotlap.runner.hooks import RunContext

SUBCOMMANDS = ("run", "demo", "watch", "affected", "report", "export", "merge", "replay")

# Subcommands implemented by their own package: name -> "module:function".
_DELEGATED = {
    "watch": "hotlap.watch.commands:watch_main",
    "affected": "hotlap.impact.commands:affected_main",
    "report": "hotlap.history.commands:report_main",
    "export": "hotlap.history.commands:export_main",
    "merge": "hotlap.history.commands:merge_main",
    "replay": "hotlap.history.commands:replay_main",
}


class UsageError(Exception):
    """A mistake the user can fix; printed as one line, exit code 4 (pytest's usage error)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``hotlap run`` (also used by ``demo`` and ``watch``)."""
    view = parser.add_argument_group("view")
    view.add_argument(
        "--headless",
        action="store_true",
        help="no dashboard: a compact live log (automatic when stdout is not a "
        "terminal or CI is set)",
    )
    view.add_argument(
        "--progress-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between headless progress lines (default 2, 10 under CI)",
    )
    out = parser.add_argument_group("exports")
    out.add_argument("--json", metavar="PATH", help="write the versioned JSON report to PATH")
    out.add_argument(
        "--durations-file",
        metavar="PATH",
        help="write pytest-split's .test_durations to PATH, merged into the durations already "
        "there (as pytest --store-durations does)",
    )
    out.add_argument(
        "--durations-clean",
        action="store_true",
        help="replace the durations file with this run's tests only (pytest-split's "
        "--clean-durations)",
    )
    out.add_argument(
        "--record",
        metavar="PATH",
        help="write the raw event stream to PATH (JSON lines, replayable)",
    )
    hist = parser.add_argument_group("history and scheduling")
    hist.add_argument("--no-history", action="store_true", help="do not read or record history")
    hist.add_argument(
        "--no-schedule",
        dest="schedule",
        action="store_false",
        help="keep pytest's order (no longest-first scheduling)",
    )
    hist.add_argument(
        "--history-keep",
        type=int,
        default=50,
        metavar="N",
        help="runs kept in .hotlap/history.sqlite3 (default 50)",
    )
    hist.add_argument(
        "--slow-threshold",
        type=float,
        default=None,
        metavar="SECONDS",
        help="mark tests slower than SECONDS",
    )
    hist.add_argument(
        "--fail-unmarked-slow",
        action="store_true",
        help="fail the run when a test over --slow-threshold lacks @pytest.mark.slow",
    )
    hist.add_argument(
        "--reruns",
        type=int,
        default=0,
        metavar="N",
        help="rerun failures up to N times; report them flaky when they then pass",
    )
    imp = parser.add_argument_group("impact")
    imp.add_argument(
        "--no-impact", action="store_true", help="do not record what each test depends on"
    )
    imp.add_argument(
        "--affected",
        action="store_true",
        help="run only the tests the changes since the last run can affect",
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument(
        "--hang-after",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="report a test running longer than SECONDS as hanging, with its stack (default 60)",
    )
    faults.add_argument(
        "--kill-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="kill a worker whose test runs longer than SECONDS (off by default)",
    )


def _split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(hotlap part, pytest tail): everything after the first ``--`` goes to pytest."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def parse_run_args(prog: str, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """hotlap's options and the arguments for pytest, in their original order."""
    parser = _Parser(
        prog=prog,
        allow_abbrev=False,
        description="Run the project's pytest suite with a live dashboard.",
        epilog="Arguments hotlap does not know go to pytest unchanged; '--' ends hotlap's options.",
    )
    add_run_options(parser)
    own, tail = _split_args(argv)
    ns, unknown = parser.parse_known_args(own)
    return ns, [*unknown, *tail]


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
    from hotlap.resources.cores import effective_cores
    from hotlap.runner.command import choose_workers, pytest_command
    from hotlap.runner.hooks import Finisher, RunContext
    from hotlap.runner.session import RunSession

    cwd = cwd or Path.cwd()
    ctx = RunContext(project or cwd, list(pytest_args), ns)
    hooks = _hooks(ctx)
    for hook in hooks:
        hook.prepare(ctx)  # type: ignore[attr-defined]
    for note in ctx.notes:
        print(f"hotlap: {note}", file=sys.stderr)
    if ctx.skip_reason:
        print(f"hotlap: {ctx.skip_reason}; nothing to run")
        return 0
    known = len(ctx.expected) if ctx.expected and not ctx.pytest_args else None
    choice = choose_workers(ctx.pytest_args, cwd, known_tests=known)
    cores = effective_cores()
    if choice.workers > 1 and not ns.no_history:
        choice = _fit_memory(choice, ctx, cores)
    if choice.workers >= 0:
        print(f"hotlap: {choice.reason}", file=sys.stderr)
    env = dict(ctx.env)
    if ns.hang_after:
        env["HOTLAP_HANG_AFTER"] = str(ns.hang_after)
    if ns.kill_after:
        env["HOTLAP_KILL_AFTER"] = str(ns.kill_after)

    events: list[Event] = []

    def new_session(args: list[str]) -> RunSession:
        events.clear()  # --record keeps the last run (the dashboard's r/f start new ones)
        return RunSession(
            args,
            cwd,
            env,
            command=pytest_command(args, choice),
            on_drain=events.extend if ns.record else None,
        )

    source = new_session(ctx.pytest_args)
    started_wall, started = time.time(), time.monotonic()
    headless = _is_headless(ns) or not _ui_available()
    if headless:
        _interrupt_on_termination()
    try:
        if headless:
            source.start()  # now: what follows overlaps pytest's start-up
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
    eta = _eta_function()
    if headless:
        from hotlap.runner.headless import run_headless

        interval = ns.progress_interval or (10.0 if os.environ.get("CI") else 2.0)
        try:
            code = run_headless(
                source,
                state,
                expected=ctx.expected,
                eta=eta,
                interval=interval,
                regressions=_regression_function(ctx.baseline),
                on_session_end=finisher.early,
            )
        finally:
            source.close()
    else:
        from hotlap.runner.source import EventSource
        from hotlap.ui.app import run_dashboard

        def start_run(kind: str, nodeids: list[str]) -> RunSession:
            args = ctx.pytest_args if kind == "all" else _with_nodeids(ctx.pytest_args, nodeids)
            return new_session(args)

        def keep_last(last_state: RunState, last_source: EventSource) -> None:
            nonlocal state, source
            state = last_state
            if isinstance(last_source, RunSession):
                source = last_source

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
            )
        finally:
            source.close()
    meta = finisher.final(state, code)
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
        print(f"hotlap: could not write an export: {exc}", file=sys.stderr)
        written = list(getattr(exc, "written", []))
    for path in written:
        print(f"hotlap: wrote {path}", file=sys.stderr)
    return code


def _fit_memory(choice: WorkerChoice, ctx: RunContext, cores: float) -> WorkerChoice:
    """Fewer workers than cores when history says their peak RSS would not fit in memory."""
    try:
        import psutil

        from hotlap.history.hooks import suggest_workers
    except ImportError:
        return choice
    from hotlap.runner.command import WorkerChoice

    suggested = suggest_workers(ctx, cores, psutil.virtual_memory().available)
    if suggested is None or suggested >= choice.workers:
        return choice
    if suggested <= 1:
        return WorkerChoice(["-n", "0"], 0, "-n 0: the workers' peak memory (history) needs it")
    reason = f"-n {suggested}: {cores:g} effective cores, but the workers' peak memory (history)"
    return WorkerChoice(["-n", str(suggested)], suggested, reason)


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


def _with_nodeids(args: list[str], nodeids: list[str], cwd: Path | None = None) -> list[str]:
    """``args`` with its test paths replaced by ``nodeids``; options and their values kept."""
    from hotlap.impact.fingerprint import split_args

    options, _paths = split_args(args, cwd or Path.cwd())
    return [*options, *nodeids]


def _regression_function(baseline: dict[str, list[float]]) -> RegressionFn | None:
    """Live slow-regression checks against history's baseline, when there is one."""
    if not baseline:
        return None
    from hotlap.history.analysis import Limits, LiveRegressions

    return LiveRegressions(Limits(baseline))


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


def _usage() -> str:
    return (
        f"hotlap {__version__}: a live dashboard for pytest-xdist runs\n\n"
        "usage: hotlap [run] [HOTLAP OPTIONS] [PYTEST ARGS...]\n"
        "       hotlap demo | watch | affected | report | export | merge | replay  [-h]\n\n"
        "Arguments hotlap does not know go to pytest; '--' ends hotlap's options.\n"
        "`hotlap run -h` lists the run options."
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hotlap`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("--version", "-V"):
        print(f"hotlap {__version__}")
        return 0
    if argv and argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command = "run"
    if argv and argv[0] in SUBCOMMANDS:
        command, argv = argv[0], argv[1:]
    try:
        if command == "run":
            ns, pytest_args = parse_run_args("hotlap run", argv)
            return run_main(ns, pytest_args)
        if command == "demo":
            return demo_main(argv)
        module_name, func_name = _DELEGATED[command].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            print(f"hotlap: `hotlap {command}` is not available in this build", file=sys.stderr)
            return 4
        func: Callable[[list[str]], int] = getattr(module, func_name)
        return func(argv)
    except UsageError as exc:
        print(f"hotlap: error: {exc}", file=sys.stderr)
        return 4
    except OSError as exc:
        # The event socket, a fork, a pipe: the machine refused; say what, not a traceback.
        print(f"hotlap: error: {exc}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("hotlap: interrupted", file=sys.stderr)
        return 2
