"""The small pieces of the fault handling, without running pytest in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from hotlap.channel import kill_request_path, request_kill
from hotlap.plugin.crash import _trim_fatal, exit_description, read_tail
from hotlap.plugin.hang import (
    ENV_OWNER,
    describe_children,
    format_stack,
    kill_owned,
    setting,
)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (None, ""),
        (3, "exit code 3"),
        (-11, "killed by signal SIGSEGV (segmentation fault)"),
        (-9, "killed by signal SIGKILL (killed from outside, e.g. by the OOM killer)"),
        (-6, "killed by signal SIGABRT (abort)"),
        (-99, "killed by signal 99"),
    ],
)
def test_exit_description(code: int | None, text: str) -> None:
    """A Popen return code reads as the exit code or the named signal (with a hint)."""
    assert exit_description(code) == text


def test_read_tail_bounded_and_decoded(tmp_path: Path) -> None:
    """The tail of a capture file: the last bytes only, marked as cut, bad bytes replaced."""
    path = tmp_path / "out"
    path.write_bytes(b"a" * 10_000 + b"\xff\xfe end")
    with open(path, "rb") as f:
        tail = read_tail(f, limit=100)
    assert tail.startswith("[…]") and tail.endswith(" end")
    assert "\ufffd" in tail and len(tail) < 110
    with open(path, "rb") as f:
        assert read_tail(f, limit=20_000).startswith("aaa")


def test_trim_fatal_stops_at_pytest_frames() -> None:
    """faulthandler's dump keeps the innermost (the test's) frames, not pytest's."""
    dump = (
        "Fatal Python error: Segmentation fault\n\nStack (most recent call first):\n"
        '  File "/p/test_x.py", line 3 in test_crash\n'
        '  File "/v/site-packages/_pytest/python.py", line 187 in pytest_pyfunc_call\n'
        '  File "/v/site-packages/pluggy/_callers.py", line 1 in x\n'
    )
    trimmed = _trim_fatal(dump)
    assert "test_crash" in trimmed and "_pytest" not in trimmed and trimmed.endswith("…")


def test_format_stack_starts_at_the_test() -> None:
    """A stack taken from another thread skips pytest's and pluggy's outer frames."""
    main = threading.get_ident()
    stacks: list[str] = []
    thread = threading.Thread(target=lambda: stacks.append(format_stack(main)))
    thread.start()
    thread.join()
    first = stacks[0].splitlines()[0]
    assert "test_units.py" in first, stacks[0]
    assert format_stack(-1) == ""


class _Config:
    def __init__(self, **options: Any) -> None:
        self.options = options

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


def test_setting_option_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The option wins over the environment; junk and non-positive values mean "off"."""
    monkeypatch.setenv("X_AFTER", "2.5")
    assert setting(_Config(x=1.0), "x", "X_AFTER") == 1.0  # type: ignore[arg-type]
    assert setting(_Config(), "x", "X_AFTER") == 2.5  # type: ignore[arg-type]
    monkeypatch.setenv("X_AFTER", "soon")
    assert setting(_Config(), "x", "X_AFTER") is None  # type: ignore[arg-type]
    monkeypatch.setenv("X_AFTER", "0")
    assert setting(_Config(), "x", "X_AFTER") is None  # type: ignore[arg-type]


def test_kill_owned_finds_marked_processes_outside_the_tree() -> None:
    """A process carrying an owner's marker is killed even though it is not its child (a
    daemonised grandchild); ``describe_children`` lists it."""
    owner = 2**22 + 12345  # no such process: only the marker can find the child
    env = dict(os.environ, **{ENV_OWNER: str(owner)})
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        assert f"child pid {child.pid}" in describe_children(owner)
        assert kill_owned(owner) == 1
        # kill_owned waits for (and so reaps) it: it is gone now, 60 s before its time.
        assert child.poll() is not None
    finally:
        child.kill()
        child.wait()


def test_request_kill_writes_the_request_whole(tmp_path: Path) -> None:
    """The request appears atomically under the pid's name, holding the reason."""
    request_kill(str(tmp_path), 4242, "hung: killed after 9s")
    assert Path(kill_request_path(str(tmp_path), 4242)).read_text() == "hung: killed after 9s"
    assert [p.name for p in tmp_path.iterdir()] == ["4242.kill"]
