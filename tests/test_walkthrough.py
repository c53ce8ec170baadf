"""README's "Your own bank" walkthrough, run as written: the files are the README's own
blocks (marked `<!-- walkthrough: NAME -->`), so the text can't drift from what the tool
does. Month one books everything to the review account, flagged, with the bank's payee
and a balance from the preamble; the user sets the accounts; month two is confident where
the payee is known and flags the new one whose purpose only looks familiar."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import bean_check, run_cli_in_process

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"<!-- walkthrough: (\S+) -->\n```[a-z]*\n(.*?)```", re.DOTALL)
# what the user sets in the review (README step 3)
ACCOUNTS = {"Hausverwaltung": "Expenses:Housing:Rent", "REWE": "Expenses:Groceries",
            "ACME": "Income:Salary", "Stadtwerke": "Expenses:Housing:Electricity"}


@pytest.fixture
def books(tmp_path: Path) -> Path:
    files = dict(BLOCK.findall(README.read_text(encoding="utf-8")))
    assert set(files) == {"books.beancount", "beanagent.toml", "giro-2025-11.csv",
                          "giro-2025-12.csv"}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def reconcile(books: Path, statement: str, *flags: str) -> dict[str, Any]:
    proc = run_cli_in_process("reconcile", "books.beancount", statement, "--json", *flags,
                              cwd=books)
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def entries(report: dict[str, Any]) -> list[tuple[str, float | None]]:
    return [(p["text"], p["confidence"]) for p in report["proposals"]
            if p["kind"] == "transaction"]


def test_two_months(books: Path) -> None:
    first = reconcile(books, "giro-2025-11.csv", "--dry-run")
    booked = entries(first)
    assert len(booked) == 5
    assert all(' ! "' in text and "Expenses:FIXME" in text for text, _ in booked)
    assert booked[0][0].startswith('2025-11-03 ! "Hausverwaltung Müller GmbH" '
                                   '"Miete November Whg 3"')
    [balance] = [p["text"] for p in first["proposals"] if p["kind"] == "balance"]
    assert balance.startswith("2025-12-01 balance Assets:Bank:Giro") and "2089.15 EUR" in balance

    reconcile(books, "giro-2025-11.csv", "--yes")
    ledger = books / "books.beancount"
    fixed = []
    for block in ledger.read_text(encoding="utf-8").split("\n\n"):
        for payee, account in ACCOUNTS.items():
            if f'! "{payee}' in block:
                block = block.replace(" ! ", " * ").replace("Expenses:FIXME", account)
        fixed.append(block)
    ledger.write_text("\n\n".join(fixed), encoding="utf-8")
    assert bean_check(ledger) == []

    second = entries(reconcile(books, "giro-2025-12.csv", "--dry-run"))
    assert len(second) == 6
    for text, confidence in second:
        payee = text.split('"')[1]
        if payee == "Buchhandlung am Markt":
            assert ' ! "' in text and confidence is not None and confidence <= 0.4
            continue
        account = next(a for p, a in ACCOUNTS.items() if payee.startswith(p))
        assert ' * "' in text and account in text and confidence == 1.0, text


@pytest.mark.parametrize(("rows", "said"), [
    ("Date,Description,Amount\n03/04/2025,Shop,-1.00\n05/06/2025,Shop,-2.00\n",
     "fits both %m/%d/%Y and %d/%m/%Y"),
    ("Date;Description;Amount\n2025-01-02;Shop;-1,000\n2025-01-03;Shop;-2,000\n",
     "the decimal mark is ambiguous: no amount shows whether '1,000' is a whole number or "
     "a fraction"),
    ("%PDF-1.7\n", "unsupported format: a PDF document"),
])
def test_the_refusals_table(books: Path, rows: str, said: str) -> None:
    """The walkthrough's table quotes the lines a user sees; a new account with no history
    can't decide for the reader, so these are refused."""
    (books / "other.csv").write_text(rows, encoding="utf-8")
    proc = run_cli_in_process("reconcile", "books.beancount", "other.csv", "-a",
                              "Assets:Bank:Giro", "--dry-run", cwd=books)
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr
    assert said in " ".join(README.read_text(encoding="utf-8").split())


def test_opening_balance_plus_lines_is_the_stated_closing(books: Path) -> None:
    text = (books / "giro-2025-11.csv").read_text(encoding="utf-8")
    amounts = [Decimal(row.split(";")[3].replace(".", "").replace(",", "."))
               for row in text.splitlines()[4:]]
    assert Decimal("1250.00") + sum(amounts) == Decimal("2089.15")
