"""Issue 13: a type column (debit/credit, DR/CR, S/H, Withdrawal/Deposit) decides the sign of
unsigned amounts; signed amounts must agree with it; a type the sign can't be read from is
refused, naming its line and value."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements.csv import parse_csv, parse_csv_file

D = Decimal


def parse(tmp_path: Path, text: str, **options: object) -> list[tuple[int | None, Decimal]]:
    path = tmp_path / "stmt.csv"
    path.write_text(text, encoding="utf-8")
    st = parse_csv(path, "stmt.csv", CsvOptions(**options))  # type: ignore[arg-type]
    return [(ln.ref.line, ln.amount) for ln in st.lines]


def refused(tmp_path: Path, text: str) -> BadInputError:
    with pytest.raises(BadInputError) as info:
        parse(tmp_path, text)
    return info.value


def test_realworld_mint_debit_is_negative(realworld: Path) -> None:
    """beancount-import's Mint export: unsigned amounts, "Transaction Type" debit/credit.
    The coffee on the card was read as +2.45 before."""
    path = realworld / "beancount-import/testdata/source/mint/mint.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    card, checking = parse_csv_file(path, "mint.csv")  # one per "Account Name"
    assert (card.account_id, checking.account_id) == ("My Credit Card", "My Checking")
    amounts = {ln.description: ln.amount for st in (card, checking) for ln in st.lines}
    assert amounts == {"Starbucks": D("-2.45"), "Transfer from My Checking": D("66.88"),
                       "National Federal Des": D("-66.88")}


@pytest.mark.parametrize(("header", "debit", "credit"), [
    ("Transaction Type", "debit", "credit"),
    ("Dr/Cr", "DR", "CR"),
    ("Type", "Withdrawal", "Deposit"),
    ("S/H", "S", "H"),
    ("Soll/Haben", "Soll", "Haben"),
    ("Af Bij", "Af", "Bij"),
    ("Credit Debit Indicator", "DBIT", "CRDT"),
    ("Debit/Credit", "Belastung", "Gutschrift"),
])
def test_type_words_give_the_sign(tmp_path: Path, header: str, debit: str,
                                  credit: str) -> None:
    """Synthetic, one per spelling banks use (Mint, UK/US DR/CR, German S/H, Dutch ING
    Af/Bij as quoted in hledger's ING.rules, ISO 20022's CRDT/DBIT)."""
    text = (f"Date,Description,Amount,{header}\n2025-01-02,Coffee,2.45,{debit}\n"
            f"2025-01-03,Salary,100.00,{credit}\n")
    assert parse(tmp_path, text) == [(2, D("-2.45")), (3, D("100.00"))]


def test_signed_amounts_that_agree_are_kept(tmp_path: Path) -> None:
    text = ("Date,Description,Amount,Type\n2025-01-02,Coffee,-2.45,debit\n"
            "2025-01-03,Check 12,-50.00,CHECK\n2025-01-04,Salary,100.00,credit\n")
    assert parse(tmp_path, text) == [(2, D("-2.45")), (3, D("-50.00")), (4, D("100.00"))]


def test_signed_amounts_that_disagree_are_refused(tmp_path: Path) -> None:
    text = ("Date,Description,Amount,Type\n2025-01-02,Coffee,-2.45,debit\n"
            "2025-01-03,Salary,100.00,credit\n2025-01-04,Lunch,12.00,debit\n")
    err = refused(tmp_path, text)
    assert err.line == 4 and "amount 12.00 disagrees with 'debit' in column 'Type'" in str(err)


def test_signed_amounts_all_contradicted_follow_the_type(tmp_path: Path) -> None:
    """Card exports that write charges positive but label them debit."""
    text = ("Date,Description,Amount,Transaction Type\n2025-01-02,Coffee,2.45,debit\n"
            "2025-01-03,Payment,-100.00,credit\n")
    assert parse(tmp_path, text) == [(2, D("-2.45")), (3, D("100.00"))]


def test_unknown_type_with_unsigned_amounts_is_refused(tmp_path: Path) -> None:
    text = ("Date,Description,Amount,Transaction Type\n2025-01-02,Coffee,2.45,debit\n"
            "2025-01-03,Refund,3.00,Reversal\n")
    err = refused(tmp_path, text)
    assert (err.file, err.line) == ("stmt.csv", 3)
    message = str(err)
    assert "'Reversal' in column 'Transaction Type' is not a debit/credit word" in message
    assert "--csv-" in message and "\n" not in message


def test_a_named_type_column_without_sign_words_is_refused(tmp_path: Path) -> None:
    """Lloyds-style "Transaction Type" codes (DEB, BGC) beside unsigned amounts: the sign
    can't be read, so the file is refused rather than read as all money in."""
    text = ("Date,Description,Amount,Transaction Type\n2025-01-02,Coffee,2.45,DEB\n"
            "2025-01-03,Salary,100.00,BGC\n")
    err = refused(tmp_path, text)
    assert err.line == 2 and "'DEB' in column 'Transaction Type'" in str(err)


