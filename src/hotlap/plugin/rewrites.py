"""pytest's rewrites of test modules and conftests kept in ``.hotlap/pycache`` when pytest
keeps none (``PYTHONDONTWRITEBYTECODE=1``, as in many CI images and containers), for every
run hotlap is part of: the app's (with or without impact recording) and plain pytest's with
an export (``--hotlap-json``, ...).

Under that variable pytest parses, rewrites and compiles every test module in every process
of every run, and each xdist worker collects the whole suite: with two workers every test
module is rewritten twice. hotlap's cache (:func:`hotlap.impact.instrument.cache_rewrites`)
rewrites each module once, shared by the workers of a first run, and not again until its
source changes. The code is pytest's own rewrite, byte for byte; a module whose rewrite warns
is rewritten in each run as without hotlap. Where impact markers are compiled (3.10/3.11,
recording on) they cache the rewrites themselves, with markers, and this stays out.

Installed when the plugin is loaded, before pytest loads the conftests; ``HOTLAP_NO_REWRITE_CACHE``
(set to anything) leaves pytest's rewriting as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hotlap.channel import ENV_PYCACHE
from hotlap.plugin import gate, offline
from hotlap.plugin.sink import app_drives

ENV_NO_REWRITE_CACHE = "HOTLAP_NO_REWRITE_CACHE"


def install_early(pluginmanager: pytest.PytestPluginManager) -> None:
    """From ``pytest_addoption`` (after the impact extension's own start)."""
    if not sys.dont_write_bytecode or os.environ.get(ENV_NO_REWRITE_CACHE):
        return
    if gate.session_running():
        return  # a session run inside a test: its files are not the project's run
    config = pluginmanager.get_plugin("pytestconfig")
    if not isinstance(config, pytest.Config):
        return
    if not app_drives():
        args = offline.early_args(config)
        if args is None or not offline.exports_in(args):
            return  # the plugin stays inert
    try:
        root = str(config.rootpath)
    except AttributeError:
        return
    cache_dir = os.environ.get(ENV_PYCACHE) or os.path.join(root, ".hotlap", "pycache")
    from hotlap.paths import make_dirs

    try:
        make_dirs(Path(cache_dir))
    except OSError:
        return  # a read-only project: pytest rewrites as it always does
    from hotlap.impact.instrument import cache_rewrites, stop_caching_rewrites

    if cache_rewrites(root, cache_dir) is not None:
        config.add_cleanup(stop_caching_rewrites)
