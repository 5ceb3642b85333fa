"""``plan_shards``: every test in exactly one shard, the same plan whatever the collection order,
groups kept whole, unknown tests weighed by their file, and LPT's balance.

Property tests over seeded random suites (no hypothesis in the test extras): each seed is a
suite of random files, sizes, skewed (lognormal) durations, unknown tests and groups.
"""

from __future__ import annotations

import random

import pytest

from hotlap.history.shards import ShardSpecError, parse_shard, plan_shards, weights

SEEDS = range(60)


def random_suite(seed: int) -> tuple[list[str], dict[str, float], dict[str, str], int]:
    rng = random.Random(seed)
    nodeids = [
        f"tests/test_f{rng.randrange(12)}.py::test_{i}" + (f"[{rng.randrange(3)}]" if i % 5 else "")
        for i in range(rng.randrange(1, 400))
    ]
    nodeids = list(dict.fromkeys(nodeids))  # pytest's ids are unique
    durations = {
        n: rng.lognormvariate(-3, 2) for n in nodeids if rng.random() < 0.8
    }  # some unknown
    durations["tests/test_gone.py::test_deleted"] = 99.0  # not collected: must not count
    groups = {n: f"g{rng.randrange(4)}" for n in nodeids if rng.random() < 0.1}
    return nodeids, durations, groups, rng.randrange(1, 9)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_test_in_exactly_one_shard(seed: int) -> None:
    """The shards partition the collection: each index once, none lost, none twice."""
    nodeids, durations, groups, n = random_suite(seed)
    plan = plan_shards(nodeids, durations, n, groups)
    assert len(plan.shards) == n
    flat = [i for shard in plan.shards for i in shard]
    assert sorted(flat) == list(range(len(nodeids)))
    for shard in plan.shards:
        assert list(shard) == sorted(shard)  # collection order kept within a shard


@pytest.mark.parametrize("seed", SEEDS)
def test_same_plan_for_any_collection_order(seed: int) -> None:
    """Shard jobs that collect in different orders (or the same job twice) agree on who
    runs what: the plan depends on the test ids, not their order."""
    nodeids, durations, groups, n = random_suite(seed)
    plan = plan_shards(nodeids, durations, n, groups)
    by_id = {nodeids[i]: s for s, shard in enumerate(plan.shards) for i in shard}
    shuffled = list(nodeids)
    random.Random(seed + 1000).shuffle(shuffled)
    again = plan_shards(shuffled, dict(reversed(list(durations.items()))), n, groups)
    assert {shuffled[i]: s for s, shard in enumerate(again.shards) for i in shard} == by_id
    assert plan_shards(nodeids, durations, n, groups) == plan


@pytest.mark.parametrize("seed", SEEDS)
def test_groups_stay_whole(seed: int) -> None:
    """Tests with one group key (an xdist_group, a loadscope class) land in one shard."""
    nodeids, durations, groups, n = random_suite(seed)
    plan = plan_shards(nodeids, durations, n, groups)
    shard_of = plan.shard_of()
    where: dict[str, set[int]] = {}
    for i, nodeid in enumerate(nodeids):
        if nodeid in groups:
            where.setdefault(groups[nodeid], set()).add(shard_of[i])
    assert all(len(shards) == 1 for shards in where.values())


@pytest.mark.parametrize("seed", SEEDS)
def test_balance_within_lpt_bound(seed: int) -> None:
    """No shard exceeds a fair share by more than the largest unit (LPT's guarantee), and
    the expected seconds add up to the suite's."""
    nodeids, durations, groups, n = random_suite(seed)
    plan = plan_shards(nodeids, durations, n, groups)
    weight = weights(nodeids, durations)
    units: dict[str, float] = {}
    for i, nodeid in enumerate(nodeids):
        key = groups.get(nodeid, f"single:{i}")
        units[key] = units.get(key, 0.0) + weight[i]
    total = sum(weight)
    assert sum(plan.seconds) == pytest.approx(total)
    assert max(plan.seconds) <= total / n + max(units.values()) + 1e-9
    for s, shard in enumerate(plan.shards):
        assert plan.seconds[s] == pytest.approx(sum(weight[i] for i in shard))


def test_unknown_tests_weigh_their_files_mean_else_the_suites() -> None:
    """A new test weighs the mean of its file's known tests; in a file with none, the mean of
    all known tests of the collection; with no durations at all, 1 (balanced by count)."""
    nodeids = ["a.py::t1", "a.py::t2", "a.py::new", "b.py::t1", "c.py::new"]
    durations = {"a.py::t1": 1.0, "a.py::t2": 3.0, "b.py::t1": 8.0, "gone.py::t": 100.0}
    assert weights(nodeids, durations) == [1.0, 3.0, 2.0, 8.0, 4.0]
    assert weights(nodeids, {}) == [1.0] * 5
    plan = plan_shards([f"t.py::t{i}" for i in range(10)], {}, 3)
    assert sorted(len(s) for s in plan.shards) == [3, 3, 4]


def test_skewed_suite_splits_evenly() -> None:
    """A few long tests among many short ones: the shards' expected seconds are within 1 %
    of each other (LPT, then trades between the heaviest and the lightest shard)."""
    rng = random.Random(7)
    nodeids = [f"t{i % 30}.py::test_{i}" for i in range(600)]
    durations = {n: rng.lognormvariate(-2, 1.5) for n in nodeids}
    for n in nodeids[:6]:
        durations[n] = 5.0
    for shards in (2, 3, 4):
        plan = plan_shards(nodeids, durations, shards)
        assert (max(plan.seconds) - min(plan.seconds)) / max(plan.seconds) < 0.01


def test_trades_fix_what_lpt_leaves() -> None:
    """8 7 6 5 4 on two shards: LPT alone gives 17 / 13, a swap finds 15 / 15."""
    nodeids = [f"t.py::t{w}" for w in (8, 7, 6, 5, 4)]
    plan = plan_shards(nodeids, {n: float(n[-1]) for n in nodeids}, 2)
    assert sorted(plan.seconds) == [15.0, 15.0]


def test_more_shards_than_tests_leaves_some_empty() -> None:
    """Shard 3 of 3 of a two-test suite runs nothing (pytest then exits 5, as for any empty
    selection); the other two run one test each."""
    plan = plan_shards(["a.py::x", "a.py::y"], {}, 3)
    assert sorted(len(s) for s in plan.shards) == [0, 1, 1]


@pytest.mark.parametrize(
    ("text", "expected"), [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 3 ", (3, 3))]
)
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    """K/N, 1-based."""
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["", "2", "0/3", "4/3", "1/0", "a/b", "1/2/3", "-1/2"])
def test_parse_shard_rejects(text: str) -> None:
    """Anything but 1 <= K <= N is a one-line error."""
    with pytest.raises(ShardSpecError):
        parse_shard(text)
