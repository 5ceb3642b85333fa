"""Mutation testing: mutate the project's code in memory, rerun only the tests that run it.

A mutant is one small change to one block of a source file (a function or method, named as
impact selection names it, or the module-level code): ``<`` becomes ``<=``, a call statement
goes, a constant gains one. The user's files are never written: a mutant exists only in the
memory of the processes that test it (:mod:`hotlap.mutate.hook`), and the results are kept in
``.hotlap/mutate.sqlite3`` keyed by the block's checksum and its tests' dependencies.
"""

#: Environment variable naming the active mutant's file of compiled code (mutation runs only;
#: read by :mod:`hotlap.mutate.site.sitecustomize` in every Python process a test starts).
ENV_MUTANT = "HOTLAP_MUTANT"
