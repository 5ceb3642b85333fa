"""``d`` / ``D``: one test under pdb in this terminal, the dashboard suspended meanwhile.

pytest runs in the foreground (:class:`~hotlap.runner.foreground.ForegroundSession`): the
terminal is pdb's, and ``breakpoint()``'s, until pytest exits; then Textual takes it back
and the dashboard shows that run like any other. Without a terminal to hand over (Textual
cannot suspend, e.g. under a test's pilot) the user gets the command to run instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import SuspendNotSupported

from hotlap.runner.command import shell_command
from hotlap.runner.foreground import ForegroundSession

if TYPE_CHECKING:
    from hotlap.ui.app import HotlapApp

#: ``(node id from any directory, trace) -> the run``, made by the command that runs the app.
StartDebug = Callable[[str, bool], ForegroundSession]


async def debug_in_terminal(
    app: HotlapApp, start_debug: StartDebug, nodeid: str, trace: bool
) -> None:
    """Rerun ``nodeid`` alone under pdb (``--pdb``; ``--trace`` stops at its first line)
    with the dashboard suspended, then show its result."""
    try:
        session = start_debug(app.invocable([nodeid])[0], trace)
    except Exception as exc:  # a failure to build the run must not take the app down
        app.notify(f"could not debug: {exc}", severity="error")
        return
    command = shell_command(session.command[3:])
    await app.finish_or_cancel()
    try:
        with app.suspend():
            print(f"hotlap: {command}", flush=True)
            print("hotlap: the dashboard comes back when pytest exits", flush=True)
            session.run_in_foreground()
    except SuspendNotSupported:
        session.close()
        app.notify(f"no terminal to hand over; run: {command}", timeout=15)
        return
    app.view.run_label = f"{'trace' if trace else 'debug'} {nodeid}"
    app.install(session)
