"""``d`` in a real terminal (tmux): the dashboard hands the terminal to pdb and comes back.

tmux runs ``hotlap run`` on a small suite in a private server (``-L``, so the session gets
this test's environment); ``send-keys`` types, ``capture-pane`` reads the screen.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

SUITE = """
def test_passes():
    assert 1 + 1 == 2


def test_fails():
    total = 40 + 2
    assert total == 43
"""


class Tmux:
    """One tmux server and session, running ``command`` in a 120x35 terminal."""

    def __init__(self, name: str, command: str) -> None:
        self.base = ["tmux", "-L", name]
        subprocess.run(
            [*self.base, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120",
             "-y", "35", command],
            check=True,
        )  # fmt: skip

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "t", *keys], check=True)

    def screen(self) -> str:
        out = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", "t"], capture_output=True, check=False
        )
        return out.stdout.decode("utf-8", "replace")

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}")
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, check=False)


def test_d_stops_in_pdb_at_the_failing_line_and_the_dashboard_comes_back(
    tmp_path: Path, clean_environ: Any
) -> None:
    """In a -n 2 run's dashboard, `d` on the failing test shows pdb's prompt at the failing
    line; `p` of a local prints it; Ctrl-C is pdb's; `c` lets pytest finish and the
    dashboard comes back with the result; `q` then exits with pytest's code (1)."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_d.py").write_text(textwrap.dedent(SUITE))
    exit_file = tmp_path / "exit"
    hotlap = [sys.executable, "-m", "hotlap", "run", "--no-history", "--", "-p", "xdist.plugin",
              "-n", "2", "-p", "no:cacheprovider"]  # fmt: skip
    script = tmp_path / "run.sh"
    script.write_text(
        "unset CI\n"  # a CI environment would make hotlap headless
        # This shell has no job control: hotlap runs in its process group, and Ctrl-C would
        # kill the shell (a trap is reset to the default in the programs it starts).
        "trap : INT\n"
        f"cd {shlex.quote(str(project))}\n"
        f"{shlex.join(hotlap)}\n"
        f"echo $? > {shlex.quote(str(exit_file))}\n"
        "sleep 60\n"
    )
    tmux = Tmux(f"hotlap-test-{os.getpid()}", f"sh {shlex.quote(str(script))}")
    try:
        tmux.wait(
            lambda s: "test_d.py::test_fails" in s and " done " in s and "1 failed" in s,
            "the finished run",
        )
        # Failures come first: the cursor is on the failing test.
        tmux.keys("d")
        screen = tmux.wait(lambda s: s.rstrip().endswith("(Pdb)"), "pdb's prompt")
        line = textwrap.dedent(SUITE).splitlines().index("    assert total == 43") + 1
        assert f"test_d.py({line})test_fails()" in screen
        assert "-> assert total == 43" in screen
        tmux.keys("p total", "Enter")
        screen = tmux.wait(lambda s: s.rstrip().endswith("(Pdb)") and "\n42\n" in s, "p total")
        assert "(Pdb) p total\n42\n" in screen
        # Ctrl-C at the prompt is pdb's: hotlap, in the same process group, stays.
        tmux.keys("C-c")
        tmux.wait(lambda s: "--KeyboardInterrupt--" in s, "pdb's KeyboardInterrupt")
        tmux.keys("c", "Enter")
        screen = tmux.wait(
            lambda s: "debug " in s and "test_d.py::test_fails" in s and " done " in s,
            "the dashboard with the debug run",
        )
        assert "1 failed" in screen and "(Pdb)" not in screen
        tmux.keys("q")
        deadline = time.monotonic() + 30
        while not exit_file.exists() or not exit_file.read_text().strip():
            assert time.monotonic() < deadline, tmux.screen()
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "1"
    finally:
        tmux.kill()
