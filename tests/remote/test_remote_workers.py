"""Workers that cannot reach the app's socket report through the xdist controller.

Proved without ssh: ``--tx socket=`` workers started by execnet's socket server (they inherit
the server's environment, not the app's, exactly like a worker on another host), and popen
workers told to use the controller's channel (``HOTLAP_VIA_CONTROLLER=1``). Each run is
compared with the same suite on local workers that send straight to the socket: the same
counts, outcomes, fixtures, crashes and hang kills. A conftest in the suite writes which path
each worker took (``via-gw0.txt``), so a run that silently fell back to the socket fails.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hotlap.export.record import read_record
from hotlap.protocol import HangStack, WorkerStart

SUITE = {
    "conftest.py": """
        import os

        def pytest_sessionstart(session):
            worker = getattr(session.config, "workerinput", {}).get("workerid")
            if worker:
                import hotlap.plugin.sink as sink

                path = "channel" if sink.channel_factory is not None else "socket"
                root = str(session.config.rootpath)
                with open(os.path.join(root, f"via-{worker}.txt"), "w") as f:
                    f.write(path)
    """,
    "test_work.py": """
        import time
        import pytest

        @pytest.fixture(scope="module")
        def database():
            time.sleep(0.05)
            yield "db"
            time.sleep(0.02)

        @pytest.mark.parametrize("i", range(12))
        def test_fast(database, i):
            pass

        def test_fails(database):
            assert database == "other"

        def test_slow():
            time.sleep(0.8)

        def test_prints():
            print("hello from a worker")
    """,
    "test_faults.py": """
        import os
        import time

        def test_crashes():
            os._exit(3)

        def test_hangs():
            time.sleep(30)
    """,
}
#: What every run of SUITE counts: the crash and the killed hang are failures.
COUNTS = {"failed": 3, "passed": 14}
HOST = socket.gethostname()
PYTHON = ".".join(map(str, sys.version_info[:3]))


def env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without the outer run's hotlap, pytest and xdist variables."""
    import os

    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_")) and k != "PYTHONPATH"
    }
    return {**clean, "PYTHONUNBUFFERED": "1", **(extra or {})}


