"""The functions hotlap's own code calls while tests run, as they were when hotlap started.

A test may patch ``time.monotonic`` (``mock.patch`` with a finite ``side_effect``, freezegun),
``time.perf_counter``, ``builtins.open``, ``os.path.abspath`` or ``socket.socket.sendall``,
and count the calls or run out of scripted values. hotlap's hooks, audit hooks and threads
run beside the test: through the patched names they would add calls the test counts, read
its fake clock, or raise inside pytest (an INTERNALERROR where plain pytest passes). They
call these instead, bound when the pytest plugin is imported, before any test runs.

They are attributes of a class, not of this module: freezegun swaps the real time functions
wherever a module holds one at its top level.
"""

from __future__ import annotations

import _socket
import os
import time
from collections.abc import Callable

# Typed for what hotlap passes them (text paths): os.path's are generic over str and bytes.
_abspath: Callable[[str], str] = os.path.abspath
_realpath: Callable[[str], str] = os.path.realpath


class real:  # read as ``real.monotonic()``
    monotonic = time.monotonic
    perf_counter = time.perf_counter
    process_time = time.process_time
    wall = time.time
    sleep = time.sleep
    getcwd = os.getcwd
    stat = os.stat
    open = os.open
    read = os.read
    close = os.close
    unlink = os.unlink
    abspath = staticmethod(_abspath)
    isabs = staticmethod(os.path.isabs)
    isdir = staticmethod(os.path.isdir)
    realpath = staticmethod(_realpath)
    fsdecode = staticmethod(os.fsdecode)
    #: ``real.sendall(sock, data)``: the C method, whatever a test set on ``socket.socket``.
    sendall = _socket.socket.sendall


def read_head(path: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of the file at ``path``, by the functions above (no ``open``
    a test could have mocked or its audit hook could see). Raises OSError."""
    fd = real.open(path, os.O_RDONLY)
    try:
        return real.read(fd, limit)
    finally:
        real.close(fd)
