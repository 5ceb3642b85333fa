"""pytest plugins only hotlap brought into the environment are left out of its runs
(hotlap.runner.plugins): unit tests on fake ``.dist-info`` directories, and real runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hotlap.runner.plugins import left_out


def _dist(site: Path, name: str, requires: list[str] = (), plugins: dict[str, str] = {}) -> None:  # noqa: B006
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n\nA description.\nName: not-a-header\n")
    if plugins:
        body = "\n".join(f"{k} = {v}" for k, v in plugins.items())
        (info / "entry_points.txt").write_text(
            f"[console_scripts]\nx = y:z\n\n[pytest11]\n{body}\n"
        )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """hotlap -> watchfiles -> anyio (a pytest plugin), hotlap -> pytest-xdist, textual ->
    platformdirs (a plugin); nothing else installed."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.delenv("PYTEST_PLUGINS", raising=False)
    site = tmp_path / "site"
    _dist(
        site,
        "hotlap",
        ["watchfiles>=1", "textual", "pytest-xdist", "pytest"],
        {"hotlap": "hotlap.plugin"},
    )
    _dist(site, "watchfiles", ["anyio>=3.0.0"])
    _dist(
        site,
        "anyio",
        ["idna>=2.8", "trio>=0.31; extra == 'trio'"],
        {"anyio": "anyio.pytest_plugin"},
    )
    _dist(site, "textual", ["platformdirs<5,>=3.6.0", "rich>=13"])
    _dist(site, "platformdirs", [], {"platformdirs": "platformdirs.pytest_plugin"})
    _dist(
        site,
        "pytest-xdist",
        ["pytest>=7", "execnet>=2.1"],
        {"xdist": "xdist.plugin", "xdist.looponfail": "xdist.looponfail"},
    )
    _dist(site, "pytest", ["pluggy"])
    (tmp_path / "project" / "tests").mkdir(parents=True)
    (tmp_path / "project" / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    return site


def _left(site: Path, *args: str) -> list[str]:
    return left_out(site.parent / "project", list(args), [str(site)])


def test_plugins_only_hotlap_needs_are_left_out(site: Path) -> None:
    assert _left(site) == ["-p", "no:anyio", "-p", "no:platformdirs"]


def test_a_plugin_another_distribution_requires_is_kept(site: Path) -> None:
    _dist(site, "httpx", ["anyio"])
    _dist(site, "mylib", ["requests", "platformdirs ; extra == 'dirs'"])  # an extra counts
    assert _left(site) == []


def test_a_plugin_the_project_names_is_kept(site: Path) -> None:
    project = site.parent / "project"
    (project / "tests" / "test_async.py").write_text(
        "import pytest\n\n@pytest.mark.anyio\nasync def test_b():\n    pass\n"
    )
    assert _left(site) == ["-p", "no:platformdirs"]
    (project / "requirements-dev.txt").write_text("platformdirs==4.3\n")
    assert _left(site) == []


def test_a_plugin_the_user_names_is_kept(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _left(site, "-p", "anyio") == ["-p", "no:platformdirs"]
    monkeypatch.setenv("PYTEST_PLUGINS", "platformdirs.pytest_plugin")
    assert _left(site, "-p", "anyio") == []
    monkeypatch.delenv("PYTEST_PLUGINS")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert _left(site) == []


def test_without_hotlap_installed_nothing_is_left_out(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "anyio", [], {"anyio": "anyio.pytest_plugin"})
    assert left_out(tmp_path, [], [str(site)]) == []


# -- real runs ------------------------------------------------------------------------------

_CONFTEST = """
import os

def pytest_configure(config):
    names = sorted(n for n, p in config.pluginmanager.list_name_plugin() if p is not None)
    with open(os.environ["PLUGIN_LIST"], "a") as f:
        f.write(" ".join(names) + "\\n")
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HOTLAP_", "PYTEST_", "COV_")) and k != "CI"
    }
    env["PLUGIN_LIST"] = str(tmp_path / "plugins.txt")
    return env


def _run(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def real(tmp_path: Path) -> Path:
    if "anyio" not in " ".join(left_out(tmp_path, [])):
        pytest.skip("anyio's plugin is not one only hotlap brought into this environment")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    (project / "conftest.py").write_text(textwrap.dedent(_CONFTEST))
    (project / "test_plain.py").write_text("def test_a():\n    assert True\n")
    return project


def test_a_run_leaves_out_a_plugin_only_hotlap_brought(real: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    plain = _run(real, env, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    run = _run(real, env, "-m", "hotlap", "run", "--headless", "--no-history", "--", "-n", "0")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = (tmp_path / "plugins.txt").read_text().splitlines()
    assert "anyio" in lines[0].split()  # plain pytest loads it
    assert "anyio" not in lines[1].split()  # hotlap's run does not


def test_a_project_that_uses_anyio_keeps_its_plugin(real: Path, tmp_path: Path) -> None:
    """An async test run by anyio's plugin (its marker, strict markers): the same outcome as
    plain pytest's under hotlap, which must not leave the plugin out."""
    (real / "test_async.py").write_text(
        "import pytest\n\n@pytest.mark.anyio\nasync def test_b():\n    assert True\n\n"
        "@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    env = _env(tmp_path)
    plain = _run(real, env, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert plain.returncode == 0 and "2 passed" in plain.stdout, plain.stdout
    for workers in ("0", "2"):
        run = _run(
            real, env, "-m", "hotlap", "run", "--headless", "--no-history", "--", "-n", workers
        )
        assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr


_SEES = """
import os


def test_sees_the_environment(pytestconfig):
    names = sorted(n for n, p in pytestconfig.pluginmanager.list_name_plugin() if p is not None)
    with open(os.environ["PLUGIN_LIST"] + ".seen", "a") as f:
        f.write(repr(os.environ.get("PYTEST_ADDOPTS")) + "|" + " ".join(names) + "\\n")
        f.write(" ".join(sorted(k for k in os.environ if k.startswith("HOTLAP_ADDOPTS"))) + "\\n")
"""


@pytest.mark.parametrize("addopts", [None, "-p no:cacheprovider"])
def test_exports_workers_leave_out_a_plugin_only_hotlap_brought(
    real: Path, tmp_path: Path, addopts: str | None
) -> None:
    """``pytest -n 2 -p hotlap --hotlap-json``: the controller (``-p`` plugins load before the
    installed ones) and its workers leave out the plugins only hotlap brought (as ``hotlap
    run`` does), and a test sees ``PYTEST_ADDOPTS`` as the user set it."""
    (real / "test_plain.py").write_text(textwrap.dedent(_SEES))
    env = _env(tmp_path)
    if addopts is not None:
        env["PYTEST_ADDOPTS"] = addopts
    report = tmp_path / "r.json"
    run = _run(
        real, env, "-m", "pytest", "-q", "-n", "2", "-p", "hotlap", f"--hotlap-json={report}"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(report.read_text())["run"]["counts"] == {"passed": 1}
    seen, hotlap_vars = (tmp_path / "plugins.txt.seen").read_text().splitlines()
    seen_addopts, plugins = seen.split("|")
    assert seen_addopts == repr(addopts)
    assert "anyio" not in plugins.split()  # the worker's plugins
    assert "hotlap" in plugins.split()
    assert hotlap_vars == ""
    loaded = (tmp_path / "plugins.txt").read_text().splitlines()
    assert len(loaded) == 3  # the controller's and the two workers'
    assert all("anyio" not in line.split() for line in loaded)
    assert all("hotlap" in line.split() for line in loaded)


@pytest.mark.parametrize("argv", [["-p", "hotlap"], ["-p", "hotlap", "-p", "anyio"]])
def test_without_exports_or_named_the_plugin_stays(
    real: Path, tmp_path: Path, argv: list[str]
) -> None:
    """``-p hotlap`` alone is inert: the controller and workers load what plain pytest
    loads; ``-p anyio`` with the exports keeps it too."""
    report = tmp_path / "r.json"
    exports = [f"--hotlap-json={report}"] if "anyio" in argv else []
    run = _run(real, _env(tmp_path), "-m", "pytest", "-q", "-n", "2", *argv, *exports)
    assert run.returncode == 0, run.stdout + run.stderr
    loaded = (tmp_path / "plugins.txt").read_text().splitlines()
    assert len(loaded) == 3
    assert all("anyio" in line.split() for line in loaded)


def test_exports_workers_keep_a_plugin_the_project_uses(real: Path, tmp_path: Path) -> None:
    (real / "test_async.py").write_text(
        "import pytest\n\n@pytest.mark.anyio\nasync def test_b():\n    assert True\n\n"
        "@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    report = tmp_path / "r.json"
    run = _run(
        real, _env(tmp_path), "-m", "pytest", "-q", "-n", "2", "-p", "hotlap",
        f"--hotlap-json={report}",
    )  # fmt: skip
    assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr
    assert json.loads(report.read_text())["run"]["counts"] == {"passed": 2}
