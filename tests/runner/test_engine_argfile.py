"""Many node ids (the tests a filter shows) reach pytest in an ``@file``, not on argv."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from hotlap.model.run_state import RunState
from hotlap.runner.session import ARGS_IN_FILE, RunSession, _pytest_reads_argfiles, unbuffered

NAME = "test_many.py::test_with_a_name_long_enough_to_make_a_long_command_line"
SUITE = {
    "test_many.py": """
        import pytest


        @pytest.mark.parametrize("n", range(1500))
        def test_with_a_name_long_enough_to_make_a_long_command_line(n):
            pass
    """
}


def test_long_argument_lists_go_in_a_file(
    h: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,500 node ids (~110 KB) under -n 2: pytest gets them in an ``@file`` (8.2+ reads
    it), its options (``-p``) still on the command line, runs exactly those tests, and the
    run still reports the command it was given."""
    project = h.write_project(tmp_path / "p", SUITE)
    for key, value in h.clean_env(h.FAST_ENV).items():
        monkeypatch.setenv(key, value)
    ids = [f"{NAME}[{n}]" for n in range(1500)]
    args = ["-p", "xdist.plugin", "-n", "2", "-p", "no:cacheprovider", *ids]
    assert sum(len(a) + 1 for a in args) > ARGS_IN_FILE
    command = [sys.executable, "-m", "pytest", "-p", "hotlap", *args]
    session = RunSession(args, project, command=command, sample=False)
    try:
        session.start()
        code = session.wait(timeout=120)
        state = RunState()
        for event in session.drain():
            state.apply(event)
    finally:
        session.close()
    assert code == 0, session.output
    assert state.summary_counts() == {"passed": 1500}
    assert session.command == command
    assert session.proc is not None
    spawned = list(session.proc.args)  # type: ignore[arg-type]
    if _pytest_reads_argfiles():
        assert spawned[:-1] == unbuffered(command)[: -len(ids)] and spawned[-1].startswith("@")
    else:
        assert spawned == unbuffered(command)
