"""Tests that patch what hotlap's own code calls beside them, or look at what it leaves in their
process: each passes under plain pytest and must pass under ``hotlap run`` (``-n 0`` and
``-n 2``) and ``pytest -p hotlap --hotlap-json`` alike.

Found by a hostile suite run against hotlap: scripted clocks (``time.monotonic`` with two
ticks) ran out inside hotlap's hooks (an INTERNALERROR, the test lost); a mocked ``open``
counted the hang watch's polls; a patched ``socket.socket.sendall`` recorded hotlap's events;
an audit hook raised in a removed working directory; children of tests wrote unbuffered
(``PYTHONUNBUFFERED`` inherited); SIGUSR2 had a handler; the project's ``serial`` marker got a
second line; a loader's own ``source_to_code`` was bypassed (3.10/3.11); dropped code was kept
alive and a free ``sys.monitoring`` tool id taken (3.12+).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

FILES = {
    "pytest.ini": """
        [pytest]
        asyncio_default_fixture_loop_scope = function
        markers =
            serial: the project's own meaning
    """,
    "macro.py": """
        def value():
            return MAGIC  # noqa: F821 - the project's import hook replaces it
    """,
    "droppable.py": """
        def run():
            return 42
    """,
    "test_patched.py": """
        import gc
        import importlib.machinery
        import importlib.util
        import os
        import signal
        import socket
        import subprocess
        import sys
        import time
        import weakref
        from unittest import mock

        import pytest

        ROOT = os.path.dirname(os.path.abspath(__file__))


        @pytest.fixture
        def two_ticks(monkeypatch):
            for name in ("monotonic", "process_time", "perf_counter", "time"):
                ticks = iter([100.0, 101.5])
                monkeypatch.setattr(time, name, lambda ticks=ticks: next(ticks))


        def test_scripted_clocks(two_ticks):
            for clock in (time.monotonic, time.process_time, time.perf_counter, time.time):
                assert clock() - clock() == -1.5


        CALLS = []


        @pytest.fixture
        def counted_perf_counter(monkeypatch):
            real = time.perf_counter
            monkeypatch.setattr(time, "perf_counter", lambda: CALLS.append(1) or real())


        @pytest.fixture
        def later(counted_perf_counter):
            return 1


        def test_a_counted_clock_counts_only_the_test(later):
            assert CALLS == []


        def test_a_mocked_open_is_called_once():
            with mock.patch("builtins.open", mock.mock_open(read_data="data")) as opened:
                time.sleep(0.7)  # the hang watch looks five times a second
                with open("anything") as f:
                    assert f.read() == "data"
            opened.assert_called_once()


        SEEN = []
        LISTENING = [False]


        def _hook(event, args):
            if LISTENING[0] and event == "open":
                SEEN.append(str(args[0]))


        sys.addaudithook(_hook)


        def test_an_audit_hook_sees_the_tests_opens_only(tmp_path):
            LISTENING[0] = True
            try:
                time.sleep(0.7)
                with open(tmp_path / "mine", "w") as f:
                    f.write("x")
            finally:
                LISTENING[0] = False
            assert SEEN == [str(tmp_path / "mine")]


        def test_a_patched_sendall_sees_no_traffic(monkeypatch):
            sent = []
            monkeypatch.setattr(socket.socket, "sendall", lambda self, data, *a: sent.append(data))
            time.sleep(0.5)  # past the running test's announcement, many flushes
            assert sent == []


        def test_abspath_is_called_only_by_the_test(monkeypatch, tmp_path):
            calls = []
            real = os.path.abspath
            monkeypatch.setattr(os.path, "abspath", lambda p: calls.append(p) or real(p))
            with open(os.path.join(str(tmp_path), "written"), "w") as f:
                f.write("x")
            assert calls == []


        def test_opening_the_removed_working_directory(tmp_path, monkeypatch):
            gone = tmp_path / "gone"
            gone.mkdir()
            monkeypatch.chdir(gone)
            gone.rmdir()
            os.close(os.open(".", os.O_RDONLY))


        def test_a_child_buffers_its_output():
            code = "import sys; print('out-1'); sys.stderr.write('err-1\\\\n'); print('out-2')"
            out = subprocess.run(
                [sys.executable, "-c", code],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=True,
            ).stdout
            assert out == "err-1\\nout-1\\nout-2\\n"


        def test_sigusr_signals_are_free():
            assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
            assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL


        def test_the_serial_marker_is_the_projects(pytestconfig):
            lines = [m for m in pytestconfig.getini("markers") if m.startswith("serial")]
            assert lines == ["serial: the project's own meaning"]


        class Macro(importlib.machinery.SourceFileLoader):
            def source_to_code(self, data, path, *, _optimize=-1):
                return compile(data.replace(b"MAGIC", b"'TRANSFORMED'"), path, "exec")


        def test_a_loaders_own_source_to_code_is_used():
            path = os.path.join(ROOT, "macro.py")
            loader = Macro("macro", path)
            spec = importlib.util.spec_from_loader("macro", loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            assert module.value() == "TRANSFORMED"


        def test_dropped_code_is_freed():
            sys.path.insert(0, ROOT)
            try:
                import droppable
            finally:
                sys.path.remove(ROOT)
            assert droppable.run() == 42
            code = weakref.ref(droppable.run.__code__)
            del sys.modules["droppable"], droppable
            gc.collect()
            assert code() is None


        @pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring")
        def test_the_tool_ids_for_anyone_are_free():
            assert sys.monitoring.get_tool(3) is None
            assert sys.monitoring.get_tool(4) is None
    """,
}

EXPECTED = {"passed": 13} if sys.version_info >= (3, 12) else {"passed": 12, "skipped": 1}


def _env(hx: Any) -> dict[str, str]:
    harness = sys.modules[type(hx).__module__]
    env = harness.clean_env(hx.mark)
    env.pop("PYTHONUNBUFFERED", None)  # as most users run: children buffer their output
    return env


def _run(project: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _counts(hx: Any, out: str) -> dict[str, int]:
    harness = sys.modules[type(hx).__module__]
    summary = harness.summary_line(out)
    assert summary, out
    counts: dict[str, int] = harness.parse_counts(summary)
    return counts


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_patched_world_runs_as_under_plain_pytest(hx: Any, workers: str) -> None:
    project = hx.project({}, ini=textwrap.dedent(FILES["pytest.ini"]).lstrip())
    for name, text in FILES.items():
        (project / name).write_text(textwrap.dedent(text).lstrip())
    env = _env(hx)
    plain = _run(project, env, "-m", "pytest", "-p", "no:randomly", "-n", workers)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert _counts(hx, plain.stdout) == EXPECTED, plain.stdout
    for _ in range(2):  # the second run loads what the first cached (impact, bytecode)
        hot = _run(
            project, env, "-m", "hotlap", "run", "--headless", "--", "-p", "no:randomly",
            "-n", workers,
        )  # fmt: skip
        assert hot.returncode == 0, hot.stdout + hot.stderr
        assert _counts(hx, hot.stdout) == EXPECTED, hot.stdout
    report = project / "r.json"
    plugin = _run(
        project, env, "-m", "pytest", "-p", "no:randomly", "-p", "hotlap",
        f"--hotlap-json={report}", "-n", workers,
    )  # fmt: skip
    assert plugin.returncode == 0, plugin.stdout + plugin.stderr
    assert _counts(hx, plugin.stdout) == EXPECTED, plugin.stdout
