"""Started by every Python process of a mutation run (the directory is put on ``PYTHONPATH``
of hotlap's mutation processes only, never in the project): a test's subprocess imports
the mutant too. Standard library only; it never fails the interpreter's start; it then runs
the ``sitecustomize`` this one shadows, if there is one."""

import contextlib
import os
import sys


def _install() -> None:
    if not os.environ.get("HOTLAP_MUTANT"):
        return
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(os.path.dirname(here), "finder.py")
    spec = importlib.util.spec_from_file_location("_hotlap_mutant_finder", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_hotlap_mutant_finder"] = module
    spec.loader.exec_module(module)
    module.install_from_env()


def _chain() -> None:
    """Import the next ``sitecustomize`` on the path (the one this file shadows)."""
    import importlib.machinery

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or spec.origin == os.path.abspath(__file__):
        return
    import importlib.util

    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


with contextlib.suppress(Exception):  # never break a Python start-up
    _install()
with contextlib.suppress(Exception):
    _chain()
