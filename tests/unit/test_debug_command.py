"""The command that reruns one test under pdb: the dashboard's ``d``, headless's hint."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from hotlap.runner.command import debug_arguments, shell_command


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTHONBREAKPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_one_process_under_pdb(tmp_path: Path) -> None:
    """The options stay, the run's ``-n`` goes, ``-n 0`` and ``--pdb`` (``--trace`` for a
    trace) come before the node id, alone."""
    args = debug_arguments(["-x", "-n", "4", "-p", "no:cacheprovider"], "t.py::test_a", tmp_path)
    assert args == ["-x", "-p", "no:cacheprovider", "-n", "0", "--pdb", "t.py::test_a"]
    traced = debug_arguments(["--numprocesses=2", "-n3"], "t.py::test_a", tmp_path, trace=True)
    assert traced == ["-n", "0", "--trace", "t.py::test_a"]


def test_no_n_when_xdist_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest without xdist would refuse ``-n``: blocked, or autoload off and not named."""
    assert "-n" not in debug_arguments(["-p", "no:xdist"], "t.py::a", tmp_path)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "-n" not in debug_arguments([], "t.py::a", tmp_path)
    assert "-n" in debug_arguments(["-p", "xdist.plugin"], "t.py::a", tmp_path)


def test_pythonbreakpoint_gets_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A debugger named by PYTHONBREAKPOINT needs the terminal (``-s``) and, when hotlap
    knows its class, stops at the failure too (``--pdbcls``); pdb itself needs neither."""
    monkeypatch.setenv("PYTHONBREAKPOINT", "ipdb.set_trace")
    args = debug_arguments([], "t.py::a", tmp_path)
    assert "-s" in args and "--pdbcls=IPython.terminal.debugger:TerminalPdb" in args
    assert args[-1] == "t.py::a"
    mine = debug_arguments(["--pdbcls=my:Pdb", "--capture=no"], "t.py::a", tmp_path)
    assert mine.count("-s") == 0 and [a for a in mine if "pdbcls" in a] == ["--pdbcls=my:Pdb"]
    for hook in ("pdb.set_trace", "0"):
        monkeypatch.setenv("PYTHONBREAKPOINT", hook)
        assert "-s" not in debug_arguments([], "t.py::a", tmp_path)


def test_shell_command_is_one_line_a_shell_runs() -> None:
    """Quoted where needed (a parametrized id's brackets), this Python running pytest."""
    line = shell_command(["-n", "0", "--pdb", "t.py::test_p[a b]"])
    words = shlex.split(line)
    assert words[1:] == ["-m", "pytest", "-n", "0", "--pdb", "t.py::test_p[a b]"]
    assert words[0] in ("python", sys.executable)
