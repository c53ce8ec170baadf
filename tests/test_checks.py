"""Paper checks: entered when written, cashed weeks later. The check number (with the amount)
identifies the entry at any distance; OFX CHECKNUM and "CHECK 1234" descriptions carry it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import report, run_cli_in_process

LEDGER = """\
option "operating_currency" "USD"
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Expenses:Rent
2024-01-01 open Expenses:Repairs
2024-01-01 open Equity:Opening

2024-01-02 * "Opening"
  Assets:Bank:Checking  5000.00 USD
  Equity:Opening

2024-02-01 * "Landlord" "February rent"
  Assets:Bank:Checking  -1200.00 USD
    check: 1041
  Expenses:Rent

2024-02-03 * "Plumber" "Sink"
  check: "1042"
  Assets:Bank:Checking  -180.00 USD
  Expenses:Repairs
"""

OFX = """OFXHEADER:100
DATA:OFXSGML
VERSION:102

<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD
<BANKACCTFROM><BANKID>1<ACCTID>99<ACCTTYPE>CHECKING</BANKACCTFROM>
<BANKTRANLIST><DTSTART>20240301<DTEND>20240331
{rows}
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"""


def row(day: str, amount: str, fitid: str, check: str) -> str:
    return (f"<STMTTRN><TRNTYPE>CHECK<DTPOSTED>{day}<TRNAMT>{amount}<FITID>{fitid}"
            f"<CHECKNUM>{check}<NAME>CHECK</STMTTRN>")


def reconcile(tmp_path: Path, name: str, text: str) -> dict:
    (tmp_path / "books.beancount").write_text(LEDGER)
    (tmp_path / name).write_text(text)
    proc = run_cli_in_process("reconcile", "books.beancount", name, "-a", "Assets:Bank:Checking",
                              "-n", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return report(proc)


def test_ofx_checknum_matches_the_entry_weeks_earlier(tmp_path: Path) -> None:
    rep = reconcile(tmp_path, "march.ofx", OFX.format(rows="\n".join([
        row("20240311", "-1200.00", "F1", "001041"),  # 39 days after it was written
        row("20240312", "-180.00", "F2", "1042"),  # number kept on the transaction
        row("20240313", "-75.00", "F3", "1043")])))  # never entered: proposed
    notes = sorted(m["note"] for m in rep["matches"])
    assert notes == ["check 1041", "check 1042"]
    proposed = [p for p in rep["proposals"] if p["kind"] == "transaction"]
    assert len(proposed) == 1 and "-75.00 USD" in proposed[0]["text"]
    assert 'check: "1043"' in proposed[0]["text"]  # the next run knows it by its number


@pytest.mark.parametrize("description", ["CHECK 1041", "Check #1041", "CHK 001041"])
def test_csv_description_carries_the_check_number(tmp_path: Path, description: str) -> None:
    rep = reconcile(tmp_path, "march.csv",
                    f"Date,Description,Amount\n2024-03-11,{description},-1200.00\n")
    assert [m["note"] for m in rep["matches"]] == ["check 1041"]
    assert rep["proposals"] == []


def test_same_number_other_amount_is_not_that_check(tmp_path: Path) -> None:
    rep = reconcile(tmp_path, "march.csv",
                    "Date,Description,Amount\n2024-03-11,CHECK 1041,-1250.00\n")
    assert rep["matches"] == []
    assert len([p for p in rep["proposals"] if p["kind"] == "transaction"]) == 1
