"""The ``json`` functions as they were when hotlap was imported.

hotlap writes JSON inside the pytest processes (events, impact files, a plain ``pytest -p
hotlap`` run's exports) after the tests ran, and a test may replace ``json.dumps`` without
restoring it: what hotlap writes must not turn into what that test left behind. The pytest
plugin imports this module before any test runs.
"""

from __future__ import annotations

import json

dumps = json.dumps
loads = json.loads
JSONDecodeError = json.JSONDecodeError
