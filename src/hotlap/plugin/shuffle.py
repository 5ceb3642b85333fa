"""``hotlap run --shuffle`` without pytest-randomly: the collected tests in a random order
given by a seed (``--hotlap-shuffle-seed N`` or ``HOTLAP_SHUFFLE_SEED``, set by the app).

Every xdist worker collects and shuffles with the same seed, so all of them agree on the
order (xdist requires it) and the controller hands tests out in that order. Cost: one
shuffle of the item list at collection; nothing per test. Inert without a seed.
"""

from __future__ import annotations

import os
import random

import pytest

from hotlap.plugin.role import Role

ENV_SHUFFLE_SEED = "HOTLAP_SHUFFLE_SEED"


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hotlap")
    group.addoption(
        "--hotlap-shuffle-seed",
        metavar="N",
        type=int,
        default=None,
        help="run the collected tests in a random order given by N",
    )


def shuffle_seed(config: pytest.Config) -> int | None:
    seed = config.getoption("hotlap_shuffle_seed", None)
    if seed is None:
        try:
            seed = int(os.environ[ENV_SHUFFLE_SEED])
        except (KeyError, ValueError):
            return None
    return int(seed)


def configure(config: pytest.Config, role: Role) -> None:
    seed = shuffle_seed(config)
    if seed is not None and role is not Role.CONTROLLER:
        config.pluginmanager.register(_Shuffle(seed), "hotlap-shuffle")


class _Shuffle:
    def __init__(self, seed: int) -> None:
        self.seed = seed

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        random.Random(self.seed).shuffle(items)

    def pytest_report_header(self) -> str:
        return f"hotlap: tests shuffled with seed {self.seed}"
