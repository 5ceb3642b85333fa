"""``.hotlap/`` holds a ``.gitignore`` of ``*`` when hotlap creates it, as ``.pytest_cache``."""

from __future__ import annotations

import argparse
from pathlib import Path

from hotlap.history.store import HistoryStore
from hotlap.impact.hooks import make_hooks as make_impact_hooks
from hotlap.impact.store import open_store
from hotlap.model.run_context import RunContext
from hotlap.paths import GITIGNORE, make_dirs


def test_each_way_hotlap_creates_it_leaves_the_ignore_file(tmp_path: Path) -> None:
    """History, the impact store and impact recording each create ``.hotlap`` first in some
    runs (``--no-history``, ``--no-impact``): each leaves ``.gitignore`` = ``*`` in it."""
    HistoryStore.open(tmp_path / "a" / ".hotlap").close()
    open_store(tmp_path / "b").close()
    ctx = RunContext(tmp_path / "c", [], argparse.Namespace(no_impact=False, affected=False))
    (tmp_path / "c").mkdir()
    make_impact_hooks(ctx).prepare(ctx)
    for project in ("a", "b", "c"):
        ignore = tmp_path / project / ".hotlap" / ".gitignore"
        assert ignore.read_text() == GITIGNORE, project
        assert GITIGNORE.splitlines()[-1] == "*"


def test_an_existing_directory_is_left_as_it_is(tmp_path: Path) -> None:
    """A ``.hotlap`` the user kept (and maybe chose to commit) gets no ignore file later."""
    (tmp_path / ".hotlap").mkdir()
    make_dirs(tmp_path / ".hotlap" / "impact-tmp")
    assert (tmp_path / ".hotlap" / "impact-tmp").is_dir()
    assert not (tmp_path / ".hotlap" / ".gitignore").exists()
    make_dirs(tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere" / ".gitignore").exists()
