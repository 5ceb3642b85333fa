"""Directory names that are never a project's own code or data (virtualenvs, caches, builds):
impact selection, the watcher and the runner all skip them."""

from __future__ import annotations

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
