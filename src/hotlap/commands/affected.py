"""``hotlap affected [--json] [--why] [PYTEST ARGS...]``: what would run now, and why."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hotlap.impact.engine import compute_selection


def affected_main(argv: list[str]) -> int:
    """Print the affected tests of the project in the current directory; exit 0."""
    parser = argparse.ArgumentParser(
        prog="hotlap affected",
        description="List the tests that changes since the last recorded run can affect.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--why", action="store_true", help="give the reasons for each test")
    ns, pytest_args = parser.parse_known_args(argv)
    selection, warnings = compute_selection(Path.cwd(), pytest_args, why=ns.why)
    for warning in warnings:
        print(f"hotlap: {warning}", file=sys.stderr)
    if ns.json:
        payload = {
            "full_run": selection.full_run,
            "reason": selection.reason,
            "tests": [{"nodeid": n, "reasons": r} for n, r in selection.tests.items()],
        }
        if ns.why:
            payload["notes"] = selection.notes
        print(json.dumps(payload, indent=2))
        return 0
    if selection.full_run:
        print(f"full run: {selection.reason}")
        return 0
    if not selection.tests:
        print(f"no affected tests: {selection.reason}")
        _notes(selection.notes)
        return 0
    for nodeid, reasons in selection.tests.items():
        print(nodeid)
        if ns.why:
            for reason in reasons:
                print(f"    {reason}")
    _notes(selection.notes)
    print(f"{len(selection.tests)} selected ({selection.reason})", file=sys.stderr)
    return 0


def _notes(notes: list[str]) -> None:
    for note in notes:
        print(f"hotlap: {note}", file=sys.stderr)
