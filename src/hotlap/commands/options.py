"""Options of ``hotlap run`` (also ``demo`` and ``watch``), their defaults from the project's
``[tool.hotlap]`` table in pyproject.toml, and the split between hotlap's arguments and
pytest's."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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
    hist.add_argument(
        "--serial-marker",
        default=None,
        metavar="NAME",
        help="with -n: tests with this marker (default 'serial') run after the others, "
        "alone, on one worker",
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


def add_safety_options(parser: argparse.ArgumentParser) -> None:
    """``--find-polluters``, ``--shuffle [--seed N]`` (``hotlap run``)."""
    safety = parser.add_argument_group("parallel safety")
    safety.add_argument(
        "--find-polluters",
        action="store_true",
        help="after the run, rerun each failed test alone and, when it passes, bisect the "
        "tests its worker ran before it to the ones that make it fail",
    )
    safety.add_argument(
        "--shuffle",
        action="store_true",
        help="run the tests in a random order (pytest-randomly's when it is installed) and "
        "report the tests whose outcome depends on the order, with the tests that make them fail",
    )
    safety.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="with --shuffle: the order's seed (default: a new one, printed)",
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


#: ``[tool.hotlap]`` keys that are no option of ``hotlap run``: the modules to leave without
#: impact markers (read by impact recording from ``ns.impact_exclude``) …
CONFIG_ONLY = {"impact-exclude": list}
#: … and ``hotlap watch``'s own options, which ``hotlap run`` accepts and ignores.
WATCH_KEYS = frozenset({"debounce", "interrupt", "poll", "no-prestart"})


def find_config(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest pyproject.toml (``start`` or a parent) with a ``[tool.hotlap]`` table, and
    that table. Raises :class:`UsageError` for a file that is not valid TOML."""
    for directory in (start, *start.parents):
        path = directory / "pyproject.toml"
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"hotlap" not in data:
            continue  # no table of ours: spare the TOML parser's import
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - 3.10
            import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: not valid TOML ({exc})") from exc
        table = doc.get("tool", {}).get("hotlap")
        if isinstance(table, dict):
            return path, table
    return None


def _kind(action: argparse.Action) -> type:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return bool
    return action.type if action.type in (int, float) else str


def _valid(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


_KIND_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               list: "a list of strings"}  # fmt: skip


def apply_config(
    parser: argparse.ArgumentParser, start: Path, ignored: Iterable[str] = WATCH_KEYS
) -> tuple[dict[str, Any], list[str]]:
    """Make the ``[tool.hotlap]`` values of the project at ``start`` the defaults of
    ``parser``'s options, so that the command line wins. Keys are the long options without
    their dashes (``hang-after = 120``, ``no-history = true``) and :data:`CONFIG_ONLY`'s.

    Returns the config-only values and one warning per unknown key (``ignored`` keys are
    known elsewhere and skipped quietly); raises :class:`UsageError` for a value of the
    wrong type.
    """
    found = find_config(start)
    if found is None:
        return {}, []
    path, table = found
    options = {
        opt[2:]: action
        for action in parser._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt not in ("--help",)
    }
    defaults: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    warnings = []
    for key, value in table.items():
        action = options.get(key)
        kind = _kind(action) if action is not None else CONFIG_ONLY.get(key)
        if kind is None:
            if key in ignored:
                continue
            hint = key.replace("_", "-")
            known = hint in options or hint in CONFIG_ONLY or hint in ignored
            warnings.append(
                f"{path}: [tool.hotlap] has no option {key!r}, ignored"
                + (f" (did you mean {hint!r}?)" if known and hint != key else "")
            )
            continue
        if not _valid(value, kind):
            raise UsageError(
                f"{path}: [tool.hotlap] {key} must be {_KIND_WORDS[kind]}, not {value!r}"
            )
        if action is None:
            extra[key.replace("-", "_")] = value
        elif isinstance(action, argparse._StoreFalseAction):
            defaults[action.dest] = not value  # no-schedule = true: schedule is False
        elif kind is bool:
            defaults[action.dest] = value
        else:
            defaults[action.dest] = kind(value)
    parser.set_defaults(**defaults)
    return extra, warnings


def _split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(hotlap part, pytest tail): everything after the first ``--`` goes to pytest."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def parse_run_args(
    prog: str, argv: list[str], config: Path | None = None
) -> tuple[argparse.Namespace, list[str]]:
    """hotlap's options and the arguments for pytest, in their original order; with
    ``config``, the ``[tool.hotlap]`` table of the project there gives the defaults."""
    parser = _Parser(
        prog=prog,
        allow_abbrev=False,
        description="Run the project's pytest suite with a live dashboard.",
        epilog="Arguments hotlap does not know go to pytest unchanged; '--' ends hotlap's "
        "options. Defaults come from [tool.hotlap] in pyproject.toml (keys: the long options "
        "without dashes, and impact-exclude).",
    )
    add_run_options(parser)
    add_shard_option(parser)
    if prog == "hotlap run":
        add_safety_options(parser)
    ns, rest = parse_with_config(parser, argv, config)
    if ns.shard is not None:
        from hotlap.history.shards import ShardSpecError, parse_shard

        try:
            parse_shard(ns.shard)
        except ShardSpecError as exc:
            raise UsageError(str(exc)) from None
    return ns, rest


def parse_with_config(
    parser: argparse.ArgumentParser,
    argv: list[str],
    config: Path | None,
    ignored: Iterable[str] = WATCH_KEYS,
) -> tuple[argparse.Namespace, list[str]]:
    """``parser``'s options (defaults from ``[tool.hotlap]`` when ``config`` is a project
    directory) and pytest's arguments; warnings about the table go to stderr."""
    extra: dict[str, Any] = {}
    if config is not None:
        extra, warnings = apply_config(parser, config, ignored)
        for warning in warnings:
            print(f"hotlap: warning: {warning}", file=sys.stderr)
    own, tail = _split_args(argv)
    ns, unknown = parser.parse_known_args(own)
    ns.impact_exclude = list(extra.get("impact_exclude", []))
    return ns, [*unknown, *tail]
