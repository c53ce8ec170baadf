"""When a statement can be read two ways (day/month order, decimal mark) and the file alone
can't tell, the ledger decides: the reading under which the lines match booked entries.

A `Judge` is given the candidate readings and returns the index of the one to use, or None
when the ledger can't tell them apart either (the caller then refuses, naming the flag)."""

from __future__ import annotations

import bisect
import datetime
from collections.abc import Callable, Sequence, Set
from decimal import Decimal
from typing import TYPE_CHECKING

from beanagent.statements.model import RawStatement, StatementLine

if TYPE_CHECKING:
    from beanagent.ledger.view import LedgerView

Judge = Callable[[Sequence[RawStatement]], int | None]

WINDOW = datetime.timedelta(days=4)  # banks book a few days after the ledger's date
MIN_MATCHES = 2  # a single coincidence decides nothing
MARGIN = 2  # the winner must match more than twice as many lines as the runner-up


def ledger_judge(view: LedgerView, account: str | None) -> Judge:
    """A judge scoring each reading against the ledger (`account`'s postings when known,
    else any account's: the bank side or the other side, so amounts are compared unsigned)."""

    def judge(readings: Sequence[RawStatement]) -> int | None:
        if len(readings) < 2:
            return 0 if readings else None
        # Lines read the same every way (a date like 05/05) can't tell readings apart.
        keys = [{_key(ln) for ln in r.lines} for r in readings]
        same = set.intersection(*keys)
        scores = [matches(view, account, r, skip=same) for r in readings]
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
        best, runner_up = scores[ranked[0]], scores[ranked[1]]
        if best >= MIN_MATCHES and best > MARGIN * runner_up:
            return ranked[0]
        return None

    return judge


def _key(line: StatementLine) -> tuple[object, ...]:
    return (line.ref.file, line.ref.line, line.date, line.amount)


def matches(view: LedgerView, account: str | None, reading: RawStatement,
            skip: Set[tuple[object, ...]] = frozenset()) -> int:
    """How many of the reading's lines (but those in `skip`) match a booked posting: same
    amount (unsigned), date within WINDOW; each posting matched once."""
    if not reading.lines:
        return 0
    start = min(ln.date for ln in reading.lines) - WINDOW
    end = max(ln.date for ln in reading.lines) + WINDOW
    prefix = f"{account}:" if account else ""
    booked: dict[Decimal, list[datetime.date]] = {}
    for txn in view.transactions(account, start, end):
        for p in txn.postings:
            if p.amount is None or (account and p.account != account
                                    and not p.account.startswith(prefix)):
                continue
            booked.setdefault(abs(p.amount), []).append(txn.date)
    for dates in booked.values():
        dates.sort()
    found = 0
    for line in reading.lines:
        dates = booked.get(abs(line.amount), [])
        if not dates or _key(line) in skip:
            continue
        lo = bisect.bisect_left(dates, line.date - WINDOW)
        hi = bisect.bisect_right(dates, line.date + WINDOW)
        if lo < hi:
            nearest = min(range(lo, hi), key=lambda i: abs((dates[i] - line.date).days))
            del dates[nearest]
            found += 1
    return found
