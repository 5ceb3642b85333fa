"""How the app and the plugin find each other: the environment variables the app sets for
pytest, and the files of the fault directory (a worker's last words, the app's kill request).
Plain Python, shared by both sides."""

from __future__ import annotations

import os

#: The app's Unix socket, and the token a connection must present first.
ENV_SOCKET = "HOTLAP_SOCKET"
ENV_TOKEN = "HOTLAP_TOKEN"
#: Directory (made by the controller) where a worker leaves its last words before a kill.
ENV_FAULT_DIR = "HOTLAP_FAULT_DIR"
#: How long (seconds) a lazy event may wait in a test process before it is sent: the
#: dashboard wants them within :data:`hotlap.plugin.sink.LINGER`; the headless log, which
#: prints progress every few seconds, lets them wait longer (fewer writes, fewer wake-ups).
ENV_LINGER = "HOTLAP_LINGER"
#: Where the plugin writes per-process dependency files (impact recording is on).
ENV_IMPACT_DIR = "HOTLAP_IMPACT_DIR"
#: hotlap's own cache of compiled code with markers (``.hotlap/pycache``).
ENV_PYCACHE = "HOTLAP_PYCACHE"
#: Globs of files compiled without markers (``[tool.hotlap] impact-exclude``), joined by
#: ``os.pathsep``.
ENV_IMPACT_EXCLUDE = "HOTLAP_IMPACT_EXCLUDE"


def note_path(directory: str, pid: int) -> str:
    """Where worker ``pid`` leaves its last words for the controller."""
    return os.path.join(directory, f"{pid}.txt")


def kill_request_path(directory: str, pid: int) -> str:
    """The file whose appearance asks test process ``pid`` to kill its running test."""
    return os.path.join(directory, f"{pid}.kill")


def request_kill(directory: str, pid: int, reason: str) -> None:
    """Ask test process ``pid`` (watching with a hang limit) to kill its running test.

    For the app's kill key: the process's own watchdog does the kill within ~0.2 s, the same
    way as at ``--hotlap-kill-after`` (last stack, children, replacement worker), and
    ``reason`` ("hung: killed after 75s") becomes the crash reason. ``directory`` is the
    :data:`ENV_FAULT_DIR` the app gave pytest. If the process does not go, kill its tree.
    """
    path = kill_request_path(directory, pid)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(reason)
    os.replace(path + ".tmp", path)  # whole, never half-written, when the watchdog looks


#: hotlap chooses ``-n`` inside pytest when the user gave none (``hotlap.plugin.workers``):
#: JSON ``{"cores": effective cores, "cap": memory cap on workers or 0}``, …
ENV_WORKERS = "HOTLAP_WORKERS"
#: … with history, JSON of what earlier runs of the same arguments took …
ENV_WORKERS_SEEN = "HOTLAP_WORKERS_SEEN"
#: … and a schedule file of the expected seconds per test.
ENV_EXPECTED = "HOTLAP_EXPECTED"
