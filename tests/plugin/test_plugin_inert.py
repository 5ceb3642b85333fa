"""Installing hotlap changes nothing in a plain ``pytest`` run.

The plugin is auto-loaded through its ``pytest11`` entry point; unless the app drives the run
or a ``--hotlap-*`` export is asked for, it must register no hooks, and its presence must not
change pytest's output or exit code. A ``HOTLAP_SOCKET`` nobody listens on must not either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SUITE = {
    # Every process (controller, workers, or the single one) says which hotlap plugin objects
    # are registered when the session ends. Blocked plugins are listed with ``None``.
    "conftest.py": """
        from pathlib import Path


        def pytest_sessionfinish(session):
            config = session.config
            names = sorted(
                name
                for name, plugin in config.pluginmanager.list_name_plugin()
                if plugin is not None and name and name.startswith("hotlap")
            )
            who = getattr(config, "workerinput", {}).get("workerid", "main")
            with open(Path(str(config.rootpath), "hotlap-plugins.txt"), "a") as f:
                f.write(who + " " + ",".join(names) + "\\n")
    """,
    "test_inert.py": """
        import pytest


        def test_passes():
            print("some output")


        def test_fails():
            assert 1 == 2


        @pytest.mark.skip(reason="skipped")
        def test_skipped():
            pass


        @pytest.mark.xfail(reason="known")
        def test_xfails():
            assert 0
    """,
}
WORKERS = ["0", "2"]


def _normalized(output: str) -> list[str]:
    """pytest's output without what differs between two identical runs: timings, which
    worker ran a test, the order of progress characters under xdist."""
    lines = []
    for line in output.splitlines():
        line = re.sub(r"\d+\.\d+s", "N.NNs", line)
        line = re.sub(r" \(\d+:\d\d:\d\d\)", "", line)
        line = re.sub(r"\[gw\d+\]", "[gw]", line)
        progress = re.match(r"^([.FEsxX]+)(\s+\[\s*\d+%\])$", line)
        if progress:
            line = "".join(sorted(progress.group(1))) + progress.group(2)
        lines.append(line)
    return lines


def _registered(project: Path) -> dict[str, str]:
    """process -> the hotlap plugin objects it had registered (read and reset)."""
    path = project / "hotlap-plugins.txt"
    lines = path.read_text().splitlines()
    path.unlink()
    return dict(line.split(" ", 1) for line in lines)


def _processes(workers: str) -> set[str]:
    return {"main"} if workers == "0" else {"main", "gw0", "gw1"}


@pytest.fixture
def project(ph: Any, tmp_path: Path) -> Path:
    return ph.write_project(tmp_path / "proj", SUITE)


@pytest.fixture(scope="module")
def without_hotlap(
    ph: Any, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], tuple[Any, dict[str, str]]]:
    """The suite run with ``-p no:hotlap`` (the reference), once per ``-n`` per xdist worker:
    (result, hotlap plugin objects registered per process)."""
    runs: dict[str, tuple[Any, dict[str, str]]] = {}

    def get(workers: str) -> tuple[Any, dict[str, str]]:
        if workers not in runs:
            project = ph.write_project(tmp_path_factory.mktemp(f"blocked{workers}"), SUITE)
            result = ph.run_pytest(project, "-q", "-n", workers, "-p", "no:hotlap")
            runs[workers] = (result, _registered(project))
        return runs[workers]

    return get


@pytest.mark.parametrize("workers", WORKERS)
def test_auto_loaded_plugin_registers_nothing_and_changes_nothing(
    ph: Any, project: Path, without_hotlap: Callable[[str], Any], workers: str
) -> None:
    """Plain ``pytest`` with hotlap auto-loaded: the same output and exit code as with
    ``-p no:hotlap``, and no hotlap hook object in any process (only the module itself)."""
    loaded = ph.run_pytest(project, "-q", "-n", workers)
    registered = _registered(project)
    blocked, blocked_registered = without_hotlap(workers)
    assert blocked_registered == dict.fromkeys(_processes(workers), "")
    assert loaded.code == blocked.code == 1, loaded.describe()
    assert loaded.counts == {"failed": 1, "passed": 1, "skipped": 1, "xfailed": 1}
    assert _normalized(loaded.stdout) == _normalized(blocked.stdout), (
        f"{loaded.describe()}\n\n{blocked.describe()}"
    )
    # The plugin module is loaded everywhere (so this proves something), and nothing else is.
    assert registered == dict.fromkeys(_processes(workers), "hotlap"), registered


@pytest.mark.parametrize("workers", WORKERS)
def test_dead_socket_does_not_break_a_run(
    ph: Any, project: Path, without_hotlap: Callable[[str], Any], tmp_path: Path, workers: str
) -> None:
    """``HOTLAP_SOCKET`` naming a socket nobody listens on (the app died): the plugin gives up
    silently; pytest's output and exit code are those of a run without hotlap."""
    dead = {"HOTLAP_SOCKET": str(tmp_path / "nobody-listens.sock"), "HOTLAP_TOKEN": "0" * 32}
    orphan = ph.run_pytest(project, "-q", "-n", workers, env=dead)
    registered = _registered(project)
    blocked, _ = without_hotlap(workers)
    assert orphan.code == blocked.code == 1, orphan.describe()
    assert _normalized(orphan.stdout) == _normalized(blocked.stdout), (
        f"{orphan.describe()}\n\n{blocked.describe()}"
    )
    assert "Traceback" not in orphan.stderr and "INTERNALERROR" not in orphan.stdout
    # The environment did activate the plugin: it tried, failed and stayed quiet.
    assert all("hotlap-" in names for names in registered.values()), registered


REWRITE_PROBE = {
    "conftest.py": """
        pytest_plugins = ["myplugin"]
    """,
    "myplugin.py": """
        import pytest

        @pytest.fixture
        def checked():
            return 1
    """,
    "test_probe.py": """
        import sys

        from _pytest.assertion.rewrite import AssertionRewritingHook

        def test_probe():
            rewritten = sorted(
                name for name, mod in list(sys.modules.items())
                if isinstance(getattr(mod, "__loader__", None), AssertionRewritingHook)
            )
            print("REWRITTEN", " ".join(rewritten))
    """,
}


@pytest.mark.parametrize("args", [(), ("-p", "hotlap", "--hotlap-json", "r.json")])
def test_hotlap_modules_are_not_assertion_rewritten(
    ph: Any, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """pytest rewrites the modules of every ``pytest11`` package; hotlap's own, loaded
    inert or active, are compiled as Python compiles them (no parse and rewrite in each
    pytest process under PYTHONDONTWRITEBYTECODE). The user's plugin still is rewritten."""
    root = ph.write_project(tmp_path / "p", REWRITE_PROBE)
    out = ph.run_pytest(root, "-s", "-p", "no:cacheprovider", *args,
                        env={"PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
    assert out.code == 0, out.stdout + out.stderr
    line = next(x for x in out.stdout.splitlines() if "REWRITTEN" in x)
    names = line.split("REWRITTEN", 1)[1].split()
    assert "myplugin" in names and "test_probe" in names
    # At most the package's own __init__ (pytest 9 loads it through the rewriter, 8 does not).
    assert [n for n in names if n.startswith("hotlap")] in ([], ["hotlap"])
