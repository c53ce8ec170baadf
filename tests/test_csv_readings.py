"""Issue 13: when the file alone can't tell the date order (every date fits m/d and d/m) or
the decimal mark (a lone '1,234'), every reading is built and the ledger judges: the reading
whose lines match booked postings wins on a clear margin; else the file is refused naming the
flag. Files are synthetic (the ambiguity needs chosen dates and amounts)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader

from beanagent.errors import BadInputError
from beanagent.ledger.view import LedgerView
from beanagent.settings import Settings
from beanagent.statements.csv import parse_csv_file
from beanagent.statements.dispatch import read_statements
from beanagent.statements.judge import ledger_judge
from beanagent.statements.model import RawStatement, Ref, StatementLine

D = Decimal
day = datetime.date
CHECKING = "Assets:Checking"

LEDGER = """
2025-01-01 open Assets:Checking USD
2025-01-01 open Expenses:Food
2025-01-01 open Expenses:Rent
{entries}
"""

AMBIGUOUS_DATES = ("Date,Description,Amount\n01/02/2025,Coffee,-4.50\n"
                   "03/04/2025,Books,-41.00\n05/06/2025,Rent,-900.00\n")


def view_of(*entries: tuple[str, str, str]) -> LedgerView:
    text = LEDGER.format(entries="\n".join(
        f'{d} * "{what}"\n  Assets:Checking  {amount} USD\n  Expenses:Food\n'
        for d, what, amount in entries))
    loaded, errors, options = loader.load_string(text)
    assert not errors
    return LedgerView(loaded, options)


def read(tmp_path: Path, text: str, view: LedgerView, account: str | None = CHECKING,
         name: str = "stmt.csv") -> list[StatementLine]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    notes: list[str] = []
    [st] = read_statements([path], view, Settings(account=account), notes.append)
    assert any("the file alone can't tell" in n for n in notes)
    return list(st.lines)


def test_ledger_decides_day_month_order(tmp_path: Path) -> None:
    view = view_of(("2025-02-01", "Coffee", "-4.50"), ("2025-04-03", "Books", "-41.00"),
                   ("2025-06-05", "Rent", "-900.00"))
    lines = read(tmp_path, AMBIGUOUS_DATES, view)
    assert [ln.date for ln in lines] == [day(2025, 2, 1), day(2025, 4, 3), day(2025, 6, 5)]
    view = view_of(("2025-01-02", "Coffee", "-4.50"), ("2025-03-04", "Books", "-41.00"))
    lines = read(tmp_path, AMBIGUOUS_DATES, view)
    assert [ln.date for ln in lines] == [day(2025, 1, 2), day(2025, 3, 4), day(2025, 5, 6)]


def test_dates_the_ledger_cannot_tell_are_refused(tmp_path: Path) -> None:
    view = view_of(("2025-01-02", "Coffee", "-4.50"), ("2025-04-03", "Books", "-41.00"))
    with pytest.raises(BadInputError) as info:
        read(tmp_path, AMBIGUOUS_DATES, view)
    message = str(info.value)
    assert "stmt.csv: dates are ambiguous" in message
    assert "the ledger can't tell which" in message
    assert "--csv-date-format %m/%d/%Y or %d/%m/%Y" in message


def test_ledger_decides_the_decimal_mark(tmp_path: Path) -> None:
    text = "Datum;Text;Betrag\n2025-01-02;Laptop;-1,234\n2025-01-09;Rent;-2,500\n"
    view = view_of(("2025-01-02", "Laptop", "-1234"), ("2025-01-10", "Rent", "-2500"))
    assert [ln.amount for ln in read(tmp_path, text, view)] == [D("-1234"), D("-2500")]
    view = view_of(("2025-01-02", "Fee", "-1.234"), ("2025-01-08", "Fee", "-2.500"))
    assert [ln.amount for ln in read(tmp_path, text, view)] == [D("-1.234"), D("-2.500")]


def test_decimal_mark_the_ledger_cannot_tell_is_refused(tmp_path: Path) -> None:
    text = "Date,Description,Amount\n2025-01-02,Laptop,\"-1,234\"\n"
    with pytest.raises(BadInputError) as info:
        read(tmp_path, text, view_of())
    message = str(info.value)
    assert "decimal mark is ambiguous" in message and "'1,234'" in message
    assert "the ledger can't tell which" in message and "--csv-decimal" in message


def test_without_an_account_any_posting_counts(tmp_path: Path) -> None:
    """Before the account is known (no --account), postings on any account count."""
    view = view_of(("2025-02-01", "Coffee", "-4.50"), ("2025-04-03", "Books", "-41.00"))
    path = tmp_path / "stmt.csv"
    path.write_text(AMBIGUOUS_DATES, encoding="utf-8")
    [st] = parse_csv_file(path, "stmt.csv", judge=ledger_judge(view, None))
    assert st.lines[0].date == day(2025, 2, 1)


def _reading(*lines: tuple[datetime.date, str]) -> RawStatement:
    return RawStatement("s.csv", "csv", tuple(
        StatementLine(Ref("s.csv", n), d, D(a), "x") for n, (d, a) in enumerate(lines, 2)))


def test_judge_wants_two_matches_and_a_clear_margin() -> None:
    view = view_of(("2025-02-01", "a", "-4.50"), ("2025-04-03", "b", "-41.00"),
                   ("2025-01-02", "c", "-7.00"))
    judge = ledger_judge(view, CHECKING)
    right = _reading((day(2025, 2, 1), "-4.50"), (day(2025, 4, 3), "-41.00"))
    wrong = _reading((day(2025, 1, 2), "-4.50"), (day(2025, 3, 4), "-41.00"))
    assert judge([wrong, right]) == 1
    one = _reading((day(2025, 2, 1), "-4.50"))
    assert judge([one, _reading((day(2025, 1, 2), "-4.50"))]) is None  # one match decides nothing
    # lines read the same in both readings don't count for either
    same = (day(2025, 1, 2), "-7.00")
    assert judge([_reading(same, (day(2025, 2, 1), "-4.50")),
                  _reading(same, (day(2025, 1, 2), "-4.50"))]) is None


def test_the_running_balance_decides_before_the_ledger(tmp_path: Path) -> None:
    """'1,000' is 1000 or 1.000; the balance column adds up only one way. No ledger needed."""
    path = tmp_path / "stmt.csv"
    path.write_text('Date,Description,Amount,Balance\n2025-01-02,Pay,"1,000","1,500"\n'
                    '2025-01-03,Rent,"-1,000",500\n')
    [st] = parse_csv_file(path, "stmt.csv")
    assert [ln.amount for ln in st.lines] == [D("1000"), D("-1000")]
