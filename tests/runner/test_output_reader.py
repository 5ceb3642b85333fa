"""How the runner reads pytest's output: coalesced while it trickles, at once while it flows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotlap.runner import session as session_module
from hotlap.runner.session import RunSession


def _read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> tuple[RunSession, int]:
    """Run ``script`` as the session's process, read its output to the end; count the
    reader's naps."""
    naps = []
    real_sleep = session_module.time.sleep

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        real_sleep(seconds)

    session = RunSession([], tmp_path, command=[sys.executable, "-c", script], sample=False)
    session.proc = subprocess.Popen(session.command, stdout=subprocess.PIPE)
    monkeypatch.setattr(session_module.time, "sleep", sleep)
    try:
        session._read_output()
    finally:
        monkeypatch.undo()
        session.proc.wait()
    return session, len(naps)


def test_trickling_output_is_read_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A progress character per test, each flushed: the reader naps between reads instead of
    # waking for each one, and still keeps every line, the last one without its newline too.
    script = (
        "import sys, time\n"
        "for i in range(40):\n"
        "    sys.stdout.write('.'); sys.stdout.flush(); time.sleep(0.002)\n"
        "sys.stdout.write('\\n=== 40 passed in 0.10s ===\\n')\n"
        "sys.stdout.write('tail without newline')\n"
    )
    session, naps = _read(tmp_path, monkeypatch, script)
    assert session.output.splitlines() == [
        "." * 40,
        "=== 40 passed in 0.10s ===",
        "tail without newline",
    ]
    assert session.summary_line == "40 passed in 0.10s"
    assert naps >= 1


def test_flowing_output_is_not_throttled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 MB at once (a test printing under -s): the reader keeps reading while reads come back
    # big. Napping after each 64 KiB read would take 128 naps and hold the writer.
    script = "import sys\nsys.stdout.write(('x' * 1023 + '\\n') * 8192)\nprint('done')\n"
    session, naps = _read(tmp_path, monkeypatch, script)
    lines = session.output.splitlines()
    assert lines[-1] == "done" and lines[-2] == "x" * 1023
    assert naps < 16
