"""``--hotlap-shard K/N`` and ``hotlap run --shard K/N`` in real pytest runs.

The shards of a suite run the whole suite exactly once between them, with and without xdist
(whose workers each plan the split: they must agree), balanced by the durations given, with
xdist_group marks and ``--dist loadscope`` classes kept whole. pytest-split's own
``--splits/--group`` keeps working through ``hotlap run``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

SUITE = {
    "test_one.py": """
        import pytest

        @pytest.mark.parametrize("i", range(12))
        def test_param(i):
            pass

        class TestKept:
            def test_a(self):
                pass

            def test_b(self):
                pass

            def test_c(self):
                pass
    """,
    "test_two.py": """
        import pytest

        @pytest.mark.xdist_group("db")
        def test_db_1():
            pass

        @pytest.mark.xdist_group("db")
        def test_db_2():
            pass

        @pytest.mark.xdist_group(name="db")
        def test_db_3():
            pass

        def test_plain():
            pass

        def test_new():
            pass
    """,
}
ALL = sorted(
    [f"test_one.py::test_param[{i}]" for i in range(12)]
    + [f"test_one.py::TestKept::test_{x}" for x in "abc"]
    + [f"test_two.py::test_db_{i}" for i in (1, 2, 3)]
    + ["test_two.py::test_plain", "test_two.py::test_new"]
)
#: Known seconds: one long parametrized case, the rest small; test_new is not in the file.
DURATIONS = {
    **{n: 0.01 for n in ALL if n != "test_two.py::test_new"},
    "test_one.py::test_param[0]": 3.0,
    "test_one.py::TestKept::test_a": 1.0,
}


def ran(project: Path, report: str) -> list[str]:
    data = json.loads((project / report).read_text(encoding="utf-8"))
    return sorted(t["nodeid"].split("@", 1)[0] for t in data["tests"])


def run_shards(
    ph: Any, project: Path, n: int, *extra: str, restore: dict[str, float] | None = None
) -> list[list[str]]:
    """Run shards 1..n of the project; ``restore``: write it to ``.test_durations`` before
    each shard, as each CI job restores the same file (a shard merges its seconds into it)."""
    out = []
    for k in range(1, n + 1):
        if restore is not None:
            (project / ".test_durations").write_text(json.dumps(restore))
        result = ph.run_pytest(
            project,
            "-p",
            "no:cacheprovider",
            "-q",
            f"--hotlap-shard={k}/{n}",
            f"--hotlap-json=r{k}.json",
            *extra,
        )
        assert result.code in (0, 5), result.describe()
        out.append(ran(project, f"r{k}.json") if result.code == 0 else [])
    return out


@pytest.mark.parametrize("workers", ["0", "2"])
def test_shards_run_the_suite_once_between_them(ph: Any, tmp_path: Path, workers: str) -> None:
    """Three shards, with and without xdist: every test runs in exactly one of them, the
    long test goes alone into its shard, and the split is the same with -n 0 and -n 2 (the
    xdist workers, which collect, agree with each other and with a single process)."""
    project = ph.write_project(tmp_path / "p", SUITE)
    (project / "durations.json").write_text(json.dumps(DURATIONS))
    shards = run_shards(ph, project, 3, "-n", workers, "--hotlap-shard-durations=durations.json")
    assert sorted(n for shard in shards for n in shard) == ALL
    long_shard = next(s for s in shards if "test_one.py::test_param[0]" in s)
    assert long_shard == ["test_one.py::test_param[0]"]
    if workers == "2":
        assert shards == run_shards(
            ph, project, 3, "-n", "0", "--hotlap-shard-durations=durations.json"
        )


def test_groups_and_loadscope_classes_stay_in_one_shard(ph: Any, tmp_path: Path) -> None:
    """Under --dist loadgroup the xdist_group("db") tests share a shard; under --dist
    loadscope so do TestKept's methods (and, as xdist scopes them, test_one's functions)."""
    project = ph.write_project(tmp_path / "p", SUITE)
    for dist in ("loadgroup", "loadscope"):
        shards = run_shards(ph, project, 4, "-n", "2", f"--dist={dist}")
        assert sorted(n for shard in shards for n in shard) == ALL, dist
        db = [i for i, s in enumerate(shards) if any("test_db_" in n for n in s)]
        assert len(db) == 1 and sum("test_db_" in n for n in shards[db[0]]) == 3, shards
        if dist == "loadscope":
            kept = [i for i, s in enumerate(shards) if any("TestKept" in n for n in s)]
            assert len(kept) == 1, shards
            params = [i for i, s in enumerate(shards) if any("test_param" in n for n in s)]
            assert len(params) == 1, shards


def test_shard_durations_default_to_the_exported_file(ph: Any, tmp_path: Path) -> None:
    """Without --hotlap-shard-durations the --hotlap-durations file balances the shards when
    it exists already: the 3-second test is alone in its shard."""
    project = ph.write_project(tmp_path / "p", SUITE)
    shards = run_shards(ph, project, 2, "--hotlap-durations=.test_durations", restore=DURATIONS)
    assert sorted(n for shard in shards for n in shard) == ALL
    assert ["test_one.py::test_param[0]"] in shards


def test_bad_shard_and_split_together_are_usage_errors(ph: Any, tmp_path: Path) -> None:
    """A K/N that is none, or --hotlap-shard with pytest-split's --splits: pytest's usage
    error (exit 4) with one line that says why."""
    project = ph.write_project(tmp_path / "p", SUITE)
    bad = ph.run_pytest(project, "-p", "no:cacheprovider", "--hotlap-shard=5/4")
    assert bad.code == 4 and "K must be between 1 and 4" in bad.stderr, bad.describe()
    both = ph.run_pytest(
        project, "-p", "no:cacheprovider", "--hotlap-shard=1/2", "--splits=2", "--group=1"
    )
    assert both.code == 4 and "--splits/--group" in both.stderr, both.describe()


def hotlap(ph: Any, project: Path, *args: str) -> Any:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "hotlap", *args],
        cwd=project,
        env=ph.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return proc


def test_hotlap_run_shard_reads_the_durations_file_before_writing_it(
    ph: Any, tmp_path: Path
) -> None:
    """``hotlap run --shard K/N --durations-file F``: F (restored from an earlier run)
    balances the split, then gets this shard's seconds merged in, keeping the others'."""
    project = ph.write_project(tmp_path / "p", SUITE)
    shards = []
    for k in (1, 2):
        (project / ".test_durations").write_text(json.dumps(DURATIONS))  # each job restores it
        proc = hotlap(
            ph, project, "run", "--shard", f"{k}/2", "--headless", "--no-history",
            "--no-impact", "--durations-file", ".test_durations", f"--json=r{k}.json",
            "--", "-p", "no:cacheprovider", "-n", "0",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
        shards.append(ran(project, f"r{k}.json"))
        after = json.loads((project / ".test_durations").read_text())
        assert set(after) == set(DURATIONS) | set(shards[-1])
        for nodeid in after:  # this shard's tests measured, the others' seconds kept
            measured = after[nodeid] != DURATIONS.get(nodeid)
            assert measured == (nodeid in shards[-1]), nodeid
    assert sorted(n for shard in shards for n in shard) == ALL
    assert ["test_one.py::test_param[0]"] in shards


def test_hotlap_run_shard_usage_error(ph: Any, tmp_path: Path) -> None:
    """``hotlap run --shard 0/2``: one line, exit 4, pytest never started."""
    project = ph.write_project(tmp_path / "p", SUITE)
    proc = hotlap(ph, project, "run", "--shard", "0/2", "--headless")
    assert proc.returncode == 4
    assert proc.stderr.decode().strip() == "hotlap: error: --shard 0/2: K must be between 1 and 2"


def test_pytest_split_still_works_through_hotlap_run(ph: Any, tmp_path: Path) -> None:
    """pytest-split's --splits/--group pass through ``hotlap run``: its two groups run the
    suite once between them, and hotlap's report counts what each group ran."""
    project = ph.write_project(tmp_path / "p", SUITE)
    (project / ".test_durations").write_text(json.dumps(DURATIONS))
    shards = []
    for group in ("1", "2"):
        proc = hotlap(
            ph, project, "run", "--headless", "--no-history", "--no-impact",
            f"--json=r{group}.json", "--", "-p", "no:cacheprovider", "-n", "2",
            "--splits", "2", "--group", group, "--durations-path", ".test_durations",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
        shards.append(ran(project, f"r{group}.json"))
    assert sorted(n for shard in shards for n in shard) == ALL
    assert not set(shards[0]) & set(shards[1])
