"""Issue 13 ("never silently wrong"): files that aren't one account's cash. Exports covering
several accounts (Mint's "Account Name", YNAB's "Account", Monefy's "account") become one
statement per account, each with the column's value as its bank account id: `account: "…"`
metadata on an `open` maps it, and --account (one account for all of them) is refused by
dispatch. A fund's share register is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from beancount import loader

from beanagent.errors import BadInputError
from beanagent.ledger.view import LedgerView
from beanagent.settings import Settings
from beanagent.statements.csv import parse_csv_file
from beanagent.statements.dispatch import read_statements

LEDGER = """
2013-01-01 open Liabilities:Card USD
  account: "My Credit Card"
2013-01-01 open Assets:Checking USD
  account: "My Checking"
"""


def mint(realworld: Path) -> Path:
    path = realworld / "beancount-import/testdata/source/mint/mint.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def view() -> LedgerView:
    entries, errors, options = loader.load_string(LEDGER)
    assert not errors
    return LedgerView(entries, options)


def test_each_account_goes_to_its_own(realworld: Path) -> None:
    found = read_statements([mint(realworld)], view(), Settings(), lambda _: None)
    assert [(st.account, [str(ln.amount) for ln in st.lines]) for st in found] == [
        ("Liabilities:Card", ["66.88", "-2.45"]),
        ("Assets:Checking", ["-66.88"]),
    ]


def test_one_account_for_all_is_refused(realworld: Path) -> None:
    with pytest.raises(BadInputError, match="holds 2 accounts"):
        read_statements([mint(realworld)], view(), Settings(account="Assets:Checking"),
                        lambda _: None)


def test_a_share_register_is_refused(realworld: Path) -> None:
    """HealthEquity's investment export (Shares, Total Shares) lists fund trades whose cash
    side is in cash-transactions-*.csv: read as a statement it would book share trades as
    cash."""
    base = realworld / "beancount-import/testdata/source/healthequity/data/1234567"
    if not base.is_dir():
        pytest.skip(f"{base} is absent")
    with pytest.raises(BadInputError, match="tracks fund shares \\(column 'Total Shares'\\)"):
        parse_csv_file(base / "investment-transactions.csv", "inv.csv")
    [cash] = parse_csv_file(base / "cash-transactions-other.csv", "cash.csv")
    assert len(cash.lines) == 5
