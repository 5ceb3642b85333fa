"""Which part of a run this pytest process is: an xdist controller, a worker, or alone."""

from __future__ import annotations

import enum
import functools
import socket
import sys

import pytest


class Role(str, enum.Enum):
    CONTROLLER = "controller"
    WORKER = "worker"
    SINGLE = "single"


def role_of(config: pytest.Config) -> Role:
    """The role of this process, decided from xdist's own markers on ``config``."""
    if hasattr(config, "workerinput"):
        return Role.WORKER
    numprocesses = getattr(config.option, "numprocesses", None)
    dist = getattr(config.option, "dist", "no")
    tx = getattr(config.option, "tx", None)
    # xdist's options exist only when its plugin is loaded, under whatever name ("xdist" via
    # the entry point, "xdist.plugin" with ``-p xdist.plugin`` and autoload disabled), so the
    # options alone say whether this process is a controller.
    if (numprocesses or tx) and dist != "no":
        return Role.CONTROLLER
    return Role.SINGLE


def worker_id(config: pytest.Config) -> str:
    """``gw0``… on an xdist worker, ``main`` otherwise."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput.get("workerid", "gw?"))
    return "main"


@functools.cache
def origin() -> tuple[str, str]:
    """(host name, Python version such as ``3.12.1``) of this process: where an xdist worker
    runs, which may be another machine or interpreter than its controller's."""
    try:
        host = socket.gethostname()
    except OSError:  # pragma: no cover - no name at all
        host = ""
    return host, ".".join(map(str, sys.version_info[:3]))
