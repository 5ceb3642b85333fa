"""The held-out-style project of ``bench/mutate.py --project ledger``, written into a temporary
directory: 19 functions and methods in 5 modules, 41 tests, shaped like the project #17 was
measured on. It has what mutmut 3.x gets wrong and hotlap must not: code only a fixture's
teardown runs (``Journal.close``; ``archive``, in the teardown of one test's fixture only),
registering decorators (``register(kind)``, ``kind``) and a conftest that imports the
registry (import-time code), a module only a subprocess runs (``python -m ledger.cli``), and
a few weak tests (true survivors). ``EDIT`` is the one-line edit the benchmark makes.
"""

from __future__ import annotations

from pathlib import Path

#: (file, old, new): changes ``format_amount``'s code, not its behaviour.
EDIT = ("ledger/money.py", "    cents = abs(cents)", "    cents = -cents if cents < 0 else cents")
EDIT_FUNCTION = "format_amount"

PYPROJECT = """\
[project]
name = "ledger"
version = "0.1"

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

MUTMUT = '\n[tool.mutmut]\npaths_to_mutate = ["ledger/"]\ntests_dir = ["tests/"]\n'


def write_ledger(root: Path) -> Path:
    """The project under ``root`` (made); returns ``root``."""
    for rel, text in {**FILES, "pyproject.toml": PYPROJECT}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.removeprefix("\n"), encoding="utf-8")
    return root


FILES = {
    "ledger/__init__.py": r"""
""",
    "ledger/cli.py": r'''
"""python -m ledger.cli FILE: the balance of a journal file."""

import sys

from ledger.money import format_amount
from ledger.registry import apply_entry


def read_entries(lines):
    entries = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, amount = line.split()
        entries.append((kind, int(amount)))
    return entries


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: ledger FILE", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        entries = read_entries(f)
    total = 0
    for kind, amount in entries:
        total = apply_entry(total, kind, amount)
    print(format_amount(total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
''',
    "ledger/journal.py": r'''
"""A journal file: entries appended, flushed on close."""

from ledger.registry import apply_entry


class Journal:
    def __init__(self, path):
        self.path = path
        self.pending = []
        self.closed = False

    def record(self, kind, amount):
        if self.closed:
            raise RuntimeError("journal closed")
        self.pending.append((kind, amount))

    def balance(self):
        total = 0
        for kind, amount in self.pending:
            total = apply_entry(total, kind, amount)
        return total

    def close(self):
        with open(self.path, "a", encoding="utf-8") as f:
            for kind, amount in self.pending:
                f.write(f"{kind} {amount}\n")
        self.pending = []
        self.closed = True


def archive(path, into):
    """Moves a closed journal's file into ``into``."""
    into.mkdir(exist_ok=True)
    target = into / path.name
    path.rename(target)
    return target
''',
    "ledger/money.py": r'''
"""Amounts in cents."""

CURRENCY = "EUR"
MAX_CENTS = 10_000_000


def parse_amount(text):
    text = text.strip().replace(",", ".")
    if not text:
        raise ValueError("empty amount")
    negative = text.startswith("-")
    if negative:
        text = text[1:]
    units, _, cents = text.partition(".")
    value = int(units or "0") * 100 + int((cents + "00")[:2])
    if value > MAX_CENTS:
        raise ValueError("too large")
    return -value if negative else value


def format_amount(cents):
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d} {CURRENCY}"


def add_tax(cents, rate):
    return cents + round(cents * rate / 100)


def split_evenly(cents, parts):
    if parts <= 0:
        raise ValueError("parts must be positive")
    base, extra = divmod(cents, parts)
    return [base + 1 if i < extra else base for i in range(parts)]
''',
    "ledger/registry.py": r'''
"""Entry kinds register their handler at import."""

HANDLERS = {}


def register(kind):
    def deco(fn):
        HANDLERS[kind] = fn
        return fn

    return deco


@register("deposit")
def deposit(balance, amount):
    return balance + amount


def kind(fn):
    HANDLERS[fn.__name__] = fn
    return fn


@kind
def refund(balance, amount):
    return balance + amount


@register("withdraw")
def withdraw(balance, amount):
    if amount > balance:
        raise ValueError("insufficient funds")
    return balance - amount


def apply_entry(balance, kind, amount):
    handler = HANDLERS.get(kind)
    if handler is None:
        raise KeyError(kind)
    return handler(balance, amount)
''',
    "ledger/report.py": r'''
"""Summaries of entries."""


def largest(entries):
    best = None
    for kind, amount in entries:
        if best is None or amount > best[1]:
            best = (kind, amount)
    return best


def totals_by_kind(entries):
    totals = {}
    for kind, amount in entries:
        totals[kind] = totals.get(kind, 0) + amount
    return totals
