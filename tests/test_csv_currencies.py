"""Issue 13: a per-row currency column. Rows in several currencies become one statement per
currency (never PLN lines with GBP amounts); resolving refuses a currency the account does not
hold, in one line that says which, how many lines and what to do.

No real file has this layout; tests/data/csv/multi_currency.csv is synthetic, written the way
beangulp's multi-currency CSV tests write it (a `-1.00,GBP` row among PLN ones)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader

from beanagent.errors import BadInputError
from beanagent.ledger.view import LedgerView
from beanagent.settings import Settings
from beanagent.statements.csv import parse_csv_file
from beanagent.statements.dispatch import read_statements

DATA = Path(__file__).resolve().parent / "data" / "csv"
D = Decimal


def view_of(text: str) -> LedgerView:
    entries, errors, options = loader.load_string(text)
    assert not errors
    return LedgerView(entries, options)


def test_one_statement_per_currency() -> None:
    pln, gbp = parse_csv_file(DATA / "multi_currency.csv", "mc.csv")
    assert (pln.currency, gbp.currency) == ("PLN", "GBP")
    assert [(ln.ref.line, ln.amount) for ln in pln.lines] == [
        (2, D("100.00")), (4, D("-20.50")), (6, D("5.00"))]
    assert [(ln.ref.line, ln.amount) for ln in gbp.lines] == [(3, D("-1.00")), (5, D("-2.40"))]
    # the balance column adds up within each currency's lines: each gets its own
    assert (pln.closing_balance, gbp.closing_balance) == (D("84.50"), D("-3.40"))
    assert any("rows name several currencies (3 in PLN, 2 in GBP)" in n for n in pln.notes)


def test_a_balance_column_that_mixes_currencies_gives_no_closing(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("Date,Description,Amount,Currency,Balance\n"
                    "2024-01-02,a,100.00,PLN,100.00\n2024-01-03,b,-1.00,GBP,99.00\n"
                    "2024-01-04,c,-20.00,PLN,79.00\n2024-01-05,d,-2.00,GBP,77.00\n")
    pln, gbp = parse_csv_file(path, "mixed.csv")
    assert pln.closing_balance is None and gbp.closing_balance is None
    assert any("does not add up within the PLN lines" in n for n in pln.notes)


def test_resolve_refuses_a_currency_the_account_does_not_hold() -> None:
    view = view_of('2024-01-01 open Assets:Bank:PLN PLN\n')
    with pytest.raises(BadInputError) as info:
        read_statements([DATA / "multi_currency.csv"], view,
                        Settings(account="Assets:Bank:PLN"), lambda _: None)
    message = str(info.value)
    assert ("statement currency GBP (2 lines) does not match Assets:Bank:PLN, which holds PLN"
            in message)
    assert "--account" in message and "\n" not in message


def test_an_account_holding_both_gets_both() -> None:
    view = view_of('2024-01-01 open Assets:Bank:Multi PLN,GBP\n')
    found = read_statements([DATA / "multi_currency.csv"], view,
                            Settings(account="Assets:Bank:Multi"), lambda _: None)
    assert [(st.currency, len(st.lines)) for st in found] == [("PLN", 3), ("GBP", 2)]


def test_blank_currency_cells_take_the_only_named_currency(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("Date,Description,Amount,Currency\n2024-01-02,a,1.00,EUR\n"
                    "2024-01-03,b,-2.00,\n2024-01-04,c,3.00,EUR\n")
    [st] = parse_csv_file(path, "blank.csv")
    assert st.currency == "EUR" and [ln.ref.line for ln in st.lines] == [2, 3, 4]
