"""Issue 13, for every format (resolve.py): amounts with more decimals than the ledger writes
the currency with (a broker's 115.8331) are rounded to the ledger's precision before matching,
with a note; zero-amount rows are skipped, with a count. Synthetic lines and ledgers."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader

from beanagent.core.match import match_statement
from beanagent.errors import BadInputError
from beanagent.ledger.view import LedgerView
from beanagent.settings import Settings
from beanagent.statements.dispatch import read_statements
from beanagent.statements.model import RawStatement, Ref, StatementLine
from beanagent.statements.resolve import ledger_places, resolve_statement

D = Decimal
day = datetime.date
ACCOUNT = "Assets:Broker:Cash"

LEDGER = """
2025-01-01 open Assets:Broker:Cash USD
2025-01-01 open Income:Dividends
2025-01-01 open Expenses:Fees

2025-03-03 * "Dividend"
  Assets:Broker:Cash  115.83 USD
  Income:Dividends

2025-03-10 * "Fee"
  Assets:Broker:Cash  -1.20 USD
  Expenses:Fees
"""


def view_of(text: str = LEDGER) -> LedgerView:
    entries, errors, options = loader.load_string(text)
    assert not errors
    return LedgerView(entries, options)


def raw(fmt: str, *lines: tuple[datetime.date, str]) -> RawStatement:
    return RawStatement("s." + fmt, fmt, tuple(
        StatementLine(Ref("s." + fmt, n), d, D(a), "x") for n, (d, a) in enumerate(lines, 1)),
        currency="USD")


@pytest.mark.parametrize("fmt", ["csv", "ofx", "qif"])
def test_sub_cent_amounts_are_rounded_and_then_match(fmt: str) -> None:
    view = view_of()
    st, notes = resolve_statement(
        raw(fmt, (day(2025, 3, 3), "115.8331"), (day(2025, 3, 10), "-1.2"),
            (day(2025, 3, 11), "-0.004")),
        view, account=ACCOUNT, rule_account=None, sign_fixed=True)
    assert [ln.amount for ln in st.lines] == [D("115.83"), D("-1.2")]
    assert any("rounded 2 amount(s) with more decimals than the ledger writes USD with (2)"
               in n for n in notes)
    assert any("skipped 1 line(s) with a zero amount" in n for n in notes)  # -0.004
    result = match_statement(view, st, 5)
    assert len(result.matches) == 2


def test_precision_comes_from_the_ledger() -> None:
    view = view_of(LEDGER.replace("115.83 USD", "115.833 USD").replace("-1.20", "-1.200"))
    assert ledger_places(view, ACCOUNT, "USD") == 3
    st, _ = resolve_statement(raw("csv", (day(2025, 3, 3), "115.8331")), view,
                                  account=ACCOUNT, rule_account=None, sign_fixed=True)
    assert st.lines[0].amount == D("115.833")
    assert ledger_places(view, ACCOUNT, "EUR") is None


def test_zero_amount_rows_are_skipped_with_a_count(tmp_path: Path) -> None:
    path = tmp_path / "broker.csv"
    path.write_text("Date,Description,Amount\n2025-03-03,Dividend,115.83\n"
                    "2025-03-04,MONEY MARKET PURCHASE (MMDA10),0.00\n"
                    "2025-03-05,Hold released,0\n2025-03-10,Fee,-1.20\n")
    notes: list[str] = []
    [st] = read_statements([path], view_of(), Settings(account=ACCOUNT), notes.append)
    assert [ln.amount for ln in st.lines] == [D("115.83"), D("-1.20")]
    assert any("skipped 2 line(s) with a zero amount" in n for n in notes)


def test_only_zero_amounts_is_no_statement() -> None:
    with pytest.raises(BadInputError, match=r"no statement lines \(1 row\(s\) with a zero"):
        resolve_statement(raw("ofx", (day(2025, 3, 3), "0.00")), view_of(), account=ACCOUNT,
                          rule_account=None, sign_fixed=True)
