"""Transfers between the user's own accounts are booked once, whichever side comes first."""

from __future__ import annotations

from pathlib import Path

from beanagent.agent.offline import OfflineAgent
from beanagent.settings import load_settings
from beanagent.workflow import reconcile
from tests.helpers import RecordingUI

LEDGER = """\
option "operating_currency" "USD"
2024-01-01 open Assets:Checking USD
2024-01-01 open Assets:Savings USD
2024-01-01 open Liabilities:Card USD
2024-01-01 open Expenses:Food USD
2024-01-01 open Equity:Opening USD

2024-01-01 * "Opening"
  Assets:Checking   5000.00 USD
  Assets:Savings    5000.00 USD
  Equity:Opening

2024-01-20 * "Card payment"
  Assets:Checking  -300.00 USD
  Liabilities:Card  300.00 USD

2024-02-20 * "Card payment"
  Assets:Checking  -310.00 USD
  Liabilities:Card  310.00 USD

2024-03-02 * "Deli" "Lunch"
  Liabilities:Card  -12.00 USD
  Expenses:Food

{booking}
"""

STATEMENT = """\
Date,Description,Amount
2024-03-19,CHASE CREDIT CRD DES:EPAY ID:XXXXX9482 INDN:JANE DOE WEB,-420.00
"""


def run(tmp_path: Path, booking: str) -> tuple[list[str], str]:
    (tmp_path / "books.beancount").write_text(LEDGER.format(booking=booking))
    (tmp_path / "checking.csv").write_text(STATEMENT)
    ui = RecordingUI()
    outcome = reconcile(tmp_path / "books.beancount", [tmp_path / "checking.csv"],
                        OfflineAgent(),
                        load_settings(tmp_path / "books.beancount", account="Assets:Checking",
                                      dry_run=True), ui)
    texts = [item.text for item in outcome.proposals if item.spec.kind == "transaction"]
    return texts, "\n".join(step.result.output for step in ui.steps)


def test_a_missing_card_payment_is_proposed(tmp_path: Path) -> None:
    texts, _ = run(tmp_path, "")
    assert len(texts) == 1 and "Liabilities:Card" in texts[0] and "420.00" in texts[0]


def test_card_side_booked_from_checking_matches(tmp_path: Path) -> None:
    texts, _ = run(tmp_path, '2024-03-17 * "Card payment"\n  Assets:Checking  -420.00 USD\n'
                             "  Liabilities:Card  420.00 USD\n")
    assert texts == []  # matched two days apart, nothing to propose


def test_card_side_booked_from_savings_is_not_booked_again(tmp_path: Path) -> None:
    """The payment was entered from the wrong account: proposing Checking → Card would pay
    the card twice. The line is left out and the entry to fix is named."""
    texts, output = run(tmp_path, '2024-03-18 * "Card payment"\n  Assets:Savings  -420.00 USD\n'
                                  "  Liabilities:Card  420.00 USD\n")
    assert texts == []
    assert "books.beancount:" in output and "fix that entry to use Assets:Checking" in output