''',
    "tests/__init__.py": r"""
""",
    "tests/conftest.py": r"""
import pytest

from ledger.journal import Journal


@pytest.fixture
def journal(tmp_path):
    path = tmp_path / "journal.txt"
    j = Journal(path)
    yield j
    count = len(j.pending)
    j.close()
    assert j.closed and j.pending == []
    assert len(path.read_text(encoding="utf-8").splitlines()) == count
""",
    "tests/test_cli.py": r"""
import subprocess
import sys


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_cli_balance(tmp_path):
    f = tmp_path / "j.txt"
    f.write_text("deposit 250\n# a comment\n\nwithdraw 100\n", encoding="utf-8")
    proc = run_cli(str(f))
    assert proc.returncode == 0
    assert proc.stdout.strip() == "1.50 EUR"


def test_cli_usage():
    proc = run_cli()
    assert proc.returncode == 2
    assert "usage" in proc.stderr


def test_cli_empty_file(tmp_path):
    f = tmp_path / "j.txt"
    f.write_text("", encoding="utf-8")
    proc = run_cli(str(f))
    assert proc.stdout.strip() == "0.00 EUR"
""",
    "tests/test_journal.py": r"""
import pytest


def test_record(journal):
    journal.record("deposit", 100)
    assert journal.pending == [("deposit", 100)]


def test_balance(journal):
    journal.record("deposit", 100)
    journal.record("withdraw", 30)
    assert journal.balance() == 70


def test_balance_empty(journal):
    assert journal.balance() == 0


def test_record_after_close(tmp_path):
    from ledger.journal import Journal

    j = Journal(tmp_path / "j.txt")
    j.closed = True
    with pytest.raises(RuntimeError):
        j.record("deposit", 1)


def test_overdraft(journal):
    journal.record("withdraw", 1)
    with pytest.raises(ValueError):
        journal.balance()
    journal.pending.clear()


def test_many_entries(journal):
    for i in range(5):
        journal.record("deposit", i)
    assert journal.balance() == 10


def test_fresh_journal_is_open(journal):
    assert not journal.closed


@pytest.fixture
def archived(tmp_path):
    from ledger.journal import Journal, archive

    j = Journal(tmp_path / "a.txt")
    yield j
    j.close()
    target = archive(j.path, tmp_path / "old")
    assert target.read_text(encoding="utf-8") == "deposit 1\n"
    assert not j.path.exists()


def test_archived_journal(archived):
    archived.record("deposit", 1)
""",
    "tests/test_money.py": r"""
import pytest

from ledger.money import add_tax, format_amount, parse_amount, split_evenly


@pytest.mark.parametrize(
    "text, cents",
    [("1.50", 150), ("2", 200), ("0,99", 99), (" 3.1 ", 310), ("-4.25", -425), (".5", 50)],
)
def test_parse_amount(text, cents):
    assert parse_amount(text) == cents


def test_parse_empty():
    with pytest.raises(ValueError):
        parse_amount("  ")


def test_parse_too_large():
    with pytest.raises(ValueError):
        parse_amount("100001")


def test_format_positive():
    assert format_amount(150) == "1.50 EUR"


def test_format_negative():
    assert format_amount(-5) == "-0.05 EUR"


def test_add_tax():
    assert add_tax(1000, 20) > 1000


def test_split_evenly():
    assert split_evenly(10, 3) == [4, 3, 3]


def test_split_sum():
    assert sum(split_evenly(7, 2)) == 7


def test_split_zero_parts():
    with pytest.raises(ValueError):
        split_evenly(5, 0)


def test_format_zero():
    assert format_amount(0) == "0.00 EUR"


def test_format_large():
    assert format_amount(123456) == "1234.56 EUR"


def test_add_tax_zero_rate():
    assert add_tax(500, 0) == 500
""",
    "tests/test_registry.py": r"""
import pytest

from ledger.registry import HANDLERS, apply_entry, deposit, withdraw


def test_kinds_registered():
    assert set(HANDLERS) == {"deposit", "withdraw", "refund"}


def test_deposit():
    assert deposit(10, 5) == 15


def test_withdraw():
    assert withdraw(10, 4) == 6


def test_withdraw_too_much():
    with pytest.raises(ValueError):
        withdraw(3, 4)


def test_withdraw_all():
    assert withdraw(4, 4) == 0


def test_apply_deposit():
    assert apply_entry(1, "deposit", 2) == 3


def test_apply_withdraw():
    assert apply_entry(5, "withdraw", 2) == 3


def test_apply_unknown():
    with pytest.raises(KeyError):
        apply_entry(0, "gift", 1)


def test_refund():
    assert apply_entry(2, "refund", 3) == 5
""",
    "tests/test_report.py": r"""
from ledger.report import largest, totals_by_kind

ENTRIES = [("deposit", 5), ("withdraw", 2), ("deposit", 7)]


def test_largest():
    assert largest(ENTRIES) is not None


def test_largest_empty():
    assert largest([]) is None


def test_totals():
    assert totals_by_kind(ENTRIES)["deposit"] == 12


def test_totals_kinds():
    assert len(totals_by_kind(ENTRIES)) == 2
""",
}
