"""Issue 13: the counterparty column. Exports that keep the payee apart from the purpose
("Auftraggeber / Begünstigter" and "Verwendungszweck", "Payee" and "Memo") give both:
`StatementLine.payee` from the counterparty, `description` from the purpose (categorise.py
scores the payee alone and payee+description). Rows whose text columns are empty fall back
to the payee, then to what kind of booking the row is."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.settings import CsvOptions
from beanagent.statements.csv import parse_csv, parse_csv_file

DATA = Path(__file__).resolve().parent / "data" / "csv"
D = Decimal


def texts(tmp_path: Path, text: str) -> list[tuple[str | None, str]]:
    path = tmp_path / "stmt.csv"
    path.write_text(text, encoding="utf-8")
    return [(ln.payee, ln.description) for ln in parse_csv(path, "stmt.csv").lines]


def test_dkb_auftraggeber_and_verwendungszweck() -> None:
    """Synthetic, in DKB's layout (cp1252, ';', quoted, "Auftraggeber / Begünstigter",
    "Buchungstext" holding only the booking type, a "Kontostand vom" preamble)."""
    st = parse_csv(DATA / "dkb_giro.csv", "dkb.csv")
    assert [(ln.payee, ln.description, ln.amount) for ln in st.lines] == [
        ("Arbeitgeber GmbH", "Lohn November", D("300.00")),
        ("REWE Markt", "Einkauf 2025-11-20", D("-27.30")),
        ("Stadtwerke München", "Abschlag Strom 11/2025", D("-64.00")),
    ]
    assert st.currency == "EUR"


@pytest.mark.parametrize(("payee", "purpose"), [
    ("Auftraggeber/Empfänger", "Verwendungszweck"),
    ("Beguenstigter/Zahlungspflichtiger", "Verwendungszweck"),
    ("Empfänger", "Buchungstext"),
    ("Zahlungsempfänger", "Verwendungszweck"),
    ("Name", "Memo"),
    ("Counterparty", "Reference"),
    ("Payee", "Memo"),
    ("Merchant", "Description"),
    ("Naam / Omschrijving", "Mededelingen"),
])
def test_counterparty_and_purpose_headers(tmp_path: Path, payee: str, purpose: str) -> None:
    """Header pairs quoted from real exports (hledger's rules files, bank documentation)."""
    rows = texts(tmp_path, f"Date;{payee};{purpose};Amount\n2025-01-02;ACME Ltd;Invoice 7;-5,00\n")
    assert rows == [("ACME Ltd", "Invoice 7")]


def test_a_lone_payee_column_is_the_description(tmp_path: Path) -> None:
    assert texts(tmp_path, "Date,Name,Amount\n2025-01-02,Tesco,-4.20\n") == [(None, "Tesco")]


def test_empty_purpose_falls_back_to_the_payee(tmp_path: Path) -> None:
    rows = texts(tmp_path, "Date,Payee,Memo,Amount\n2025-01-02,Tesco,,-4.20\n"
                           "2025-01-03,Aldi,weekly shop,-9.10\n")
    assert rows == [("Tesco", "Tesco"), ("Aldi", "weekly shop")]


def test_realworld_paypal_empty_name_rows(realworld: Path) -> None:
    """hledger's PayPal export: "Name" is the counterparty, empty on the bank-funding rows;
    Note is empty, so the purpose is the Item Title, else the row's Type."""
    path = realworld / "hledger/examples/csv/other/paypal-custom.csv"
    st = parse_csv(path, "paypal.csv", CsvOptions(amount_col="Net"))
    got = [(ln.payee, ln.description) for ln in st.lines]
    assert got[2] == ("Patreon", "Patreon* Membership")
    assert got[5] == (None, "Bank Deposit to PP Account")
    assert got[6] == ("Noble Benefactor", "Joyful Systems")


def test_realworld_venmo_note_and_from_to(realworld: Path) -> None:
    """beancount-import's Venmo export: the purpose is "Note" (not "Type": Payment, Charge);
    the payee is whichever of From/To isn't the account holder (the name on most rows, here
    Brian Taylor), so a Charge from Maria is still paid to Maria; transfers to the bank have
    neither and fall back to their Type."""
    path = realworld / "beancount-import/testdata/source/venmo/transactions.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    [st] = parse_csv_file(path, "venmo.csv")
    got = [(ln.ref.line, ln.amount, ln.payee, ln.description) for ln in st.lines]
    assert got[:6] == [
        (2, D("-220.00"), "Tom Johnson", "Tutoring"),
        (3, D("-559.00"), "Maria Anderson", "Security deposit"),
        (4, D("1150.00"), "Sally Smith", "Rent"),
        (5, D("-1150.00"), None, "Standard Transfer"),
        (6, D("-120.00"), "Maria Anderson", "Utilities"),
        (7, D("-3.00"), "Maria Anderson", "Bagels"),
    ]
    # "Amount (fee)" is not an amount in a currency called FEE
    assert st.currency is None
