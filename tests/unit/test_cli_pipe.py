"""``hotlap ... | head``: a reader that stops reading ends hotlap quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["demo", "-h"],
        ["watch", "--help"],
        ["report", "--help"],
        ["merge", "--help"],
        ["--version"],
    ],
)
def test_help_into_a_closed_pipe_is_quiet(args: list[str], tmp_path: Path) -> None:
    """Help written to a pipe nobody reads any more: exit 0, nothing on stderr (it was a
    BrokenPipeError traceback, or the interpreter's 'Exception ignored' at exit)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before hotlap writes a byte
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hotlap", *args],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert proc.stderr.decode() == ""
    assert proc.returncode == 0
