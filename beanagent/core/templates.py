"""Recurring multi-leg entries: a paycheck booked every two weeks with its taxes, deductions
and vacation hours is best proposed as a copy of the last one, not as a net amount.

A payee's entries on an account form a template when the most recent one has more than two
legs and at least one other recent entry has the same legs (same accounts, same
commodities). The proposal takes the most recent one's amounts, with the bank leg set to
the statement line's amount. When the two differ, one leg absorbs the difference: a leg of
exactly the difference (a deduction that stopped), else the only leg whose amount varied
across the recurring entries, else the largest income leg (flagged: taxes usually move with
a raise); the result must balance exactly in every commodity and no leg may change sign.
When no leg can take it, the difference goes to the review account, flagged.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Sequence
from decimal import Decimal

from beanagent.ledger.view import Txn

Leg = tuple[str, Decimal, str]  # account, number, commodity
RECENT = 6  # how many of the payee's latest entries are looked at
# Confidence of a template whose amounts had to change. A deduction of exactly the
# difference that stopped (a tax capped for the year), or the one leg that varies from
# entry to entry, is a good guess; the income leg taking a raise alone is only a start
# (taxes move with it): shown, but flagged.
ADJUSTED = 0.75
BY_INCOME = 0.5
UNEXACT = 0.3  # the difference parked on the review account
OTHER_YEAR = 0.5  # legs on accounts named for another year (Expenses:Taxes:Y2023:...)
_YEAR = re.compile(r"(?:^|:)Y?((?:19|20)\d\d)(?=:|$)")


@dataclasses.dataclass(frozen=True)
class Template:
    legs: tuple[Leg, ...]
    example: Txn  # the entry the amounts come from
    confidence: float  # at most this, whatever the payee match says
    note: str  # what was copied and what was changed, for the proposal's reason


def _legs(txn: Txn) -> tuple[Leg, ...] | None:
    out = []
    for p in txn.postings:
        if p.amount is None or p.currency is None:
            return None
        out.append((p.account, p.amount, p.currency))
    return tuple(out)


def _shape(legs: Sequence[Leg]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((a, c) for a, _, c in legs))


def _balanced(legs: Sequence[Leg]) -> bool:
    totals: dict[str, Decimal] = {}
    for _, number, currency in legs:
        totals[currency] = totals.get(currency, Decimal(0)) + number
    return all(t == 0 for t in totals.values())


def _varying(recurring: Sequence[tuple[Leg, ...]], index: int) -> bool:
    return len({legs[index][1] for legs in recurring}) > 1


def _other_year(template: Template, day: datetime.date | None) -> Template:
    """Tax accounts named for a year: last year's template is a guess for this year's."""
    years = {m.group(1) for a, _, _ in template.legs for m in _YEAR.finditer(a)}
    if day is None or not years or years == {str(day.year)}:
        return template
    return dataclasses.replace(
        template, confidence=min(template.confidence, OTHER_YEAR),
        note=f"{template.note}; its accounts name {', '.join(sorted(years))}, the line is "
             f"of {day.year}")


def find_template(txns: Sequence[Txn], account: str, currency: str, amount: Decimal,
                  review_account: str, day: datetime.date | None = None) -> Template | None:
    """The recurring template among `txns` (one payee's past entries on `account`), with
    `account`'s leg set to `amount`; None when there is no recurring multi-leg entry.
    `day`: the line's date; the entries up to it are the recent ones (a later paycheck may
    already show next year's taxes), unless fewer than two are that old."""
    found = _find(txns, account, currency, amount, review_account, day)
    return None if found is None else _other_year(found, day)


def _find(txns: Sequence[Txn], account: str, currency: str, amount: Decimal,
          review_account: str, day: datetime.date | None) -> Template | None:
    ordered = sorted(txns, key=lambda t: t.date)
    before = [t for t in ordered if day is None or t.date <= day]
    recent = (before if len(before) >= 2 else ordered)[-RECENT:]
    shaped = [(t, legs) for t in recent if (legs := _legs(t)) is not None]
    if not shaped:
        return None
    latest, legs = shaped[-1]
    if len(legs) <= 2 or not _balanced(legs):
        return None
    shape = _shape(legs)
    recurring = [x for _, x in shaped if _shape(x) == shape]
    if len(recurring) < 2:
        return None
    bank = [i for i, (a, _, c) in enumerate(legs) if a == account and c == currency]
    if len(bank) != 1:
        return None
    # The same shape in recent entries: legs line up by sorted (account, commodity).
    order = sorted(range(len(legs)), key=lambda i: (legs[i][0], legs[i][2]))
    aligned = [tuple(sorted(x, key=lambda leg: (leg[0], leg[2]))) for x in recurring]
    when = f"{latest.date}"
    diff = amount - legs[bank[0]][1]
    if diff == 0:
        return Template(legs, latest, 1.0,
                        f"{len(legs)} legs as on {when} ({len(recurring)} recent entries "
                        "with these accounts)")
    out = list(legs)
    out[bank[0]] = (account, amount, currency)
    candidates = [i for i, (a, _, c) in enumerate(legs) if i != bank[0] and c == currency]
    stopped = [i for i in candidates if legs[i][1] == diff]
    varied = [i for i in candidates if _varying(aligned, order.index(i))]
    income = sorted((i for i in candidates if legs[i][0].startswith("Income:")),
                    key=lambda i: -abs(legs[i][1]))
    picks = [(i, "exactly the difference: it stopped", ADJUSTED) for i in stopped[:1]]
    picks += [(i, "the only leg that varies", ADJUSTED) for i in varied if len(varied) == 1]
    picks += [(i, "the largest income leg", BY_INCOME) for i in income[:1]]
    for i, why, confidence in picks:
        name, number, cur = legs[i]
        new = number - diff
        # a leg may fall to zero (a tax capped for the year), never change sign
        if new == 0 or (new > 0) == (number > 0):
            out[i] = (name, new, cur)
            if _balanced(out):
                return Template(tuple(out), latest, confidence,
                                f"{len(legs)} legs as on {when}, {name} ({why}) changed by "
                                f"{-diff} {cur} so the bank leg is {amount} {cur}")
            out[i] = legs[i]
    out.append((review_account, -diff, currency))
    return Template(tuple(out), latest, UNEXACT,
                    f"{len(legs)} legs as on {when}; the bank leg differs by {diff} {currency} "
                    f"and no leg can take it: the difference is on {review_account}")
