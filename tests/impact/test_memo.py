"""A merge keeps the rows of tests that ran what they ran before, in a project unchanged
since, and builds the others again (hotlap.impact.memo): real ``hotlap run`` subprocesses
on a temp project, then what ``hotlap affected`` selects."""

from __future__ import annotations

from impact_helpers import Project

from hotlap.impact import memo
from hotlap.impact.memo import LAST
from hotlap.impact.store import open_store

ALL = {
    "tests/test_add.py::test_add",
    "tests/test_mul.py::test_mul",
    "tests/test_box.py::test_box_default",
    "tests/test_other.py::test_alone",
}


def _last(project: Project) -> dict[str, int]:
    store = open_store(project.root)
    try:
        found = store.get_meta(LAST)
        rows = {n: (r.groups, r.idgroup, r.outcome) for n, r in store.tests().items()}
    finally:
        store.close()
    assert isinstance(found, dict)
    found["rows"] = rows
    return found


def test_an_unchanged_run_keeps_every_row_and_an_edit_still_selects(project: Project) -> None:
    project.run("--", "-n", "2")
    first = _last(project)
    assert first["built"] == 4 and first["kept"] == 0
    project.run("--", "-n", "2")
    second = _last(project)
    assert (second["built"], second["kept"]) == (0, 4)
    assert second["rows"] == first["rows"]
    # Kept rows still say what their tests depend on.
    project.edit("src/pkg/mathx.py", "return a * b", "return b * a")
    assert project.selected() == {"tests/test_mul.py::test_mul"}
    # The edit breaks the note: the next merge builds every row again.
    project.run("--", "-n", "2")
    assert _last(project)["built"] == 4
    assert project.selected() == set()


def test_a_new_module_where_an_import_looks_builds_rows_again(project: Project) -> None:
    """A file created in a directory an import searches can change what the import finds,
    though no recorded file changed: the rows are built again."""
    project.run("--", "-n", "2")
    project.run("--", "-n", "2")
    assert _last(project)["kept"] == 4
    project.write("src/pkg/extra.py", "X = 1\n")
    project.run("--", "-n", "2")
    assert _last(project)["built"] == 4


def test_a_file_a_test_touches_during_the_run_rebuilds_only_its_row(project: Project) -> None:
    """jinja2's loader test sets a template's mtime on each run: that test's row holds the
    file as changed during the run (it is selected next time) and is built again each
    merge; the other rows are kept."""
    project.write("tests/data.txt", "hello\n")
    project.write(
        "tests/test_touch.py",
        """
        import os
        import time
        from pathlib import Path

        DATA = Path(__file__).with_name("data.txt")

        def test_touch():
            t = time.time() + 5
            os.utime(DATA, (t, t))
            assert DATA.read_text() == "hello\\n"
        """,
    )
    project.run("--", "-n", "2")
    project.run("--", "-n", "2")
    last = _last(project)
    assert (last["built"], last["kept"]) == (1, 4)
    assert "tests/test_touch.py::test_touch" in project.selected()
    project.run("--", "-n", "2")
    assert (_last(project)["built"], _last(project)["kept"]) == (1, 4)


def test_a_context_digest_depends_on_what_ran_not_on_the_process_table() -> None:
    """Each process numbers its code table its own way: the same code run gives the same
    digest whatever the indexes, code outside the project counts for nothing, and a
    different line, marker or opened file gives another digest."""
    root = "/proj/"

    def rel(path: str) -> str | None:
        return path[len(root) :] if path.startswith(root) else None

    one = [["/proj/a.py", 3, True], ["/proj/b.py", 7, False], ["/usr/lib/x.py", 1, True]]
    two = [["/usr/lib/y.py", 9, True], ["/proj/b.py", 7, False], ["/proj/a.py", 3, True]]
    ctx_one = {"codes": [0, 1, 2, 0], "opened": ["/proj/data.txt", "/tmp/t"], "spawned": []}
    ctx_two = {"codes": [2, 1, 0], "opened": ["/proj/data.txt"], "spawned": []}
    digest_one = memo.ContextDigester(one, rel)(ctx_one)
    assert memo.ContextDigester(two, rel)(ctx_two) == digest_one
    moved = [["/proj/a.py", 4, True], *one[1:]]
    unmarked = [["/proj/a.py", 3, False], *one[1:]]
    for table, ctx in (
        (moved, ctx_one),
        (unmarked, ctx_one),
        (one, {**ctx_one, "opened": ["/proj/other.txt"]}),
        (one, {**ctx_one, "codes": [0, 2]}),
    ):
        assert memo.ContextDigester(table, rel)(ctx) != digest_one, (table, ctx)
