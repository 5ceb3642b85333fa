"""The ``hotlap`` pytest plugin (entry point ``pytest11: hotlap``).

Inert unless activated: it registers its hook objects only when the hotlap app drives the run
(``HOTLAP_SOCKET``/``HOTLAP_TOKEN`` in the environment) or a ``--hotlap-*`` export is asked
for. Otherwise installing hotlap changes nothing in a pytest run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

import hotlap.jsonref  # noqa: F401  (json's functions, captured before any test runs)
from hotlap.channel import ENV_WORKERS
from hotlap.plugin import extensions, gate, offline, rewrites
from hotlap.plugin.role import Role, role_of, worker_id
from hotlap.plugin.sink import sink_from_env

if TYPE_CHECKING:
    from hotlap.plugin.sink import Sink

# The emitters, the protocol and the exports are imported only once the plugin is activated:
# an inactive plugin must cost a plain pytest run (and each of its xdist workers) nothing.


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Before the installed plugins load (with -p hotlap), and while PYTEST_ADDOPTS still
    # holds what pytest read.
    offline.leave_out_here(pluginmanager)
    # pytest has read PYTEST_ADDOPTS: as it was, if an exports controller added to it.
    offline.restore_addopts()
    # Before anything reads hotlap's variables: a pytest that a test started drops them.
    gate.adopt_environment()
    group = parser.getgroup("hotlap", "hotlap exports (no app needed)")
    group.addoption(
        "--hotlap-json",
        metavar="PATH",
        default=None,
        help="write hotlap's versioned JSON report of the run to PATH",
    )
    group.addoption(
        "--hotlap-durations",
        metavar="PATH",
        default=None,
        help="write test durations in pytest-split's .test_durations format to PATH, merged "
        "into the durations already there (as --store-durations does)",
    )
    group.addoption(
        "--hotlap-durations-clean",
        action="store_true",
        default=False,
        help="replace the --hotlap-durations file with this run's tests only",
    )
    group.addoption(
        "--hotlap-record",
        metavar="PATH",
        default=None,
        help="write hotlap's raw event stream to PATH as JSON lines",
    )
    extensions.addoption(parser)
    # After the impact extension's start (its markers cache rewrites themselves), before
    # pytest loads the conftests.
    rewrites.install_early(pluginmanager)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    # Before xdist's own pytest_cmdline_main, which turns -n into workers.
    if os.environ.get(ENV_WORKERS):
        from hotlap.plugin.workers import choose

        choose(config)


def _exports_requested(config: pytest.Config) -> bool:
    return any(config.getoption(name, None) for name in offline.EXPORT_DESTS)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    role = role_of(config)
    sink: Sink | None = None
    # A session inside a test (pytester) is not this process's hotlap session: only the
    # exports its own options ask for.
    if gate.owns(config):
        if role is not Role.CONTROLLER:
            gate.runs_tests_here(config)
        extensions.configure(config, role)
        name = {Role.WORKER: worker_id(config), Role.CONTROLLER: "controller"}.get(role, "main")
        sink = sink_from_env(name)
    if sink is None and role is not Role.WORKER and _exports_requested(config):
        from hotlap.plugin.local import LocalExports

        local = LocalExports(config, role)
        config.pluginmanager.register(local, "hotlap-local-exports")
        sink = local.sink
    if sink is not None:
        if role is Role.SINGLE:
            # No execnet thread here: plain pytest has no other thread when a test forks.
            from hotlap.plugin.own_threads import step_aside_at_fork

            step_aside_at_fork()
        _register(config, sink, role)


def _register(config: pytest.Config, sink: Sink, role: Role) -> None:
    if role is Role.CONTROLLER:
        from hotlap.plugin.controller import ControllerEmitter

        config.pluginmanager.register(ControllerEmitter(config, sink), "hotlap-controller")
    else:
        from hotlap.plugin.explain import AssertionExplainer
        from hotlap.plugin.worker import TestEmitter

        emitter = TestEmitter(config, sink, worker_id(config), role)
        config.pluginmanager.register(emitter, "hotlap-emitter")
        # Called only when an assertion fails: the full diff for the dashboard.
        explainer = AssertionExplainer(sink, emitter.worker, emitter.announced_current)
        config.pluginmanager.register(explainer, "hotlap-explain")
    config.add_cleanup(sink.close)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    gate.release(config)
