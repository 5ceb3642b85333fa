"""Files written or read outside a test's temporary directories and fixed ports bound,
observed while a real suite runs under ``-n 2``, printed by ``hotlap safety [--json]`` with
the tests that share them, and carried by the JSON report."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jsonschema

from hotlap.export.report import load_schema

PYTEST_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

FILES = """
import os, shutil, sqlite3, tempfile
from pathlib import Path

HERE = Path(__file__).parent
SHARED = HERE / "shared.txt"

def test_write_a(): SHARED.write_text("a")
def test_write_b():
    with open(SHARED, "a") as f:
        f.write("b")
def test_read(): SHARED.read_text()
def test_replace():
    (HERE / "out.tmp").write_text("x")
    os.replace(HERE / "out.tmp", HERE / "out.txt")
def test_db(): sqlite3.connect(str(HERE / "db.sqlite")).close()
def test_tmp_path(tmp_path, tmpdir):
    (tmp_path / "x").write_text("1")
    tmpdir.join("y").write("1")
def test_tempfiles():
    with tempfile.NamedTemporaryFile("w") as f:
        f.write("x")
    with tempfile.TemporaryDirectory() as d:
        Path(d, "y").write_text("1")
    fd, p = tempfile.mkstemp()
    os.close(fd)
    os.remove(p)
    d = tempfile.mkdtemp(prefix="mine-")
    Path(d, "z").write_text("1")
    shutil.rmtree(d)
def test_tool_cache():
    (HERE / ".hypothesis").mkdir(exist_ok=True)
    (HERE / ".hypothesis" / "x").write_text("1")
def test_read_alone(): (HERE / "data.txt").read_text()
"""

PORTS = """
import socket

PORT = {port}

