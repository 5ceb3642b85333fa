"""A run that owns the terminal: one test under pdb, from the dashboard's ``d`` key.

pytest inherits the terminal (stdin, stdout, stderr) and stays in hotlap's process group,
the terminal's foreground group, so pdb (or ``breakpoint()``) reads the keyboard. Its events
still arrive on the socket, so once pytest exits the dashboard shows the result like any
run's. Its output goes to the terminal, not to hotlap: there is no summary line to show.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from hotlap.runner.session import RunSession

#: Variables that turn the plugin's hang watchdog off: a test stopped in pdb is not hung,
#: and ``--kill-after`` would kill it under the user's hands.
NO_WATCHDOG = {"HOTLAP_HANG_AFTER": "", "HOTLAP_KILL_AFTER": ""}


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C at the pdb prompt is pdb's; hotlap, in the same process group, lets it be."""


class ForegroundSession(RunSession):
    """A :class:`RunSession` whose pytest runs in the foreground of the terminal."""

    def __init__(
        self,
        pytest_args: list[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        *,
        command: list[str] | None = None,
    ) -> None:
        # No resource samples: nothing shows them while the dashboard is suspended.
        super().__init__(
            pytest_args, cwd, {**(env or {}), **NO_WATCHDOG}, command=command, sample=False
        )

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        # No new session and no pipes: the terminal is pytest's until it exits.
        return subprocess.Popen(self.command, cwd=self.cwd, env=env)

    def run_in_foreground(self) -> int:
        """Start pytest and wait for it to exit (call it with the dashboard suspended, from
        the main thread). Ctrl-C goes to pytest (pdb) only: hotlap ignores it meanwhile
        with a handler, not ``SIG_IGN``, which the child would inherit (a handler is reset
        to the default by ``exec``)."""
        try:
            previous = signal.signal(signal.SIGINT, _ignore)
        except ValueError:  # not the main thread: leave the handler alone
            previous = None
        try:
            self.start()
            assert self.proc is not None
            while True:
                try:
                    return self.proc.wait()
                except KeyboardInterrupt:  # pragma: no cover - the handler prevents it
                    continue
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
