"""When a statement can be read two ways (day/month order, decimal mark) and the file alone
can't tell, the ledger decides: the reading under which the lines match booked entries.

A `Judge` is given the candidate readings and returns the index of the one to use, or None
when the ledger can't tell them apart either (the caller then refuses, naming the flag)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from beanagent.statements.model import RawStatement

if TYPE_CHECKING:
    from beanagent.ledger.view import LedgerView

Judge = Callable[[Sequence[RawStatement]], int | None]


def ledger_judge(view: LedgerView, account: str | None) -> Judge:
    """A judge scoring each reading against the ledger (`account`'s postings when known)."""

    def judge(readings: Sequence[RawStatement]) -> int | None:
        return None  # filled in by issue 13's CSV work

    return judge
