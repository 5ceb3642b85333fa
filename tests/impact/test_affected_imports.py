"""What ``hotlap affected`` imports: it runs on every save in watch mode and its budget is
~100 ms a changed line, so it loads none of the modules that cost milliseconds and that it
does not need (measured with ``python -X importtime``: dataclasses with inspect 5-9 ms CPU
under load, hashlib's OpenSSL 1.8 ms), nor pytest or Textual."""

from __future__ import annotations

import json
import subprocess
import sys

from impact_helpers import clean_env

AVOIDED = (
    "dataclasses", "inspect", "hashlib", "_hashlib", "shutil", "threading", "tomllib",
    "pytest", "_pytest", "xdist", "textual", "rich", "psutil", "watchfiles", "msgspec",
)  # fmt: skip


def test_the_affected_command_path_imports_none_of_the_avoided_modules() -> None:
    """Importing the CLI and the affected command, and the analysis of a changed file
    (blocks, names, reads) leaves every avoided module unimported (tomllib comes later, only
    when the project has a pyproject.toml)."""
    code = (
        "import sys, json\n"
        "import hotlap.cli, hotlap.commands.affected\n"
        "from hotlap.impact import blocks, names, reads, project, select, store, pending\n"
        f"print(json.dumps(sorted(m for m in {AVOIDED!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
