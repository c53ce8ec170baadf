"""An entry booked before its bank side was known (paid "from somewhere": the review account)
is what the bank line is: matched with a note saying which leg to change, never booked twice."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import report, run_cli_in_process

LEDGER = """\
option "operating_currency" "USD"
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Assets:Broker:Stock
2024-01-01 open Expenses:FIXME
2024-01-01 open Equity:Opening

2024-01-02 * "Opening"
  Assets:Bank:Checking  5000.00 USD
  Equity:Opening

2024-03-04 * "Bought shares"
  Assets:Broker:Stock  4 STOCK {100.00 USD}
  Expenses:FIXME  -400.00 USD
"""


def run(tmp_path: Path, statement: str, *extra: str) -> dict:
    (tmp_path / "books.beancount").write_text(LEDGER)
    (tmp_path / "march.csv").write_text(statement)
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a",
                              "Assets:Bank:Checking", "-n", "--json", *extra, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return report(proc)


def test_bank_line_is_the_placeholder_leg(tmp_path: Path) -> None:
    rep = run(tmp_path, "Date,Description,Amount\n2024-03-05,BROKER TRANSFER,-400.00\n",
              "--closing-balance", "4600.00 USD")
    assert [p for p in rep["proposals"] if p["kind"] == "transaction"] == []
    (m,) = rep["matches"]
    assert "Expenses:FIXME leg" in m["note"] and "Assets:Bank:Checking" in m["note"]
    # The ledger still lacks the money on checking until the leg is changed: named.
    assert rep["balance"]["difference"] == "-400.00 USD"
    assert [c["kind"] for c in rep["balance"]["culprits"]] == ["amount"]
    assert "placeholder leg" in rep["balance"]["culprits"][0]["explanation"]


def test_other_amount_or_far_date_is_proposed(tmp_path: Path) -> None:
    rep = run(tmp_path, "Date,Description,Amount\n2024-03-05,BROKER,-401.00\n"
                        "2024-03-25,BROKER,-400.00\n")
    assert rep["matches"] == []
    assert len([p for p in rep["proposals"] if p["kind"] == "transaction"]) == 2
