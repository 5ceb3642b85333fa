"""Optional parts of the plugin, each in its own module, each inert unless activated.

Every module listed here may define ``addoption(parser)`` and ``configure(config, role)``;
a module that is not there yet is skipped.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from hotlap.plugin.role import Role

MODULES = (
    "hotlap.plugin.remote",  # first: a worker on another host adopts the controller's channel
    "hotlap.plugin.offline",  # before any sink: no live view, no flusher thread (exports)
    "hotlap.plugin.shard",  # --hotlap-shard K/N (history)
    "hotlap.plugin.schedule",  # duration-aware ordering (history)
    "hotlap.plugin.serial",  # serial-marked tests alone, after the others (safety)
    "hotlap.plugin.shuffle",  # --hotlap-shuffle-seed: a random order (safety)
    "hotlap.plugin.hazards",  # what a test leaves changed in its process (safety)
    "hotlap.plugin.slow",  # --slow-threshold / --fail-unmarked-slow (history)
    "hotlap.plugin.reruns",  # --reruns (history)
    "hotlap.plugin.impact",  # per-test dependency recording (impact)
    "hotlap.plugin.hang",  # hang stacks (faults)
)


def _modules() -> list[ModuleType]:
    found = []
    for name in MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def addoption(parser: pytest.Parser) -> None:
    for module in _modules():
        hook = getattr(module, "addoption", None)
        if hook is not None:
            hook(parser)


def configure(config: pytest.Config, role: Role) -> None:
    for module in _modules():
        hook = getattr(module, "configure", None)
        if hook is not None:
            hook(config, role)
