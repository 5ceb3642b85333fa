"""Hostile output and data: MBs of output, bytes that are not UTF-8, ANSI escapes, lone
surrogates in assertion messages, test ids, output, user properties and warnings, and
fixtures broken in setup and teardown.

hotlap must count what pytest counts, ship every text bounded (a truncation marker) and
escaped, and write a report that is valid JSON (ASCII only). A lone surrogate in an assertion
message makes plain ``pytest -n 2`` lose the failure (execnet cannot send it); under hotlap
the failure must arrive, so hotlap with ``-n 2`` is compared with plain pytest ``-n 0``.
"""

from __future__ import annotations

from typing import Any

import pytest

HOSTILE = {
    "test_hostile.py": """
        import os
        import sys

        import pytest

        def test_two_megabytes():
            sys.stdout.write("x" * 2_000_000 + "END-OF-BIG")
            assert 0, "big"

        def test_not_utf8():
            sys.stdout.buffer.write(b"\\xff\\xfe buffered\\n")
            sys.stdout.flush()
            os.write(1, b"\\xc3\\x28 raw fd\\n")
            os.write(2, b"\\x80 stderr\\n")
            assert 0, "bytes"

        def test_ansi():
            print("\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 \\x1b[2J")
            assert 0, "\\x1b[1mbold failure\\x1b[0m"

        def test_surrogate_message():
            assert 0, "lone \\udcff surrogate"

        def test_surrogate_printed():
            print("printed \\udcfe")

        @pytest.mark.parametrize("x", [1, 2], ids=["\\udcff", "\\x1b[31mred"])
        def test_explicit_ids(x):
            assert x == 1

        @pytest.mark.skip(reason="skipped \\udcff")
        def test_skip_reason():
            pass

        @pytest.mark.xfail(reason="xfail \\udcff")
        def test_xfail_reason():
            assert 0

        def test_surrogate_property(record_property):
            record_property("path", "lone \\udcff")

        def test_surrogate_warning():
            import warnings

            warnings.warn(UserWarning("warned \\udcff"))

        @pytest.mark.parametrize("value", ["\\udcff", "\\x1b[31m", "ok"])
        def test_hostile_ids(value):
            pass

        @pytest.fixture
        def broken_setup():
            raise RuntimeError("setup \\udcff broke")

        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("teardown broke")

        @pytest.fixture(scope="module")
        def module_teardown_breaks():
            yield
            raise RuntimeError("module teardown broke")

        def test_setup_error(broken_setup):
            pass

        def test_teardown_error(broken_teardown):
            pass

        def test_module_fixture(module_teardown_breaks):
            pass

        def test_plain():
            pass
    """,
}

EXPECTED = {"failed": 5, "passed": 10, "skipped": 1, "xfailed": 1, "error": 3}


def _check_report(hot: Any) -> None:
    big = hot.test("test_hostile.py::test_two_megabytes")
    assert "truncated" in big["stdout"] and big["stdout"].rstrip().endswith("END-OF-BIG")
    assert len(big["stdout"]) < 200_000, len(big["stdout"])
    utf8 = hot.test("test_hostile.py::test_not_utf8")
    assert "raw fd" in utf8["stdout"] and "stderr" in utf8["stderr"], utf8
    ansi = hot.test("test_hostile.py::test_ansi")
    assert "\x1b[31mred" in ansi["stdout"], ansi["stdout"]
    surrogate = hot.test("test_hostile.py::test_surrogate_message")
    assert surrogate["outcome"] == "failed"
    assert "\\udcff" in surrogate["longrepr"], surrogate["longrepr"]
    assert "printed" in hot.test("test_hostile.py::test_surrogate_printed")["stdout"]
    ids = [t["nodeid"] for t in hot.report["tests"] if "hostile_ids" in t["nodeid"]]
    assert len(ids) == 3, ids


@pytest.mark.parametrize("workers", ["0", "2"])
def test_hostile_output_counts_and_report(hx: Any, workers: str) -> None:
    """Counts equal plain ``pytest -n 0``'s (the surrogate failure included), the exit code is
    1, output is bounded with a marker and escaped, and the report is ASCII-only JSON."""
    project = hx.project(HOSTILE)
    plain = hx.pytest(project, "-n", "0")
    assert plain.counts == EXPECTED, plain.describe()
    hot = hx.plugin(project, "-n", workers)
    assert hot.code == plain.code == 1, hot.describe()
    assert hot.report["run"]["counts"] == EXPECTED, hot.describe()
    assert "INTERNALERROR" not in hot.output, hot.describe()
    _check_report(hot)


def test_output_of_each_phase_is_shipped_once(hx: Any) -> None:
    """What a test printed appears once in its record, not once per phase.

    pytest's ``report.capstdout`` holds every phase's output so far; shipping it for each
    phase repeated the call's output in teardown's report.
    """
    project = hx.project(
        {
            "test_once.py": """
                import pytest

                @pytest.fixture
                def noisy():
                    print("SETUP-LINE")
                    yield
                    print("TEARDOWN-LINE")

                def test_prints(noisy):
                    print("CALL-LINE")
                    assert 0
            """
        }
    )
    hot = hx.plugin(project, "-n", "0")
    stdout = hot.test("test_once.py::test_prints")["stdout"]
    for line in ("SETUP-LINE", "CALL-LINE", "TEARDOWN-LINE"):
        assert stdout.count(line) == 1, stdout
