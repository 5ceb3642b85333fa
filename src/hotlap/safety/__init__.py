"""Parallel safety: which tests cannot share a run (``hotlap run --find-polluters``).

Plain Python, no Textual: the order each worker ran its tests in (:mod:`.order`), the
bisection of a victim's prefix (:mod:`.bisect`), and the reruns that drive it
(:mod:`.polluters`, with the tiny pytest plugin :mod:`.probe` in each rerun).
"""
