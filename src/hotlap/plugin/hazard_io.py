"""Files and ports a test touches outside its own temporary directories (``hotlap safety``).

One audit hook per process (``sys.addaudithook``; it cannot be removed, so it goes quiet
between tests): ``open`` (builtin ``open``, ``os.open``, ``io.open_code``), ``os.rename``
(also ``os.replace``), ``os.mkdir``, ``os.remove``, ``os.truncate``, ``shutil.rmtree``,
``sqlite3.connect`` and ``socket.bind``. Every other audited event costs one dict lookup;
an ``open`` during a test a few string checks and ``abspath`` (about 3.5 us here, on an
``open`` of 6-9 us; timeit in one process; between tests no difference measured). Nothing
is sent from the hook: the test's sets are read at its logfinish.

Not hazards: paths under pytest's temporary roots (``tmp_path``, ``tmpdir``, ``--basetemp``),
files created with ``O_EXCL`` (``tempfile.mkstemp``, ``NamedTemporaryFile``: unique by
construction) and what the test did with them afterwards, directories ``tempfile`` named
(``tmpXXXXXXXX`` in the temporary directory) or made (``mkdtemp``'s mode 0o700, any name),
the caches test tools keep in the project (``.hypothesis``, ``.pytest_cache``,
``__pycache__``, and hotlap's own ``.hotlap``: the modules a test imports are compiled
there), ``/dev``, ``/proc``, ``/sys``; reads of Python sources and of the interpreter's and
``/etc``/``/usr`` files; ``.pyc`` files written (the import system's and
pytest's caches); port 0 (the system picks).
"""

from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from hotlap.plugin.own_threads import IDS as OWN_THREADS
from hotlap.real import real

#: ``open`` flags that write (the audit event's third argument).
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
#: Flags of a file that is new and nobody else's: ``O_EXCL``, and ``O_TMPFILE`` (unnamed).
_UNIQUE = os.O_EXCL | getattr(os, "O_TMPFILE", 0) & ~getattr(os, "O_DIRECTORY", 0)
#: Paths of one kind kept per test (a test that writes a thousand files is one finding).
MAX_PATHS = 20
#: A directory ``tempfile`` named (``mkdtemp``, ``TemporaryDirectory``): ``tmp`` + 8 chars.
_TEMPFILE_NAME = re.compile(r"tmp[a-z0-9_]{8}")
_NEVER_WRITTEN = ("/dev/", "/proc/", "/sys/")
#: Caches that test tools write for themselves, atomically (hypothesis's, pytest's, Python's).
_TOOL_CACHES = tuple(
    f"{os.sep}{d}{os.sep}" for d in (".hypothesis", ".pytest_cache", "__pycache__", ".hotlap")
)
_NOT_READS = (".py", ".pyc", ".pyi", ".so", ".pth")


def _spellings(path: str, tail: str = os.sep) -> tuple[str, ...]:
    """``path`` as a prefix ending in ``tail``, both spellings when it is a symlink."""
    return tuple(
        sorted({real.abspath(p).rstrip(os.sep) + tail for p in (path, real.realpath(path))})
    )


