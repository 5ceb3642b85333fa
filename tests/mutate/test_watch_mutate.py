"""``hotlap watch --mutate``: the changed code is mutated once its tests pass; the next save
cancels a mutation run."""

from __future__ import annotations

from mutate_helpers import Project, Watch


def _project(project: Project, pause: float = 0.0) -> None:
    project.write(
        "src/pkg/size.py",
        f"""
        import time


        def is_small(x):
            time.sleep({pause})
            return x < 5


        def is_big(x):
            return x > 100
        """,
    )
    project.write(
        "tests/test_size.py",
        """
        from pkg.size import is_big, is_small

        def test_small():
            assert is_small(1)

        def test_big():
            assert is_big(101)
        """,
    )
    project.record()


def test_save_then_passing_tests_mutate_the_changed_function(project: Project) -> None:
    """Editing ``is_small``: its test reruns and passes, then only ``is_small`` is mutated
    (``is_big`` is untouched) and the weak test's survivor is printed."""
    _project(project)
    watch = Watch(project, "--mutate")
    try:
        watch.wait_for("waiting for changes")
        project.edit("src/pkg/size.py", "return x < 5", "return x < 6")
        watch.wait_for("1 passed")
        started = watch.wait_for("mutate: ")
        assert "mutants of" in started and "size.py" in started, started
        survivor = watch.wait_for("return x < 6  ->  return x <= 6")
        assert "SURVIVED src/pkg/size.py::is_small" in survivor
        done = watch.wait_for("mutate: done")
        assert "score" in done
        assert not [line for line in watch.seen if "is_big" in line]
    finally:
        watch.stop()


def test_next_save_cancels_the_mutation_run(project: Project) -> None:
    """A save while the changed code is being mutated stops that run; the new cycle runs."""
    _project(project, pause=0.5)
    watch = Watch(project, "--mutate")
    try:
        watch.wait_for("waiting for changes")
        project.edit("src/pkg/size.py", "return x < 5", "return x < 6")
        watch.wait_for("mutants of")
        project.edit("src/pkg/size.py", "return x > 100", "return x > 99")
        watch.wait_for("mutate: cancelled by a save")
        watch.wait_for("changed: src/pkg/size.py")
        watch.wait_for("passed")
    finally:
        watch.stop()
