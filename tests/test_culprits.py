"""Explaining a balance that does not reconcile."""

from __future__ import annotations

import datetime
from decimal import Decimal
from types import MappingProxyType

import pytest

from beanagent.core.culprits import find_culprits
from beanagent.core.match import LedgerOnly
from beanagent.ledger.view import Posting, Txn
from beanagent.statements.model import Ref, StatementLine

D = Decimal
DAY = datetime.date(2024, 3, 1)


def entry(amount: str, line: int) -> LedgerOnly:
    txn = Txn(DAY, "*", "P", "", (Posting("Assets:Bank", D(amount), "USD"),), frozenset(),
              frozenset(), MappingProxyType({}), "books.beancount", line)
    return LedgerOnly(txn, D(amount), "in the ledger but not on the statement")


def line(amount: str, n: int) -> StatementLine:
    return StatementLine(Ref("stmt.csv", n), DAY, D(amount), f"LINE {n}")


@pytest.mark.parametrize("difference, entries, lines, expected", [
    ("4.50", [entry("-4.50", 10), entry("-9.99", 11)], [],
     [("ledger-only", ["books.beancount:10"])]),
    ("-20.00", [entry("10.00", 12)], [], [("half", ["books.beancount:12"])]),
    ("12.34", [], [line("12.34", 3)], [("statement-line", ["stmt.csv:3"])]),
    # booked 45.10 where the bank says 54.10: the difference is 9.00
    ("-9.00", [entry("-45.10", 7)], [], [("transposed", ["books.beancount:7"])]),
    ("7.00", [entry("-3.00", 1), entry("-4.00", 2), entry("-100.00", 3)], [],
     [("subset", ["books.beancount:1", "books.beancount:2"])]),
    ("0.27", [entry("-1.00", 1)], [], [("transposed", [])]),  # multiple of 9 cents: a hint
    ("0.05", [entry("-1.00", 1)], [], []),
    ("0", [entry("-1.00", 1)], [], []),
])
def test_culprits(difference: str, entries: list[LedgerOnly], lines: list[StatementLine],
                  expected: list[tuple[str, list[str]]]) -> None:
    found = find_culprits(D(difference), entries, lines, "USD")
    assert [(c.kind, list(c.where)) for c in found] == expected