def test_a_type_column_without_sign_words_is_not_one(tmp_path: Path) -> None:
    """Chase's card "Type" (Sale, Payment) and Venmo's (Payment, Charge) say nothing about
    the sign: amounts are read as written."""
    text = ("Transaction Date,Description,Type,Amount\n01/02/2025,Coffee,Sale,-2.45\n"
            "01/13/2025,Thank you,Payment,100.00\n")
    assert parse(tmp_path, text) == [(2, D("-2.45")), (3, D("100.00"))]


def test_split_debit_credit_columns_ignore_a_type_column(tmp_path: Path) -> None:
    text = ("Date,Description,Debit,Credit,Type\n2025-01-02,Coffee,2.45,,debit\n"
            "2025-01-03,Salary,,100.00,credit\n")
    assert parse(tmp_path, text) == [(2, D("-2.45")), (3, D("100.00"))]


def test_volksbank_unnamed_soll_haben_column() -> None:
    """Synthetic, in Volksbank's layout (cp1252, ';'): unsigned "Umsatz" and an unnamed last
    column of S/H; the counterparty is "Empfänger/Zahlungspflichtiger" (the column before it
    names the account holder)."""
    path = Path(__file__).resolve().parent / "data" / "csv" / "volksbank_soll_haben.csv"
    st = parse_csv(path, "vb.csv")
    assert [(ln.amount, ln.payee, ln.description) for ln in st.lines] == [
        (D("2300.00"), "Arbeitgeber GmbH", "Lohn November"),
        (D("-27.30"), "REWE Markt", "Kartenzahlung REWE"),
        (D("-64.00"), "Stadtwerke", "Abschlag Strom"),
    ]
    assert st.currency == "EUR"


def test_type_column_named_by_the_user(tmp_path: Path) -> None:
    """A column whose header no detector knows ("Richtung") is used once named: by the
    option (beanagent.toml's type_col) and by the flag --csv-type-col."""
    text = ("Date,Description,Amount,Richtung\n2025-01-02,Coffee,2.45,debit\n"
            "2025-01-03,Salary,100.00,credit\n")
    assert parse(tmp_path, text, type_col="Richtung") == [(2, D("-2.45")), (3, D("100.00"))]
    assert parse(tmp_path, text) == [(2, D("2.45")), (3, D("100.00"))]


def test_type_flag_reaches_the_reader(tmp_path: Path) -> None:
    from tests.helpers import run_cli_in_process

    ledger = tmp_path / "books.beancount"
    ledger.write_text('option "operating_currency" "USD"\n'
                      "2025-01-01 open Assets:Bank USD\n2025-01-01 open Expenses:Food USD\n"
                      '2025-01-02 * "Coffee"\n  Assets:Bank  -2.45 USD\n  Expenses:Food\n',
                      encoding="utf-8")
    stmt = tmp_path / "bank.csv"
    stmt.write_text("Date,Description,Amount,Richtung\n2025-01-02,Coffee,2.45,debit\n",
                    encoding="utf-8")
    base = ("reconcile", ledger, stmt, "-a", "Assets:Bank", "--dry-run", "--json")
    unsigned = run_cli_in_process(*base, cwd=tmp_path)
    named = run_cli_in_process(*base, "--csv-type-col", "Richtung", cwd=tmp_path)
    assert unsigned.returncode == named.returncode == 0, (unsigned.stderr, named.stderr)
    # read as +2.45 the coffee is new money in; signed by the column it is the booked entry
    assert len(json.loads(unsigned.stdout)["proposals"]) == 1
    assert json.loads(named.stdout)["proposals"] == []
    assert len(json.loads(named.stdout)["matches"]) == 1
