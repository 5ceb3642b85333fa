"""Full-run invalidators: what, when it changes, makes every recorded dependency suspect.

pytest's configuration, the installed distributions, the Python and hotlap versions, and the
pytest options that change collection. :func:`changed` names the one that fired.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from hotlap import __version__
from hotlap.impact.digest import blake2b

#: Options that take a value in the next argument (so that value is not a test path).
VALUE_OPTS = frozenset(
    [
        "-k",
        "-m",
        "-n",
        "-p",
        "-c",
        "-o",
        "-W",
        "-r",
        "--tb",
        "--maxfail",
        "--dist",
        "--basetemp",
        "--rootdir",
        "--confcutdir",
        "--ignore",
        "--ignore-glob",
        "--deselect",
        "--junitxml",
        "--junit-xml",
        "--durations",
        "--import-mode",
        "--capture",
        "--log-level",
        "--log-cli-level",
        "--color",
        "--numprocesses",
        "--tx",
        "--maxprocesses",
        "--pyargs",
        "--override-ini",
        "--config-file",
        "--reruns",
        "--timeout",
        "--cov",
        "--cov-report",
        "--durations-min",
        "--hotlap-json",
        "--hotlap-durations",
        "--hotlap-record",
        "--hotlap-impact-dir",
    ]
)

#: Options that change how a run goes, not which tests exist or what they depend on.
RUNTIME_OPTS = frozenset(
    [
        "-x",
        "--exitfirst",
        "-n",
        "--numprocesses",
        "--maxprocesses",
        "--dist",
        "--tx",
        "-v",
        "-vv",
        "-vvv",
        "-q",
        "-qq",
        "-s",
        "-l",
        "--showlocals",
        "--tb",
        "-r",
        "--maxfail",
        "--durations",
        "--durations-min",
        "--color",
        "--capture",
        "-rA",
        "--lf",
        "--last-failed",
        "--ff",
        "--failed-first",
        "--nf",
        "--new-first",
        "--sw",
        "--stepwise",
        "--hotlap-json",
        "--hotlap-durations",
        "--hotlap-record",
        "--hotlap-impact-dir",
        "--no-header",
        "--no-summary",
        "--full-trace",
        "--junitxml",
        "--junit-xml",
        "--reruns",
        "--timeout",
    ]
)


def _opt_name(arg: str) -> str:
    if arg.startswith("--"):
        return arg.split("=", 1)[0]
    return arg[:2]


def split_args(args: list[str], cwd: Path) -> tuple[list[str], list[str]]:
    """(options with their values, test paths/nodeids) of a pytest command line."""
    options: list[str] = []
    paths: list[str] = []
    takes_value = False
    for arg in args:
        if takes_value:
            options.append(arg)
            takes_value = False
        elif arg.startswith("-"):
            options.append(arg)
            takes_value = arg in VALUE_OPTS
        elif (cwd / arg.split("::", 1)[0]).exists():
            paths.append(arg)
        else:
            options.append(arg)
    return options, paths


def collection_options(args: list[str], cwd: Path) -> list[str]:
    """The options among ``args`` that can change what is collected."""
    options, _ = split_args(args, cwd)
    kept: list[str] = []
    skip_value = False
    for arg in options:
        if skip_value:
            skip_value = False
            continue
        name = _opt_name(arg)
        if name in RUNTIME_OPTS or (name.startswith("-v") and set(name[1:]) == {"v"}):
            skip_value = arg in VALUE_OPTS
            continue
        if name == "-n" or (name == "-p" and arg[2:] == "hotlap"):
            continue
        kept.append(arg)
    return kept


def _config_hashes(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml"):
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if name == "pyproject.toml":
            text = _pyproject_pytest(text)
        elif name in ("tox.ini", "setup.cfg"):
            import configparser  # only for these files (hotlap affected imports this module)

            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read_string(text)
            except configparser.Error:
                pass
            else:
                section = "tool:pytest" if name == "setup.cfg" else "pytest"
                text = json.dumps(dict(parser[section])) if parser.has_section(section) else ""
        out[f"config:{name}"] = blake2b(text.encode(), digest_size=10).hexdigest()
    return out


def _pyproject_pytest(text: str) -> str:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - 3.10
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    try:
        data = tomllib.loads(text)
    except (ValueError, TypeError):
        return text
    return json.dumps(data.get("tool", {}).get("pytest", {}), sort_keys=True, default=str)


def _distributions() -> str:
    """Names (with versions) of the installed distributions, cheaply from directory names."""
    names: set[str] = set()
    for entry in sys.path:
        if not entry or not ("site-packages" in entry or "dist-packages" in entry):
            continue
        try:
            with os.scandir(entry) as it:
                names.update(
                    e.name for e in it if e.name.endswith((".dist-info", ".egg-info", ".pth"))
                )
        except OSError:
            continue
    return blake2b("\n".join(sorted(names)).encode(), digest_size=10).hexdigest()


def fingerprint(root: Path, pytest_args: list[str], cwd: Path | None = None) -> dict[str, str]:
    """Everything whose change forces a full run, as strings."""
    fp = {
        "python": sys.version.split()[0] + " " + sys.implementation.name,
        "hotlap": __version__,
        "distributions": _distributions(),
        "options": json.dumps(collection_options(pytest_args, cwd or root)),
    }
    fp.update(_config_hashes(root))
    return fp


_LABELS = {
    "python": "the Python version changed",
    "hotlap": "the hotlap version changed",
    "distributions": "the installed distributions changed",
}


def changed(old: dict[str, str] | None, new: dict[str, str]) -> str | None:
    """Why ``old`` no longer holds (the first invalidator that fired), or None."""
    if not old:
        return "no impact data recorded yet"
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key in _LABELS:
            return _LABELS[key]
        if key == "options":
            return (
                f"pytest options that change collection changed "
                f"({' '.join(json.loads(old.get(key) or '[]')) or 'none'} -> "
                f"{' '.join(json.loads(new.get(key) or '[]')) or 'none'})"
            )
        if key.startswith("config:"):
            return f"pytest configuration changed ({key.split(':', 1)[1]})"
        return f"{key} changed"
    return None
