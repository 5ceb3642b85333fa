"""Module-level code by name: a change bounded by names selects the tests that read those
names; an import-time effect no name bounds still selects every importer, and says which
rule fired. Real hotlap runs on temp projects."""

from __future__ import annotations

import pytest
from impact_helpers import Project

NAMES = {
    "src/pkg/__init__.py": """
        from pkg.shapes import Box

        VERSION = "1.0"
        """,
    "src/pkg/config.py": """
        import functools

        LIMIT = 10
        UNUSED = 1

        def clamp(x, top=LIMIT):
            return min(x, top)

        @functools.lru_cache(maxsize=4)
        def cached(x):
            return x + 1

        class Settings:
            level = 1
            name = "s"

            def describe(self):
                return f"{self.name}"
        """,
    "tests/test_config.py": """
        import pkg
        from pkg import config

        def test_clamp():
            assert config.clamp(20) == 10

        def test_cached():
            assert config.cached(1) == 2

        def test_level():
            assert config.Settings().level == 1

        def test_describe():
            assert config.Settings().describe() == "s"

        def test_version():
            assert pkg.VERSION == "1.0"
        """,
}


@pytest.fixture
def names(project: Project) -> Project:
    for rel, text in NAMES.items():
        project.write(rel, text)
    assert project.run().returncode == 0
    return project


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # a default argument read from a constant, and the constant itself
        ("top=LIMIT", "top=LIMIT - 1", {"tests/test_config.py::test_clamp"}),
        ("LIMIT = 10", "LIMIT = 11", {"tests/test_config.py::test_clamp"}),
        # a decorator argument
        ("maxsize=4", "maxsize=5", {"tests/test_config.py::test_cached"}),
        # a class attribute: the tests that read an attribute of that name
        ("level = 1", "level = 2", {"tests/test_config.py::test_level"}),
        ('name = "s"', 'name = "t"', {"tests/test_config.py::test_describe"}),
        # an unused constant, an added function, a comment
        ("UNUSED = 1", "UNUSED = 2", set()),
        ("class Settings:", "def helper():\n    return 1\n\nclass Settings:", set()),
        ("LIMIT = 10", "LIMIT = 10  # the cap", set()),
    ],
)
def test_a_name_level_change_selects_only_its_readers(
    names: Project, old: str, new: str, expected: set[str]
) -> None:
    """Each edit selects exactly the tests whose code read the changed name (none for a
    name no test reads), not every test importing the module."""
    names.edit("src/pkg/config.py", old, new)
    assert names.selected() == expected


def test_init_re_export_bump_selects_its_readers(names: Project) -> None:
    """``VERSION = "1.1"`` in a package ``__init__`` selects the test reading it, not every
    test importing the package; the selection really fails."""
    names.edit("src/pkg/__init__.py", '"1.0"', '"1.1"')
    assert names.selected() == {"tests/test_config.py::test_version"}
    rerun = names.run("--affected")
    assert "1 failed" in rerun.stdout, rerun.stdout


def test_dataclass_field_selects_users_of_the_class(names: Project) -> None:
    """A dataclass field's default is consumed by the decorator: every test that uses the
    class is selected (here the base project's Box test), not the class's other importers."""
    names.edit("src/pkg/shapes.py", "size: int = 3", "size: int = 4")
    assert names.selected() == {"tests/test_box.py::test_box_default"}


@pytest.mark.parametrize(
    ("statement", "rule"),
    [
        ("register(clamp)", "call at import"),
        ("import sys\nsys.path.insert(0, '/nowhere')", "sys.path change"),
        ("__all__ = ['clamp']", "__all__"),
        ("from pkg.shapes import *", "star import"),
        ("def __getattr__(name):\n    raise AttributeError(name)", "module __getattr__"),
        ("functools.partial.x = 1", "patching"),
    ],
)
def test_an_import_time_effect_selects_every_importer(
    names: Project, statement: str, rule: str
) -> None:
    """A statement whose effect no name bounds (a registration call, ``sys.path``,
    ``__all__``, a star import, a module ``__getattr__``, patching) selects every test that
    imports the module, and ``--why`` names the rule."""
    if statement.startswith("register"):
        names.edit("src/pkg/config.py", "LIMIT = 10", "LIMIT = 10\nregister = print")
        assert names.run().returncode == 0
    names.edit("src/pkg/config.py", "class Settings:", f"{statement}\n\n\nclass Settings:")
    data = names.affected("--why")
    selected = {t["nodeid"]: t["reasons"] for t in data["tests"]}
    assert set(selected) >= {
        "tests/test_config.py::test_clamp",
        "tests/test_config.py::test_version",
    }
    assert "tests/test_other.py::test_alone" not in selected
    assert any(rule in r for r in selected["tests/test_config.py::test_version"]), selected
    notes = data["notes"]
    assert any(n.startswith("rule fired: import-time effects (every importer)") for n in notes)
    assert any(n.startswith("whole-file fallbacks: 0 of ") for n in notes), notes


