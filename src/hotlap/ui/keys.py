"""Every action of the dashboard with its key: one list for the help screen and the command
palette, so neither can miss one (a test checks it against the bindings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyAction:
    """One action: the key as shown, the app action it runs, its palette title and help."""

    key: str
    action: str
    title: str
    help: str
    #: Only in watch mode.
    watch: bool = False
    #: Not in the command palette (moving about: the palette would only get in the way).
    palette: bool = True


KEY_ACTIONS = (
    KeyAction("r", "rerun_all", "Rerun all tests", "cancel if running, then run everything"),
    KeyAction("f", "rerun_failed", "Rerun failed tests", "run only the failed tests"),
    KeyAction("x", "cancel_run", "Cancel the run", "stop pytest and its workers"),
    KeyAction(
        "/",
        "filter",
        "Filter tests",
        "fuzzy filter by node id (ordrefnd finds test_orders.py::test_refund) or :failed "
        ":error :skipped :running :queued; enter runs the tests shown, escape clears",
    ),
    KeyAction("space", "mark", "Mark the selected test", "mark or unmark it (tests table)"),
    KeyAction(
        "enter",
        "run_marked",
        "Run the marked tests",
        "run only the marked tests, or the selected one when none is marked (tests table)",
    ),
    KeyAction("escape", "unmark", "Clear marks and filter", "unmark all, then clear the filter"),
    KeyAction(
        "d",
        "debug",
        "Debug the selected test",
        "rerun it alone in this terminal with -n 0 --pdb: pdb stops at the failure",
    ),
    KeyAction(
        "D",
        "debug(True)",
        "Trace the selected test",
        "rerun it alone with -n 0 --trace: pdb stops at its first line",
    ),
    KeyAction(
        "p",
        "find_polluters",
        "Find the polluters",
        "rerun the selected failed test alone and, when it passes, bisect the tests its "
        "worker ran before it to the ones that make it fail (⚠ marks tests with hazards)",
    ),
    KeyAction("y", "copy_nodeid", "Copy the node id", "to the clipboard (OSC 52), shell-quoted"),
    KeyAction("s", "sort", "Sort", "sort by the next column"),
    KeyAction("S", "sort_reverse", "Reverse the sort", "reverse the order"),
    KeyAction("!", "failures_first", "Failures first", "toggle failures at the top"),
    KeyAction("o", "open_editor", "Open in editor", "open the failing line in $VISUAL / $EDITOR"),
    KeyAction(
        "k",
        "kill_worker",
        "Kill the worker",
        "kill the worker running the selected test (a hang); xdist replaces it",
    ),
    KeyAction("tab", "next_pane", "Next pane", "tests, fixtures, resources"),
    KeyAction("shift+tab", "next_pane(-1)", "Previous pane", "resources, fixtures, tests"),
    KeyAction("J", "scroll_detail(1)", "Detail down", "scroll the test detail down a page"),
    KeyAction("K", "scroll_detail(-1)", "Detail up", "scroll the test detail up a page"),
    KeyAction("↑ ↓ pgup pgdn", "", "", "move in the table", palette=False),
    KeyAction("?", "help", "Help", "every key"),
    KeyAction(
        "ctrl+p", "command_palette", "", "command palette (every action by name)", palette=False
    ),
    KeyAction(
        "q",
        "quit",
        "Quit",
        "quit; once every test has reported, wait for pytest to finish (a second q cancels)",
    ),
    KeyAction("ctrl+c", "quit_now", "Quit now", "cancel a running suite and quit"),
    KeyAction("w", "watch_pause", "Pause / resume watching", "watch mode", watch=True),
    KeyAction("a", "rerun_all", "", "run all tests", watch=True, palette=False),
    KeyAction("c", "clear", "Clear results", "forget the shown results", watch=True),
    KeyAction(
        "/",
        "filter",
        "",
        "in watch mode the filter limits every run to the tests it shows, until cleared",
        watch=True,
        palette=False,
    ),
)
