"""The statement's closing balance against the ledger with the proposals in it, and when
they differ, the likely culprits."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from decimal import Decimal

from beanagent.core.culprits import find_culprits
from beanagent.core.match import MatchResult
from beanagent.core.proof import Assertion
from beanagent.ledger.view import LedgerView
from beanagent.model import BalanceCheck, Proposal
from beanagent.statements.model import Statement


def compare_balance(statements: Sequence[Statement], view: LedgerView,
                  proposals: Sequence[Proposal],
                  matches: Sequence[MatchResult]) -> BalanceCheck | None:
    """The first statement with a closing balance, checked at the start of the day after
    it is "as of" (where its `balance` assertion goes)."""
    found = next(((s, m) for s, m in zip(statements, matches, strict=True)
                  if s.closing_balance is not None), None)
    if found is None:
        return None
    st, result = found
    closing = st.closing_balance
    assert closing is not None
    day = (st.closing_date or st.end or datetime.date.min) + datetime.timedelta(days=1)
    total = view.balance(st.account, day, st.currency)
    prefix = st.account + ":"
    for item in proposals:
        if item.spec.kind != "transaction" or item.spec.date >= day:
            continue
        for p in item.spec.postings:
            if (p.account == st.account or p.account.startswith(prefix)) \
                    and p.currency == st.currency and p.number is not None:
                total += p.number
    cited = {ref for item in proposals for ref in item.spec.evidence}
    unbooked = [ln for ln in result.missing if ln.ref not in cited and ln.date < day]
    culprits = find_culprits(closing - total, result.ledger_only, unbooked, st.currency,
                             [m for m in result.matches if m.discrepancy])
    return BalanceCheck(st.account, day, closing, total, st.currency, tuple(culprits))


def closing_balances(view: LedgerView,
                     statements: Sequence[Statement]) -> dict[int, Decimal | None]:
    """Each statement's account balance in the ledger at the start of the day after its
    closing balance is "as of" (None: the statement gives no closing balance)."""
    out: dict[int, Decimal | None] = {}
    for i, st in enumerate(statements):
        if st.closing_balance is None:
            out[i] = None
            continue
        day = (st.closing_date or st.end or datetime.date.min) + datetime.timedelta(days=1)
        try:
            out[i] = view.balance(st.account, day, st.currency)
        except ValueError:  # an account with no postings yet
            out[i] = Decimal(0)
    return out


def user_assertions(view: LedgerView) -> dict[tuple[str, int], Assertion]:
    """The ledger's own `balance` directives by file and line, each with the date of the
    previous one on its account (what a proposal before it can break)."""
    out: dict[tuple[str, int], Assertion] = {}
    last: dict[str, datetime.date] = {}
    for b in view.balance_assertions:  # in date order (the loader sorts them)
        out[(b.file, b.line)] = Assertion(b.date, b.account,
                                          last.get(b.account, datetime.date.min))
        last[b.account] = b.date
    return out
