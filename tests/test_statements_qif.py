"""QIF: quiffen's test files (../shared/realworld/quiffen; expected values from quiffen's own
tests/test_parse.py) and small synthetic files for the date-order rules."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements.dispatch import parse_statement_file
from beanagent.statements.qif import looks_like_qif, parse_qif

D = datetime.date
Q = "quiffen/test_files"


def test_wikipedia_example_bank_section(realworld: Path) -> None:
    rel = f"{Q}/test.qif"
    assert looks_like_qif((realworld / rel).read_bytes()[:4096])
    [stmt] = parse_statement_file(realworld / rel, rel)
    assert (stmt.format, stmt.account_id, stmt.currency, stmt.closing_balance) == (
        "qif", None, None, None)
    assert [(ln.date, ln.amount, ln.payee) for ln in stmt.lines] == [
        (D(2020, 2, 10), Decimal("-100.00"), "Amazon.com"),  # a split: its total
        (D(2020, 2, 11), Decimal("-25.00"), "Walmart"),
        (D(2020, 2, 12), Decimal("-10.00"), "Target"),
        (D(2020, 2, 14), Decimal("67.50"), "T-Mobile"),
        (D(2020, 2, 14), Decimal("32.00"), "US Post Office"),
    ]
    walmart = stmt.lines[1]
    assert (walmart.check, walmart.description, walmart.ref.line) == (
        "123", "Walmart / non split transaction", 64)
    lines = (realworld / rel).read_text(encoding="utf-8").splitlines()
    assert lines[walmart.ref.line - 1] == "D2/11'2020"
    # The Invst record and the opening balance are not read, and the user is told.
    assert len(stmt.notes) == 2
    assert "1 investment transaction(s) (!Type:Invst) not read" in stmt.notes[0]
    assert "'Opening Balance' record(s) skipped" in stmt.notes[1]


@pytest.mark.parametrize(("name", "expected"), [
    # 22/12/2017 decides day/month for the whole file.
    ("test_category_override.qif", [(D(2017, 12, 22), "1000.00"), (D(2018, 1, 1), "1100.00"),
                                    (D(2018, 1, 2), "-12.57"), (D(2018, 1, 2), "-9.99")]),
    # 08/27/21: month/day, two-digit year.
    ("test_circular_reference.qif", [(D(2021, 8, 27), "-9.00"), (D(2021, 8, 27), "-5.59")]),
    # ISO dates, newest first; a file that starts with ^ and no !Account.
    ("test_transaction_before_account_definition_1.qif",
     [(D(2022, 9, 8), "-13.16"), (D(2022, 9, 23), "-184.8")]),
    # 1/ 1'00: Quicken's apostrophe year, 1 January either way.
    ("test_split.qif", [(D(2000, 1, 1), "-10.00")]),
])
def test_quiffen_files(realworld: Path, name: str, expected: list[tuple[D, str]]) -> None:
    [stmt] = parse_qif(realworld / Q / name, name)
    assert [(ln.date, ln.amount) for ln in stmt.lines] == [(d, Decimal(a)) for d, a in expected]


@pytest.mark.parametrize(("name", "message"), [
    ("test_unknown_account_type.qif", "only holds investment transactions"),
    ("test_option_autoswitch.qif", "no bank, card or cash transactions"),
    ("test_nosymbol.qif", "no bank, card or cash transactions"),
])
def test_quiffen_files_refused(realworld: Path, name: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as err:
        parse_statement_file(realworld / Q / name, name)
    assert err.value.file == name


AMBIGUOUS = "!Type:Bank\nD03/02/2024\nT-6.00\nPBakery\n^\nD04/02/2024\nT-1,234.50\nPRent\n^\n"


def test_ambiguous_dates_are_refused_naming_the_option(tmp_path: Path) -> None:
    path = tmp_path / "x.qif"
    path.write_text(AMBIGUOUS, encoding="utf-8")
    with pytest.raises(BadInputError, match="fits both month/day and day/month: pass "
                                            "--csv-date-format"):
        parse_statement_file(path, "x.qif")
    [stmt] = parse_statement_file(path, "x.qif", CsvOptions(date_format="%d/%m/%Y"))
    assert [(ln.date, ln.amount) for ln in stmt.lines] == [
        (D(2024, 2, 3), Decimal("-6.00")), (D(2024, 2, 4), Decimal("-1234.50"))]
    [stmt] = parse_statement_file(path, "x.qif", CsvOptions(date_format="%m/%d/%Y"))
    assert stmt.lines[0].date == D(2024, 3, 2)


def test_one_decisive_date_decides_the_file(tmp_path: Path) -> None:
    """Unlike quiffen, which reads 13/01 day-first and 03/02 month-first side by side."""
    path = tmp_path / "x.qif"
    path.write_text(AMBIGUOUS + "D13/02/2024\nT1\n^\n", encoding="utf-8")
    [stmt] = parse_qif(path, "x.qif")
    assert [ln.date for ln in stmt.lines] == [D(2024, 2, 3), D(2024, 2, 4), D(2024, 2, 13)]
    path.write_text(AMBIGUOUS + "D13/02/2024\nT1\n^\nD02/13/2024\nT2\n^\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="QIF dates disagree: line 10 is day/month, line 13"):
        parse_qif(path, "x.qif")


def test_accounts_comma_decimals_and_broken_records(tmp_path: Path) -> None:
    path = tmp_path / "x.qif"
    path.write_text(
        "!Account\nNGirokonto\nTBank\n^\n!Type:Bank\nD31.01.2024\nT-1.234,50\nPMiete\n^\n"
        "!Account\nNVisa\nTCCard\n^\n!Type:CCard\nD15.01.2024\nT-9,99\nPCafé\nMLatte\n^\n",
        encoding="utf-8")
    giro, visa = parse_qif(path, "x.qif")
    assert (giro.account_id, giro.lines[0].amount) == ("Girokonto", Decimal("-1234.50"))
    assert (visa.account_id, visa.lines[0].description) == ("Visa", "Café / Latte")
    path.write_text("!Type:Bank\nD2024-01-31\nPNo amount\n^\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="no amount") as err:
        parse_qif(path, "x.qif")
    assert err.value.line == 2
    path.write_text("!Type:Bank\nD2024-01-31\nT12\n^\nDyesterday\nT1\n^\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="unreadable date 'yesterday'") as err:
        parse_qif(path, "x.qif")
    assert err.value.line == 5
