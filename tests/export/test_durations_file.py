"""Reading and merging pytest-split's ``.test_durations`` (no pytest run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotlap.export.durations import DurationsFileError, read_durations, write_durations


def test_merge_keeps_other_tests_and_updates_these(tmp_path: Path) -> None:
    path = tmp_path / ".test_durations"
    path.write_text(json.dumps({"a.py::t1": 1.0, "a.py::t2": 2}))
    write_durations(path, {"a.py::t2": 0.5, "b.py::t3": 3.0}, merge=True)
    assert json.loads(path.read_text()) == {"a.py::t1": 1.0, "a.py::t2": 0.5, "b.py::t3": 3.0}
    write_durations(path, {"b.py::t3": 4.0})  # merge=False: this run only
    assert json.loads(path.read_text()) == {"b.py::t3": 4.0}


def test_missing_or_empty_file_reads_as_no_durations(tmp_path: Path) -> None:
    assert read_durations(tmp_path / "absent") == {}
    (tmp_path / "empty").write_text("")
    assert read_durations(tmp_path / "empty") == {}


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]", b'{"a.py::t": "slow"}', b'{"a.py::t": true}', b"{oops", b"\xff\xfe\x00"],
)
def test_a_file_that_is_not_durations_is_refused_and_kept(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / ".test_durations"
    path.write_bytes(content)
    with pytest.raises(DurationsFileError, match="not a durations file"):
        write_durations(path, {"a.py::t": 1.0}, merge=True)
    assert path.read_bytes() == content
