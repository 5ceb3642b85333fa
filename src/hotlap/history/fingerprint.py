"""A cheap fingerprint of a project's sources, so "no code changed" can be told apart.

It hashes each source file's path, size and modification time (not its content: stat is
fast on big trees). A re-save without edits changes it, which only makes flaky detection
more cautious, never wrong. Files the last run's own processes wrote (a test bumping a
counter file) are left out while they hold what that run left, by content: the run's writes
are no code change, an edit by anyone since is.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Files whose change can change a test's outcome.
SUFFIXES = (".py", ".pyi", ".pyx", ".toml", ".cfg", ".ini", ".json", ".yaml", ".yml", ".txt")
SKIP_DIRS = {"__pycache__", "node_modules", "venv", "env", "build", "dist", "site-packages"}
#: A tree this large is not fingerprinted (too slow to walk before every run).
MAX_FILES = 20000


def source_fingerprint(project: Path) -> str:
    """A hex digest of the project's source files, or "" if the tree is too large to walk."""
    digest = hashlib.blake2b(digest_size=16)
    seen = 0
    own = _own_writes(project)
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            if not name.endswith(SUFFIXES):
                continue
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            seen += 1
            if seen > MAX_FILES:
                return ""
            rel = os.path.relpath(path, project)
            if rel in own:
                continue
            digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _own_writes(project: Path) -> set[str]:
    """Project-relative files that still hold what the last recorded run wrote there."""
    try:
        from hotlap.impact.engine import own_writes, root_of, run_writes
        from hotlap.impact.pending import last_run_written
    except ImportError:  # pragma: no cover
        return set()
    # The last run not merged yet (it merges in the background, or at the next start once
    # pytest runs): its files say what it wrote, without the merge before pytest starts.
    waiting = last_run_written(project)
    if waiting is not None:
        from hotlap.impact.blocks import file_digest

        return {
            os.path.relpath(path, project)
            for path, left in waiting.items()
            if file_digest(path) == left
        }
    writes = run_writes(project)
    if not writes:
        return set()
    root = root_of(project)
    found = own_writes(root, writes, list(writes))
    out = set()
    for rel in found:
        try:
            out.add(os.path.relpath(root / rel, project))
        except ValueError:
            continue
    return out


def impact_deps(project: Path, nodeids: set[str]) -> dict[str, str]:
    """Per nodeid, a digest of the code it depends on, from the impact store; {} if none.

    Impact items carry a checksum of their code, so equal digests mean the test ran the same
    code. Any problem reading the store means no impact data, never an error.
    """
    try:
        from hotlap.impact.store import open_store

        store = open_store(project)
    except Exception:
        return {}
    try:
        items = store.items()
        groups = store.groups()
        out = {}
        for nodeid, row in store.tests().items():
            if nodeid not in nodeids or row.stale:
                continue
            deps = sorted(
                "\0".join(items[i]) for g in row.groups for i in groups.get(g, ()) if i in items
            )
            if deps:
                digest = hashlib.blake2b("\n".join(deps).encode(), digest_size=16)
                out[nodeid] = "impact:" + digest.hexdigest()
        return out
    except Exception:
        return {}
    finally:
        store.close()