def _bind(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", PORT))
    except OSError:
        pass  # the other worker holds it: the bind was still attempted
    finally:
        s.close()

def test_port_a(): _bind(socket.SOCK_STREAM)
def test_port_b(): _bind(socket.SOCK_STREAM)
def test_udp(): _bind(socket.SOCK_DGRAM)
def test_port_zero():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.close()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    dropped = ("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "PYTEST_CURRENT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return subprocess.run(
        [sys.executable, "-m", "hotlap", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def _hazards(project: Path) -> dict[str, dict[tuple[str, str, str], tuple[str, ...]]]:
    """``test -> {(hazard, name, after): (shared_with..., | read_by...)}`` from
    ``hotlap safety --json``, names relative to the project."""
    shown = _run(project, "safety", "--json")
    assert shown.returncode == 0, shown.stderr
    result = {}
    for nodeid, hazards in json.loads(shown.stdout)["tests"].items():
        entries = {}
        for h in hazards:
            name = os.path.relpath(h["name"], project) if h["hazard"] == "file" else h["name"]
            tests = [n.split("::")[1] for n in h["shared_with"]]
            readers = [n.split("::")[1] for n in h.get("read_by", [])]
            entries[(h["hazard"], name, h["after"])] = (*tests, "|", *readers)
        result[nodeid.split("::")[1]] = entries
    return result


def test_files_written_outside_tmp_dirs(tmp_path: Path) -> None:
    """Under -n 2: two tests writing one file name each other and the test that reads it;
    the reader names the writers; a rename's source and target, a sqlite database are
    reported; tmp_path/tmpdir, tempfile's files and directories (mkdtemp with a prefix too),
    a tool's cache in the project (.hypothesis) and a file only read are not. The serial mark
    is suggested for the writers and the reader; the JSON report carries the writes and the
    read another test wrote, and validates."""
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_f.py").write_text(FILES)
    (tmp_path / "shared.txt").write_text("")
    (tmp_path / "data.txt").write_text("")
    proc = _run(tmp_path, "run", "--headless", "--no-impact", "--json", "r.json",
                "--", "-n", "2", "-p", "no:randomly")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _hazards(tmp_path) == {
        "test_write_a": {("file", "shared.txt", "written"): ("test_write_b", "|", "test_read")},
        "test_write_b": {("file", "shared.txt", "written"): ("test_write_a", "|", "test_read")},
        "test_read": {("file", "shared.txt", "read"): ("test_write_a", "test_write_b", "|")},
        "test_replace": {
            ("file", "out.tmp", "removed"): ("|",),
            ("file", "out.txt", "written"): ("|",),
        },
        "test_db": {("file", "db.sqlite", "written"): ("|",)},
    }
    text = _run(tmp_path, "safety").stdout
    assert f"writes {tmp_path / 'shared.txt'} (outside its temporary directories)" in text
    assert "(read by: test_f.py::test_read)" in text
    suggested = text.split("suggest @pytest.mark.serial for tests that share state: ")[1]
    assert suggested.split() == [
        "test_f.py::test_read,", "test_f.py::test_write_a,", "test_f.py::test_write_b",
    ]  # fmt: skip
    report = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(report, load_schema())
    in_report = {
        (h["nodeid"].split("::")[1], os.path.relpath(h["name"], tmp_path), h["after"])
        for h in report["hazards"]
    }
    assert in_report == {
        ("test_write_a", "shared.txt", "written"),
        ("test_write_b", "shared.txt", "written"),
        ("test_read", "shared.txt", "read"),
        ("test_replace", "out.tmp", "removed"),
        ("test_replace", "out.txt", "written"),
        ("test_db", "db.sqlite", "written"),
    }


def test_fixed_ports(tmp_path: Path) -> None:
    """Under -n 2: two tests binding one TCP port name each other and get the serial
    suggestion; a UDP bind of the same number is another port; port 0 is no hazard."""
    port = _free_port()
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_p.py").write_text(PORTS.format(port=port))
    proc = _run(tmp_path, "run", "--headless", "--no-impact", "--json", "r.json",
                "--", "-n", "2", "-p", "no:randomly")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _hazards(tmp_path) == {
        "test_port_a": {("port", f"tcp/{port}", "bound"): ("test_port_b", "|")},
        "test_port_b": {("port", f"tcp/{port}", "bound"): ("test_port_a", "|")},
        "test_udp": {("port", f"udp/{port}", "bound"): ("|",)},
    }
    text = _run(tmp_path, "safety").stdout
    assert f"binds fixed port tcp/{port} (also: test_p.py::test_port_b)" in text
    assert text.endswith(
        "suggest @pytest.mark.serial for tests that share state: "
        "test_p.py::test_port_a, test_p.py::test_port_b\n"
    )
    report = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(report, load_schema())
    assert {h["nodeid"].split("::")[1] for h in report["hazards"]} == {
        "test_port_a", "test_port_b", "test_udp",
    }  # fmt: skip


THREADS = """
import threading, time
from pathlib import Path

def test_slow_a(): time.sleep(0.5)
def test_slow_b(): time.sleep(0.5)
def test_thread_writes():
    thread = threading.Thread(target=lambda: (Path(__file__).parent / "out.txt").write_text("x"))
    thread.start()
    thread.join()
"""


def test_hotlaps_own_threads_touch_nothing_for_a_test(tmp_path: Path) -> None:
    """The hang watch looks for its kill-request file five times a second from its own thread,
    and the audit hook sees every thread: each test that ran past a look "read" that file.
    What hotlap's threads do is not the test's; what a thread the test starts does is."""
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_t.py").write_text(THREADS)
    proc = _run(tmp_path, "run", "--headless", "--no-impact", "--", "-n", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = json.loads((tmp_path / ".hotlap" / "safety.json").read_text())["runs"]
    found = {(h["nodeid"], h["name"], h["after"]) for run in runs for h in run["hazards"]}
    assert found == {("test_t.py::test_thread_writes", str(tmp_path / "out.txt"), "written")}


def test_a_module_a_test_imports_is_compiled_without_a_hazard(tmp_path: Path) -> None:
    """A test that imports a project module on a first run makes hotlap compile it with
    markers into ``.hotlap/pycache`` (a temporary file renamed, a claim made and removed):
    hotlap's own cache, not something the test wrote or read."""
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "lazy_mod.py").write_text("def f():\n    return 1\n")
    (tmp_path / "test_lazy.py").write_text(
        "def test_lazy():\n    import lazy_mod\n    assert lazy_mod.f() == 1\n"
    )
    dropped = ("HOTLAP_", "PYTEST_XDIST_", "PYTEST_ADDOPTS", "PYTEST_CURRENT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    proc = subprocess.run(
        [sys.executable, "-m", "hotlap", "run", "--headless", "--", "-n", "2"],
        cwd=tmp_path, env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if sys.version_info < (3, 12):  # markers are compiled on 3.10/3.11
        assert list((tmp_path / ".hotlap" / "pycache").glob("lazy_mod.*.pyc"))
    assert _hazards(tmp_path) == {}
