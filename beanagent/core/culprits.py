"""When the ledger and the statement still differ, say why: the likely culprits.

The difference is statement − ledger. A ledger entry the bank never saw of amount `a`
makes it −a; a statement line missing from the ledger of amount `l` makes it +l; a sign
booked the wrong way round doubles an amount; a transposed digit leaves a multiple of 9.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from decimal import Decimal

from beanagent.core.match import LedgerOnly, Match, transpositions
from beanagent.statements.model import StatementLine

MAX_SUBSET = 3
MAX_ITEMS = 40  # subsets are searched among this many candidates of each kind


@dataclasses.dataclass(frozen=True)
class Culprit:
    kind: str  # amount | ledger-only | statement-line | half | transposed | subset
    amount: Decimal
    where: tuple[str, ...]  # "file:line" of each entry or statement line involved
    explanation: str


def _where_entry(item: LedgerOnly) -> str:
    return f"{item.txn.file}:{item.txn.line}"


def _where_line(line: StatementLine) -> str:
    return f"{line.ref.file}:{line.ref.line}" if line.ref.line else str(line.ref)


def find_culprits(difference: Decimal, ledger_only: Sequence[LedgerOnly],
                  unbooked: Sequence[StatementLine], currency: str,
                  typos: Sequence[Match] = ()) -> list[Culprit]:
    if difference == 0:
        return []
    d = difference
    cur = f" {currency}"
    out: list[Culprit] = []
    every = sum((m.discrepancy for m in typos), Decimal(0)) == d
    for m in typos:
        if m.discrepancy == d or every:
            explanation = (f"the statement line of {m.line.amount}{cur} is booked on the "
                           f"entry's placeholder leg ({m.note})" if m.placeholder else
                           f"the ledger entry says {m.line.amount - m.discrepancy}{cur} "
                           f"where the statement says {m.line.amount}{cur}: fix the amount "
                           "in the ledger")
            out.append(Culprit("amount", m.discrepancy, (f"{m.txn.file}:{m.txn.line}",
                                                         _where_line(m.line)), explanation))
    for item in ledger_only:
        if item.amount == -d:
            out.append(Culprit("ledger-only", item.amount, (_where_entry(item),),
                               f"the ledger entry of {item.amount}{cur} that the bank never saw "
                               f"equals the difference ({item.reason})"))
        elif item.amount * 2 == -d or item.amount * 2 == d:
            out.append(Culprit("half", item.amount, (_where_entry(item),),
                               f"{item.amount}{cur} is half the difference: booked with the "
                               "wrong sign, or twice?"))
        elif item.amount + d in transpositions(item.amount):
            out.append(Culprit("transposed", item.amount, (_where_entry(item),),
                               f"{item.amount}{cur} with two digits swapped "
                               f"({item.amount + d}{cur}) would reconcile"))
    for line in unbooked:
        if line.amount == d:
            out.append(Culprit("statement-line", line.amount, (_where_line(line),),
                               f"the statement line of {line.amount}{cur} ({line.description}) "
                               "is not in the ledger and equals the difference"))
        elif line.amount * 2 == d or line.amount * 2 == -d:
            out.append(Culprit("half", line.amount, (_where_line(line),),
                               f"the statement line of {line.amount}{cur} is half the "
                               "difference"))
    if not out:
        out.extend(_subsets(d, ledger_only, unbooked, cur))
    if not out and (d * 100) % 9 == 0:
        out.append(Culprit("transposed", d, (), f"the difference {d}{cur} is a multiple of "
                           "9 cents: look for an amount with two digits swapped"))
    return out


def _subsets(d: Decimal, ledger_only: Sequence[LedgerOnly], unbooked: Sequence[StatementLine],
             cur: str) -> list[Culprit]:
    out: list[Culprit] = []
    for size in range(2, MAX_SUBSET + 1):
        for combo in itertools.combinations(ledger_only[:MAX_ITEMS], size):
            if sum((c.amount for c in combo), Decimal(0)) == -d:
                out.append(Culprit("subset", -d, tuple(_where_entry(c) for c in combo),
                                   f"{size} ledger entries the bank never saw add up to "
                                   f"{-d}{cur}"))
        for lines in itertools.combinations(unbooked[:MAX_ITEMS], size):
            if sum((ln.amount for ln in lines), Decimal(0)) == d:
                out.append(Culprit("subset", d, tuple(_where_line(ln) for ln in lines),
                                   f"{size} statement lines missing from the ledger add up "
                                   f"to {d}{cur}"))
        if out:
            break
    return out
