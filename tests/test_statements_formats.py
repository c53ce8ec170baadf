"""Format dispatch (issue 13): files that are plainly no statement are refused by name, each
format is recognised by content, and `--account` is refused for a file holding several
accounts (it would put them all into one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from beancount import loader

from beanagent.errors import BadInputError
from beanagent.ledger.view import LedgerView
from beanagent.settings import Settings
from beanagent.statements.dispatch import SUPPORTED, parse_statement_file, read_statements

LEDGER = """
option "operating_currency" "CAD"
2013-01-01 open Assets:Chequing CAD
  account: "011016298027"
2013-01-01 open Assets:Savings CAD
  account: "122384459041"
2013-01-01 open Liabilities:Visa CAD
  account: "2542393734236684"
"""


def view_of(text: str) -> LedgerView:
    entries, errors, options = loader.load_string(text)
    assert not errors
    return LedgerView(entries, options)


UNSUPPORTED = [
    ("statement.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
    ("export.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00statement.csv", "a zip archive"),
    ("export.xlsx", b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "an Excel or other Office"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "an Excel 97-2003"),
    ("umsatz.xls", b"\xef\xbb\xbf<!DOCTYPE html>\n<html><table><tr><td>1</td></tr></table>",
     "an HTML page"),
    ("page.html", b"  <HTML>\n<body>Your statement</body></HTML>", "an HTML page"),
    ("tx.json", b'{"transactions": [{"date": "2024-01-01", "amount": -5}]}', "a JSON document"),
    ("tx2.json", b'[\n  {"date": "2024-01-01"}\n]', "a JSON document"),
    ("pain.xml", b'<?xml version="1.0"?>\n<!-- x -->\n<Document xmlns="urn:iso:std:iso:20022:'
     b'tech:xsd:pain.001.001.03"/>', "an XML document (root <Document>) that is not"),
    ("feed.xml", b"<rss version='2.0'><channel/></rss>", "an XML document (root <rss>)"),
    ("data.gz", b"\x1f\x8b\x08\x00\x00\x00", "a gzip archive"),
]


@pytest.mark.parametrize(("name", "head", "what"), UNSUPPORTED,
                         ids=[u[0] for u in UNSUPPORTED])
def test_unsupported_files_are_refused_by_name(tmp_path: Path, name: str, head: bytes,
                                               what: str) -> None:
    path = tmp_path / name
    path.write_bytes(head)
    with pytest.raises(BadInputError) as err:
        parse_statement_file(path, name)
    message = err.value.message
    assert message.startswith(f"unsupported format: {what}")
    assert message.endswith(f"({SUPPORTED})")
    assert err.value.file == name
    assert "\n" not in str(err.value)


def test_a_csv_is_still_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text("Date,Description,Amount\n2024-01-02,Coffee,-3.50\n", encoding="utf-8")
    [stmt] = parse_statement_file(path, "bank.csv")
    assert stmt.format == "csv"


@pytest.mark.parametrize(("rel", "fmt"), [
    ("mt940/mt940_tests/jejik/abnamro.sta", "mt940"),
    ("camt/test/data/camt053.v4.xml", "camt"),
    ("quiffen/test_files/test_circular_reference.qif", "qif"),
])
def test_formats_are_sniffed_by_content(realworld: Path, tmp_path: Path, rel: str,
                                        fmt: str) -> None:
    """Renamed to .txt (as a download often is), each file still goes to its own reader."""
    path = tmp_path / "download.txt"
    shutil.copy(realworld / rel, path)
    stmts = parse_statement_file(path, "download.txt")
    assert {s.format for s in stmts} == {fmt}


def test_account_flag_refused_for_a_file_with_several_accounts(realworld: Path) -> None:
    """beangulp's QBO holds three accounts: --account would put them all into one."""
    path = realworld / "beangulp/beangulp/file_type_testdata/example.qbo"
    view = view_of(LEDGER)
    with pytest.raises(BadInputError) as err:
        read_statements([path], view, Settings(account="Assets:Chequing"), lambda _: None)
    message = err.value.message
    assert message.startswith("this file holds 3 accounts (011016298027, 122384459041, "
                              "2542393734236684); --account would put them all into one")
    assert "account: \"<id>\" metadata" in message
    assert err.value.file == str(path)
    # Mapped by metadata instead, each statement goes to its own account.
    stmts = read_statements([path], view, Settings(), lambda _: None)
    assert [s.account for s in stmts] == ["Assets:Chequing", "Assets:Savings",
                                          "Liabilities:Visa"]


def test_account_flag_still_fine_for_one_account(realworld: Path) -> None:
    path = realworld / "camt/test/data/camt053.v2.multi.statement.xml"  # one IBAN, two days
    view = view_of('2014-01-01 open Assets:Bank EUR\n')
    stmts = read_statements([path], view, Settings(account="Assets:Bank"), lambda _: None)
    assert [s.account for s in stmts] == ["Assets:Bank", "Assets:Bank"]


def test_mt940_accounts_map_by_metadata_and_notes_reach_the_user(realworld: Path) -> None:
    path = realworld / "mt940/mt940_tests/betterplace/sepa_snippet.sta"
    view = view_of('2007-01-01 open Assets:Giro EUR\n  account: "50880050/0194787400888"\n'
                   '2007-01-01 open Assets:Tagesgeld EUR\n'
                   '  iban: "50880050 0194791600888"\n')
    with pytest.raises(BadInputError, match="this file holds 2 accounts"):
        read_statements([path], view, Settings(account="Assets:Giro"), lambda _: None)
    warned: list[str] = []
    stmts = read_statements([path], view, Settings(), warned.append)
    assert [(s.format, s.account, s.currency) for s in stmts] == [
        ("mt940", "Assets:Giro", "EUR"), ("mt940", "Assets:Tagesgeld", "EUR")]
    assert all(str(path) in note for note in warned)
