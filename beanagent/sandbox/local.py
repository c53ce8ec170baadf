"""The gate's check when the new entries can only change what concerns themselves and the
`balance` assertions on their accounts: computed on those alone, not on the whole ledger.

The gate fails on errors the original ledger did not have (core/gate.py); an error the
original had, or one that disappears, changes nothing. So the check needs every error the
staged copy has that the original lacks. When the ledger has no plugins of its own and no
`pad`, and the proposals add only transactions and `balance` directives (no open, close,
document, pad; no lot at cost; no `balance` on a day and account the ledger already
asserts; with a `documents` option, no account the ledger never used), those are, exactly:

- the errors of the new entries themselves: parsing, booking, their own balance, an
  inactive account or a currency its `open` doesn't allow (beancount's validations, run on
  the new entries with every open and close of the ledger), two new `balance` directives
  at odds with each other;
- the `balance` assertions whose running balance the new postings change: those on a
  posting's account or one of its parents dated after the first new transaction's day,
  and the new ones. beancount's `ops.balance`
  runs on every open and close, those assertions, and the transactions touching those
  accounts and their children (an assertion's balance sums exactly those, in date order).

Nothing else can change: the other assertions sum postings the proposals didn't add to,
the old entries' validity turns only on opens and closes (none new), the old entries are
booked as before (no lots), no plugin sees the new entries, and the documents are the
same. Anything outside these conditions is checked as before (incremental.py, else a full
load); the differential benchmark compares all three with a full load.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beanagent.sandbox.incremental import Booked


def local_errors(state: Booked, new: list[Any]) -> list[Any] | None:
    """The errors a full load of the staged copy has that the original's load might lack
    (see above), or None when the conditions don't hold."""
    from beancount.core import data
    from beancount.ops import balance, validation
    from beancount.parser import booking

    options = state.options
    if options.get("plugin") or state.has_pad \
            or options.get("plugin_processing_mode") != "default":
        return None
    new_balances = []
    for entry in new:
        kind = type(entry)
        if kind is data.Balance:
            if any(b.date == entry.date for b in state.balances.get(entry.account, ())):
                return None
            new_balances.append(entry)
        elif kind is not data.Transaction or any(
                p.cost is not None or p.account in state.at_cost for p in entry.postings):
            return None
    new = sorted(new, key=data.entry_sortkey)
    booked, errors = booking.book(new, options)
    posted = {p.account for t in booked if isinstance(t, data.Transaction) for p in t.postings}
    known = state.txns_by_account.keys() | {e.account for e in state.opens_closes}
    if options.get("documents") and posted - known:  # the documents plugin would see it
        return None
    errors = list(errors)
    txns = [e for e in booked if isinstance(e, data.Transaction)]
    asserted = set(state.balances) | {b.account for b in new_balances}
    affected = {a for a in asserted
                if a in posted or any(x.startswith(a + ":") for x in posted)}
    affected |= {b.account for b in new_balances}
    if affected:
        subset: dict[int, Any] = {id(e): e for e in state.opens_closes}
        # An assertion dated on or before the first new transaction's day sums what it
        # summed (a day's assertion comes before its transactions): its error, if any, is
        # the original's. Only the later ones can change.
        since = min((t.date for t in txns), default=datetime.date.max)
        for account in affected:
            subset.update((id(e), e) for e in state.balances.get(account, ())
                          if e.date > since)
        history = state.history(affected, state.at_cost, [*subset.values(), *booked]) \
            if state.history else None
        if history is None:
            for name, found in state.txns_by_account.items():
                if any(name == a or name.startswith(a + ":") for a in affected):
                    subset.update((id(e), e) for e in found)
        entries = sorted([*subset.values(), *(history or ()), *booked],
                         key=data.entry_sortkey)
        _, found_errors = balance.check(entries, options)  # type: ignore[no-untyped-call]
        errors.extend(found_errors)
    with_opens = sorted([*state.opens_closes, *booked], key=data.entry_sortkey)
    mine = {id(e) for e in booked}
    for function in (validation.validate_active_accounts,
                     validation.validate_currency_constraints):
        errors.extend(e for e in function(with_opens, options) if id(e.entry) in mine)  # type: ignore[no-untyped-call]
    errors.extend(validation.validate_duplicate_balances(new_balances, options))
    errors.extend(validation.validate_check_transaction_balances(txns, options))
    return errors

