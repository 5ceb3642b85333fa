"""``python hotlap_bench_app.py ARGS``: ``hotlap ARGS`` under cProfile (all its threads).

Writes ``app-<pid>.prof`` and ``app-<pid>.json`` to ``BENCH_PROFILE_DIR``. The profiler starts
before hotlap is imported, so the app's import time is in the profile.
"""

from __future__ import annotations

import json
import os
import resource
import sys

from hotlap_bench_threads import Profiles

profiles = Profiles()
code = 1
try:
    from hotlap.cli import main

    code = main(sys.argv[1:])
finally:
    directory = os.environ["BENCH_PROFILE_DIR"]
    name = f"app-{os.getpid()}"
    profiles.dump(os.path.join(directory, f"{name}.prof"))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.path.join(directory, f"{name}.json"), "w") as f:
        json.dump(
            {"role": "app", "pid": os.getpid(), "tests": 0, "cpu": usage.ru_utime + usage.ru_stime},
            f,
        )
sys.exit(code)
