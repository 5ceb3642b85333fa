"""hotlap: a live dashboard for pytest-xdist runs.

Importing this package must stay cheap: it must not import pytest plugins or Textual.
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"


def _compile_as_python_does() -> None:
    """Let Python's own loader import hotlap's modules in a pytest process, not pytest's
    assertion rewriter.

    pytest marks every module of a package with a ``pytest11`` entry point for assertion
    rewriting, and compiles each from source (it writes its own ``.pyc`` only when it may:
    never under ``PYTHONDONTWRITEBYTECODE``), so each of the pytest processes of a run parsed
    and rewrote hotlap's modules again. hotlap has no assertion a user reads; its modules
    load from the ``.pyc`` files pip wrote, as any library's do. Only this package's own
    name is unmarked, only once this package is imported.
    """
    for finder in sys.meta_path:
        marked = getattr(finder, "_must_rewrite", None)
        if isinstance(marked, set) and __name__ in marked:
            marked.discard(__name__)
            cache = getattr(finder, "_marked_for_rewrite_cache", None)
            if isinstance(cache, dict):
                cache.clear()


_compile_as_python_does()
