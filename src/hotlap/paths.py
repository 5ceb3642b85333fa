"""Directory names that are never a project's own code or data (virtualenvs, caches, builds):
impact selection, the watcher and the runner all skip them; and hotlap's own ``.hotlap``."""

from __future__ import annotations

import contextlib
from pathlib import Path

#: Directories never part of the project's own code or data.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "env",
        "node_modules",
        "build",
        "dist",
        "__pycache__",
        ".hotlap",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        "site-packages",
    }
)

#: The directory in a project where hotlap keeps its state (history, impact data, caches).
STATE_DIR = ".hotlap"
#: What hotlap writes into a ``.hotlap`` it creates: ignore everything, as ``.pytest_cache``.
GITIGNORE = "# Created by hotlap automatically.\n*\n"


def make_dirs(directory: Path) -> None:
    """``directory.mkdir(parents=True, exist_ok=True)``; when that creates the ``.hotlap``
    directory (``directory`` itself or one of its parents), it gets a ``.gitignore`` of ``*``,
    as pytest's ``.pytest_cache`` does: nothing hotlap keeps belongs in the repository. A
    ``.hotlap`` that already exists is left as the user keeps it."""
    state = next((p for p in (directory, *directory.parents) if p.name == STATE_DIR), None)
    if state is not None:
        try:
            state.mkdir(parents=True)
        except FileExistsError:
            pass
        else:
            with contextlib.suppress(OSError):  # only the ignore file is lost
                (state / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    directory.mkdir(parents=True, exist_ok=True)
