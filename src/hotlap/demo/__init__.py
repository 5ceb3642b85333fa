"""The bundled demo suite that ``hotlap demo`` runs (``suite/``, shipped in the wheel).

The suite has its own ``pytest.ini``; :func:`demo_pytest_args` points pytest at it explicitly
so neither the caller's working directory nor their project's configuration or conftest files
change what the demo does.
"""

from __future__ import annotations

from pathlib import Path

#: What the demo suite reports at ``-n 2`` (and ``-n 0``); tests/demo checks these.
EXPECTED_COUNTS = {
    "passed": 74,
    "failed": 2,
    "error": 1,
    "skipped": 3,
    "xfailed": 1,
    "xpassed": 1,
}


def suite_path() -> Path:
    """The directory of the demo suite (inside the installed package)."""
    return Path(__file__).resolve().parent / "suite"


def demo_pytest_args() -> list[str]:
    """pytest arguments that run the demo suite the same way from any directory.

    ``-c`` selects the suite's own ini file (so a ``pytest.ini``/``pyproject.toml`` in the
    caller's directory is never read), ``--rootdir`` and ``--confcutdir`` keep node ids and
    conftest discovery inside the suite, and ``-p no:cacheprovider`` keeps pytest from writing
    a ``.pytest_cache`` into the installed package. The suite has no async tests, so
    pytest-asyncio (if installed) is kept out: it only adds a deprecation warning per worker.
    Blocking a plugin that is not installed is harmless.
    """
    suite = suite_path()
    return [
        str(suite),
        "-c",
        str(suite / "pytest.ini"),
        "--rootdir",
        str(suite),
        "--confcutdir",
        str(suite),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
    ]
