"""``--hotlap-shard K/N``: run shard K of N of the collected tests (a CI matrix job each).

Activated by the option alone (``hotlap run --shard K/N`` passes it). The processes that
collect (xdist workers, or the single process) plan the split with
:func:`hotlap.history.shards.plan_shards` after pytest's own ``-k``/``-m`` selection and keep
their part; the others are reported deselected, as pytest-split does.

Durations come from ``--hotlap-shard-durations PATH`` (what ``hotlap run`` passes: the user's
``--durations-file`` or what history expects), else ``--hotlap-durations PATH`` if that file
exists already, else the project's history. Under xdist the controller reads them once and
hands them to every worker with its ``workerinput``, together with its ``--dist`` mode (a
worker's own is reset to ``no``): a worker on another host, which has neither the file nor the
history, plans exactly like the others.

Tests that must share a worker share a shard: ``xdist_group`` marks (always), the class or
module under ``--dist loadscope``, the file under ``--dist loadfile``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hotlap.plugin.role import Role

#: The key of the shard settings in an xdist worker's ``workerinput``.
WORKERINPUT_KEY = "hotlap_shard"


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hotlap")
    group.addoption(
        "--hotlap-shard",
        metavar="K/N",
        default=None,
        help="run only shard K of N, balanced by known test durations (longest first)",
    )
    group.addoption(
        "--hotlap-shard-durations",
        metavar="PATH",
        default=None,
        help="durations that balance --hotlap-shard (pytest-split .test_durations or a hotlap "
        "schedule file; default: --hotlap-durations if it exists, else history)",
    )


class ShardSettings:
    """What a collecting process needs to plan: K, N, durations, xdist's ``--dist``."""

    def __init__(self, k: int, n: int, durations: dict[str, float], dist: str, source: str):
        self.k, self.n = k, n
        self.durations = durations
        self.dist = dist
        self.source = source

    def payload(self) -> dict[str, Any]:
        """Builtin types only: it travels to the workers through execnet."""
        return {
            "k": self.k,
            "n": self.n,
            "durations": self.durations,
            "dist": self.dist,
            "source": self.source,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> ShardSettings:
        return cls(
            int(data["k"]),
            int(data["n"]),
            {str(k): float(v) for k, v in dict(data.get("durations") or {}).items()},
            str(data.get("dist") or "no"),
            str(data.get("source") or ""),
        )


def _load_durations(config: pytest.Config) -> tuple[dict[str, float], str]:
    from hotlap.history.shards import history_durations, read_durations_any

    base = Path(config.invocation_params.dir)
    given = config.getoption("hotlap_shard_durations", None)
    if given:
        return read_durations_any(base / given), str(given)
    export = config.getoption("hotlap_durations", None)
    if export and (base / export).is_file():
        return read_durations_any(base / export), str(export)
    return history_durations(config.rootpath), "history"


def settings(config: pytest.Config, role: Role) -> ShardSettings | None:
    """This process's shard settings, or None when no shard was asked for."""
    if role is Role.WORKER:
        data = getattr(config, "workerinput", {}).get(WORKERINPUT_KEY)
        if isinstance(data, dict):
            return ShardSettings.from_payload(data)
    spec = config.getoption("hotlap_shard", None)
    if not spec:
        return None  # the splitter is not even imported: a run without shards pays nothing
    from hotlap.history.shards import ShardSpecError, parse_shard

    try:
        k, n = parse_shard(str(spec))
    except ShardSpecError as exc:
        raise pytest.UsageError(str(exc).replace("--shard", "--hotlap-shard")) from None
    if getattr(config.option, "splits", None) or getattr(config.option, "group", None):
        raise pytest.UsageError(
            "--hotlap-shard and pytest-split's --splits/--group both split the suite: use one"
        )
    durations, source = _load_durations(config)
    dist = str(getattr(config.option, "dist", "no") or "no")
    return ShardSettings(k, n, durations, dist, source)


def configure(config: pytest.Config, role: Role) -> None:
    shard = settings(config, role)
    if shard is None:
        return
    if role is Role.CONTROLLER:
        config.pluginmanager.register(ShardOffer(shard), "hotlap-shard-offer")
    else:
        config.pluginmanager.register(ShardFilter(config, shard, role), "hotlap-shard")


def _describe(shard: ShardSettings) -> str:
    known = (
        f"{len(shard.durations)} known durations ({shard.source})"
        if shard.durations
        else "no known durations: balanced by count"
    )
    return f"hotlap: shard {shard.k}/{shard.n}, {known}"


class ShardOffer:
    """On the xdist controller: the settings go to each worker with its ``workerinput``."""

    def __init__(self, shard: ShardSettings) -> None:
        self.shard = shard
        self._payload = shard.payload()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKERINPUT_KEY] = self._payload

    def pytest_report_header(self, config: pytest.Config) -> str:
        return _describe(self.shard)


