"""A pytest interpreter started while the watcher is idle, so a save does not wait for it.

Most of a one-test rerun is pytest's own start-up, and a third of that is ``import pytest``
(0.3 s of 0.8 s on a 2-core machine). :class:`SparePytest` starts ``spare_child.py`` after
each run: a fresh interpreter that imports pytest and pytest's own builtin plugins (what
every run imports before it reads any configuration), then waits. The next run hands it its
command; it runs it as ``python -m pytest`` would, in the same process group, with the same
output pipe, stdin, ``sys.argv``, ``sys.path`` and environment.

Plugins are *not* pre-imported: pytest marks their packages for assertion rewriting at
start-up and warns about any already imported, so they load during the run as usual. A spare
that might differ from a cold start (module files changed, a new file shadows a module, a
different environment or directory) turns itself into the cold start (``exec``); a command
that is not ``python -m pytest …`` or a dead spare gets a plain new process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from hotlap.runner.session import RunSession

CHILD = str(Path(__file__).with_name("spare_child.py"))


def blocked_plugins(args: Sequence[str]) -> list[str]:
    """Plugin names blocked by ``-p no:NAME`` / ``-pno:NAME`` in a pytest command line (the
    only blocking pytest applies before it imports its builtin plugins)."""
    found = []
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "-p" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("-p") and not arg.startswith("--"):
            value = arg[2:]
        else:
            continue
        if value.strip().startswith("no:"):
            found.append(value.strip()[3:])
    return found


def _outside_hotlap(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("HOTLAP_")}


class SparePytest:
    """At most one pre-started pytest interpreter for runs in ``cwd`` with ``env``."""

    def __init__(
        self,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        *,
        pytest_args: Sequence[str] = (),
        preload: Sequence[str] = (),
    ) -> None:
        self.cwd = Path(cwd)
        self.env = dict(os.environ if env is None else env)
        #: For the child: pytest's builtin plugins blocked in the runs' command line (they
        #: stay unimported), and extra modules to import (tests use it).
        self.options = {"blocked": blocked_plugins(pytest_args), "modules": list(preload)}
        self.proc: subprocess.Popen[bytes] | None = None
        #: Runs handed to a spare, and runs that found none usable (for the bench).
        self.used = 0
        self.missed = 0

    def launch(self) -> None:
        """Start a spare unless one is waiting already. Never raises."""
        if self.proc is not None and self.proc.poll() is None:
            return
        self._discard()
        try:
            self.proc = subprocess.Popen(
                # -u: as a run's pytest is started (runner.session.unbuffered).
                [sys.executable, "-u", CHILD, str(time.time_ns()), json.dumps(self.options)],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError:
            self.proc = None

    def fits(self, command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> bool:
        """Whether the spare can run ``command`` exactly as a new process would."""
        return (
            list(command[:3]) == [sys.executable, "-m", "pytest"]
            and os.path.realpath(cwd) == os.path.realpath(self.cwd)
            and _outside_hotlap(env) == _outside_hotlap(self.env)
            and blocked_plugins(command[3:]) == self.options["blocked"]
        )

    def take(
        self, command: Sequence[str], cwd: Path, env: Mapping[str, str]
    ) -> subprocess.Popen[bytes] | None:
        """The spare, now running ``command`` (in ``cwd`` with ``env``); None when there is
        no usable spare (start the command the usual way then). The spare is used up."""
        proc, self.proc = self.proc, None
        if proc is None:
            self.missed += 1
            return None
        if proc.poll() is not None or not self.fits(command, cwd, env):
            self.proc = proc
            self._discard()
            self.missed += 1
            return None
        request = {"command": list(command), "cwd": os.path.realpath(cwd), "env": dict(env)}
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.close()
            proc.stdin = None  # as for stdin=DEVNULL (communicate() would flush it)
        except OSError:  # it died meanwhile
            self.proc = proc
            self._discard()
            self.missed += 1
            return None
        self.used += 1
        return proc

    def _discard(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # It has run no test code, only imports: nothing to shut down gracefully.
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)

    def close(self) -> None:
        """Stop the waiting spare, if any."""
        self._discard()


class SpareSession(RunSession):
    """A :class:`RunSession` whose pytest is the waiting spare when it fits."""

    def __init__(
        self,
        pytest_args: list[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        *,
        command: list[str] | None = None,
        sample: bool = True,
        spare: SparePytest | None = None,
    ) -> None:
        super().__init__(pytest_args, cwd, env, command=command, sample=sample)
        self.spare = spare

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        if self.spare is not None:
            proc = self.spare.take(self.command, self.cwd, env)
            if proc is not None:
                return proc
        return super()._spawn(env)
