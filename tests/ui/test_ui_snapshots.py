"""Snapshots of the main screens as text, rendered from a recorded run with a frozen clock.

A changed screen fails here with a diff. After a deliberate change, refresh the files with
``HOTLAP_UPDATE_SNAPSHOTS=1 pytest tests/ui/test_ui_snapshots.py`` and review the diff.
(pytest-textual-snapshot is not used: its syrupy pin needs pytest < 9.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotlap.ui.screenshots import SCENES, Scene, prepare, scene_app, settle

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("scene", SCENES, ids=[s.name for s in SCENES])
async def test_screen_matches_snapshot(scene: Scene) -> None:
    """The scene renders exactly as recorded in ``snapshots/<name>.txt``."""
    app = scene_app(scene)
    async with app.run_test(size=scene.size) as pilot:
        await pilot.pause()
        await prepare(app, scene)
        text = await settle(app, pilot)
    path = SNAPSHOTS / f"{scene.name}.txt"
    if os.environ.get("HOTLAP_UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected
