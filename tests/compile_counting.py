"""conftest text for temp projects whose xdist workers must be seen sharing compiles: it logs
each rewrite (and, on request, each marked compile) as ``<pid> <file name>`` to the file
``$<log variable>``, and holds each worker at a barrier until both have arrived, so they
collect together as on an idle machine (a worker that started late would find everything
cached anyway). The barrier's directory is ``arrived`` beside the log."""

from __future__ import annotations

_HEAD = """
import os
import time

from _pytest.assertion import rewrite

LOG = os.environ["{log}"]


def note(path):
    with open(LOG, "a") as f:
        f.write(f"{{os.getpid()}} {{os.path.basename(str(path))}}\\n")

"""

_MARKED = """
import hotlap.impact.instrument as ins

compile_marked = ins._compile_marked


def counted_compile(source, path):
    note(path)
    return compile_marked(source, path)


ins._compile_marked = counted_compile
"""

_TAIL = """
rewrite_asserts = rewrite.rewrite_asserts


def counted_rewrite(mod, source, module_path=None, config=None):
    note(module_path)
    return rewrite_asserts(mod, source, module_path, config)


rewrite.rewrite_asserts = counted_rewrite

worker = os.environ.get("PYTEST_XDIST_WORKER")
if worker:
    here = os.path.join(os.path.dirname(LOG), "arrived")
    os.makedirs(here, exist_ok=True)
    open(os.path.join(here, worker), "w").close()
    deadline = time.monotonic() + 30
    while len(os.listdir(here)) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
"""


def counting_conftest(log_variable: str, *, marked: bool = False) -> str:
    """The conftest's source: rewrites logged, and marked compiles too when ``marked``."""
    return _HEAD.format(log=log_variable) + (_MARKED if marked else "") + _TAIL
