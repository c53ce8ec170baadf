"""The categoriser on small ledgers: closed accounts and separate payee fields."""

from __future__ import annotations

import datetime
from decimal import Decimal

from beancount import loader

from beanagent.core.categorise import Categoriser
from beanagent.ledger.view import LedgerView
from beanagent.statements.model import Ref, StatementLine

LEDGER = """
2016-01-01 open Assets:Checking USD
2016-01-01 open Expenses:Auto:Diesel USD
2016-01-01 open Expenses:Auto:Gas USD
2016-01-01 open Expenses:Food:Restaurant USD

2016-01-07 * "Gas Quick"
  Assets:Checking  -22.79 USD
  Expenses:Auto:Diesel

2016-01-10 * "Gas Quick"
  Assets:Checking  -21.60 USD
  Expenses:Auto:Diesel

2016-01-11 close Expenses:Auto:Diesel

2016-01-12 * "Gas Quick"
  Assets:Checking  -24.09 USD
  Expenses:Auto:Gas

2016-01-08 * "Uncle Boons" "Eating out with Joe"
  Assets:Checking  -38.36 USD
  Expenses:Food:Restaurant

2016-01-10 * "Uncle Boons" "Dinner with Mary"
  Assets:Checking  -35.00 USD
  Expenses:Food:Restaurant
"""


def _categoriser() -> Categoriser:
    entries, errors, options = loader.load_string(LEDGER)
    assert not errors
    return Categoriser(LedgerView(entries, options), "Assets:Checking", "Expenses:FIXME")


def _line(day: datetime.date, description: str, payee: str | None = None) -> StatementLine:
    return StatementLine(Ref("st.csv", 2), day, Decimal("-17.45"), description, payee=payee)


def test_closed_account_gets_no_vote() -> None:
    cat = _categoriser()
    later = cat.suggest(_line(datetime.date(2017, 1, 13), "GAS QUICK"))
    assert later.account == "Expenses:Auto:Gas" and later.confident
    assert "Expenses:Auto:Diesel" in later.reason
    # On the close date itself a posting to the account is still valid.
    same_day = cat.suggest(_line(datetime.date(2016, 1, 11), "GAS QUICK"))
    assert same_day.account == "Expenses:Auto:Diesel"


def test_known_payee_field_outweighs_a_new_narration() -> None:
    guess = _categoriser().suggest(_line(datetime.date(2017, 1, 10), "Dinner with Martin",
                                         payee="Uncle Boons"))
    assert guess.account == "Expenses:Food:Restaurant"
    assert guess.confident and guess.payee == "Uncle Boons"
