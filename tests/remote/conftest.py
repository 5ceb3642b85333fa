"""Fixtures of the remote-worker tests: execnet's socket server, started by the test.

``--tx socket=HOST:PORT`` workers are started by this server, not by the controller: they
inherit the server's environment (none of the outer run's or the app's ``HOTLAP_*``), so they
cannot find the app's socket and report through the controller, as workers on another host do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER = Path(__file__).with_name("execnet_server.py")
#: A Python of another version with hotlap installed (e.g. a venv with ``pip install -e .``):
#: the test of workers under another Python runs only when it is given.
OTHER_PYTHON = os.environ.get("OTHER_PYTHON_WITH_HOTLAP", "")


@pytest.fixture
def other_python_server(tmp_path: Path) -> Iterator[str]:
    """An execnet socket server under :data:`OTHER_PYTHON`."""
    if not OTHER_PYTHON:
        pytest.skip("set OTHER_PYTHON_WITH_HOTLAP to a Python of another version with hotlap")
    yield from serve(tmp_path, OTHER_PYTHON)


def server_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_")) and k != "PYTHONPATH"
    }


@pytest.fixture
def execnet_server(tmp_path: Path) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a running execnet socket server (one process per connection);
    the server and every worker it started are ended afterwards."""
    yield from serve(tmp_path, sys.executable)


def serve(tmp_path: Path, python: str) -> Iterator[str]:
    """Run the server under ``python`` (which must have execnet, pytest, xdist and hotlap)."""
    log = tmp_path / "execnet-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [python, str(SERVER), "127.0.0.1:0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_env(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        port = ""
        while not port and time.monotonic() < deadline:
            first = log.read_text(errors="replace").split("\n", 1)
            port = first[0].strip() if len(first) > 1 else ""
            if proc.poll() is not None:
                pytest.fail(f"execnet server exited: {log.read_text(errors='replace')}")
            time.sleep(0.02)
        assert port.isdigit(), log.read_text(errors="replace")
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
