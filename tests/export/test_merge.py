"""`hotlap merge`: CI shards back into one durations file or report."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from hotlap.export.merge import MergeError, merge_durations, merge_files, merge_reports
from hotlap.export.report import load_schema

SUITE = {
    f"test_m{m}.py": f"""
    import pytest

    @pytest.mark.parametrize("i", range(5))
    def test_it(i):
        assert i != 3 or {m} != 1, "one failure in module 1"
    """
    for m in range(4)
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, hh) -> Path:
    """A suite run once whole and once as two pytest-split shards, with both exports."""
    proj = hh.project(tmp_path_factory.mktemp("merge"), SUITE)
    full = hh.pytest(proj, "-n", "2", "--hotlap-durations=full.json", "--hotlap-json=full-r.json")
    assert full.code == 1, full.describe()
    for group in ("1", "2"):
        shard = hh.pytest(
            proj, "-n", "0", "--splits", "2", "--group", group, "--durations-path", "full.json",
            f"--hotlap-durations=d{group}.json", f"--hotlap-json=r{group}.json",
        )  # fmt: skip
        assert shard.code in (0, 1), shard.describe()
    return proj


def test_two_shards_merge_into_the_full_export(shards: Path, hh) -> None:
    """Merged shard durations cover exactly the full run's tests; the report's outcomes match."""
    d1 = json.loads((shards / "d1.json").read_text())
    d2 = json.loads((shards / "d2.json").read_text())
    assert d1 and d2 and not set(d1) & set(d2)
    result = hh.hotlap(shards, "merge", "merged.json", "d1.json", "d2.json")
    assert result.code == 0, result.describe()
    merged = json.loads((shards / "merged.json").read_text())
    full = json.loads((shards / "full.json").read_text())
    assert list(merged) == sorted(full)
    assert merged == {**d1, **d2}

    result = hh.hotlap(shards, "merge", "merged-r.json", "r1.json", "r2.json")
    assert result.code == 0, result.describe()
    report = json.loads((shards / "merged-r.json").read_text())
    jsonschema.validate(report, load_schema())
    whole = json.loads((shards / "full-r.json").read_text())
    outcomes = {t["nodeid"]: t["outcome"] for t in report["tests"]}
    assert outcomes == {t["nodeid"]: t["outcome"] for t in whole["tests"]}
    assert report["run"]["counts"] == whole["run"]["counts"] == {"failed": 1, "passed": 19}
    assert report["run"]["exit_code"] == 1 and report["run"]["shards"] == 2


def test_duplicate_shard_is_refused(shards: Path, hh) -> None:
    """The same shard given twice is an error naming the test, unless duplicates are allowed."""
    result = hh.hotlap(shards, "merge", "x.json", "d1.json", "d1.json")
    assert result.code == 1 and "is in both d1.json and d1.json" in result.stderr
    assert "Traceback" not in result.stderr and not (shards / "x.json").exists()
    allowed = hh.hotlap(shards, "merge", "--allow-duplicates", "x.json", "d1.json", "d1.json")
    assert allowed.code == 0, allowed.describe()
    reports = hh.hotlap(shards, "merge", "y.json", "r1.json", "r1.json")
    assert reports.code == 1 and "is in both" in reports.stderr


def test_version_mismatch_is_refused(shards: Path) -> None:
    """Reports from different pytest versions do not merge unless told to."""
    r1 = json.loads((shards / "r1.json").read_text())
    r2 = json.loads((shards / "r2.json").read_text())
    r2["run"]["versions"]["pytest"] = "0.0.1"
    with pytest.raises(MergeError, match="pytest"):
        merge_reports([("r1", r1), ("r2", r2)])
    merged, warnings = merge_reports([("r1", r1), ("r2", r2)], allow_mismatch=True)
    assert warnings and len(merged["tests"]) == len(r1["tests"]) + len(r2["tests"])


def test_reused_worker_ids_are_told_apart(shards: Path) -> None:
    """Two -n 0 shards both ran on `main`: the merged report names them per shard."""
    r1 = json.loads((shards / "r1.json").read_text())
    r2 = json.loads((shards / "r2.json").read_text())
    merged, _ = merge_reports([("r1", r1), ("r2", r2)])
    assert merged["run"]["worker_ids"] == ["s1/main", "s2/main"]
    assert {t["worker"] for t in merged["tests"]} == {"s1/main", "s2/main"}


def test_bad_inputs_give_one_line_errors(tmp_path: Path, hh) -> None:
    """Missing, non-JSON, mixed-kind and wrong-version inputs: one clear line, exit 1."""
    (tmp_path / "d.json").write_text('{"t.py::a": 1.0}')
    (tmp_path / "r.json").write_text('{"report_version": 99}')
    (tmp_path / "bad.json").write_text("[1, 2]")
    (tmp_path / "nojson.json").write_text("{")
    cases = {
        ("missing.json",): "cannot read missing.json",
        ("nojson.json",): "is not JSON",
        ("bad.json",): "neither a .test_durations file nor a hotlap JSON report",
        ("r.json",): "version 99 report",
    }
    for inputs, expected in cases.items():
        result = hh.hotlap(tmp_path, "merge", "out.json", *inputs)
        assert result.code == 1, result.describe()
        assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"report_version": 1}))
    with pytest.raises(MergeError, match="mix"):
        merge_files([tmp_path / "d.json", good])


def test_duplicates_are_averaged_when_allowed() -> None:
    """With duplicates allowed, a test's durations from several inputs are averaged."""
    merged, warnings = merge_durations(
        [("a", {"t::x": 1.0, "t::y": 2.0}), ("b", {"t::x": 3.0})], allow_duplicates=True
    )
    assert merged == {"t::x": 2.0, "t::y": 2.0} and warnings
