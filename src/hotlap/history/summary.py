"""``hotlap report``: what the recorded runs say, as a dict (``--json``) and as Rich tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import IO, Any

from hotlap.history.analysis import check, find_flaky, median
from hotlap.history.store import HistoryStore

#: Rows per table.
TOP = 15
#: Tests shorter than this are too short for a meaningful CPU / wall ratio.
MIN_RATIO_WALL = 0.05


def _neg(key: str) -> Callable[[dict[str, Any]], float]:
    """A sort key: largest ``key`` first."""
    return lambda d: -float(d[key])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def history_summary(store: HistoryStore, last: int = 10) -> dict[str, Any]:
    """Everything ``hotlap report`` shows, from the newest ``last`` runs."""
    runs = store.runs(last)
    tests = store.tests(last)
    out: dict[str, Any] = {"runs": len(runs), "last": last}
    if not runs:
        return out
    newest = runs[-1]
    out["last_run"] = {
        "id": newest.id,
        "start": newest.started,
        "wall_time": newest.wall_time,
        "exit_code": newest.exit_code,
        "workers": newest.workers,
        "counts": newest.run.get("counts", {}),
    }
    timed = {
        n: [r for r in rows if r.outcome != "skipped"] or list(rows) for n, rows in tests.items()
    }
    slowest = sorted(
        (
            {
                "nodeid": n,
                "mean": _mean([r.duration for r in rows]),
                "last": rows[-1].duration,
                "runs": len(rows),
            }
            for n, rows in timed.items()
        ),
        key=_neg("mean"),
    )
    out["slowest_tests"] = slowest[:TOP]

    per_file: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for nodeid, rows in tests.items():
        for r in rows:
            per_file[nodeid.split("::", 1)[0]][r.run_id] += r.duration
    out["files"] = sorted(
        (
            {"path": path, "mean": _mean(list(by_run.values())), "runs": len(by_run)}
            for path, by_run in per_file.items()
        ),
        key=_neg("mean"),
    )[:TOP]

    fixtures: dict[tuple[str, str, str], list[tuple[float, float, int]]] = defaultdict(list)
    for f in store.fixtures(last):
        fixtures[(f.name, f.scope, f.location)].append((f.setup, f.teardown, f.count))
    out["slowest_fixtures"] = sorted(
        (
            {
                "name": name,
                "scope": scope,
                "location": location,
                "setup": _mean([s for s, _, _ in samples]),
                "teardown": _mean([t for _, t, _ in samples]),
                "count": _mean([float(c) for _, _, c in samples]),
                "total": _mean([s + t for s, t, _ in samples]),
            }
            for (name, scope, location), samples in fixtures.items()
        ),
        key=_neg("total"),
    )[:TOP]

    out["flaky"] = [f.as_dict() for f in find_flaky(tests)]

    regressions = []
    for nodeid, rows in timed.items():
        if rows[-1].run_id != newest.id:
            continue
        found = check(nodeid, rows[-1].duration, [r.duration for r in rows[:-1]])
        if found:
            regressions.append(found)
    regressions.sort(key=lambda r: r.new - r.old, reverse=True)
    out["regressions"] = [r.as_dict() for r in regressions]

    ratios: list[dict[str, Any]] = []
    for nodeid, rows in timed.items():
        wall = median([r.duration for r in rows])
        if wall < MIN_RATIO_WALL:
            continue
        cpu = median([r.cpu for r in rows])
        ratios.append({"nodeid": nodeid, "wall": wall, "cpu": cpu, "ratio": cpu / wall})
    out["cpu_bound"] = sorted((d for d in ratios if float(d["ratio"]) >= 0.7), key=_neg("cpu"))[
        :TOP
    ]
    out["waiting"] = sorted((d for d in ratios if float(d["ratio"]) < 0.3), key=_neg("wall"))[:TOP]
    return out


def render(summary: dict[str, Any], file: IO[str]) -> None:
    """Print ``summary`` as terminal tables (colour only when ``file`` is a terminal)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, highlight=False)
    if not summary.get("runs"):
        console.print("No history yet: run `hotlap run` in this project first.")
        return
    last = summary["last_run"]
    counts = ", ".join(f"{n} {k}" for k, n in last["counts"].items()) or "no tests"
    console.print(
        f"[bold]{summary['runs']} runs[/bold] in history (newest {summary['last']} shown);"
        f" last run: {counts} in {last['wall_time']:.2f}s on {last['workers']} workers"
    )

    def table(title: str, columns: list[str], rows: list[list[str]], empty: str) -> None:
        if not rows:
            console.print(f"\n[bold]{title}[/bold]: {empty}")
            return
        t = Table(title=title, title_justify="left", title_style="bold", expand=False)
        for i, col in enumerate(columns):
            t.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
        for row in rows:
            t.add_row(*row)
        console.print()
        console.print(t)

    s = "{:.2f}s".format
    table(
        "Slowest tests",
        ["test", "mean", "last", "runs"],
        [
            [d["nodeid"], s(d["mean"]), s(d["last"]), str(d["runs"])]
            for d in summary["slowest_tests"]
        ],
        "none",
    )
    table(
        "Slowest fixtures (setup + teardown per run)",
        ["fixture", "scope", "setups", "setup", "teardown", "total"],
        [
            [f"{d['name']} ({d['location']})", d["scope"], f"{d['count']:.0f}", s(d["setup"]),
             s(d["teardown"]), s(d["total"])]
            for d in summary["slowest_fixtures"]
        ],
        "none recorded",
    )  # fmt: skip
    table(
        "Time per file",
        ["file", "mean per run", "runs"],
        [[d["path"], s(d["mean"]), str(d["runs"])] for d in summary["files"]],
        "none",
    )
    table(
        "Flaky tests",
        ["test", "pass rate", "passed/runs", "why"],
        [
            [d["nodeid"], f"{d['pass_rate']:.0%}", f"{d['passes']}/{d['runs']}", d["reason"]]
            for d in summary["flaky"]
        ],
        "none",
    )
    table(
        "Slower in the last run",
        ["test", "before (median)", "last run", "runs compared"],
        [[d["nodeid"], s(d["old"]), s(d["new"]), str(d["runs"])] for d in summary["regressions"]],
        "none",
    )
    for key, title in (("cpu_bound", "CPU-bound tests"), ("waiting", "Waiting tests")):
        table(
            f"{title} (CPU s / wall s)",
            ["test", "wall", "cpu", "cpu/wall"],
            [[d["nodeid"], s(d["wall"]), s(d["cpu"]), f"{d['ratio']:.2f}"] for d in summary[key]],
            "none",
        )
