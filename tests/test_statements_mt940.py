"""MT940 statements: real exports from mt-940's test data (../shared/realworld/mt940), their
expected values checked by hand against the .yml beside each file, and small edge cases."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.errors import BadInputError
from beanagent.statements.dispatch import parse_statement_file
from beanagent.statements.mt940 import looks_like_mt940, parse_mt940

D = datetime.date
MT = "mt940/mt940_tests"


def test_german_sepa_gvc_fields(realworld: Path) -> None:
    """Structured `:86:` (GVC ?20..?33): payee, purpose and the counterparty IBAN; booking
    date (0904) rather than value date (0907); two accounts → two statements."""
    rel = f"{MT}/betterplace/sepa_snippet.sta"
    first, second = parse_mt940(realworld / rel, rel)
    assert (first.account_id, first.currency) == ("50880050/0194787400888", "EUR")
    assert second.account_id == "50880050/0194791600888"
    assert first.format == "mt940"
    # sepa_snippet.yml: final_closing_balance -4472049.09 @ 2007-09-04 (second account's).
    assert (second.closing_balance, second.closing_date) == (Decimal("-4472049.09"), D(2007, 9, 4))
    line = first.lines[0]
    assert (line.date, line.amount) == (D(2007, 9, 4), Decimal("50990.05"))
    assert line.ref.id == "0724710333343453"
    assert line.ref.line == 5
    assert line.payee == "KARL KAUFMANN"
    assert line.description == "Verw CTSc-01 BC-PPP TFNr 22 004 / DE14508800500194785000"
    debit = next(ln for ln in first.lines if ln.amount < 0)
    assert debit.amount == Decimal("-1500.00")


def test_abnamro_unstructured_details_and_two_pages(realworld: Path) -> None:
    rel = f"{MT}/jejik/abnamro.sta"
    [stmt] = parse_mt940(realworld / rel, rel)  # two :20: blocks, one account
    assert (stmt.account_id, stmt.currency, len(stmt.lines)) == ("517852257", "EUR", 10)
    # abnamro.yml: final_closing_balance 876.84 @ 2011-05-23; the second block only has an
    # intermediate (:62M:) closing balance, which is not asserted.
    assert (stmt.closing_balance, stmt.closing_date) == (None, None)
    assert any("final closing balance" in n for n in stmt.notes)
    first = next(ln for ln in stmt.lines if ln.ref.line == 8)
    assert (first.date, first.amount) == (D(2011, 5, 24), Decimal("-9"))
    assert first.description.startswith("GIRO 428428 KPN - DIGITENNE BETALINGSKENM.")
    assert "\n" not in first.description
    # 1105210523: value date 21 May, booked 23 May.
    dircks = next(ln for ln in stmt.lines if "DIRCKIII" in ln.description)
    assert dircks.date == D(2011, 5, 23)
    assert [ln.date for ln in stmt.lines] == sorted(ln.date for ln in stmt.lines)


def test_rabobank_swift_name_and_remi(realworld: Path) -> None:
    rel = f"{MT}/jejik/rabobank-iban.sta"
    [stmt] = parse_mt940(realworld / rel, rel)
    assert stmt.account_id == "NL71RABO0123456789"
    assert (stmt.closing_balance, stmt.closing_date) == (Decimal("930.00"), D(2013, 1, 15))
    assert [(ln.payee, ln.description) for ln in stmt.lines[:2]] == [
        ("CONTRA ACCOUNT HOLDER", "CONTRA ACCOUNT HOLDER"),
        ("JOHN DOE", "Reference 201301234"),
    ]
    assert stmt.lines[0].amount == Decimal("-25.00")
    assert stmt.notes == ()  # opening + lines = closing in each block


def test_three_accounts_three_currencies(realworld: Path) -> None:
    """Lines value-dated after the statement's closing date (no entry date given): the
    closing balance is not asserted, with a note, rather than asserted on the wrong day."""
    rel = f"{MT}/cmxl/mt940.sta"
    stmts = parse_mt940(realworld / rel, rel)
    assert [(s.account_id, s.currency, len(s.lines), s.closing_balance) for s in stmts] == [
        ("45050050/76198810", "DEM", 11, None),
        ("10020030/1234567", "EUR", 2, Decimal("4387.95")),
        ("BPHKPLPK/320000546101", "PLN", 3, None),
    ]
    assert "dated 2013-10-17, before the last line (2013-10-27)" in stmts[0].notes[0]


def test_ids_are_kept_only_when_unique(realworld: Path) -> None:
    rel = f"{MT}/mBank/mt940.sta"
    [stmt] = parse_mt940(realworld / rel, rel)
    ids = [ln.ref.id for ln in stmt.lines]
    assert all(i is None or ids.count(i) == 1 for i in ids)
    assert all(i != "NONREF" for i in ids)


@pytest.mark.parametrize("rel", [
    "betterplace/sepa_mt9401.sta", "jejik/ing.sta", "jejik/knab.sta", "jejik/postfinance.sta",
    "jejik/rabobank.sta", "jejik/sns.sta", "jejik/triodos.sta", "jejik/generic.sta",
    "citi/mt940.txt", "mBank/mt942.sta", "mBank/with_newline_in_tnr.sta",
    "sberbank/171011_01234945.sta", "self-provided/raiffeisen-cmi.sta",
    "betterplace/with_binary_character.sta",
])
def test_real_files_read(realworld: Path, rel: str) -> None:
    path = realworld / MT / rel
    assert looks_like_mt940(path.read_bytes()[:4096])
    stmts = parse_statement_file(path, rel)
    text = path.read_text(encoding="latin-1").replace("\r\n", "\n").split("\n")
    for stmt in stmts:
        assert stmt.format == "mt940" and stmt.account_id and stmt.currency
        assert stmt.lines
        for ln in stmt.lines:
            assert isinstance(ln.amount, Decimal)
            assert ln.ref.line is not None and text[ln.ref.line - 1].startswith(":61:")
            assert "\n" not in ln.description


def test_unparseable_line_is_refused_with_its_line(realworld: Path) -> None:
    rel = f"{MT}/ASNB/mt940.txt"
    with pytest.raises(BadInputError, match="unreadable MT940 :61: field") as err:
        parse_mt940(realworld / rel, rel)
    assert err.value.file == rel
    assert err.value.line is not None
    lines = (realworld / rel).read_text(encoding="latin-1").splitlines()
    assert lines[err.value.line - 1].startswith(":61:")


@pytest.mark.parametrize("rel", ["cmxl/closing_balance.sta", "cmxl/reference.sta"])
def test_fragments_are_refused(realworld: Path, rel: str) -> None:
    with pytest.raises(BadInputError, match="MT940"):
        parse_mt940(realworld / MT / rel, rel)


def test_sta_extension_goes_to_mt940(tmp_path: Path) -> None:
    path = tmp_path / "x.sta"
    path.write_text("hello\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="not an MT940 statement"):
        parse_statement_file(path, "x.sta")


def test_value_date_when_no_entry_date_and_sum_note(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    path.write_text(
        ":20:REF1\n:25:DE89370400440532013000\n:28C:1/1\n:60F:C240101EUR100,00\n"
        ":61:240102D10,00NMSCNONREF\n:86:Coffee\n"
        ":61:240103C5,5NTRFNONREF//B-2\n:86:Refund\n"
        ":62F:C240103EUR90,00\n-\n", encoding="utf-8")
    [stmt] = parse_statement_file(path, "bank.txt")
    assert [(ln.date, ln.amount, ln.description, ln.ref.id, ln.ref.line) for ln in stmt.lines] == [
        (D(2024, 1, 2), Decimal("-10.00"), "Coffee", None, 5),
        (D(2024, 1, 3), Decimal("5.5"), "Refund", "B-2", 7),
    ]
    assert (stmt.closing_balance, stmt.closing_date) == (Decimal("90.00"), D(2024, 1, 3))
    [note] = stmt.notes  # 100 - 10 + 5.5 is not 90
    assert "bank.txt:1:" in note and "add up to -4.50" in note
