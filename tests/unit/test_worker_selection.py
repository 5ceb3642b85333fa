"""What pytest's parsed arguments select among the tests history knows (the estimate behind
hotlap's choice of ``-n``), on a real pytest ``Config``."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.config import _prepareconfig

from hotlap.plugin.workers import count_defs, select_known

KNOWN = {
    "tests/test_a.py::test_one": 1.0,
    "tests/test_a.py::test_two[1]": 2.0,
    "tests/test_a.py::test_two[2]": 3.0,
    "tests/unit/test_b.py::TestX::test_slots": 4.0,
    "tests/unit/test_b.py::TestX::test_other": 5.0,
    "other/test_c.py::test_one": 6.0,
}


def _selected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, float]:
    for nodeid in KNOWN:
        path = tmp_path / nodeid.split("::")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("def test_one():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    monkeypatch.chdir(tmp_path)
    config = _prepareconfig(["-p", "no:cacheprovider", *args])
    found, missing = select_known(config, KNOWN)
    assert found is not None and not missing, missing
    return found.tests, found.seconds


@pytest.mark.parametrize(
    ("args", "tests", "seconds"),
    [
        ((), 6, 21.0),
        (("tests",), 5, 15.0),
        (("tests/test_a.py::test_two",), 2, 5.0),  # both parameters
        (("--deselect", "tests/test_a.py::test_two"), 4, 16.0),  # a prefix, as pytest does
        (("--deselect=tests/unit",), 4, 12.0),
        (("--ignore", "tests/unit"), 4, 12.0),
        (("-k", "slots or test_one"), 3, 11.0),
        (("-k", "unit and not slots"), 1, 5.0),  # directory names are keywords too
        (("-k", "TestX"), 2, 9.0),
        (("-k", "other"), 2, 11.0),  # test_other, and the first directory below the rootdir
    ],
)
def test_arguments_select_as_pytest_would(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    tests: int,
    seconds: float,
) -> None:
    """Paths, node ids (with their parameters), ``--deselect`` prefixes, ``--ignore`` and
    ``-k`` over the names in the node id pick the tests pytest would run."""
    assert _selected(tmp_path, monkeypatch, *args) == (tests, seconds)


def test_a_new_file_is_counted_from_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path history does not know comes back as missing, and its ``def test`` lines are
    counted (named test ids count one each)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_new.py").write_text(
        "def test_a():\n    pass\n\nasync def test_b():\n    pass\n\ndef helper():\n    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    config = _prepareconfig(["-p", "no:cacheprovider", "test_new.py", "x.py::test_z"])
    found, missing = select_known(config, KNOWN)
    assert found is None and missing == ["test_new.py", "x.py::test_z"]
    assert count_defs(config, missing) == 3
