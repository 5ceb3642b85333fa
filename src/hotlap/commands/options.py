"""Options of ``hotlap run`` (also ``demo`` and ``watch``), and the split between hotlap's
arguments and pytest's."""

from __future__ import annotations

import argparse


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


def add_shard_option(parser: argparse.ArgumentParser) -> None:
    """``--shard K/N`` (``hotlap run`` and ``demo``; a watch cycle is never a CI shard)."""
    ci = parser.add_argument_group("CI shards")
    ci.add_argument(
        "--shard",
        metavar="K/N",
        default=None,
        help="run shard K of N: the suite split longest-first by the --durations-file's "
        "seconds (else history's), the same split in every shard job",
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
    add_shard_option(parser)
    own, tail = _split_args(argv)
    ns, unknown = parser.parse_known_args(own)
    if ns.shard is not None:
        from hotlap.history.shards import ShardSpecError, parse_shard

        try:
            parse_shard(ns.shard)
        except ShardSpecError as exc:
            raise UsageError(str(exc)) from None
    return ns, [*unknown, *tail]