def _group_names(item: pytest.Item) -> str:
    names = set()
    for mark in item.iter_markers("xdist_group"):
        name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
        names.add(str(name))
    return "_".join(sorted(names))


def unit_keys(item: pytest.Item, dist: str) -> tuple[str, list[str]]:
    """(the id its duration is known by, the keys that tie it to other tests).

    xdist's loadgroup mode appends ``@group`` to a worker's test ids; durations written by
    pytest-split have the plain id, so both are tried.
    """
    nodeid = item.nodeid
    keys: list[str] = []
    group = _group_names(item)
    if group:
        keys.append(f"xdist_group:{group}")
        suffix = f"@{group}"
        if nodeid.endswith(suffix):
            nodeid = nodeid[: -len(suffix)]
    if dist == "loadscope":
        keys.append(f"scope:{nodeid.rsplit('::', 1)[0]}")
    elif dist == "loadfile":
        keys.append(f"file:{nodeid.split('::', 1)[0]}")
    return nodeid, keys


def shard_groups(items: list[pytest.Item], dist: str) -> tuple[dict[str, str], dict[str, str]]:
    """(durations keyed by the collected ids, group key per id) for ``plan_shards``; tests
    tied by any key (a mark and a class, say) get one group."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    bases: list[str] = []
    tied: set[int] = set()
    for i, item in enumerate(items):
        base, keys = unit_keys(item, dist)
        bases.append(base)
        for key in keys:
            tied.add(i)
            j = first.setdefault(key, i)
            if j != i:
                parent[find(i)] = find(j)
    members: dict[int, list[int]] = {}
    for i in tied:
        members.setdefault(find(i), []).append(i)
    groups: dict[str, str] = {}
    for idx in members.values():
        if len(idx) > 1:
            name = min(items[i].nodeid for i in idx)
            for i in idx:
                groups[items[i].nodeid] = name
    return {item.nodeid: base for item, base in zip(items, bases, strict=True)}, groups


class ShardFilter:
    """In the process that collects: keep this shard's tests, deselect the others."""

    def __init__(self, config: pytest.Config, shard: ShardSettings, role: Role) -> None:
        self.config = config
        self.shard = shard
        self.role = role
        self.kept = 0
        self.total = 0
        self.expected: tuple[float, float] = (0.0, 0.0)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[Any]) -> None:
        from hotlap.history.shards import plan_shards

        shard = self.shard
        base_ids, groups = shard_groups(items, shard.dist)
        durations: dict[str, float] = {}
        for nodeid, base in base_ids.items():
            seconds = shard.durations.get(nodeid, shard.durations.get(base))
            if seconds is not None:
                durations[nodeid] = seconds
        plan = plan_shards([item.nodeid for item in items], durations, shard.n, groups)
        keep = set(plan.shards[shard.k - 1])
        kept = [item for i, item in enumerate(items) if i in keep]
        deselected = [item for i, item in enumerate(items) if i not in keep]
        self.kept, self.total = len(kept), len(items)
        self.expected = (plan.seconds[shard.k - 1], sum(plan.seconds))
        items[:] = kept
        if deselected:
            config.hook.pytest_deselected(items=deselected)

    def pytest_report_header(self, config: pytest.Config) -> str | None:
        return _describe(self.shard) if self.role is Role.SINGLE else None

    def pytest_report_collectionfinish(self, config: pytest.Config) -> str | None:
        if self.role is not Role.SINGLE:
            return None
        mine, whole = self.expected
        return (
            f"hotlap: shard {self.shard.k}/{self.shard.n} runs {self.kept} of {self.total} "
            f"tests (~{mine:.1f}s of ~{whole:.1f}s)"
        )
