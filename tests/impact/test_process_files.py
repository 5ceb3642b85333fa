"""The per-process files between the plugin and the app's merge."""

from __future__ import annotations

import json
from pathlib import Path

from hotlap.impact import PROCESS_FILE_VERSION
from hotlap.impact.merge import read_process_files


def test_only_complete_files_of_this_version_are_read(tmp_path: Path) -> None:
    # A file from another version of the plugin (a run started before an upgrade) has codes
    # the merge would misread: it is skipped, like a partial or broken one.
    current = {"version": PROCESS_FILE_VERSION, "code_table": [], "contexts": {}, "tests": {}}
    (tmp_path / "gw0-1.json").write_text(json.dumps(current))
    (tmp_path / "gw1-2.json").write_text(json.dumps({**current, "version": 1}))
    (tmp_path / "gw2-3.json").write_text('{"version": 2, "code_t')
    (tmp_path / ".gw3-4.tmp").write_text(json.dumps(current))
    (tmp_path / "gw4-5.json").write_text("[1, 2]")
    assert read_process_files(tmp_path) == [current]
