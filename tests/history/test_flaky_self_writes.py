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


def test_an_unmerged_run_s_writes_are_judged_by_what_it_left(tmp_path: Path) -> None:
    """The last run's impact data may wait to be merged (it merges once the next pytest has
    started): history's fingerprint, taken before that, reads what the run's processes
    left in the files they wrote from their own files. A file still holding it is the run's
    write (its mtime does not count); a hand edit since is a change."""
    import json
    import os

    from hotlap.history.fingerprint import source_fingerprint
    from hotlap.impact.blocks import data_digest
    from hotlap.impact.pending import base_dir

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "test_a.py").write_text("def test_a():\n    pass\n")
    counter = proj / "counter.txt"
    counter.write_text("1")
    run = base_dir(proj) / "0123456789ab"
    run.mkdir(parents=True)
    (run / "run.info").write_text("{}")
    process = {"version": 2, "root": str(proj), "written": [str(counter)]}
    (run / "gw0-1.json").write_text(json.dumps(process))
    left = {"ended_ns": 1, "digests": {str(counter): data_digest(b"1")}}
    (run / "gw0-1.writes").write_text(json.dumps(left))
    before = source_fingerprint(proj)
    os.utime(counter, ns=(1, 1))  # the run's write, as it left it: only its mtime differs
    assert source_fingerprint(proj) == before
    counter.write_text("3")  # by hand, same size
    assert source_fingerprint(proj) != before
    assert (run / "gw0-1.json").exists()  # read, not merged
