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


GIRO = """
2025-01-01 open Assets:Giro EUR
2025-01-01 open Expenses:Groceries EUR
2025-01-01 open Expenses:Housing:Rent EUR

2025-11-05 * "REWE Markt GmbH" "Kartenzahlung 2025-11-04 Referenz 145377"
  Assets:Giro  -42.17 EUR
  Expenses:Groceries

2025-11-21 * "REWE Markt GmbH" "Kartenzahlung 2025-11-20 Referenz 145903"
  Assets:Giro  -58.93 EUR
  Expenses:Groceries

2025-11-03 * "Hausverwaltung Mueller GmbH" "Miete November Whg 3"
  Assets:Giro  -950.00 EUR
  Expenses:Housing:Rent
"""


def test_a_new_counterparty_with_a_familiar_purpose_is_not_confident() -> None:
    """A German bank's purpose says how ("Kartenzahlung … Referenz …"), not to whom: a
    bookshop paid by card is like every card payment by purpose alone. With the bank's
    payee column naming a party the ledger has never seen, the guess is flagged and does
    not borrow the other party's name; a known payee with the same purpose stays confident."""
    entries, errors, options = loader.load_string(GIRO)
    assert not errors
    cat = Categoriser(LedgerView(entries, options), "Assets:Giro", "Expenses:FIXME")
    day = datetime.date(2025, 12, 12)
    purpose = "Kartenzahlung 2025-12-11 Referenz 146981"
    new = cat.suggest(StatementLine(Ref("giro.csv", 7), day, Decimal("-24.90"), purpose,
                                    payee="Buchhandlung am Markt"))
    assert not new.confident and new.confidence <= 0.4
    assert "'Buchhandlung am Markt' is new to the ledger" in new.reason
    known = cat.suggest(StatementLine(Ref("giro.csv", 8), day, Decimal("-61.04"), purpose,
                                      payee="REWE Markt GmbH"))
    assert known.confident and known.account == "Expenses:Groceries"
    assert known.payee == "REWE Markt GmbH"
    # without a payee column the same text is all there is: the old behaviour
    alone = cat.suggest(StatementLine(Ref("giro.csv", 9), day, Decimal("-24.90"),
                                      "REWE MARKT " + purpose))
    assert alone.account == "Expenses:Groceries" and alone.confident
