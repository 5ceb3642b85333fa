"""History's flaky rule: the run's own writes are not a code change."""

from __future__ import annotations

from pathlib import Path

ALTERNATES = """
from pathlib import Path

HERE = Path(__file__).parent

def test_alternates():
    # Its counter lives beside it, in the project: the run's own write.
    path = HERE / "counter.txt"
    n = int(path.read_text()) if path.exists() else 0
    path.write_text(str(n + 1))
    assert n % 2 == 0

def test_steady():
    pass
"""


def test_a_test_alternating_with_no_edit_is_flaky(tmp_path: Path, hh) -> None:
    """A test that passes, then fails, with only the counter file it writes changed in
    between, is reported flaky; with a hand edit of that file between the two runs (same
    size: only its content tells) it is not."""
    proj = hh.project(tmp_path / "proj", {"test_alt.py": ALTERNATES})
    first = hh.hotlap(proj, "run", "--headless", "--", "-n", "0")
    assert first.code == 0, first.describe()
    second = hh.hotlap(proj, "run", "--headless", "--", "-n", "0")
    assert second.code == 1, second.describe()
    assert "flaky: test_alt.py::test_alternates" in second.stderr, second.describe()

    other = hh.project(tmp_path / "other", {"test_alt.py": ALTERNATES})
    assert hh.hotlap(other, "run", "--headless", "--", "-n", "0").code == 0
    (other / "counter.txt").write_text("3")  # by hand: "1" -> "3", an odd count again
    edited = hh.hotlap(other, "run", "--headless", "--", "-n", "0")
    assert edited.code == 1, edited.describe()
    assert "flaky:" not in edited.stderr, edited.describe()