def hotlap_run(project: Path, name: str, *pytest_args: str, extra_env: Any = None) -> Any:
    """``hotlap run --headless`` with hang limits, a report and a record named ``name``."""
    argv = [
        sys.executable, "-m", "hotlap", "run", "--headless", "--no-history", "--no-impact",
        "--hang-after", "0.3", "--kill-after", "3", f"--json={name}.json",
        f"--record={name}.jsonl", "--", "-p", "no:cacheprovider", *pytest_args,
    ]  # fmt: skip
    proc = subprocess.run(
        argv,
        cwd=project,
        env=env(extra_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert proc.returncode == 1, output
    return json.loads((project / f"{name}.json").read_text()), list(
        read_record(project / f"{name}.jsonl")
    )


def project(root: Path) -> Path:
    import textwrap

    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    for name, text in SUITE.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


def paths_taken(root: Path) -> dict[str, str]:
    return {p.stem[4:]: p.read_text() for p in sorted(root.glob("via-*.txt"))}


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {t["nodeid"]: t["outcome"] for t in report["tests"]}


def fixtures(report: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Each fixture's scope and setups. A session fixture is set up once in each worker
    process that runs a test, and which replacement worker (after the crash and the killed
    hang) gets a test before the suite ends is timing: its count is left out (-1)."""
    return {
        f["name"]: (f["scope"], -1 if f["scope"] == "session" else len(f["uses"]))
        for f in report["fixtures"]
    }


def crash_reasons(report: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"]: c["reason"] for c in report["crashes"]}


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[Any]]:
    """The suite on two local workers that send straight to the app's socket."""
    root = project(tmp_path_factory.mktemp("direct"))
    report, events = hotlap_run(root, "direct", "-n", "2")
    assert set(paths_taken(root).values()) == {"socket"}
    return report, events


def assert_same_run(report: dict[str, Any], reference: dict[str, Any]) -> None:
    assert report["run"]["counts"] == reference["run"]["counts"] == COUNTS
    assert outcomes(report) == outcomes(reference)
    assert fixtures(report) == fixtures(reference) != {}
    assert (
        set(crash_reasons(report))
        == set(crash_reasons(reference))
        == {
            "test_faults.py::test_crashes",
            "test_faults.py::test_hangs",
        }
    )
    hung = crash_reasons(report)["test_faults.py::test_hangs"]
    assert hung.startswith("hung: killed after 3s"), hung
    assert "time.sleep(30)" in hung  # the test's own frame


def test_popen_workers_forced_through_the_controller(
    tmp_path: Path, direct: tuple[dict[str, Any], list[Any]]
) -> None:
    """``HOTLAP_VIA_CONTROLLER=1``: the popen workers (and their replacements after the
    crash and the kill) send through the controller's channel, and the run reports what the
    direct run reports: counts, outcomes, fixture setups, the crash's exit code, the hang kill
    with its stack, hang stacks of the slow test."""
    root = project(tmp_path / "forced")
    report, events = hotlap_run(root, "forced", "-n", "2", extra_env={"HOTLAP_VIA_CONTROLLER": "1"})
    taken = paths_taken(root)
    assert len(taken) >= 3 and set(taken.values()) == {"channel"}, taken  # 2 + replacements
    assert_same_run(report, direct[0])
    crashed = crash_reasons(report)["test_faults.py::test_crashes"]
    assert "exit code 3" in crashed, crashed
    assert any(isinstance(e, HangStack) and e.nodeid.endswith("test_slow") for e in events)
    starts = [e for e in events if isinstance(e, WorkerStart)]
    assert starts and all((e.host, e.python) == (HOST, PYTHON) for e in starts)


def test_socket_gateway_workers_under_the_app(
    tmp_path: Path, execnet_server: str, direct: tuple[dict[str, Any], list[Any]]
) -> None:
    """Two ``--tx socket=`` workers started by execnet's socket server, which know nothing of
    the app: through the controller they report what local workers report; the hang limits
    reach them with the channel; the killed worker's reason is its own last stack."""
    root = project(tmp_path / "remote")
    spec = f"2*socket={execnet_server}//chdir={root}"
    report, events = hotlap_run(root, "remote", "--tx", spec, "--dist", "load")
    taken = paths_taken(root)
    assert len(taken) >= 3 and set(taken.values()) == {"channel"}, taken
    assert_same_run(report, direct[0])
    assert any(isinstance(e, HangStack) and e.nodeid.endswith("test_slow") for e in events)
    assert {e.worker for e in events if isinstance(e, WorkerStart)} >= {"gw0", "gw1"}


def test_socket_gateway_workers_without_the_app(tmp_path: Path, execnet_server: str) -> None:
    """Plain ``pytest --hotlap-json --hotlap-record`` with socket workers: the controller's
    own event socket is as unreachable for them as the app's; the exports count like pytest
    and name each worker's host and Python."""
    root = project(tmp_path / "plain")
    argv = [
        # xdist refuses a path argument outside an rsync root for socket workers.
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--ignore=test_faults.py",
        "--tx", f"socket={execnet_server}//chdir={root}",
        "--tx", f"socket={execnet_server}//chdir={root}",
        "--dist", "load", "--hotlap-json=plain.json", "--hotlap-record=plain.jsonl",
    ]  # fmt: skip
    proc = subprocess.run(
        argv,
        cwd=root,
        env=env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout.decode() + proc.stderr.decode()
    assert "1 failed, 14 passed" in proc.stdout.decode()
    assert set(paths_taken(root).values()) == {"channel"}
    report = json.loads((root / "plain.json").read_text())
    assert report["run"]["counts"] == {"failed": 1, "passed": 14}
    assert fixtures(report)["database"] == ("module", 2)
    starts = [e for e in read_record(root / "plain.jsonl") if isinstance(e, WorkerStart)]
    assert sorted(e.worker for e in starts) == ["gw0", "gw1"]
    assert all((e.host, e.python) == (HOST, PYTHON) for e in starts)


def test_a_worker_under_another_python(tmp_path: Path, other_python_server: str) -> None:
    """A ``--tx socket=`` worker under another Python version beside a local one (xdist gives
    a ``popen//python=`` worker the controller's sys.path, so another version only runs this
    way): both report, and the record says which Python each lane runs."""
    root = project(tmp_path / "other")
    (root / "test_faults.py").unlink()
    report, events = hotlap_run(
        root, "other", "--tx", f"socket={other_python_server}//chdir={root}", "--tx", "popen",
        "--dist", "load",
    )  # fmt: skip
    assert report["run"]["counts"] == {"failed": 1, "passed": 14}
    pythons = {e.worker: e.python for e in events if isinstance(e, WorkerStart)}
    assert pythons["gw1"] == PYTHON and pythons["gw0"] not in ("", PYTHON), pythons
