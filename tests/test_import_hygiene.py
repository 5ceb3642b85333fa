"""At run time, the engine loads no Textual. (The static layer order, Textual only in ui/ and
no pytest in protocol/ and model/, is import-linter's contract in pyproject.toml: CI runs
``lint-imports``.)"""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_engine_loads_no_textual() -> None:
    """At run time, importing the CLI, runner, plugin and exports pulls in no Textual."""
    code = (
        "import sys, hotlap, hotlap.cli, hotlap.runner.session, hotlap.runner.headless, "
        "hotlap.plugin.pytest_plugin, hotlap.export.report, hotlap.model.run_state; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
