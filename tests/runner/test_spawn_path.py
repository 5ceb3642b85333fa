"""What ``hotlap run`` does before it starts pytest, and what it leaves until pytest runs.

From ``hotlap`` to pytest started is time added to every run (issue 15: at most 80 ms). A
warm run of a project configured in pyproject.toml reads history from its cache, so neither
the history store (sqlite3) nor hashlib (the source fingerprint) nor configparser (setup.cfg,
tox.ini) is imported before pytest starts; the fingerprint is still taken, once pytest is on
its way, and recorded with the run.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

#: Runs hotlap's CLI and notes the modules imported when it starts pytest.
SPY = """
import json, subprocess, sys

seen = []
out = sys.argv[1]
original = subprocess.Popen.__init__


def spawn(self, *args, **kwargs):
    command = args[0] if args else kwargs.get("args")
    if not seen and "pytest" in " ".join(map(str, command)):
        seen.append(sorted(sys.modules))
        with open(out, "w") as f:
            json.dump(seen[0], f)
    original(self, *args, **kwargs)


subprocess.Popen.__init__ = spawn
sys.argv = ["hotlap", *sys.argv[2:]]
from hotlap.cli import main

sys.exit(main())
"""

PYPROJECT = """
[tool.pytest.ini_options]
addopts = "-p no:cacheprovider"
"""


def test_a_warm_run_starts_pytest_before_the_store_and_the_fingerprint(
    tmp_path: Path, h: Any
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "test_a.py").write_text("def test_a():\n    pass\n")
    spy = tmp_path / "spy.py"
    spy.write_text(SPY)
    modules = tmp_path / "modules.json"
    argv = [sys.executable, str(spy), str(modules), "run", "--headless", "--no-impact"]
    argv += ["--", "-n", "0", *h.FAST_ARGS]
    for _ in range(2):  # the first run has no history; the second reads the cache
        result = h.run(argv, project, h.FAST_ENV)
        assert result.code == 0, result.describe()
    at_spawn = set(json.loads(modules.read_text()))
    assert "hotlap.history.hooks" in at_spawn  # history was prepared
    assert {"sqlite3", "hashlib", "configparser", "hotlap.history.store"} & at_spawn == set()
    with sqlite3.connect(project / ".hotlap" / "history.sqlite3") as db:
        fingerprints = [row[0] for row in db.execute("SELECT fingerprint FROM runs")]
    assert len(fingerprints) == 2 and all(len(fp) == 32 for fp in fingerprints), fingerprints