def test_registration_decorator_links_the_registry(project: Project) -> None:
    """A decorator that mutates a global of its module (``@register``): changing how a
    module uses it selects the tests that read that global, though they never ran the
    decorated function."""
    project.write(
        "src/pkg/registry.py",
        """
        REGISTRY = {}

        def register(name):
            def deco(f):
                REGISTRY[name] = f
                return f
            return deco
        """,
    )
    project.write(
        "src/pkg/plugins.py",
        """
        from pkg.registry import register

        @register("alpha")
        def alpha():
            return 1
        """,
    )
    project.write(
        "tests/test_reg.py",
        """
        import pkg.plugins
        from pkg.registry import REGISTRY

        def test_registered():
            assert sorted(REGISTRY) == ["alpha"]

        def test_unrelated():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.edit("src/pkg/plugins.py", '"alpha"', '"beta"')
    assert project.selected() == {"tests/test_reg.py::test_registered"}
    assert "1 failed" in project.run("--affected").stdout


def test_parametrize_and_fixture_params_select_whole_functions(project: Project) -> None:
    """A ``parametrize`` argument (through a module constant) or a conftest fixture's
    ``params`` can create test ids: the test functions concerned are selected whole (the
    new ids run), the others not; a fixture's body selects only its users."""
    project.write(
        "tests/conftest.py",
        """
        import pytest

        @pytest.fixture(params=[1, 2])
        def number(request):
            return request.param

        @pytest.fixture
        def word():
            return "w"
        """,
    )
    project.write(
        "tests/test_params.py",
        """
        import pytest

        CASES = [1, 2]

        @pytest.mark.parametrize("case", CASES)
        def test_case(case):
            assert case < 3

        def test_number(number):
            assert number < 3

        def test_word(word):
            assert word == "w"

        def test_none():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.edit("tests/test_params.py", "CASES = [1, 2]", "CASES = [1, 2, 3]")
    assert project.selected() == {"tests/test_params.py::test_case"}
    assert "1 failed, 2 passed" in project.run("--affected").stdout
    project.edit("tests/test_params.py", "CASES = [1, 2, 3]", "CASES = [1, 2]")
    assert project.run("--affected").returncode == 0
    project.edit("tests/conftest.py", "params=[1, 2]", "params=[1, 2, 3]")
    assert project.selected() == {"tests/test_params.py::test_number"}
    assert "1 failed, 2 passed" in project.run("--affected").stdout
    project.edit("tests/conftest.py", "params=[1, 2, 3]", "params=[1, 2]")
    assert project.run("--affected").returncode == 0
    project.edit("tests/conftest.py", 'return "w"', 'return "v"')
    assert project.selected() == {"tests/test_params.py::test_word"}


def test_case_generator_and_subclass_hook(project: Project) -> None:
    """A function the test module runs at collection to make its cases: a change in its
    body selects the test functions whole (the new case runs). A class attribute of a
    subclass whose base reads subclasses (``__init_subclass__``) is the class as a whole."""
    project.write(
        "src/pkg/kinds.py",
        """
        KINDS = {}

        class Base:
            def __init_subclass__(cls):
                KINDS[cls.__name__] = cls.code

        class Alpha(Base):
            code = 1
        """,
    )
    project.write(
        "tests/test_gen_cases.py",
        """
        import pytest

        from pkg.kinds import KINDS

        def make_cases():
            return [1, 2]

        @pytest.mark.parametrize("c", make_cases())
        def test_case(c):
            assert c < 3

        def test_kinds():
            assert KINDS == {"Alpha": 1}

        def test_other():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.edit("tests/test_gen_cases.py", "return [1, 2]", "return [1, 2, 3]")
    # Run at import, it could have touched anything of its module: all of its tests, and
    # test_case as a function (not its two recorded ids).
    assert "tests/test_gen_cases.py::test_case" in project.selected()
    assert "1 failed, 4 passed" in project.run("--affected").stdout
    project.edit("tests/test_gen_cases.py", "return [1, 2, 3]", "return [1, 2]")
    assert project.run("--affected").returncode == 0
    project.edit("src/pkg/kinds.py", "code = 1", "code = 2")
    assert "tests/test_gen_cases.py::test_kinds" in project.selected()


def test_removed_name_fails_every_importer(project: Project) -> None:
    """Removing a name another module imports fails that module's import: every test of the
    importing test module is selected, not only those that called it; fixture ``params``
    read from a constant select the fixture's users whole."""
    project.write(
        "tests/test_imports_add.py",
        """
        import pytest

        from pkg.mathx import add

        SIZES = [1, 2]

        @pytest.fixture(params=SIZES)
        def size(request):
            return request.param

        def test_uses_add():
            assert add(1, 1) == 2

        def test_size(size):
            assert size < 3

        def test_plain():
            assert True
        """,
    )
    assert project.run().returncode == 0
    project.edit("tests/test_imports_add.py", "SIZES = [1, 2]", "SIZES = [1, 2, 3]")
    assert project.selected() == {"tests/test_imports_add.py::test_size"}
    assert "1 failed, 2 passed" in project.run("--affected").stdout
    project.edit("tests/test_imports_add.py", "SIZES = [1, 2, 3]", "SIZES = [1, 2]")
    assert project.run("--affected").returncode == 0
    project.edit("src/pkg/mathx.py", "def add(a, b):\n    return a + b\n", "")
    selected = project.selected()
    assert {"tests/test_imports_add.py::test_plain", "tests/test_add.py::test_add"} <= selected
    assert "tests/test_mul.py::test_mul" not in selected


def test_star_import_takes_the_whole_namespace(project: Project) -> None:
    """``from pkg import *`` (run inside a test, through a helper module) depends on all of
    ``pkg``'s namespace: a re-export dropped while ``__all__`` still names it fails it."""
    project.write("src/pkg/__init__.py", 'from pkg.shapes import Box\n\n__all__ = ["Box"]\n')
    project.write("tests/star_user.py", "from pkg import *  # noqa: F403\n")
    project.write(
        "tests/test_star.py",
        """
        def test_star():
            import star_user

            assert star_user.Box
        """,
    )
    assert project.run().returncode == 0
    project.edit("src/pkg/__init__.py", "from pkg.shapes import Box", "")
    assert "tests/test_star.py::test_star" in project.selected()