class TestIO:
    """What the current test wrote, read and bound; ``nodeid`` is empty between tests."""

    def __init__(self, rootdir: str, basetemp: str | None) -> None:
        self.nodeid = ""
        self.written: dict[str, str] = {}  # path -> "written" | "removed"
        self.read: set[str] = set()
        self.ports: set[str] = set()
        self.excl: set[str] = set()  # created with O_EXCL (unique): not a hazard
        self.own_dirs: tuple[str, ...] = ()  # made by tempfile.mkdtemp (mode 0o700)
        temp = os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir()
        self.temp_dirs = _spellings(temp)
        # pytest's own temporary directories: any run's (the session's basetemp, and the
        # numbered directories pytest cleans up as it makes a new one), but not the project
        # itself when it lives there (a suite run by another suite's test).
        self.pytest_roots = _spellings(temp, os.sep + "pytest-of-")
        self.basetemp = _spellings(basetemp) if basetemp else ()
        self.rootdir = _spellings(rootdir)
        system = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/etc", "/usr", "/dev", "/proc"}
        self.not_read = tuple(p.rstrip(os.sep) + os.sep for p in system | {"/sys"})

    def start(self, nodeid: str) -> None:
        self.written, self.read, self.ports, self.excl = {}, set(), set(), set()
        self.own_dirs = ()
        self.nodeid = nodeid

    def finish(self) -> list[tuple[str, str, str, str]]:
        """(hazard, name, before, after) for the test that ends; quiet until the next."""
        self.nodeid = ""
        if not (self.written or self.read or self.ports):
            return []  # most tests touch nothing outside their temporary directories
        found = [("file", p, "", how) for p, how in sorted(self.written.items())]
        found += [("file", p, "", "read") for p in sorted(self.read - self.written.keys())]
        found += [("port", p, "", "bound") for p in sorted(self.ports)]
        return found

    def _outside(self, path: str) -> bool:
        """Whether ``path`` (absolute) is outside the test's temporary directories."""
        if path.startswith(_NEVER_WRITTEN) or (self.basetemp and path.startswith(self.basetemp)):
            return False
        if self.own_dirs and path.startswith(self.own_dirs):
            return False
        if path.startswith(self.rootdir):
            return not any(cache in path for cache in _TOOL_CACHES)
        if path.startswith(self.pytest_roots):
            return False
        for temp in self.temp_dirs:
            if path.startswith(temp):
                first = path[len(temp) :].split(os.sep, 1)[0]
                return _TEMPFILE_NAME.fullmatch(first) is None
        return True

    def wrote(self, path: Any, how: str = "written", *, opened: bool = False) -> None:
        if not self.nodeid or not isinstance(path, (str, bytes)):
            return
        name = real.abspath(real.fsdecode(path))
        if name in self.excl or name.endswith(".pyc") or not self._outside(name):
            return  # .pyc: the import system's and pytest's rewriter's own caches
        if opened and real.isdir(name):  # O_TMPFILE through an opener (NamedTemporaryFile)
            return
        if name in self.written or len(self.written) < MAX_PATHS:
            self.written[name] = how

    def opened(self, args: tuple[Any, ...]) -> None:
        if not self.nodeid or len(args) < 3:
            return
        path, flags = args[0], args[2]
        if not isinstance(path, (str, bytes)) or not isinstance(flags, int):
            return  # a file descriptor
        if flags & _WRITE_FLAGS:
            if flags & _UNIQUE:
                self.excl.add(real.abspath(real.fsdecode(path)))
            else:
                self.wrote(path, opened=True)
            return
        name = real.fsdecode(path)
        if name.endswith(_NOT_READS) or len(self.read) >= MAX_PATHS:
            return
        name = real.abspath(name)
        if not name.startswith(self.not_read) and self._outside(name):
            self.read.add(name)

    def bound(self, args: tuple[Any, ...]) -> None:
        if not self.nodeid or len(args) < 2:
            return
        sock, address = args[0], args[1]
        if isinstance(address, (str, bytes)):  # AF_UNIX: a file
            if address:
                self.wrote(address)
            return
        if not isinstance(address, tuple) or len(address) < 2:
            return
        port = address[1]
        if isinstance(port, int) and port > 0:
            kind = getattr(sock, "type", None)
            proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
            self.ports.add(f"{proto}/{port}")

    def made_dir(self, args: tuple[Any, ...]) -> None:
        """``tempfile.mkdtemp`` makes its directory with mode 0o700 under any prefix or
        suffix: what the test does in it is its own (a fixed directory is made 0o777)."""
        if (
            len(args) >= 2
            and args[1] == 0o700
            and isinstance(args[0], (str, bytes))
            and (len(args) < 3 or args[2] in (None, -1))
        ):
            name = real.abspath(real.fsdecode(args[0]))
            self.own_dirs = (*self.own_dirs, name.rstrip(os.sep), name + os.sep)

    def renamed(self, args: tuple[Any, ...]) -> None:
        # Paths relative to a directory's descriptor (args 2, 3) are not resolved.
        if len(args) >= 4 and args[2] in (None, -1) and args[3] in (None, -1):
            self.wrote(args[0], "removed")
            self.wrote(args[1])

    def removed(self, args: tuple[Any, ...]) -> None:
        if args and (len(args) < 2 or args[1] in (None, -1)):  # not relative to a dir_fd
            self.wrote(args[0], "removed")

    def connected(self, args: tuple[Any, ...]) -> None:
        if args and args[0] not in (":memory:", b":memory:", ""):
            self.wrote(args[0])


def install(io: TestIO) -> None:
    """The process's audit hook, feeding ``io``; an error in it never reaches the test."""

    def truncated(args: tuple[Any, ...]) -> None:
        if args:
            io.wrote(args[0])

    handlers: dict[str, Callable[[tuple[Any, ...]], None]] = {
        "open": io.opened,
        "os.rename": io.renamed,
        "os.mkdir": io.made_dir,
        "os.remove": io.removed,
        "os.truncate": truncated,
        "shutil.rmtree": io.removed,
        "sqlite3.connect": io.connected,
        "socket.bind": io.bound,
    }
    get = handlers.get
    ident = threading.get_ident

    def hook(event: str, args: tuple[Any, ...]) -> None:
        handler = get(event)
        if handler is not None and io.nodeid and ident() not in OWN_THREADS:
            try:  # noqa: SIM105 - cheaper than contextlib.suppress on every event
                handler(args)
            except Exception:  # the test's own call must go on
                pass

    sys.addaudithook(hook)
