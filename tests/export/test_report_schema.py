"""The JSON report's schema: real reports pass it, and it catches the mistakes that matter."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hotlap.export.report import RunMeta, build_report, load_schema

SUITE = {
    "test_r.py": """
    import pytest

    @pytest.fixture(scope="module")
    def shared():
        yield 1

    def test_pass(shared):
        print("out")

    def test_fail():
        assert 1 == 2

    @pytest.mark.skip(reason="no")
    def test_skip():
        pass

    @pytest.mark.xfail
    def test_xfail():
        assert 0
    """
}


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory: pytest.TempPathFactory, hh) -> list[dict[str, Any]]:
    """Reports of the same small suite run with -n 0 and -n 2."""
    proj = hh.project(tmp_path_factory.mktemp("schema"), SUITE)
    out = []
    for n in ("0", "2"):
        result = hh.pytest(proj, "-n", n, f"--hotlap-json=r{n}.json")
        assert result.code == 1, result.describe()
        out.append(json.loads((proj / f"r{n}.json").read_text()))
    return out


def test_real_reports_validate(real_reports: list[dict[str, Any]]) -> None:
    """Reports of real -n 0 and -n 2 runs are valid, with every outcome present."""
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for report in real_reports:
        jsonschema.validate(report, schema)
        outcomes = sorted(t["outcome"] for t in report["tests"])
        assert outcomes == ["failed", "passed", "skipped", "xfailed"]


def test_history_section_validates(hh) -> None:
    """A report with the optional history section (regressions, flaky) is valid."""
    state = hh.make_state({"t.py::a": ("passed", 0.1)})
    history = {
        "regressions": [{"nodeid": "t.py::a", "old": 0.1, "new": 0.5, "spread": 0.0, "runs": 3}],
        "flaky": [{"nodeid": "t.py::a", "runs": 2, "passes": 1, "pass_rate": 0.5, "reason": "x"}],
    }
    jsonschema.validate(build_report(state, RunMeta(), history=history), load_schema())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("report_version",), 2),
        (("run", "exit_code"), "1"),
        (("run", "counts", "passed"), -1),
        (("run", "wall_time"), -0.5),
        (("run", "unknown_key"), 1),
        (("tests", 0, "duration"), None),
        (("tests", 0, "outcome"), ""),
        (("tests", 0, "rss_peak"), 1.5),
        (("fixtures", 0, "scope"), "global"),
    ],
)
def test_schema_catches_mistakes(real_reports: list[dict[str, Any]], path, value) -> None:
    """A wrong type, a negative time, an unknown key or a bad enum fails validation."""
    report = copy.deepcopy(real_reports[1])
    target = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, load_schema())


def test_missing_required_key_is_caught(real_reports: list[dict[str, Any]]) -> None:
    """Dropping a required key (a test's nodeid) fails validation."""
    report = copy.deepcopy(real_reports[0])
    del report["tests"][0]["nodeid"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, load_schema())


def test_schema_is_documented() -> None:
    """Every top-level and per-test key of the schema appears in docs/report.md."""
    docs = Path(__file__).parents[2] / "docs" / "report.md"
    text = docs.read_text(encoding="utf-8")
    schema = load_schema()
    keys = list(schema["properties"])
    keys += list(schema["properties"]["run"]["properties"])
    keys += list(schema["properties"]["tests"]["items"]["properties"])
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, missing
