"""The ``hotlap`` command.

``hotlap [run] [HOTLAP OPTIONS] [PYTEST ARGS...]``: options hotlap does not know go to pytest
unchanged, and ``--`` ends hotlap's options. Other subcommands: demo, watch, affected, report,
export, merge, replay. Each lives in :mod:`hotlap.commands`, imported only when it runs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable

from hotlap import __version__
from hotlap.commands.options import UsageError

SUBCOMMANDS = (
    "run", "demo", "watch", "affected", "mutate", "safety", "report", "export", "merge", "replay",
)  # fmt: skip

# Subcommand -> "module:function" taking the rest of the command line.
_COMMANDS = {
    "run": "hotlap.commands.run:run_command",
    "demo": "hotlap.commands.run:demo_main",
    "watch": "hotlap.commands.watch:watch_main",
    "affected": "hotlap.commands.affected:affected_main",
    "mutate": "hotlap.commands.mutate:mutate_main",
    "safety": "hotlap.commands.safety:safety_main",
    "report": "hotlap.commands.history:report_main",
    "export": "hotlap.commands.history:export_main",
    "merge": "hotlap.commands.history:merge_main",
    "replay": "hotlap.commands.history:replay_main",
}


def _usage() -> str:
    return (
        f"hotlap {__version__}: a live dashboard for pytest-xdist runs\n\n"
        "usage: hotlap [run] [HOTLAP OPTIONS] [PYTEST ARGS...]\n"
        "       hotlap demo | watch | affected | mutate | safety | report | export | merge | replay"
        "  [-h]\n\n"
        "Arguments hotlap does not know go to pytest; '--' ends hotlap's options.\n"
        "`hotlap run -h` lists the run options."
    )


#: Exit code when the reader of hotlap's output went away (``| head``) during a run: what a
#: shell reports for a process that SIGPIPE ended (``git log | head`` exits so).
BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hotlap`` command; returns the exit code.

    A reader that stops reading (``hotlap --help | head``) ends hotlap quietly: no
    BrokenPipeError traceback, nor the interpreter's "Exception ignored" when it flushes
    stdout at exit (argparse's ``--help`` leaves by SystemExit with the text still buffered).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        # Nothing more can be written there, and the interpreter's own flush at exit must
        # not try again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        own = argv[: argv.index("--")] if "--" in argv else argv
        asked = ("-h", "--help", "help", "-V", "--version")
        return 0 if any(a in asked for a in own) else BROKEN_PIPE


def _main(argv: list[str]) -> int:
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
        module_name, func_name = _COMMANDS[command].split(":")
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
    except BrokenPipeError:
        raise  # our output's reader went away: main() ends quietly
    except OSError as exc:
        # The event socket, a fork, a pipe: the machine refused; say what, not a traceback.
        print(f"hotlap: error: {exc}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("hotlap: interrupted", file=sys.stderr)
        return 2
